"""InfluxQL functions that pick several points or values: ``top``, ``bottom``, ``distinct``,
``mode`` and ``count(distinct(...))``.

Each runs over the raw points of an inner ``SELECT`` (the field, the tags ``top``/``bottom``
name, the other fields and tags selected beside them), per series and, under ``GROUP BY
time``, per bucket, as InfluxDB does: ``top(v, N)`` keeps the N greatest values (the earlier
point on a tie) and lists them in time order; ``top(v, tag, N)`` first keeps the greatest per
value of ``tag``; ``distinct`` lists values in the order first seen; ``mode`` is the most
frequent value (the least of equally frequent ones). ``distinct``, ``mode`` and ``count``
answer at the bucket's start, or the range's (the epoch without one); for ``mode`` and ``count``
an empty bucket gets the ``fill()`` value, else null (0 for ``count``), none with ``fill(none)``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import replace
from typing import Any, Final

from engine_runtime.errors import InfluxQLError
from engine_runtime.influxql.backend import Schemas
from engine_runtime.influxql.fields import PICKS
from engine_runtime.influxql.fill import bucket_start, check_bucket_count
from engine_runtime.influxql.nodes import (
    Call,
    Field,
    NumberLit,
    SelectStatement,
    TimeDimension,
    VarRef,
)
from engine_runtime.influxql.results import Series
from engine_runtime.influxql.selects import run_select
from engine_runtime.influxql.timerange import split_condition, zone_for, zone_offset

__all__ = ["PICKS", "pick_of", "run_picked"]

_Row = tuple[Any, ...]
#: the picks whose empty buckets get no row whatever the fill, as in InfluxDB
_UNFILLED: Final = frozenset({"top", "bottom", "distinct"})


def pick_of(statement: SelectStatement) -> Call | None:
    """The ``top``/``bottom``/``distinct``/``mode``/``count(distinct())`` call, if any."""
    calls = [f.expr for f in statement.fields if isinstance(f.expr, Call)]
    found = [call for call in calls if call.name in PICKS or _is_count_distinct(call)]
    if not found:
        return None
    call = found[0]
    alone = call.name in ("top", "bottom") or len(statement.fields) == 1
    if len(calls) > 1 or not alone:
        raise InfluxQLError(f"InfluxQL: {call.name}() must be the only function of its SELECT")
    return call


def _is_count_distinct(call: Call) -> bool:
    inner = call.args[0] if call.args else None
    return call.name == "count" and isinstance(inner, Call) and inner.name == "distinct"


def run_picked(
    statement: SelectStatement, call: Call, schemas: Schemas, database: str | None, *, now: int
) -> tuple[Series, ...]:
    """The series of ``statement``, whose function is the picking ``call``."""
    name, outer = call.name, call
    if _is_count_distinct(call):
        call = call.args[0]  # type: ignore[assignment]  # checked: the distinct() Call
    field, tags, count = _arguments(call)
    aux = [f for f in statement.fields if f.expr is not outer]
    if any(not isinstance(f.expr, VarRef) for f in aux):
        raise InfluxQLError(f"InfluxQL: only fields and tags may stand beside {call.name}()")
    dimension = next((d for d in statement.dimensions if isinstance(d, TimeDimension)), None)
    time_range, _ = split_condition(statement.condition, now=now, zone=zone_for(statement.timezone))
    start = time_range.start
    origin = 0
    if dimension is not None:
        at = start if start is not None else now
        origin = dimension.offset - zone_offset(zone_for(statement.timezone), at)
    inner = replace(
        statement,
        fields=(Field(field), *(Field(VarRef(t, "tag")) for t in tags), *aux),
        dimensions=tuple(d for d in statement.dimensions if not isinstance(d, TimeDimension)),
        limit=None,
        offset=0,
        descending=False,
    )
    label = statement.fields[0].alias if statement.fields[0].expr is outer else None
    columns = ("time", label or name, *tags, *(f.alias or f.expr.name for f in aux))  # type: ignore[union-attr]
    fill = statement.fill.value if statement.fill.mode == "value" else None
    found = []
    for series in run_select(inner, schemas, database, now=now):
        buckets: dict[int, list[_Row]] = {}
        for row in series.values:
            if row[1] is None:
                continue
            key = 0 if dimension is None else bucket_start(row[0], dimension.interval, origin)
            buckets.setdefault(key, []).append(row)
        filled = name == "count" or call.name not in _UNFILLED
        if filled and dimension is not None and statement.fill.mode != "none":
            last = time_range.end if time_range.end is not None else now
            interval = dimension.interval
            first = min(buckets) if start is None else bucket_start(start, interval, origin)
            check_bucket_count(first, last, interval)  # as every other GROUP BY time() fill
            for key in range(first, last + 1, interval):
                buckets.setdefault(key, [])
        rows: list[_Row] = []
        for key, points in sorted(buckets.items()):
            at = key if dimension is not None else (start if start is not None else 0)
            rows += _pick(name, call.name, points, at, len(tags), count, fill)
        if statement.descending:
            rows.reverse()
        end = None if statement.limit is None else statement.offset + statement.limit
        rows = rows[statement.offset : end]
        if rows:
            kinds = ("integer",) if name == "count" else series.types[1:2]
            types = ("time", *kinds, *series.types[2:])
            width = len(columns) if call.name in ("top", "bottom") else 2
            found.append(
                replace(series, columns=columns[:width], values=tuple(rows), types=types[:width])
            )
    return tuple(found)


def _arguments(call: Call) -> tuple[VarRef, tuple[str, ...], int]:
    """The field, the tags (``top``/``bottom``) and N (``top``/``bottom``) of ``call``."""
    args = call.args
    if not args or not isinstance(args[0], VarRef):
        raise InfluxQLError(f"InfluxQL: {call.name}() takes a field name first")
    if call.name in ("distinct", "mode"):
        if len(args) != 1:
            raise InfluxQLError(f"InfluxQL: {call.name}() takes one argument, got {len(args)}")
        return args[0], (), 0
    last = args[-1]
    middle = args[1:-1]
    if (
        len(args) < 2
        or not isinstance(last, NumberLit)
        or not isinstance(last.value, int)
        or last.value < 1
        or not all(isinstance(arg, VarRef) for arg in middle)
    ):
        raise InfluxQLError(
            f"InfluxQL: {call.name}() takes a field, optional tags and N (1 or more)"
        )
    return args[0], tuple(arg.name for arg in middle), last.value  # type: ignore[union-attr]


def _pick(
    name: str,
    function: str,
    points: Sequence[_Row],
    at: int,
    tags: int,
    count: int,
    fill: int | float | None = None,
) -> list[_Row]:
    values = [point[1] for point in points]
    if not values:  # an empty bucket run_picked filled
        return [(at, fill if fill is not None else 0 if name == "count" else None)]
    if name == "count":
        return [(at, len(set(values)))]
    if function == "distinct":  # by the time each value is first seen, then by value
        seen: dict[Any, int] = {}
        for point in points:
            seen.setdefault(point[1], point[0])
        return [(at, value) for value in sorted(seen, key=lambda v: (seen[v], v))]
    if function == "mode":
        tally = Counter(values)
        most = max(tally.values())
        return [(at, min(value for value, seen in tally.items() if seen == most))]
    sign = -1 if function == "top" else 1
    order = sorted(range(len(points)), key=lambda i: (sign * points[i][1], points[i][0], i))
    if tags:  # the best point per value of the tags, then the best of those
        best: dict[tuple[Any, ...], int] = {}
        for i in order:
            best.setdefault(points[i][2 : 2 + tags], i)
        order = [i for i in order if i in best.values()]
    chosen = sorted(order[:count], key=lambda i: (points[i][0], i))
    return [points[i] for i in chosen]
