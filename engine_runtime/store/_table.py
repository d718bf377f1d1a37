"""Internal: one table's data, appended cheaply and turned into Arrow lazily.

A write appends a `_Chunk` (the write's parsed `LineBlock`s for the table, column-wise Python
lists). `TableData.arrow()` converts pending chunks, concatenates them with the previous Arrow
table and deduplicates rows with the same tag set and time (last non-null value per field wins,
InfluxDB 3's upsert semantics). The result is cached until the next append. Arrow data is
immutable, so copies share it.

The dedup (a hash group-by over every row) only runs when a write may have added a duplicate:
each append records every series' latest time, and a write whose times are distinct per series
and later than that series' latest (the usual, in-order case) provably adds none.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np
import pyarrow as pa  # type: ignore[import-untyped]  # pyarrow ships no stubs

from engine_runtime.line_protocol.parse import LineBlock, SeriesKey, SeriesSpan
from engine_runtime.store._on_disk import OnDisk
from engine_runtime.store._retention import drop_rows

__all__ = ["ARROW_TYPES", "TableData", "chunk_from_blocks"]

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
_LINE: Final = "_line"  # internal sort key while merging a write's blocks (made unique)


@dataclass(frozen=True, slots=True)
class _Chunk:
    """One write's rows for one table: blocks of parsed lines (one per line shape)."""

    blocks: list[LineBlock]


def chunk_from_blocks(blocks: list[LineBlock]) -> _Chunk:
    """Rows of one table from one write, kept as parsed (converted to Arrow lazily)."""
    return _Chunk(blocks)


class TableData:
    """Schema (column kinds, fixed by first write) plus rows of one table."""

    __slots__ = (
        "_arrow",
        "_maybe_duplicates",
        "_pending",
        "_series_max",
        "disk",
        "kinds",
        "version",
    )

    def __init__(self) -> None:
        #: column name -> kind ("tag", "i64", "u64", "f64", "bool", "string")
        self.kinds: dict[str, str] = {}
        #: bumped on every append; a query context re-registers the table when it changes
        self.version = 0
        self._pending: list[_Chunk] = []
        self._arrow: pa.Table | None = None
        #: series (sorted tags) -> latest time written, to prove writes free of duplicates
        self._series_max: dict[SeriesKey, int] = {}
        #: whether pending rows may share tag set and time with another row
        self._maybe_duplicates = False
        #: the table's files and rows being persisted (a `DurableStore`'s); None in memory only
        self.disk: OnDisk | None = None

    @classmethod
    def from_arrow(cls, data: pa.Table) -> TableData:
        """A `TableData` holding ``data`` (a snapshot's table) as its materialised rows, with
        each series' latest time, which later writes need to detect upserts."""
        kinds: dict[str, str] = {}
        for column in data.schema:
            if column.name == "time":
                if column.type != TIME_TYPE:
                    msg = f"column time has type {column.type}, expected {TIME_TYPE}"
                    raise ValueError(msg)
                continue
            kind = _KINDS.get(column.type)
            if kind is None:
                msg = f"column {column.name} has type {column.type}, which no table column has"
                raise ValueError(msg)
            kinds[column.name] = kind
        if "time" not in data.column_names:
            msg = "the table has no time column"
            raise ValueError(msg)
        tags = sorted(name for name, kind in kinds.items() if kind == "tag")
        fields = sorted(name for name, kind in kinds.items() if kind != "tag")
        result = cls()
        result.kinds = kinds
        result.version = 1
        result._arrow = data.select([*tags, *fields, "time"])
        result._series_max = _series_max(data, tags)
        return result

    @classmethod
    def empty(cls, kinds: dict[str, str]) -> TableData:
        """A table with no rows whose columns (name -> kind, ``time`` implied) are fixed now,
        as ``POST /api/v3/configure/table`` declares them."""
        result = cls()
        result.kinds = dict(kinds)
        result.version = 1
        result._arrow = result._empty_table()
        return result

    def copy(self) -> TableData:
        """An independent clone sharing the immutable Arrow data and chunks."""
        clone = TableData()
        clone.kinds = dict(self.kinds)
        clone.version = self.version
        clone._pending = list(self._pending)
        clone._arrow = self._arrow
        clone._series_max = dict(self._series_max)
        clone._maybe_duplicates = self._maybe_duplicates
        clone.disk = None if self.disk is None else self.disk.copy()
        return clone

    def append(self, chunk: _Chunk, kinds: dict[str, str]) -> None:
        """Add rows; ``kinds`` are new columns (already checked against `kinds`)."""
        self.kinds.update(kinds)
        self._pending.append(chunk)
        self.version += 1
        # track every write, even when a dedup is due anyway: later writes are checked against it
        clash = self._track_series(chunk)
        self._maybe_duplicates = self._maybe_duplicates or clash
        for block in chunk.blocks:  # tracked: the buffer need not keep a tuple per series
            block.series = []

    def _track_series(self, chunk: _Chunk) -> bool:
        """Record each series' latest time; True unless ``chunk`` surely adds no duplicate.

        Cheap and conservative: a write is duplicate-free when its times are distinct per
        series and all later than anything written to that series before.
        """
        spans: list[SeriesSpan] = []
        for block in chunk.blocks:
            spans += block.series
        written = {key: (low, high) for key, low, high, _ in spans}
        clash = not all(span[3] for span in spans)
        if len(written) != len(spans):  # a series in several spans (blocks, heads): merge them
            written = {}
            for key, low, high, _ in spans:
                have = written.get(key)
                if have is not None:
                    if low <= have[1] and high >= have[0]:
                        clash = True
                    low, high = min(low, have[0]), max(high, have[1])
                written[key] = (low, high)
        latest = self._series_max
        get = latest.get
        for key, (low, high) in written.items():
            before = get(key)
            if before is None or high > before:
                latest[key] = high
            if before is not None and low <= before:
                clash = True
        if self.disk is not None and written:
            self.disk.mark(written)
        return clash

    def arrow(self) -> pa.Table:
        """All rows as one deduplicated Arrow table: tags sorted, fields sorted, then time."""
        if self._pending or self._arrow is None:
            parts = [] if self._arrow is None else [self._arrow]
            parts.extend(self._chunk_table(chunk) for chunk in self._pending)
            # group_by (dedup) needs one dictionary per tag column across chunks
            table = pa.concat_tables(
                parts or [self._empty_table()], promote_options="default"
            ).unify_dictionaries()
            if self._maybe_duplicates:
                table = _deduplicate(table, self._tag_names(), self._field_names())
                self._maybe_duplicates = False
            for name in self.kinds.keys() - set(table.column_names):  # only in files so far
                table = table.append_column(
                    name, pa.nulls(table.num_rows, ARROW_TYPES[self.kinds[name]])
                )
            table = table.select([*self._tag_names(), *self._field_names(), "time"])
            if table.column(0).num_chunks > _MAX_CHUNKS:
                table = table.combine_chunks()
            self._arrow = table
            self._pending = []
        return self._arrow

    def drop_before(self, oldest_kept: int) -> int:
        """Drop the rows older than ``oldest_kept`` (ns, a retention cutoff); how many went."""
        table = self.arrow()
        kept = drop_rows(table, oldest_kept)
        if kept.num_rows == table.num_rows:
            return 0
        self._arrow = kept
        self.version += 1
        dropped: int = table.num_rows - kept.num_rows
        return dropped

    def schema(self) -> pa.Schema:
        """The table's columns as queries see them: tags, fields (each sorted), ``time``."""
        return self._empty_table().schema

    def deduplicated(self, table: pa.Table) -> pa.Table:
        """``table`` (this table's columns) with each (series, time) once, the last write's
        non-null values winning, in this table's column order."""
        merged = _deduplicate(table, self._tag_names(), self._field_names())
        return merged.select([*self._tag_names(), *self._field_names(), "time"])

    def detach(self) -> TableData:
        """The rows in memory as a table of their own, which leave this one's buffer (a
        persist writes them). Nothing is converted: the caller holds the store's locks."""
        part = TableData()
        part.kinds = dict(self.kinds)
        part._arrow, part._pending = self._arrow, self._pending
        part._maybe_duplicates = self._maybe_duplicates
        self._arrow, self._pending, self._maybe_duplicates = None, [], False
        self.version += 1
        return part

    def times(self) -> list[np.ndarray]:
        """Every row's time (ns), as arrays, without building the rows."""
        arrays = [] if self._arrow is None else [self._arrow["time"].cast(pa.int64()).to_numpy()]
        arrays += [
            np.asarray(block.times, dtype=np.int64)
            for chunk in self._pending
            for block in chunk.blocks
        ]
        return arrays

    def _empty_table(self) -> pa.Table:
        """No rows, with every column the table has (files may hold columns memory lacks)."""
        columns = [*self._tag_names(), *self._field_names()]
        arrays = {name: pa.array([], ARROW_TYPES[self.kinds[name]]) for name in columns}
        arrays["time"] = pa.array([], TIME_TYPE)
        return pa.table(arrays)

    def _tag_names(self) -> list[str]:
        return sorted(name for name, kind in self.kinds.items() if kind == "tag")

    def _field_names(self) -> list[str]:
        return sorted(name for name, kind in self.kinds.items() if kind != "tag")

    def _chunk_table(self, chunk: _Chunk) -> pa.Table:
        if len(chunk.blocks) == 1:
            return self._block_table(chunk.blocks[0], None)
        line = _LINE
        while line in self.kinds:
            line += "_"
        tables = [self._block_table(block, line) for block in chunk.blocks]
        table = pa.concat_tables(tables, promote_options="default")
        table = table.sort_by(line).drop_columns([line])
        tags = [name for name in table.column_names if self.kinds.get(name) == "tag"]
        for name in tags:
            index = table.column_names.index(name)
            table = table.set_column(index, name, table.column(name).dictionary_encode())
        return table

    def _block_table(self, block: LineBlock, line: str | None) -> pa.Table:
        """One block as Arrow, plus its line numbers in column ``line`` unless None.

        With line numbers, tags stay plain strings: the caller sorts, then encodes them.
        """
        with_lines = line is not None
        arrays: dict[str, pa.Array] = {}
        for name, tag_values in zip(block.tag_keys, block.tag_columns, strict=True):
            arrays[name] = pa.array(tag_values, pa.string() if with_lines else TAG_TYPE)
        for name, kind, values in zip(
            block.field_keys, block.field_kinds, block.field_columns, strict=True
        ):
            arrays[name] = pa.array(values, ARROW_TYPES[kind])
        arrays["time"] = pa.array(block.times, TIME_TYPE)
        if line is not None:
            arrays[line] = pa.array(block.line_numbers, pa.int64())
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


_KINDS: Final = {arrow_type: kind for kind, arrow_type in ARROW_TYPES.items()}


def _series_max(data: pa.Table, tags: list[str]) -> dict[SeriesKey, int]:
    """Each series' latest time, keyed as `TableData` keys them (``tags`` sorted)."""
    if data.num_rows == 0:
        return {}
    times = data.column("time").cast(pa.int64())
    if not tags:
        return {"": max(times.to_pylist())}
    keyed = pa.table({**{name: data.column(name) for name in tags}, "time": times})
    latest = keyed.group_by(tags, use_threads=False).aggregate([("time", "max")])
    result: dict[SeriesKey, int] = {}
    for row in latest.to_pylist():
        key = ",".join(f"{name}={row[name]}" for name in tags if row[name] is not None)
        result[key] = row["time_max"]
    return result
