"""System tables for `MemoryStore`: what the engine publishes as ``system.<name>``.

The engine hands the store a provider (`SystemTablesProvider`); at query time the store calls it
and turns each value into an Arrow table with `system_table` / `to_arrow`. Only queries whose
SQL mentions the ``system`` schema (`mentions_system`) pay for this.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Final

import pyarrow as pa  # type: ignore[import-untyped]  # pyarrow ships no stubs

from engine_runtime.errors import QueryExecutionError
from engine_runtime.store.base import SystemTable, SystemTablesProvider

__all__ = ["SYSTEM_SCHEMA", "mentions_system", "produce_system_tables", "system_table", "to_arrow"]

#: the DataFusion schema (in catalog ``public``) that holds the system tables
SYSTEM_SCHEMA: Final = "system"
# `system.x`, `"system".x` and `table_schema = 'system'` (information_schema filters).
_MARKERS: Final = ("system.", '"system"', "'system'")


def mentions_system(sql: str) -> bool:
    """Whether ``sql`` may read the ``system`` schema: a cheap test that may say yes wrongly."""
    lowered = sql.lower()
    return any(marker in lowered for marker in _MARKERS)


def system_table(schema: pa.Schema, rows: Iterable[Mapping[str, Any]]) -> pa.Table:
    """An Arrow table of ``rows`` with exactly ``schema``'s columns and types.

    Keys missing from a row are nulls, extra keys are ignored, and no rows give an empty table
    that still has every column (e.g. ``event_time`` stays ``timestamp[ns]``). Integers are
    accepted for timestamp columns (ns since the epoch for ``timestamp[ns]``).
    """
    return pa.Table.from_pylist(list(rows), schema=schema)


def to_arrow(value: SystemTable) -> pa.Table:
    """A `SystemTable` value as an Arrow table; raises TypeError for anything else."""
    if isinstance(value, pa.Table):
        return value
    if isinstance(value, tuple) and len(value) == 2 and isinstance(value[0], pa.Schema):
        return system_table(value[0], value[1])
    msg = (
        f"a system table must be a pyarrow.Table or a (pyarrow.Schema, rows) pair, "
        f"got {type(value).__name__}"
    )
    raise TypeError(msg)


def produce_system_tables(provider: SystemTablesProvider, database: str) -> dict[str, pa.Table]:
    """Call ``provider`` for ``database`` and convert its tables.

    Any failure (the provider raising, a bad value, rows not matching the schema) becomes a
    QueryExecutionError naming the database, so a broken provider fails the query, not the store.
    """
    try:
        return {name: to_arrow(value) for name, value in provider(database).items()}
    except Exception as exc:
        msg = (
            f"error while planning query: the system tables of database {database} could not "
            f"be produced: {type(exc).__name__}: {exc}"
        )
        raise QueryExecutionError(msg) from exc
