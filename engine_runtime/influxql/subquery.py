"""InfluxQL subqueries: ``SELECT ... FROM (SELECT ...)``.

The inner ``SELECT`` runs first; its series become the rows of a scratch in-memory store (one
table per measurement, the series' ``GROUP BY`` tags as tags, its columns as fields of their
types), and the outer ``SELECT`` runs on that store as on any other, so every function, fill and
limit works on a subquery's result as it does on stored points.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any, Final

import pyarrow as pa  # type: ignore[import-untyped]  # pyarrow ships no stubs

from engine_runtime.errors import InfluxQLError
from engine_runtime.influxql.backend import Schemas, StoreBackend
from engine_runtime.influxql.nodes import Measurement, SelectStatement, Statement
from engine_runtime.influxql.results import Series
from engine_runtime.store import MemoryStore

__all__ = ["has_subquery", "run_subquery"]

_SCRATCH: Final = "subquery"
_ARROW: Final[dict[str, pa.DataType]] = {
    "float": pa.float64(),
    "integer": pa.int64(),
    "unsigned": pa.uint64(),
    "string": pa.string(),
    "boolean": pa.bool_(),
}
_TAG: Final = pa.dictionary(pa.int32(), pa.string())
#: runs one statement on some schemas: execute's dispatcher
Runner = Callable[[Statement, Schemas, "str | None", int], tuple[Series, ...]]


def has_subquery(statement: SelectStatement) -> bool:
    """Whether any source of ``statement`` is a subquery."""
    return any(source.subquery is not None for source in statement.sources)


def run_subquery(
    statement: SelectStatement,
    schemas: Schemas,
    database: str | None,
    now: int,
    run: Runner,
) -> tuple[Series, ...]:
    """The series of ``statement``, whose sources include subqueries (run with ``run``)."""
    if any(source.subquery is None for source in statement.sources):
        raise InfluxQLError("InfluxQL: a subquery cannot stand beside a measurement in FROM")
    found: list[Series] = []
    for source in statement.sources:
        assert source.subquery is not None  # noqa: S101  # checked above
        found += run(source.subquery, schemas, database, now)
    scratch = MemoryStore()
    names = sorted({series.name or "" for series in found})
    for name in names:
        table = _table([series for series in found if (series.name or "") == name])
        scratch.import_table(_SCRATCH, name, table)
    outer = replace(statement, sources=tuple(Measurement(name=name) for name in names))
    if not names:
        return ()
    return run(outer, Schemas(StoreBackend(scratch)), _SCRATCH, now)


def _table(series: Sequence[Series]) -> pa.Table:
    """The rows of ``series`` (one measurement) as a store table."""
    tags = sorted({key for one in series for key, _ in one.tags})
    kinds: dict[str, str] = {}
    for one in series:
        for column, kind in zip(one.columns[1:], one.types[1:], strict=True):
            if column in tags or column == "time":
                continue
            if kinds.setdefault(column, kind) != kind:
                message = f"InfluxQL: the subquery's column {column} has values of two types"
                raise InfluxQLError(message)
    columns: dict[str, list[Any]] = {name: [] for name in ("time", *tags, *kinds)}
    for one in series:
        tag_values = dict(one.tags)
        where = {column: i for i, column in enumerate(one.columns)}
        for row in one.values:
            columns["time"].append(row[0])
            for tag in tags:
                columns[tag].append(tag_values.get(tag))
            for field in kinds:
                columns[field].append(row[where[field]] if field in where else None)
    arrays = {"time": pa.array(columns["time"], pa.timestamp("ns"))}
    arrays |= {tag: pa.array(columns[tag], pa.string()).cast(_TAG) for tag in tags}
    arrays |= {field: pa.array(columns[field], _ARROW[kind]) for field, kind in kinds.items()}
    return pa.table(arrays)
