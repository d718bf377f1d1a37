"""Internal: the node's catalog limits (`CatalogLimits`) as InfluxDB 3 has them, and their words.

InfluxDB 3 refuses a database, a table or a column past its catalog limits: a write that would
add a column to a table at its limit loses that line (the others are written, a partial
write), a line that would create a table past the table limit likewise, and a new database
past the database limit is refused whole. The messages are upstream's. The limits are applied
where data arrives (a write, a declared table, a new database), never when a log is replayed:
what was accepted once stays, whatever the limits are at the next start.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from engine_runtime.errors import LimitExceededError
from engine_runtime.store._database import Database

__all__ = [
    "DEFAULT_LIMITS",
    "CatalogLimits",
    "check_new_database",
    "check_new_table",
    "column_limit_message",
    "count_tables",
    "new_database",
    "table_limit_message",
    "tables_before",
    "too_many_columns",
    "too_many_databases",
]


@dataclass(frozen=True, slots=True)
class CatalogLimits:
    """How many databases a node holds, tables across all of them, columns per table (with
    ``time``); InfluxDB 3 Enterprise's defaults (Core fixes 5, 2,000 and 500)."""

    databases: int = 100
    tables: int = 4_000
    columns_per_table: int = 500


DEFAULT_LIMITS: Final = CatalogLimits()


def column_limit_message(limit: int) -> str:
    """Upstream's words for a column past ``limit`` (``CatalogError::TooManyColumns``)."""
    return f"Update to schema would exceed number of columns per table limit of {limit} columns"


def table_limit_message(current: int, limit: int) -> str:
    """Upstream's words for a table past ``limit`` (``CatalogError::TooManyTables``)."""
    return (
        "Update to schema would exceed number of tables limit: attempted to create table but "
        f"already have {current} table(s) (limit: {limit})"
    )


def too_many_columns(limits: CatalogLimits | None, columns: int) -> str | None:
    """The refusal of a table of ``columns`` columns besides ``time``, or None when it fits."""
    if limits is None or columns + 1 <= limits.columns_per_table:
        return None
    return column_limit_message(limits.columns_per_table)


def too_many_databases(limits: CatalogLimits | None, existing: int) -> None:
    """Raise LimitExceededError when one more database than ``existing`` is past the limit."""
    if limits is not None and existing >= limits.databases:
        message = f"Adding a new database would exceed limit of {limits.databases} databases"
        raise LimitExceededError(message, hint=_HINT)


_HINT: Final = (
    "delete a database or table you no longer need, or raise the limit "
    "(--num-database-limit, --num-table-limit, --num-total-columns-per-table-limit)"
)


def check_new_database(limits: CatalogLimits | None, databases: Collection[str], name: str) -> None:
    """Raise LimitExceededError when creating ``name`` beside ``databases`` passes the limit."""
    if name not in databases:
        too_many_databases(limits, len(databases))


def new_database(limits: CatalogLimits | None, databases: Collection[str]) -> Database:
    """A new database's state, or LimitExceededError when ``databases`` are at the limit."""
    too_many_databases(limits, len(databases))
    return Database()


def count_tables(databases: Iterable[tuple[str, Database]]) -> int:
    """Tables across ``databases`` (read without their locks: a count, not a snapshot)."""
    return sum(len(db.tables) for _, db in databases)


def tables_before(
    limits: CatalogLimits | None,
    blocks: Iterable[Any],
    tables: Mapping[str, Any],
    databases: Callable[[], Iterable[tuple[str, Database]]],
) -> int:
    """The node's table count for `check_blocks`: walked only when a limit is set and one of
    ``blocks`` (by ``measurement``) would create a table, the one case that reads it (a write
    to existing tables, and every replay, skips the walk over all databases)."""
    if limits is None or all(block.measurement in tables for block in blocks):
        return 0
    return count_tables(databases())


def check_new_table(
    limits: CatalogLimits | None,
    databases: Callable[[], Iterable[tuple[str, Database]]],
    columns: int,
) -> None:
    """Raise LimitExceededError when a declared table of ``columns`` columns (``time`` aside)
    beside the tables of ``databases()`` (walked only when there are limits) passes a limit."""
    if limits is None:
        return
    table_count = count_tables(databases())
    if table_count >= limits.tables:
        raise LimitExceededError(table_limit_message(table_count, limits.tables), hint=_HINT)
    refusal = too_many_columns(limits, columns)
    if refusal is not None:
        raise LimitExceededError(refusal, hint=_HINT)
