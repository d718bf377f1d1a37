"""InfluxQL transformations: ``derivative``, ``non_negative_derivative``, ``difference``,
``non_negative_difference``, ``moving_average`` and ``cumulative_sum``.

A transformation runs over the rows of an inner ``SELECT`` (`run_select` with the call replaced
by its argument): the raw points of a field, or the buckets of an aggregate under ``GROUP BY
time``. It walks each series in time order, as InfluxDB 1.x and 3 do: buckets without a value
are skipped, the derivative and the difference keep the first of several points with the same
time, and ``LIMIT``/``OFFSET`` apply to what it returns. Under ``GROUP BY time`` all but
``cumulative_sum`` read one bucket before the range, so its first bucket has a value too.
The derivative's unit is its second argument, else the ``GROUP BY time`` interval, else one
second.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any, Final

from engine_runtime.errors import InfluxQLError
from engine_runtime.influxql._bounds import balanced
from engine_runtime.influxql.backend import Schemas
from engine_runtime.influxql.fields import TRANSFORMATIONS
from engine_runtime.influxql.nodes import (
    BinaryExpr,
    Call,
    DurationLit,
    Expr,
    Field,
    NumberLit,
    SelectStatement,
    TimeDimension,
    VarRef,
)
from engine_runtime.influxql.results import Series
from engine_runtime.influxql.selects import run_select
from engine_runtime.influxql.timerange import split_condition, zone_for

__all__ = ["TRANSFORMATIONS", "run_transformed", "transformation_of"]

_SECOND: Final = 1_000_000_000
_NUMERIC: Final = frozenset({"float", "integer", "unsigned"})
#: a series' (time, value) rows -> the transformed rows
_Step = Callable[[list[tuple[int, Any]]], Iterator[tuple[int, Any]]]


def transformation_of(statement: SelectStatement) -> Call | None:
    """The transformation ``statement`` selects, if any (it must then be its only field)."""
    calls = [f.expr for f in statement.fields if isinstance(f.expr, Call)]
    found = [call for call in calls if call.name in TRANSFORMATIONS]
    if not found:
        return None
    if len(statement.fields) != 1:
        names = ", ".join(f"{call.name}()" for call in found)
        raise InfluxQLError(f"InfluxQL: {names} must be the only field of its SELECT")
    return found[0]


def run_transformed(
    statement: SelectStatement, call: Call, schemas: Schemas, database: str | None, *, now: int
) -> tuple[Series, ...]:
    """The series of ``statement``, whose only field is the transformation ``call``."""
    interval = next((d.interval for d in statement.dimensions if isinstance(d, TimeDimension)), 0)
    inner, step = _plan(call, interval)
    if isinstance(inner, Call) and not interval:
        raise InfluxQLError(f"InfluxQL: {call.name}() of an aggregate needs GROUP BY time()")
    if not isinstance(inner, Call) and interval:
        raise InfluxQLError(
            f"InfluxQL: aggregate function required inside the call to {call.name}()"
        )
    query = replace(statement, fields=(Field(inner),), limit=None, offset=0)
    start = None
    if interval and call.name in _LOOKS_BACK:  # the first bucket's value needs the one before
        query, start = _one_bucket_earlier(query, interval, now)
    name = statement.fields[0].alias or call.name
    found = []
    for series in run_select(query, schemas, database, now=now):
        if series.types[1] not in _NUMERIC:
            message = f"InfluxQL: {call.name}() needs a numeric field, not a {series.types[1]}"
            raise InfluxQLError(message)
        points = [(row[0], row[1]) for row in series.values if row[1] is not None]
        rows = [row for row in step(points) if start is None or row[0] >= start]
        end = None if statement.limit is None else statement.offset + statement.limit
        rows = rows[statement.offset : end]
        if rows:
            kind = series.types[1] if call.name in _KEEPS_TYPE else "float"
            values = tuple((at, value) for at, value in rows)
            found.append(
                replace(series, columns=("time", name), values=values, types=("time", kind))
            )
    return tuple(found)


_KEEPS_TYPE: Final = frozenset({"cumulative_sum", "difference", "non_negative_difference"})
_LOOKS_BACK: Final = frozenset(TRANSFORMATIONS) - {"cumulative_sum"}


def _one_bucket_earlier(
    statement: SelectStatement, interval: int, now: int
) -> tuple[SelectStatement, int | None]:
    """``statement`` with its range starting ``interval`` earlier, as InfluxDB runs the inner
    query of a transformation, and the original start (None when it has none)."""
    found, rest = split_condition(statement.condition, now=now, zone=zone_for(statement.timezone))
    if found.start is None:
        return statement, None
    parts: list[Expr] = [] if rest is None else [rest]
    time = VarRef("time")
    parts.append(BinaryExpr(">=", time, NumberLit(found.start - interval)))
    if found.end is not None:
        parts.append(BinaryExpr("<=", time, NumberLit(found.end)))
    return replace(statement, condition=balanced("AND", parts)), found.start


def _plan(call: Call, interval: int) -> tuple[Expr, _Step]:
    """The inner expression of ``call`` and the step that transforms its rows."""
    name, args = call.name, call.args
    if not args or not isinstance(args[0], VarRef | Call):
        raise InfluxQLError(f"InfluxQL: {name}() takes a field or an aggregate first")
    if name in ("derivative", "non_negative_derivative"):
        if len(args) > 2 or (len(args) == 2 and not _positive_duration(args[1])):
            raise InfluxQLError(f"InfluxQL: {name}() takes a field and an optional unit (1s)")
        unit = int(args[1].value) if len(args) == 2 else interval or _SECOND  # type: ignore[union-attr]
        return args[0], _derivative(unit, non_negative=name.startswith("non_"))
    if name in ("difference", "non_negative_difference", "cumulative_sum"):
        if len(args) != 1:
            raise InfluxQLError(f"InfluxQL: {name}() takes one argument, got {len(args)}")
        if name == "cumulative_sum":
            return args[0], _cumulative_sum
        return args[0], _difference(non_negative=name.startswith("non_"))
    window = args[1] if len(args) == 2 else None
    if not isinstance(window, NumberLit) or not isinstance(window.value, int) or window.value < 2:
        raise InfluxQLError("InfluxQL: moving_average() takes a field and a window of 2 or more")
    return args[0], _moving_average(window.value)


def _positive_duration(expr: Expr) -> bool:
    return isinstance(expr, DurationLit) and expr.value > 0


def _advancing(points: list[tuple[int, Any]]) -> Iterator[tuple[tuple[int, Any], tuple[int, Any]]]:
    """Each point with the one before it, skipping points at the previous point's time."""
    previous: tuple[int, Any] | None = None
    for point in points:
        if previous is not None and point[0] == previous[0]:
            continue
        if previous is not None:
            yield previous, point
        previous = point


def _derivative(unit: int, *, non_negative: bool) -> _Step:
    def step(points: list[tuple[int, Any]]) -> Iterator[tuple[int, Any]]:
        for (t0, v0), (t1, v1) in _advancing(points):
            rate = (v1 - v0) / (abs(t1 - t0) / unit)
            if not (non_negative and rate < 0):
                yield t1, rate

    return step


def _difference(*, non_negative: bool) -> _Step:
    def step(points: list[tuple[int, Any]]) -> Iterator[tuple[int, Any]]:
        for (_, v0), (t1, v1) in _advancing(points):
            if not (non_negative and v1 < v0):
                yield t1, v1 - v0

    return step


def _cumulative_sum(points: list[tuple[int, Any]]) -> Iterator[tuple[int, Any]]:
    total: Any = 0
    for at, value in points:
        total += value
        yield at, total


def _moving_average(size: int) -> _Step:
    def step(points: list[tuple[int, Any]]) -> Iterator[tuple[int, Any]]:
        window: deque[Any] = deque(maxlen=size)
        for at, value in points:
            window.append(value)
            if len(window) == size:
                yield at, sum(window) / size

    return step
