"""``SELECT`` -> DataFusion SQL for one measurement: `plan_select` returns a `SelectPlan`.

Three shapes, each selecting its columns under fixed aliases (``_time``, ``_g<i>`` for the
``GROUP BY`` tags, ``_c<i>`` for the output columns, ``_n`` for the row count)::

    raw      SELECT time AS _time, <tags>, <values> FROM m WHERE ... ORDER BY <tags>, _time
    aggregate SELECT <tags>, <aggregates>[, <selected time> AS _time], count(*) AS _n
             FROM m WHERE ... GROUP BY <tags>
    buckets  SELECT date_bin(INTERVAL '<n> nanoseconds', time, <origin>) AS _time, <tags>,
             <aggregates>, count(*) AS _n FROM m WHERE ... GROUP BY _time, <tags>

``WHERE`` holds the time range, the rest of the condition and "at least one selected field
is present" (InfluxDB returns no row for a point that has none of them). Functions map to
``avg``, ``median``, ``count``, ``sum``, ``max - min`` (spread), ``stddev`` (the sample
deviation, as InfluxDB), ``min``/``max``, ``first_value(... ORDER BY time)`` for first and last,
and the nearest-rank element of ``array_agg(... ORDER BY v)`` for ``percentile``. The fill and
the per-series limits are applied to the result by `engine_runtime.influxql.selects`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import tzinfo
from typing import Final

from engine_runtime.errors import InfluxQLError
from engine_runtime.influxql.condition import (
    NULL_FIELD,
    column_sql,
    condition_sql,
    literal_sql,
    tag_sql,
    value_sql,
)
from engine_runtime.influxql.fields import (
    calls_in,
    check_calls,
    column_names,
    compile_regex,
    expand_fields,
    field_refs,
)
from engine_runtime.influxql.nodes import (
    BinaryExpr,
    Call,
    Dimension,
    Expr,
    Field,
    RegexDimension,
    SelectStatement,
    TagDimension,
    TimeDimension,
    VarRef,
    WildcardDimension,
)
from engine_runtime.influxql.schema import MeasurementSchema, quote_ident, quote_string
from engine_runtime.influxql.timerange import TimeRange, split_condition, zone_offset

__all__ = ["SelectPlan", "plan_select", "timestamp_sql"]

_AGGREGATE_SQL: Final[dict[str, str]] = {
    "count": "count({c})",
    "mean": "avg(CAST({c} AS DOUBLE))",
    "median": "median(CAST({c} AS DOUBLE))",
    "spread": "(max({c}) - min({c}))",
    "stddev": "stddev(CAST({c} AS DOUBLE))",
    "sum": "sum({c})",
    "max": "max({c})",
    "min": "min({c})",
}
_SELECTOR_ORDER: Final[dict[str, str]] = {
    # equal times: InfluxDB's reducers keep the greater value
    "first": "time ASC, {c} DESC",
    "last": "time DESC, {c} DESC",
    "max": "{c} DESC, time ASC",
    "min": "{c} ASC, time ASC",
}


@dataclass(frozen=True, slots=True)
class SelectPlan:
    """How to answer a ``SELECT`` on one measurement.

    :param sql: the query; None when nothing can match (an empty time range, no field).
    :param columns: the output names after ``time``; ``counts`` marks bare ``count()``s.
    :param mode: ``raw``, ``aggregate`` or ``buckets`` (``GROUP BY time``).
    :param interval: the bucket width and ``origin`` a bucket start, in ns (buckets only).
    :param selector_time: the row's time is the selected point's (``_time``), not the range's.
    :param limited: ``LIMIT``/``OFFSET`` were applied by the SQL.
    """

    measurement: str
    sql: str | None
    columns: tuple[str, ...]
    counts: tuple[bool, ...]
    group_tags: tuple[str, ...]
    mode: str
    time_range: TimeRange
    interval: int = 0
    origin: int = 0
    selector_time: bool = False
    limited: bool = False


def timestamp_sql(ns: int) -> str:
    """A ``Timestamp(ns)`` literal."""
    return f"arrow_cast({ns}, 'Timestamp(Nanosecond, None)')"


def plan_select(
    statement: SelectStatement, schema: MeasurementSchema, *, now: int, zone: tzinfo | None
) -> SelectPlan:
    """The plan of ``statement`` on ``schema``'s measurement; ``now`` in ns since the epoch.

    :raises InfluxQLError: for what InfluxQL refuses (or this runtime does not run).
    """
    time_range, rest = split_condition(statement.condition, now=now, zone=zone)
    bucket, group_tags = _dimensions(statement.dimensions, schema)
    fields = expand_fields(statement.fields, schema, group_tags)
    selector = check_calls(fields, schema)
    has_calls = any(calls_in(field.expr) for field in fields)
    if bucket is not None and not has_calls:
        message = "InfluxQL: GROUP BY time() needs a function in the SELECT list, like mean(v)"
        raise InfluxQLError(message)
    mode = "buckets" if bucket is not None else "aggregate" if has_calls else "raw"
    if mode == "buckets" and time_range.end is None:  # InfluxDB ends GROUP BY time at now()
        time_range = replace(time_range, end=now)
    counts = tuple(_is_count(field.expr) for field in fields)
    plan = SelectPlan(
        schema.name, None, tuple(column_names(fields)), counts, group_tags, mode, time_range
    )
    present = _present(fields, schema)
    if time_range.is_empty() or not present:
        return plan
    where = _where(time_range, rest, present, schema)
    if mode == "raw":
        sql, limited = _raw_sql(statement, schema, fields, group_tags, where)
        return replace(plan, sql=sql, limited=limited)
    width: tuple[int, int] | None = None
    if bucket is not None:
        at = time_range.start if time_range.start is not None else now
        width = (bucket.interval, (bucket.offset - zone_offset(zone, at)) % bucket.interval)
        plan = replace(plan, interval=width[0], origin=width[1])
    sql = _aggregate_sql(schema, fields, group_tags, where, bucket=width, selector=selector)
    return replace(plan, sql=sql, selector_time=selector is not None and bucket is None)


def _dimensions(
    dimensions: tuple[Dimension, ...], schema: MeasurementSchema
) -> tuple[TimeDimension | None, tuple[str, ...]]:
    bucket: TimeDimension | None = None
    tags: set[str] = set()
    for dimension in dimensions:
        if isinstance(dimension, TimeDimension):
            if bucket is not None:
                raise InfluxQLError("InfluxQL: GROUP BY may have only one time() dimension")
            bucket = dimension
        elif isinstance(dimension, TagDimension):
            tags.add(dimension.name)
        elif isinstance(dimension, WildcardDimension):
            tags.update(schema.tags)
        elif isinstance(dimension, RegexDimension):
            regex = compile_regex(dimension.pattern)
            tags.update(tag for tag in schema.tags if regex.search(tag))
    return bucket, tuple(sorted(tags))


def _group_sql(tag: str, schema: MeasurementSchema) -> str:
    """A ``GROUP BY`` tag; one the measurement lacks is the empty string for every point."""
    return tag_sql(tag) if schema.is_tag(tag) else "''"


def _series_key_sql(schema: MeasurementSchema) -> str:
    """The point's series key without the measurement (``host=a,region=eu``)."""
    parts = [
        f"{quote_string(tag + '=')} || CAST({quote_ident(tag)} AS VARCHAR)" for tag in schema.tags
    ]
    return f"concat_ws(',', {', '.join(parts)})"


def _is_count(expr: Expr) -> bool:
    return isinstance(expr, Call) and expr.name == "count"


def _present(fields: list[Field], schema: MeasurementSchema) -> list[str]:
    """The fields of ``schema`` the SELECT list refers to, in order, once each."""
    found: dict[str, None] = {}
    for field in fields:
        for ref in field_refs(field.expr):
            if ref.kind != "tag" and schema.field_type(ref.name) is not None:
                found[ref.name] = None
    return list(found)


def _where(
    time_range: TimeRange, rest: Expr | None, present: list[str], schema: MeasurementSchema
) -> str:
    parts = []
    if time_range.start is not None:
        parts.append(f"time >= {timestamp_sql(time_range.start)}")
    if time_range.end is not None:
        parts.append(f"time <= {timestamp_sql(time_range.end)}")
    if rest is not None:
        parts.append(condition_sql(rest, schema))
    parts.append("(" + " OR ".join(f"{quote_ident(name)} IS NOT NULL" for name in present) + ")")
    return " AND ".join(parts)


def _raw_sql(
    statement: SelectStatement,
    schema: MeasurementSchema,
    fields: list[Field],
    group_tags: tuple[str, ...],
    where: str,
) -> tuple[str, bool]:
    columns = ["time AS _time"]
    columns += [f"{_group_sql(tag, schema)} AS _g{i}" for i, tag in enumerate(group_tags)]
    columns += [f"{value_sql(f.expr, schema)} AS _c{i}" for i, f in enumerate(fields)]
    order = [f"_g{i}" for i in range(len(group_tags))]
    order.append("_time DESC" if statement.descending else "_time ASC")
    if schema.tags:  # equal times in InfluxDB's order: by series key (reversed with DESC)
        order.append(_series_key_sql(schema) + (" DESC" if statement.descending else ""))
    sql = f"SELECT {', '.join(columns)} FROM {quote_ident(schema.name)} WHERE {where}"
    sql += f" ORDER BY {', '.join(order)}"
    if group_tags:  # limits apply per series: the caller cuts each one
        return sql, False
    if statement.limit is not None:
        sql += f" LIMIT {statement.limit}"
    if statement.offset:
        sql += f" OFFSET {statement.offset}"
    return sql, True


def _aggregate_sql(
    schema: MeasurementSchema,
    fields: list[Field],
    group_tags: tuple[str, ...],
    where: str,
    *,
    bucket: tuple[int, int] | None,
    selector: Call | None,
) -> str:
    columns: list[str] = []
    if bucket is not None:
        width = f"INTERVAL '{bucket[0]} nanoseconds'"
        columns.append(f"date_bin({width}, time, {timestamp_sql(bucket[1])}) AS _time")
    columns += [f"{_group_sql(tag, schema)} AS _g{i}" for i, tag in enumerate(group_tags)]
    columns += [f"{_aggregate(f.expr, schema, selector)} AS _c{i}" for i, f in enumerate(fields)]
    if selector is not None and bucket is None:
        columns.append(f"{_selected('time', selector, schema)} AS _time")
    columns.append("count(*) AS _n")
    keys = (["_time"] if bucket is not None else []) + [f"_g{i}" for i in range(len(group_tags))]
    sql = f"SELECT {', '.join(columns)} FROM {quote_ident(schema.name)} WHERE {where}"
    if keys:
        positions = ", ".join(str(i + 1) for i in range(len(keys)))
        sql += f" GROUP BY {positions}"
    return sql


def _call_column(call: Call, schema: MeasurementSchema) -> str:
    arg = call.args[0]  # a VarRef: fields.check_calls let nothing else in
    if not isinstance(arg, VarRef):
        raise InfluxQLError(f"InfluxQL: {call.name}() takes a field name")
    return column_sql(replace(arg, kind=arg.kind or "field"), schema) or NULL_FIELD


def _selected(expr_sql: str, selector: Call, schema: MeasurementSchema) -> str:
    """``expr_sql`` at the point ``selector`` picks (its time, another field, its value)."""
    column = _call_column(selector, schema)
    present = f"FILTER (WHERE {column} IS NOT NULL)"
    if selector.name == "percentile":
        rank = selector.args[1].value  # type: ignore[union-attr]  # checked: a NumberLit
        index = f"CAST(floor(count({column}) * {rank!r} / 100.0 + 0.5) AS BIGINT)"
        ordered = f"array_agg({expr_sql} ORDER BY {column}, time) {present}"
        return f"array_element({ordered}, {index})"
    order = _SELECTOR_ORDER[selector.name].format(c=column)
    return f"first_value({expr_sql} ORDER BY {order}) {present}"


def _aggregate(expr: Expr, schema: MeasurementSchema, selector: Call | None) -> str:
    if isinstance(expr, Call):
        if expr.name in _AGGREGATE_SQL:
            return _AGGREGATE_SQL[expr.name].format(c=_call_column(expr, schema))
        return _selected(_call_column(expr, schema), expr, schema)
    if isinstance(expr, VarRef) and selector is not None:
        # beside a single selector: the value at the point it picks
        return _selected(column_sql(expr, schema) or NULL_FIELD, selector, schema)
    literal = literal_sql(expr)
    if literal is not None:
        return literal
    if isinstance(expr, BinaryExpr):
        lhs = _aggregate(expr.lhs, schema, selector)
        rhs = _aggregate(expr.rhs, schema, selector)
        if expr.op == "/":
            lhs = f"CAST({lhs} AS DOUBLE)"
        return f"({lhs} {expr.op} {rhs})"
    raise InfluxQLError(f"InfluxQL: {expr!r} cannot be used beside a function")
