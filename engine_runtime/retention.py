"""Database retention periods: parsing them as InfluxDB 3 does, and showing them.

A period is a humantime duration (``30d``, ``24h``, ``1h30m``, ``2w``) kept in whole seconds, as
upstream's catalog keeps it (``duration_secs``). Rows whose time is older than *now minus the
period* are not returned by queries and are dropped from storage (`engine_runtime.store`).

Where upstream is silent or unsafe we decide:

* a period under one second (``0s``, ``500ms``) is refused: upstream stores it as zero seconds,
  which expires every row at once;
* a period longer than an ``i64`` of nanoseconds (about 292 years) is refused: timestamps stop
  there.
"""

from __future__ import annotations

from typing import Final

from .errors import EngineError
from .triggers import parse_duration

__all__ = [
    "DURATION_EXAMPLES",
    "MAX_RETENTION_SECONDS",
    "InvalidRetentionPeriodError",
    "format_retention_period",
    "format_v1_duration",
    "invalid_value_message",
    "parse_retention_period",
]

#: the longest period: an ``i64`` of nanoseconds, in whole seconds
MAX_RETENTION_SECONDS: Final = (2**63 - 1) // 1_000_000_000
#: what to write instead of a bad value
DURATION_EXAMPLES: Final = 'give a duration such as "30d", "24h", "90m" or "1h30m"'
_NS: Final = 1_000_000_000
#: units of `format_retention_period`, as upstream's ``show retention`` prints them
_SHOW_UNITS: Final = (("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1))


class InvalidRetentionPeriodError(EngineError):
    """A retention period that is not a duration, or is out of range (HTTP 400)."""


def invalid_value_message(value: object) -> str:
    """serde's words for a JSON ``retention_period`` that is not a duration (upstream's 400)."""
    if isinstance(value, str):
        return f'invalid value: string "{value}", expected a duration'
    if isinstance(value, bool):
        return f"invalid type: boolean `{str(value).lower()}`, expected a duration"
    if isinstance(value, int):
        return f"invalid type: integer `{value}`, expected a duration"
    if isinstance(value, float):
        return f"invalid type: floating point `{value}`, expected a duration"
    kind = "map" if isinstance(value, dict) else "sequence"
    return f"invalid type: {kind}, expected a duration"


def parse_retention_period(text: str) -> int:
    """``text`` (a humantime duration) in whole seconds.

    :raises InvalidRetentionPeriodError: not a duration (upstream's message, then what to
        write), under one second, or too long.
    """
    try:
        nanoseconds = parse_duration(text)
    except ValueError as exc:
        msg = f"{invalid_value_message(text)} ({exc})"
        raise InvalidRetentionPeriodError(msg, hint=DURATION_EXAMPLES) from None
    seconds = nanoseconds // _NS
    if seconds < 1:
        msg = f"retention period {text!r} is shorter than one second: every row would expire"
        raise InvalidRetentionPeriodError(msg, hint=DURATION_EXAMPLES)
    if seconds > MAX_RETENTION_SECONDS:
        msg = (
            f"retention period {text!r} is longer than {MAX_RETENTION_SECONDS // 31_557_600} years"
        )
        raise InvalidRetentionPeriodError(msg, hint=DURATION_EXAMPLES)
    return seconds


def format_retention_period(seconds: int | None) -> str:
    """``infinite``, or the largest whole unit: ``30d``, ``36h``, ``90m``, ``45s`` (upstream's
    ``show retention``)."""
    if seconds is None:
        return "infinite"
    for unit, size in _SHOW_UNITS:
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"  # unreachable: every whole second divides by 1


def format_v1_duration(seconds: int | None) -> str:
    """The v1 form of ``SHOW RETENTION POLICIES``: ``720h0m0s``, ``0s`` for none (upstream's
    ``RetentionPeriod::format_v1``)."""
    if not seconds:
        return "0s"
    hours, rest = divmod(seconds, 3_600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes}m{secs}s"
    if minutes:
        return f"{minutes}m{secs}s"
    return f"{secs}s"
