"""Time in InfluxQL: the ``WHERE`` time range, time literals, zones and RFC3339 output.

`split_condition` takes the ``time`` comparisons out of a ``WHERE`` clause's top-level ``AND``s
and turns them into an inclusive nanosecond `TimeRange` (``time > t`` starts at ``t + 1``, as
InfluxDB does); the rest of the condition is returned for SQL. A time is ``now()``, an RFC3339
string (``'2024-01-01T00:00:00Z'``, ``'2024-01-01 00:00:00'``, ``'2024-01-01'``; without an
offset it is read in the query's ``tz()`` zone, else UTC), an integer (nanoseconds), a duration
literal read as time since the epoch (``1700000000s``), or one of these plus or minus a duration.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from engine_runtime.errors import InfluxQLError
from engine_runtime.influxql._bounds import balanced
from engine_runtime.influxql._expressions import unsupported
from engine_runtime.influxql.nodes import (
    BinaryExpr,
    Call,
    DurationLit,
    Expr,
    NumberLit,
    StringLit,
    VarRef,
)

__all__ = [
    "TimeRange",
    "format_time",
    "mentions_time",
    "parse_time",
    "split_condition",
    "zone_for",
    "zone_offset",
]

_NS: Final = 1_000_000_000
_TIME_TEXT: Final = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?)?"
    r"\s*(Z|[+-]\d{2}:?\d{2})?",
    re.I,
)
_FLIP: Final = {">": "<", ">=": "<=", "<": ">", "<=": ">=", "=": "="}


@dataclass(frozen=True, slots=True)
class TimeRange:
    """Inclusive bounds in nanoseconds since the epoch; None is unbounded."""

    start: int | None = None
    end: int | None = None

    def is_empty(self) -> bool:
        """Whether no time is in the range (``time > 5 AND time < 3``)."""
        return self.start is not None and self.end is not None and self.start > self.end

    def narrowed(self, op: str, value: int) -> TimeRange:
        """This range and ``time <op> value``."""
        start, end = self.start, self.end
        low = {">": value + 1, ">=": value, "=": value}.get(op)
        high = {"<": value - 1, "<=": value, "=": value}.get(op)
        if low is not None:
            start = low if start is None else max(start, low)
        if high is not None:
            end = high if end is None else min(end, high)
        return TimeRange(start, end)


def zone_for(name: str | None) -> tzinfo | None:
    """The zone of ``tz('name')``; InfluxQLError for a name the zone database does not know."""
    if name is None:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        message = f"InfluxQL: unknown time zone {name!r}: use an IANA name such as 'Europe/Paris'"
        raise InfluxQLError(message) from None


def zone_offset(zone: tzinfo | None, at: int) -> int:
    """The UTC offset of ``zone`` at ``at`` (ns since the epoch), in nanoseconds."""
    if zone is None:
        return 0
    offset = datetime.fromtimestamp(at // _NS, tz=zone).utcoffset() or timedelta()
    return int(offset.total_seconds()) * _NS


def parse_time(text: str, zone: tzinfo | None = None) -> int:
    """Nanoseconds since the epoch of an RFC3339-like ``text``; InfluxQLError if it is not."""
    match = _TIME_TEXT.fullmatch(text.strip())
    if match is None:
        message = f"InfluxQL: invalid time {text!r}: write it as RFC3339, '2024-01-01T00:00:00Z'"
        raise InfluxQLError(message)
    year, month, day, hour, minute, second, fraction, offset = match.groups()
    try:
        local = datetime(int(year), int(month), int(day), int(hour or 0), int(minute or 0))
        local += timedelta(seconds=int(second or 0))
    except ValueError as exc:
        raise InfluxQLError(f"InfluxQL: invalid time {text!r}: {exc}") from None
    if offset is None:
        aware = local.replace(tzinfo=zone or UTC)
    elif offset.upper() == "Z":
        aware = local.replace(tzinfo=UTC)
    else:
        sign = -1 if offset[0] == "-" else 1
        digits = offset[1:].replace(":", "")
        delta = timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
        aware = local.replace(tzinfo=UTC) - sign * delta
    seconds = int((aware - datetime(1970, 1, 1, tzinfo=UTC)).total_seconds())
    return seconds * _NS + int((fraction or "0").ljust(9, "0"))


def format_time(ns: int, zone: tzinfo | None = None) -> str:
    """RFC3339 with trailing zeros of the fraction trimmed, as InfluxDB prints times.

    ``2024-01-01T00:00:00Z``, ``2024-01-01T00:00:00.5Z``; in a zone, ``...+01:00``.
    """
    seconds, fraction = divmod(ns, _NS)
    moment = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(seconds=seconds)
    if zone is not None:
        moment = moment.astimezone(zone)
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    if fraction:
        text += "." + f"{fraction:09d}".rstrip("0")
    offset = moment.utcoffset()
    if not offset:
        return text + "Z"
    minutes = int(offset.total_seconds()) // 60
    sign = "-" if minutes < 0 else "+"
    return f"{text}{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def mentions_time(expr: Expr) -> bool:
    """Whether ``expr`` refers to the ``time`` column anywhere."""
    if isinstance(expr, VarRef):
        return expr.name.lower() == "time"
    if isinstance(expr, BinaryExpr):
        return mentions_time(expr.lhs) or mentions_time(expr.rhs)
    return False


def split_condition(
    condition: Expr | None, *, now: int, zone: tzinfo | None = None
) -> tuple[TimeRange, Expr | None]:
    """The time range of ``condition`` and what is left of it (None when nothing is)."""
    found = TimeRange()
    rest: list[Expr] = []
    for part in _conjuncts(condition):
        bound = _time_bound(part, now, zone)
        if bound is not None:
            found = found.narrowed(*bound)
        elif mentions_time(part):
            raise unsupported(
                "this time condition", "compare time with >, >=, <, <= or = and join with AND"
            )
        else:
            rest.append(part)
    # joined balanced, as the parser joins them: a long AND chain stays shallow
    return found, balanced("AND", rest) if rest else None


def _conjuncts(condition: Expr | None) -> list[Expr]:
    if condition is None:
        return []
    if isinstance(condition, BinaryExpr) and condition.op == "AND":
        return _conjuncts(condition.lhs) + _conjuncts(condition.rhs)
    return [condition]


def _is_time(expr: Expr) -> bool:
    return isinstance(expr, VarRef) and expr.name.lower() == "time"


def _time_bound(part: Expr, now: int, zone: tzinfo | None) -> tuple[str, int] | None:
    if not isinstance(part, BinaryExpr) or part.op not in _FLIP:
        return None
    if _is_time(part.lhs) and not mentions_time(part.rhs):
        return part.op, _time_value(part.rhs, now, zone)
    if _is_time(part.rhs) and not mentions_time(part.lhs):
        return _FLIP[part.op], _time_value(part.lhs, now, zone)
    return None


def _time_value(expr: Expr, now: int, zone: tzinfo | None) -> int:
    if isinstance(expr, StringLit):
        return parse_time(expr.value, zone)
    if isinstance(expr, NumberLit | DurationLit):
        return int(expr.value)
    if isinstance(expr, Call) and expr.name == "now" and not expr.args:
        return now
    if isinstance(expr, BinaryExpr) and expr.op in ("+", "-"):
        lhs = _time_value(expr.lhs, now, zone)
        rhs = _time_value(expr.rhs, now, zone)
        return lhs + rhs if expr.op == "+" else lhs - rhs
    message = (
        "InfluxQL: time can be compared only with now(), an RFC3339 string, an integer "
        "(nanoseconds) or a duration, each plus or minus a duration"
    )
    raise InfluxQLError(message)
