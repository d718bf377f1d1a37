"""Running a ``SELECT``: `run_select` plans each measurement, runs its SQL, shapes the series.

The SQL result (see `translate`) is split into one series per ``GROUP BY`` tag set. Raw rows
keep their time; an aggregate row takes the selected point's time (a lone selector such as
``max(v)``) or the start of the time range (0 without one); ``GROUP BY time`` rows are filled
(`fill.fill_buckets`) from the bucket of the range's start (or of the earliest point) to the
bucket of its end. ``ORDER BY time DESC``, then ``OFFSET``/``LIMIT`` apply to each series, and
``SOFFSET``/``SLIMIT`` to the series, sorted by measurement and tags (reversed by ``DESC``).
With several measurements, every series has the union of their columns, as in InfluxDB.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import pyarrow as pa  # type: ignore[import-untyped]  # pyarrow ships no stubs

from engine_runtime.influxql.backend import Schemas, arrow_columns, influxql_type
from engine_runtime.influxql.fill import bucket_start, fill_buckets
from engine_runtime.influxql.nodes import SelectStatement
from engine_runtime.influxql.results import Series
from engine_runtime.influxql.timerange import zone_for
from engine_runtime.influxql.translate import SelectPlan, plan_select

__all__ = ["run_select", "series_from_table"]


def run_select(
    statement: SelectStatement, schemas: Schemas, database: str | None, *, now: int
) -> tuple[Series, ...]:
    """Every series ``statement`` returns; ``now`` in nanoseconds since the epoch."""
    zone = zone_for(statement.timezone)
    found: list[Series] = []
    names: list[tuple[str, ...]] = []
    for target, schema in schemas.resolve(statement.sources, database):
        plan = plan_select(statement, schema, now=now, zone=zone)
        names.append(plan.columns)
        if plan.sql is not None:
            table = schemas.backend.sql(target, plan.sql)
            found.extend(series_from_table(plan, statement, table))
    if len(set(names)) > 1:
        found = _with_columns(found, _union(names))
    # InfluxDB lists the series in reverse with ORDER BY time DESC
    found.sort(key=lambda series: (series.name or "", series.tags), reverse=statement.descending)
    end = None if statement.slimit is None else statement.soffset + statement.slimit
    return tuple(found[statement.soffset : end])


def _union(names: list[tuple[str, ...]]) -> tuple[str, ...]:
    """Every measurement's columns, as InfluxDB lists them for several measurements: sorted
    when each measurement's are (what ``*`` and ``max(*)`` expand to), else in first-seen order."""
    merged = dict.fromkeys(name for columns in names for name in columns)
    if all(list(columns) == sorted(columns) for columns in names):
        return tuple(sorted(merged))
    return tuple(merged)


def _with_columns(found: list[Series], columns: tuple[str, ...]) -> list[Series]:
    """Each series with ``columns`` after ``time``: null where its measurement has no such one."""
    kinds: dict[str, str] = {}
    for series in found:
        kinds.update(zip(series.columns, series.types, strict=True))
    widened = []
    for series in found:
        where = {name: i for i, name in enumerate(series.columns)}
        picks = [where.get(name) for name in ("time", *columns)]
        rows = tuple(tuple(None if i is None else row[i] for i in picks) for row in series.values)
        types = tuple(kinds.get(name, "float") for name in ("time", *columns))
        widened.append(replace(series, columns=("time", *columns), values=rows, types=types))
    return widened


def series_from_table(
    plan: SelectPlan, statement: SelectStatement, table: pa.Table
) -> list[Series]:
    """The series in ``plan``'s SQL result ``table``."""
    if table.num_rows == 0:
        return []
    columns = arrow_columns(table)
    values = [columns[f"_c{i}"] for i in range(len(plan.columns))]
    kinds = [influxql_type(table.schema.field(f"_c{i}").type) for i in range(len(values))]
    tags = [columns[f"_g{i}"] for i in range(len(plan.group_tags))]
    groups: dict[tuple[str, ...], list[int]] = {}
    for index, key in enumerate(zip(*tags, strict=True) if tags else [()] * table.num_rows):
        groups.setdefault(key, []).append(index)
    first = _first_bucket(plan, columns)
    found = []
    for key, indexes in groups.items():
        rows = _rows(plan, statement, (columns, values, kinds), indexes, first)
        if rows:
            series_tags = tuple(zip(plan.group_tags, key, strict=True))
            found.append(
                Series(
                    plan.measurement, ("time", *plan.columns), rows, ("time", *kinds), series_tags
                )
            )
    return found


def _first_bucket(plan: SelectPlan, columns: dict[str, list[Any]]) -> int:
    if plan.mode != "buckets":
        return 0
    start = plan.time_range.start
    if start is None:  # no lower bound: the earliest bucket with data
        earliest: int = min(columns["_time"])
        return earliest
    return bucket_start(start, plan.interval, plan.origin)


#: a SQL result: its columns by name, the output columns' values and their InfluxQL types
_Result = tuple[dict[str, list[Any]], Sequence[list[Any]], Sequence[str]]


def _rows(
    plan: SelectPlan,
    statement: SelectStatement,
    result: _Result,
    indexes: list[int],
    first: int,
) -> tuple[tuple[Any, ...], ...]:
    columns, values, _ = result
    if plan.mode == "raw":
        rows = [(columns["_time"][i], *(column[i] for column in values)) for i in indexes]
        if plan.limited:
            return tuple(rows)
    elif plan.mode == "aggregate":
        rows = _aggregate_rows(plan, columns, values, indexes)
    else:
        rows = _bucket_rows(plan, statement, result, indexes, first)
    end = None if statement.limit is None else statement.offset + statement.limit
    return tuple(rows[statement.offset : end])


def _aggregate_rows(
    plan: SelectPlan,
    columns: dict[str, list[Any]],
    values: Sequence[list[Any]],
    indexes: list[int],
) -> list[tuple[Any, ...]]:
    default = plan.time_range.start if plan.time_range.start is not None else 0
    rows = []
    for i in indexes:
        if columns["_n"][i] == 0:  # an aggregate over no rows at all: no series
            continue
        at = columns["_time"][i] if plan.selector_time else default
        rows.append((at, *(column[i] for column in values)))
    return rows


def _bucket_rows(
    plan: SelectPlan,
    statement: SelectStatement,
    result: _Result,
    indexes: list[int],
    first: int,
) -> list[tuple[Any, ...]]:
    columns, values, kinds = result
    by_bucket = {columns["_time"][i]: [column[i] for column in values] for i in indexes}
    end = plan.time_range.end
    last = bucket_start(end, plan.interval, plan.origin) if end is not None else max(by_bucket)
    filled = fill_buckets(
        by_bucket,
        first=first,
        last=last,
        interval=plan.interval,
        fill=statement.fill,
        counts=plan.counts,
        kinds=kinds,
    )
    rows = [(start, *row) for start, row in filled]
    if statement.descending:
        rows.reverse()
    return rows
