"""Running the ``SHOW`` statements, answered as InfluxDB 1.x answers them.

* ``SHOW DATABASES``: series ``databases``, column ``name``.
* ``SHOW RETENTION POLICIES``: columns ``name, duration, shardGroupDuration, replicaN,
  default``; ``autogen`` (the database itself), then each ``<db>/<rp>`` database as ``rp``.
* ``SHOW MEASUREMENTS``: series ``measurements``, column ``name``.
* ``SHOW TAG KEYS``: a series per measurement, column ``tagKey``.
* ``SHOW TAG VALUES``: a series per measurement, columns ``key, value``.
* ``SHOW FIELD KEYS``: a series per measurement, columns ``fieldKey, fieldType`` (``float``,
  ``integer``, ``unsigned``, ``string``, ``boolean``).

A ``WHERE`` clause keeps what its matching points have; ``LIMIT``/``OFFSET`` cut each series.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Final

from engine_runtime.errors import InfluxQLError
from engine_runtime.influxql.backend import DATABASE_REQUIRED_MESSAGE, Schemas, arrow_columns
from engine_runtime.influxql.condition import condition_sql
from engine_runtime.influxql.fields import compile_regex
from engine_runtime.influxql.nodes import (
    Expr,
    ShowFieldKeys,
    ShowMeasurements,
    ShowRetentionPolicies,
    ShowTagKeys,
    ShowTagValues,
)
from engine_runtime.influxql.results import Series
from engine_runtime.influxql.schema import MeasurementSchema, quote_ident
from engine_runtime.influxql.timerange import split_condition
from engine_runtime.influxql.translate import timestamp_sql
from engine_runtime.retention import format_v1_duration

__all__ = [
    "RETENTION_POLICY_COLUMNS",
    "show_databases",
    "show_field_keys",
    "show_measurements",
    "show_retention_policies",
    "show_tag_keys",
    "show_tag_values",
]

#: the columns of ``SHOW RETENTION POLICIES``
RETENTION_POLICY_COLUMNS: Final = ("name", "duration", "shardGroupDuration", "replicaN", "default")
_POLICY_TYPES: Final = ("string", "string", "string", "integer", "boolean")


def _cut(rows: Sequence[tuple[Any, ...]], limit: int | None, offset: int) -> tuple[Any, ...]:
    end = None if limit is None else offset + limit
    return tuple(rows[offset:end])


def _series(name: str | None, columns: tuple[str, ...], rows: tuple[Any, ...]) -> Series:
    return Series(name, columns, rows, ("string",) * len(columns))


def _required(database: str | None) -> str:
    if not database:
        raise InfluxQLError(DATABASE_REQUIRED_MESSAGE)
    return database


def _where(condition: Expr | None, schema: MeasurementSchema, now: int) -> str | None:
    """A SHOW statement's ``WHERE`` as SQL on ``schema``'s table; None without one."""
    if condition is None:
        return None
    time_range, rest = split_condition(condition, now=now)
    parts = [] if rest is None else [condition_sql(rest, schema)]
    if time_range.start is not None:
        parts.append(f"time >= {timestamp_sql(time_range.start)}")
    if time_range.end is not None:
        parts.append(f"time <= {timestamp_sql(time_range.end)}")
    return " AND ".join(parts) or "TRUE"


def show_databases(databases: Sequence[str]) -> tuple[Series, ...]:
    """``SHOW DATABASES``."""
    return (_series("databases", ("name",), tuple((name,) for name in sorted(databases))),)


def show_retention_policies(
    statement: ShowRetentionPolicies,
    databases: Sequence[str],
    database: str | None,
    periods: Callable[[str], int | None] | None = None,
) -> tuple[Series, ...]:
    """``SHOW RETENTION POLICIES [ON db]``; InfluxQLError for an unknown database. Each
    policy's duration is its database's retention period (``periods``: seconds, None for
    none) in the v1 form, ``720h0m0s``; ``0s`` when rows are kept forever."""
    target = _required(statement.database or database)
    if target not in databases:
        raise InfluxQLError(f"database not found: {target}")

    def duration(name: str) -> str:
        return format_v1_duration(None if periods is None else periods(name))

    rows: list[tuple[Any, ...]] = [("autogen", duration(target), "168h0m0s", 1, True)]
    for name in sorted(databases):
        if name.startswith(f"{target}/") and "/" not in name[len(target) + 1 :]:
            rows.append((name[len(target) + 1 :], duration(name), "168h0m0s", 1, False))
    return (Series(None, RETENTION_POLICY_COLUMNS, tuple(rows), _POLICY_TYPES),)


def _has_rows(schemas: Schemas, database: str, schema: MeasurementSchema, where: str) -> bool:
    sql = f"SELECT 1 AS found FROM {quote_ident(schema.name)} WHERE {where} LIMIT 1"
    found: int = schemas.backend.sql(database, sql).num_rows
    return found > 0


def show_measurements(
    statement: ShowMeasurements, schemas: Schemas, database: str | None, *, now: int
) -> tuple[Series, ...]:
    """``SHOW MEASUREMENTS``."""
    target = _required(statement.database or database)
    names = []
    regex = None
    if statement.measurement is not None and statement.measurement[0] == "=~":
        regex = compile_regex(statement.measurement[1])
    for name, schema in schemas.of(target).items():
        if statement.measurement is not None and regex is None and name != statement.measurement[1]:
            continue
        if regex is not None and not regex.search(name):
            continue
        where = _where(statement.condition, schema, now)
        if where is None or _has_rows(schemas, target, schema, where):
            names.append((name,))
    rows = _cut(names, statement.limit, statement.offset)
    return (_series("measurements", ("name",), rows),) if rows else ()


def show_tag_keys(
    statement: ShowTagKeys, schemas: Schemas, database: str | None, *, now: int
) -> tuple[Series, ...]:
    """``SHOW TAG KEYS``."""
    found = []
    for target, schema in schemas.resolve(statement.sources, statement.database or database):
        keys = list(schema.tags)
        where = _where(statement.condition, schema, now)
        if where is not None and keys:
            counts = ", ".join(f"count({quote_ident(k)}) AS _k{i}" for i, k in enumerate(keys))
            sql = f"SELECT {counts} FROM {quote_ident(schema.name)} WHERE {where}"
            row = schemas.backend.sql(target, sql).to_pylist()[0]
            keys = [key for i, key in enumerate(keys) if row[f"_k{i}"]]
        rows = _cut([(key,) for key in keys], statement.limit, statement.offset)
        if rows:
            found.append(_series(schema.name, ("tagKey",), rows))
    return tuple(found)


def _key_matches(statement: ShowTagValues, key: str) -> bool:
    op, keys = statement.key_op, statement.keys
    if op in ("=~", "!~"):
        matched = compile_regex(keys[0]).search(key) is not None
        return matched if op == "=~" else not matched
    if op == "!=":
        return key != keys[0]
    return key in keys


def show_tag_values(
    statement: ShowTagValues, schemas: Schemas, database: str | None, *, now: int
) -> tuple[Series, ...]:
    """``SHOW TAG VALUES ... WITH KEY ...``."""
    found = []
    for target, schema in schemas.resolve(statement.sources, statement.database or database):
        where = _where(statement.condition, schema, now)
        rows: list[tuple[Any, ...]] = []
        for key in (k for k in schema.tags if _key_matches(statement, k)):
            column = quote_ident(key)
            sql = (
                f"SELECT DISTINCT CAST({column} AS VARCHAR) AS value FROM "
                f"{quote_ident(schema.name)} WHERE {column} IS NOT NULL"
                + (f" AND {where}" if where else "")
                + " ORDER BY value"
            )
            values = arrow_columns(schemas.backend.sql(target, sql)).get("value", [])
            rows.extend((key, value) for value in values)
        cut = _cut(rows, statement.limit, statement.offset)
        if cut:
            found.append(_series(schema.name, ("key", "value"), cut))
    return tuple(found)


def show_field_keys(
    statement: ShowFieldKeys, schemas: Schemas, database: str | None
) -> tuple[Series, ...]:
    """``SHOW FIELD KEYS``."""
    found = []
    for _, schema in schemas.resolve(statement.sources, statement.database or database):
        rows = _cut(list(schema.fields), statement.limit, statement.offset)
        if rows:
            found.append(_series(schema.name, ("fieldKey", "fieldType"), rows))
    return tuple(found)
