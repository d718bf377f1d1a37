"""Trigger specifications (``table:``, ``all_tables``, ``every:``, ``cron:``, ``request:``) and
schedule arithmetic, with InfluxDB 3's grammar and error strings (engine-behavior.md §4.1, §5.3).

Where upstream's behaviour is a hazard or contradicts its docs we follow the docs' intent:

* cron is croniter's: 6 fields (seconds first) or 7 (with a year) as upstream, and 5-field crontab
  lines are accepted too (seconds = 0); day-of-week 0 and 7 are Sunday, as the docs say (upstream's
  cron crate counts 1 = Sunday).
* ``every:`` below one millisecond is refused at parse time (upstream divides by zero later).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

from croniter import CroniterError, croniter

from .errors import EngineError

__all__ = [
    "TriggerSpec",
    "TriggerSpecError",
    "format_duration",
    "next_fire_time",
    "parse_duration",
    "parse_trigger_spec",
]

_NS: Final = 1
_US: Final = 1_000
_MS: Final = 1_000_000
_S: Final = 1_000_000_000
_MIN: Final = 60 * _S
_H: Final = 60 * _MIN
_DAY: Final = 24 * _H
_WEEK: Final = 7 * _DAY
_MONTH: Final = 2_630_016 * _S  # 30.44 days, as humantime
_YEAR: Final = 31_557_600 * _S  # 365.25 days, as humantime
_UNITS: Final = {
    **dict.fromkeys(("nanos", "nsec", "ns"), _NS),
    **dict.fromkeys(("usec", "us"), _US),
    **dict.fromkeys(("millis", "msec", "ms"), _MS),
    **dict.fromkeys(("seconds", "second", "secs", "sec", "s"), _S),
    **dict.fromkeys(("minutes", "minute", "min", "mins", "m"), _MIN),
    **dict.fromkeys(("hours", "hour", "hr", "hrs", "h"), _H),
    **dict.fromkeys(("days", "day", "d"), _DAY),
    **dict.fromkeys(("weeks", "week", "w"), _WEEK),
    **dict.fromkeys(("months", "month", "M"), _MONTH),
    **dict.fromkeys(("years", "year", "y"), _YEAR),
}
_COMPONENT: Final = re.compile(r"\s*(\d+)\s*([A-Za-z]+)")
_FORMAT_UNITS: Final = (
    ("year", _YEAR),
    ("month", _MONTH),
    ("day", _DAY),
    ("h", _H),
    ("m", _MIN),
    ("s", _S),
    ("ms", _MS),
    ("us", _US),
    ("ns", _NS),
)
_PLURAL: Final = frozenset({"year", "month", "day"})
_FORMS_HINT: Final = (
    "expect one of the following forms: 'table:<TABLE_NAME>', 'all_tables', "
    "'cron:<CRON_EXPRESSION>', 'every:<DURATION>', or 'request:<PATH>'"
)


class TriggerSpecError(EngineError):
    """A trigger specification that does not parse (upstream's wording)."""


def parse_duration(text: str) -> int:
    """A humantime duration (``10s``, ``1h 30m``, ``1h30m``) in nanoseconds."""
    position, total, stripped = 0, 0, text.strip()
    if not stripped:
        raise ValueError("value was empty")
    while position < len(stripped):
        match = _COMPONENT.match(stripped, position)
        if match is None:
            if stripped[position:].strip().isdigit():
                raise ValueError("time unit needed, for example 1sec or 1ms")
            raise ValueError(f"invalid duration {text!r}")
        unit = _UNITS.get(match.group(2))
        if unit is None:
            raise ValueError(f"unknown time unit {match.group(2)!r}")
        total += int(match.group(1)) * unit
        position = match.end()
    return total


def format_duration(nanoseconds: int) -> str:
    """humantime's rendering: ``9ms 761us 464ns``, ``1h 30m``, ``7days``; ``0s`` for zero."""
    if nanoseconds < 1_000_000_000:  # plugin runs: sub-second, formatted before every log line
        ms, rest = divmod(nanoseconds, 1_000_000)
        us, ns = divmod(rest, 1_000)
        short = [f"{ms}ms" if ms else "", f"{us}us" if us else "", f"{ns}ns" if ns else ""]
        return " ".join(part for part in short if part) or "0s"
    parts: list[str] = []
    rest = nanoseconds
    for name, size in _FORMAT_UNITS:
        count, rest = divmod(rest, size)
        if count:
            suffix = "s" if name in _PLURAL and count > 1 else ""
            parts.append(f"{count}{name}{suffix}")
    return " ".join(parts) or "0s"


@dataclass(frozen=True, slots=True)
class TriggerSpec:
    """A parsed ``--trigger-spec``. ``kind`` is ``table``, ``all_tables``, ``every``, ``cron`` or
    ``request``; ``value`` the table, cron expression or path; ``every_ns`` the period."""

    kind: str
    value: str = ""
    every_ns: int = 0

    @property
    def plugin_type(self) -> str:
        """Upstream's plugin type: ``WalRows``, ``Schedule`` or ``Request``."""
        return {"table": "WalRows", "all_tables": "WalRows", "request": "Request"}.get(
            self.kind, "Schedule"
        )

    def __str__(self) -> str:
        if self.kind == "all_tables":
            return "all_tables"
        if self.kind == "every":
            return f"every:{format_duration(self.every_ns)}"
        return f"{self.kind}:{self.value}"


def _spec_error(spec: str, context: str | None = None) -> TriggerSpecError:
    message = f"failed to parse trigger from {spec}"
    return TriggerSpecError(f"{message}: {context}" if context else message)


def _cron(expression: str) -> croniter:
    return croniter(expression, datetime(1970, 1, 1, tzinfo=UTC), second_at_beginning=True)


def parse_trigger_spec(text: str) -> TriggerSpec:
    """Parse ``text`` with upstream's rules (trimmed, case-sensitive prefixes, in order)."""
    spec = text.strip()
    if spec.startswith("table:"):
        table = spec.removeprefix("table:").strip()
        if not table:
            raise _spec_error(spec, "table name is empty")
        return TriggerSpec("table", table)
    if spec == "all_tables":
        return TriggerSpec("all_tables")
    if spec.startswith("cron:"):
        expression = spec.removeprefix("cron:").strip()
        if not expression:
            raise _spec_error(spec)
        try:
            _cron(expression)
        except (CroniterError, ValueError, KeyError) as exc:
            raise _spec_error(spec, f"invalid cron syntax: {exc}") from None
        return TriggerSpec("cron", expression)
    if spec.startswith("every:"):
        try:
            period = parse_duration(spec.removeprefix("every:"))
        except ValueError:
            raise _spec_error(spec, "couldn't parse to duration") from None
        if period > _YEAR:
            raise _spec_error(spec, "don't support every schedules of over 1 year")
        if period < _MS:
            raise _spec_error(spec, "every schedules must be at least 1ms")
        return TriggerSpec("every", every_ns=period)
    if spec.startswith("request:"):
        path = spec.removeprefix("request:").strip()
        if not path:
            raise _spec_error(spec)
        return TriggerSpec("request", path)
    raise _spec_error(spec, _FORMS_HINT)


def next_fire_time(spec: TriggerSpec, after: datetime) -> datetime | None:
    """The first fire time strictly after ``after`` (aware UTC), or None if it never fires.

    ``every:D`` fires at multiples of D since the Unix epoch, in milliseconds, as upstream.
    """
    if spec.kind == "every":
        period_ms = spec.every_ns // _MS
        now_ms = int(after.timestamp() * 1000)
        fire_ms = (now_ms // period_ms + 1) * period_ms
        return datetime.fromtimestamp(fire_ms / 1000, tz=UTC)
    if spec.kind != "cron":
        raise ValueError(f"{spec} is not a schedule")
    try:
        fire = croniter(spec.value, after, second_at_beginning=True).get_next(datetime)
    except CroniterError:
        return None  # croniter gives up on expressions with no future fire time
    assert isinstance(fire, datetime)  # noqa: S101 - get_next(datetime) returns one
    return fire.astimezone(UTC) if fire.tzinfo else fire.replace(tzinfo=UTC)
