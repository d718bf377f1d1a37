"""What the caches read from the store: a table's column kinds, the rows that refill a cache
at start, and a write's parsed rows as columns.

Column kinds are read through ``database_states()`` (`MemoryStore`'s, which `DurableStore`
hands on), never through SQL: they are needed while a query is being planned (a table function
is called by DataFusion's planner), where a nested query would re-enter DataFusion's runtime.
The refill runs at engine start, before any query, so it is SQL.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Final

from engine_runtime.store import _table

from .definitions import CacheDefinition, LastCacheDefinition

if TYPE_CHECKING:
    from engine_runtime.line_protocol.parse import LineBlock

__all__ = ["ARROW_TYPES", "block_columns", "refill_columns", "refill_sql", "table_kinds"]


#: column kind (and ``time``) -> the Arrow type a cache returns it as: the store's own
ARROW_TYPES: Final[dict[str, Any]] = {**_table.ARROW_TYPES, "time": _table.TIME_TYPE}


def _table_data(store: Any, database: str, table: str) -> tuple[Any, Any] | None:
    """``(database state, table data)`` of ``table``, or None when there is no such table."""
    states = getattr(store, "database_states", None)
    if states is None:
        return None
    for name, state in states():
        if name == database:
            with state.lock:
                data = state.tables.get(table)
            return None if data is None else (state, data)
    return None


def table_kinds(store: Any, database: str, table: str) -> dict[str, str] | None:
    """The table's columns (``time`` aside) -> kind, in ``SELECT *`` order (tags, then fields,
    each sorted); None when the table (or its database) does not exist."""
    found = _table_data(store, database, table)
    if found is None:
        return None
    state, data = found
    with state.lock:
        kinds: dict[str, str] = dict(data.kinds)
    tags = sorted(name for name, kind in kinds.items() if kind == "tag")
    fields = sorted(name for name, kind in kinds.items() if kind != "tag")
    return {name: kinds[name] for name in (*tags, *fields)}


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def refill_sql(definition: CacheDefinition, since_ns: int) -> str:
    """The query that refills a cache at start: for a last cache the newest ``count`` rows of
    each key newer than ``since_ns``, for a distinct cache each combination's newest time."""
    table, window = _quote(definition.table), f"time > to_timestamp_nanos({since_ns})"
    if isinstance(definition, LastCacheDefinition):
        keys = ", ".join(_quote(k) for k in definition.key_columns)
        present = "".join(f" AND {_quote(k)} IS NOT NULL" for k in definition.key_columns)
        partition = f"PARTITION BY {keys} " if keys else ""
        rank = f"row_number() OVER ({partition}ORDER BY time DESC) AS __rank"
        ranked = f"SELECT *, {rank} FROM {table} WHERE {window}{present}"  # noqa: S608 - quoted
        limit = definition.count
        return f"SELECT * FROM ({ranked}) WHERE __rank <= {limit} ORDER BY time"  # noqa: S608
    columns = ", ".join(_quote(c) for c in definition.columns)
    return (
        f"SELECT {columns}, max(time) AS time FROM {table} WHERE {window} "  # noqa: S608
        f"GROUP BY {columns} ORDER BY time"
    )


def refill_columns(
    store: Any, definition: CacheDefinition, since_ns: int
) -> tuple[dict[str, list[Any]], list[int]] | None:
    """`refill_sql`'s rows as columns in time order; None when there are none."""
    import pyarrow as pa  # type: ignore[import-untyped]  # pyarrow ships no stubs

    batches = store.query_batches(definition.database, refill_sql(definition, since_ns))
    rows = pa.Table.from_batches(batches)
    if rows.num_rows == 0:
        return None
    times: list[int] = rows.column("time").cast(pa.int64()).to_pylist()
    skip = ("time", "__rank")
    columns = {
        name: rows.column(name).to_pylist() for name in rows.column_names if name not in skip
    }
    return columns, times


def block_columns(
    blocks: Sequence[LineBlock],
) -> tuple[dict[str, Sequence[Any]], Sequence[int], bool]:
    """One write's rows of one table as ``(columns, times, may hold None)``, in line order.

    A table written with one line shape (the usual case) is its block's own lists; several
    shapes are merged by line number, a column a line lacks holding None.
    """
    if len(blocks) == 1:
        block = blocks[0]
        single: dict[str, Sequence[Any]] = dict(zip(block.tag_keys, block.tag_columns, strict=True))
        single.update(zip(block.field_keys, block.field_columns, strict=True))
        return single, block.times, False
    numbers: list[int] = []
    times: list[int] = []
    for block in blocks:
        numbers += block.line_numbers
        times += block.times
    total = len(numbers)
    merged: dict[str, list[Any]] = {}
    offset = 0
    for block in blocks:
        size = len(block.times)
        pairs: list[tuple[str, Sequence[Any]]] = [
            *zip(block.tag_keys, block.tag_columns, strict=True),
            *zip(block.field_keys, block.field_columns, strict=True),
        ]
        for name, values in pairs:
            target = merged.get(name)
            if target is None:
                target = merged[name] = [None] * total
            target[offset : offset + size] = values
        offset += size
    order = sorted(range(total), key=numbers.__getitem__)
    columns: dict[str, Sequence[Any]] = {n: [v[i] for i in order] for n, v in merged.items()}
    return columns, [times[i] for i in order], True
