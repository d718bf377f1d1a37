"""Internal: one table's data, appended cheaply and turned into Arrow lazily.

A write appends a `_Chunk` (column-wise Python lists). `TableData.arrow()` converts pending
chunks, concatenates them with the previous Arrow table and deduplicates rows with the same
tag set and time (last non-null value per field wins, InfluxDB 3's upsert semantics). The
result is cached until the next append. Arrow data is immutable, so copies share it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

import pyarrow as pa  # type: ignore[import-untyped]  # pyarrow ships no stubs

from engine_runtime.line_protocol import ParsedLine

__all__ = ["ARROW_TYPES", "TableData", "chunk_from_lines"]

TAG_TYPE: Final = pa.dictionary(pa.int32(), pa.string())
TIME_TYPE: Final = pa.timestamp("ns")
#: column kind -> Arrow type (``tag`` columns are dictionary-encoded strings)
ARROW_TYPES: Final[dict[str, pa.DataType]] = {
    "tag": TAG_TYPE,
    "i64": pa.int64(),
    "u64": pa.uint64(),
    "f64": pa.float64(),
    "bool": pa.bool_(),
    "string": pa.string(),
}
# Past this many chunks, a materialised table is compacted into one chunk per column.
_MAX_CHUNKS: Final = 32


@dataclass(frozen=True, slots=True)
class _Chunk:
    """One write's rows for one table: column name -> values (None where absent)."""

    columns: dict[str, list[Any]]
    times: list[int]


def chunk_from_lines(lines: list[ParsedLine]) -> _Chunk:
    """Pivot parsed lines of one table into columns."""
    count = len(lines)
    columns: dict[str, list[Any]] = {}
    times = [0] * count
    for index, line in enumerate(lines):
        for key, tag in line.tags:
            column = columns.get(key)
            if column is None:
                column = columns[key] = [None] * count
            column[index] = tag
        for key, (_, value) in line.fields.items():
            column = columns.get(key)
            if column is None:
                column = columns[key] = [None] * count
            column[index] = value
        times[index] = line.time_ns
    return _Chunk(columns, times)


class TableData:
    """Schema (column kinds, fixed by first write) plus rows of one table."""

    __slots__ = ("_arrow", "_pending", "kinds", "version")

    def __init__(self) -> None:
        #: column name -> kind ("tag", "i64", "u64", "f64", "bool", "string")
        self.kinds: dict[str, str] = {}
        #: bumped on every append; a query context re-registers the table when it changes
        self.version = 0
        self._pending: list[_Chunk] = []
        self._arrow: pa.Table | None = None

    def copy(self) -> TableData:
        """An independent clone sharing the immutable Arrow data and chunks."""
        clone = TableData()
        clone.kinds = dict(self.kinds)
        clone.version = self.version
        clone._pending = list(self._pending)
        clone._arrow = self._arrow
        return clone

    def append(self, chunk: _Chunk, kinds: dict[str, str]) -> None:
        """Add rows; ``kinds`` are new columns (already checked against `kinds`)."""
        self.kinds.update(kinds)
        self._pending.append(chunk)
        self.version += 1

    def arrow(self) -> pa.Table:
        """All rows as one deduplicated Arrow table: tags sorted, fields sorted, then time."""
        if self._pending or self._arrow is None:
            parts = [] if self._arrow is None else [self._arrow]
            parts.extend(self._chunk_table(chunk) for chunk in self._pending)
            # group_by (dedup) needs one dictionary per tag column across chunks
            table = pa.concat_tables(parts, promote_options="default").unify_dictionaries()
            table = _deduplicate(table, self._tag_names(), self._field_names())
            table = table.select([*self._tag_names(), *self._field_names(), "time"])
            if table.column(0).num_chunks > _MAX_CHUNKS:
                table = table.combine_chunks()
            self._arrow = table
            self._pending = []
        return self._arrow

    def _tag_names(self) -> list[str]:
        return sorted(name for name, kind in self.kinds.items() if kind == "tag")

    def _field_names(self) -> list[str]:
        return sorted(name for name, kind in self.kinds.items() if kind != "tag")

    def _chunk_table(self, chunk: _Chunk) -> pa.Table:
        arrays: dict[str, pa.Array] = {}
        for name, values in chunk.columns.items():
            kind = self.kinds[name]
            if kind == "tag":
                arrays[name] = pa.array(values, pa.string()).dictionary_encode()
            else:
                arrays[name] = pa.array(values, ARROW_TYPES[kind])
        arrays["time"] = pa.array(chunk.times, TIME_TYPE)
        return pa.table(arrays)


def _deduplicate(table: pa.Table, tags: list[str], fields: list[str]) -> pa.Table:
    """Merge rows sharing tag set and time; the last non-null value of each field wins."""
    keys = [*tags, "time"]
    if table.num_rows < 2 or table.group_by(keys).aggregate([]).num_rows == table.num_rows:
        return table
    # "last" honours input (= write) order only single-threaded; it skips nulls by default,
    # so a field a later write omits keeps its older value.
    merged = table.group_by(keys, use_threads=False).aggregate([(f, "last") for f in fields])
    return merged.rename_columns([*keys, *fields])
