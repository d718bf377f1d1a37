"""What the caches read from the store: a table's column kinds, its write buffer, and a write's
parsed rows as columns.

The store is read through ``database_states()`` (`MemoryStore`'s, which `DurableStore`
hands on), never through SQL: these run while a query is being planned (a table function is
called by DataFusion's planner), where a nested query would deadlock DataFusion's runtime.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    import pyarrow as pa  # type: ignore[import-untyped]  # pyarrow ships no stubs

    from engine_runtime.line_protocol.parse import LineBlock

__all__ = ["ARROW_TYPES", "block_columns", "buffered_columns", "table_kinds"]


def _arrow_types() -> dict[str, Any]:
    import pyarrow as pa

    return {
        "tag": pa.dictionary(pa.int32(), pa.string()),
        "i64": pa.int64(),
        "u64": pa.uint64(),
        "f64": pa.float64(),
        "bool": pa.bool_(),
        "string": pa.string(),
        "time": pa.timestamp("ns"),
    }


class _LazyTypes(dict[str, Any]):
    """`ARROW_TYPES`, filled on first use (pyarrow loads only when a cache is read)."""

    def __missing__(self, key: str) -> Any:
        self.update(_arrow_types())
        return self[key]


#: column kind (and ``time``) -> the Arrow type a cache returns it as
ARROW_TYPES: Final[dict[str, Any]] = _LazyTypes()


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


def buffered_columns(
    store: Any, database: str, table: str
) -> tuple[dict[str, list[Any]], list[int]] | None:
    """The table's rows in the store's memory (not yet persisted), as columns ordered by time;
    None when there are none."""
    found = _table_data(store, database, table)
    if found is None:
        return None
    state, data = found
    with state.lock:
        rows: pa.Table = data.arrow()
    if rows.num_rows == 0:
        return None
    import pyarrow as pa

    rows = rows.sort_by("time")
    times: list[int] = rows.column("time").cast(pa.int64()).to_pylist()
    columns = {name: rows.column(name).to_pylist() for name in rows.column_names if name != "time"}
    return columns, times


def block_columns(blocks: Sequence[LineBlock]) -> tuple[dict[str, Sequence[Any]], Sequence[int], bool]:
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
        pairs = (*zip(block.tag_keys, block.tag_columns), *zip(block.field_keys, block.field_columns))
        for name, values in pairs:
            target = merged.get(name)
            if target is None:
                target = merged[name] = [None] * total
            target[offset : offset + size] = values
        offset += size
    order = sorted(range(total), key=numbers.__getitem__)
    columns: dict[str, Sequence[Any]] = {n: [v[i] for i in order] for n, v in merged.items()}
    return columns, [times[i] for i in order], True
