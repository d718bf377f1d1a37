"""Internal: a persisted table as DataFusion sees it: its files and its rows in memory as one
``pyarrow.dataset`` (a base table, as upstream's tables are in ``information_schema``).

Each file carries its time range as its partition expression, so a query's time filter,
which DataFusion pushes down, skips the files outside it without opening them; inside a file,
Parquet's row-group statistics skip the rest. Rows in memory (the buffer, and rows a persist
is writing) are in-memory datasets beside the files.

Chunks where memory may repeat a (series, time) of the files (`OnDisk.dirty_chunks`) are read
and deduplicated (last write wins, as in memory) into one in-memory part that replaces their
files and rows; every other chunk is read as it is.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Final

import numpy as np
import pyarrow as pa  # type: ignore[import-untyped]  # pyarrow ships no stubs
import pyarrow.dataset as ds  # type: ignore[import-untyped]  # pyarrow ships no stubs

from engine_runtime.store._files import chunk_starts, read_file, verify_files

if TYPE_CHECKING:
    from engine_runtime.store._files import PersistedFile
    from engine_runtime.store._location import FileLocation
    from engine_runtime.store._on_disk import OnDisk

__all__ = ["conform", "merged_rows", "table_dataset"]

TIME_TYPE: Final = pa.timestamp("ns")
#: Parquet pages are read with their checksums checked: a damaged page fails the query
_FORMAT: Final = ds.ParquetFileFormat(
    default_fragment_scan_options=ds.ParquetFragmentScanOptions(page_checksum_verification=True)
)


def conform(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """``table`` with exactly ``schema``'s columns, in order (missing ones null)."""
    if table.schema.equals(schema):
        return table
    columns = []
    for column in schema:
        if column.name in table.column_names:
            columns.append(table.column(column.name).cast(column.type))
        else:
            columns.append(pa.nulls(table.num_rows, column.type))
    return pa.table(columns, schema=schema)


def _time_range(persisted: PersistedFile) -> ds.Expression:
    low = pa.scalar(persisted.min_time, type=TIME_TYPE)
    high = pa.scalar(persisted.max_time, type=TIME_TYPE)
    return (ds.field("time") >= low) & (ds.field("time") <= high)


def _files_dataset(disk: OnDisk, files: Sequence[PersistedFile], schema: pa.Schema) -> ds.Dataset:
    return ds.FileSystemDataset.from_paths(
        [disk.location.file(persisted.path) for persisted in files],
        schema=schema,
        format=_FORMAT,
        filesystem=disk.location.filesystem,
        partitions=[_time_range(persisted) for persisted in files],
    )


def _in_chunks(table: pa.Table, disk: OnDisk, chunks: set[int]) -> np.ndarray:
    times = table.column("time").cast(pa.int64()).to_numpy()
    return np.isin(chunk_starts(times, disk.gen1_ns), np.fromiter(chunks, dtype=np.int64))


def merged_rows(
    location: FileLocation,
    stale: Sequence[PersistedFile],
    memory: Sequence[pa.Table],
    schema: pa.Schema,
    deduplicate: Callable[[pa.Table], pa.Table],
) -> pa.Table:
    """The rows of chunks that may repeat a (series, time): their files (``stale``), then
    their rows in memory, each (series, time) once, the later write winning. A query reads
    them so; a persist writes them as the chunk's one new file."""
    parts = [conform(read_file(location, persisted), schema) for persisted in stale]
    parts += [conform(part, schema) for part in memory]
    return deduplicate(pa.concat_tables(parts).unify_dictionaries())


def table_dataset(
    disk: OnDisk,
    buffer: pa.Table,
    schema: pa.Schema,
    deduplicate: Callable[[pa.Table], pa.Table],
) -> ds.Dataset:
    """The table's files and its rows in memory (``buffer``, conformed to ``schema``) as one
    dataset; ``deduplicate`` merges the rows of chunks that may repeat a (series, time)."""
    verify_files(disk.location, disk.files)
    persisting = disk.persisting_rows(schema)
    memory = [part for part in (persisting, buffer) if part is not None and part.num_rows]
    memory = [conform(part, schema) for part in memory]
    files = list(disk.files)
    dirty = disk.dirty_chunks()
    if dirty:
        stale = [persisted for persisted in files if persisted.chunk in dirty]
        files = [persisted for persisted in files if persisted.chunk not in dirty]
        inside, kept = [], []
        for part in memory:
            chosen = _in_chunks(part, disk, dirty)
            inside.append(part.filter(pa.array(chosen)))
            kept.append(part.filter(pa.array(~chosen)))
        if stale or inside:
            merged = merged_rows(disk.location, stale, inside, schema, deduplicate)
            kept.append(conform(merged, schema))  # a group-by's output types, made the table's
        memory = kept
    parts: list[ds.Dataset] = []
    if files:
        parts.append(_files_dataset(disk, files, schema))
    parts.extend(ds.dataset(part) for part in memory if part.num_rows)
    if not parts:
        parts.append(ds.dataset(schema.empty_table()))
    return parts[0] if len(parts) == 1 else ds.dataset(parts)
