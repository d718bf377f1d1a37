"""Internal: a persist: every table's write buffer to Parquet files, then the catalog that
lists them, then the clean-up of what they replace.

Three steps, so that writes wait for none of the slow part:

1. `freeze` (under the store's write lock, after the WAL rotated): each table's buffer leaves
   it, as it is (Python columns and Arrow), and becomes the table's ``persisting`` rows, still
   queried from memory. Only their times are read, for each chunk's latest time.
2. `write_files` (no lock): the rows of each table are converted to Arrow (unless a query
   did it first), cut into time chunks and written as new
   files. A chunk where memory may repeat rows of its files is merged with them into one new
   file that replaces them, deduplicated. Then the new catalog is saved: the persist is
   durable from here, and the WAL segments it covers can go.
3. `commit` (each database's lock): each table's files are the new ones, and its
   ``persisting`` rows are dropped. A table deleted (or replaced) meanwhile is left alone:
   its drop is in the WAL after the covered segments, so a restart drops it again.

If step 2 fails, its files are deleted and the rows stay ``persisting``: queries still see
them, and the next persist takes them along.
"""

from __future__ import annotations

import logging
import shutil
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import pyarrow as pa  # type: ignore[import-untyped]  # pyarrow ships no stubs

from engine_runtime._atomic import fsync_dir
from engine_runtime.errors import EngineError
from engine_runtime.store._dataset import merged_rows
from engine_runtime.store._files import (
    FileCatalog,
    PersistedFile,
    TableFiles,
    chunk_tables,
    remove_unlisted,
    save_catalog,
    write_file,
)
from engine_runtime.store._location import FileLocation
from engine_runtime.store._retention import drop_rows, keep_files
from engine_runtime.store._table import TableData
from engine_runtime.store._wal import list_segments
from engine_runtime.store.memory import MemoryStore

__all__ = [
    "DEFAULT_BUFFER_LIMIT",
    "DEFAULT_PERSIST_EVERY",
    "SNAPSHOTS_DIR",
    "BufferBudget",
    "BufferFullError",
    "Frozen",
    "clean_up",
    "commit",
    "freeze",
    "persist_loop",
    "write_files",
]

_LOGGER = logging.getLogger(__name__)

#: the write buffer's default limit, in estimated bytes
DEFAULT_BUFFER_LIMIT: Final = 1024 * 1024 * 1024
#: rows after which a persist runs: what a crash makes the next start replay
DEFAULT_PERSIST_EVERY: Final = 250_000
#: where the snapshot format kept its tables (read once at start, to convert; then deleted)
SNAPSHOTS_DIR: Final = "snapshots"


class BufferFullError(EngineError):
    """The write buffer is full and a persist is freeing it: send the write again shortly."""


class BufferBudget:
    """What the write buffer holds since the last persist, and when the next one is due.

    Memory is estimated as twice the line protocol written (parsed columns take about that);
    rows being persisted count until their files are committed. Not thread-safe: the store
    calls it under its write lock.
    """

    def __init__(self, limit: int, every: int) -> None:
        self.limit = limit
        self.every = every
        self.rows = 0
        self.buffered = 0
        self.persisting = 0

    def check_room(self) -> None:
        """Raise `BufferFullError` while the buffer is over its limit."""
        held = self.buffered + self.persisting
        if held >= self.limit:
            mib = 1024 * 1024
            msg = (
                f"the write buffer is full ({held // mib} MiB of its {self.limit // mib} MiB "
                "limit) while its rows are persisted"
            )
            raise BufferFullError(msg, hint="send the write again in a few seconds")

    def add(self, rows: int, text: str) -> bool:
        """Count a write; whether a persist is due (rows, or half the limit reached)."""
        self.rows += rows
        self.buffered += 2 * len(text)
        return self.rows >= self.every or 2 * self.buffered >= self.limit

    def freeze(self) -> None:
        """The buffer was taken by a persist."""
        self.persisting += self.buffered
        self.rows = self.buffered = 0

    def clear(self, *, persisting: bool = True) -> None:
        """A persist committed (``persisting`` freed), or memory was reloaded (all of it)."""
        self.persisting = 0
        if not persisting:
            self.rows = self.buffered = 0


@dataclass(frozen=True, slots=True)
class Frozen:
    """One table's rows taken for a persist, and what it knew of its files then."""

    database: str
    table: str
    data: TableData
    schema: pa.Schema
    kinds: dict[str, str]
    files: tuple[PersistedFile, ...]
    merge: frozenset[int]  # chunks to deduplicate (with their files, when they have some)


def freeze(memory: MemoryStore) -> tuple[list[Frozen], list[str]]:
    """Take every table's buffer (caller holds the store's write lock); the frozen tables and
    every database's name (empty ones are kept too)."""
    frozen: list[Frozen] = []
    databases: list[str] = []
    for name, db in memory.database_states():
        databases.append(name)
        with db.lock:
            for table, data in db.tables.items():
                disk = data.disk
                if disk is None:
                    raise RuntimeError(f"table {table} of {name} has no files state")
                disk.freeze(data.detach())
                frozen.append(
                    Frozen(
                        name,
                        table,
                        data,
                        data.schema(),
                        dict(data.kinds),
                        disk.files,
                        frozenset(disk.persisting_dirty),
                    )
                )
    return frozen, databases


def write_files(
    location: FileLocation,
    before: FileCatalog,
    frozen: list[Frozen],
    databases: list[str],
    covered: int,
    gen1_ns: int,
    cutoffs: Mapping[str, int] | None = None,
) -> FileCatalog:
    """Write the frozen rows as files and save the catalog that lists them with the files
    kept; returns it. On failure, deletes what it wrote and raises.

    ``cutoffs`` (database -> oldest time kept, ns) are the retention periods' now: rows before
    them are not written, and files whose rows are all before them are left out (deleted by
    `clean_up` once the catalog is saved)."""
    after = FileCatalog(
        wal_seq=covered, next_file=before.next_file, directories=dict(before.directories)
    )
    after.databases = {name: {} for name in databases}
    cutoffs = cutoffs or {}
    written: list[str] = []
    try:
        for table in frozen:
            oldest_kept = cutoffs.get(table.database)
            files = list(keep_files(table.files, oldest_kept))
            disk = table.data.disk
            frozen_rows = None if disk is None else disk.persisting_rows(table.schema)
            if frozen_rows is None:
                frozen_rows = table.schema.empty_table()
            if oldest_kept is not None:
                frozen_rows = drop_rows(frozen_rows, oldest_kept)
            for chunk, rows in chunk_tables(frozen_rows, gen1_ns):
                if chunk in table.merge:
                    stale = [f for f in files if f.chunk == chunk]
                    files = [f for f in files if f.chunk != chunk]
                    deduplicate = table.data.deduplicated
                    rows = merged_rows(location, stale, [rows], table.schema, deduplicate)
                    if oldest_kept is not None:
                        rows = drop_rows(rows, oldest_kept)
                    if rows.num_rows == 0:
                        continue
                name = after.new_path(table.database)
                written.append(location.file(name))
                files.append(write_file(location, name, chunk, rows))
            after.databases[table.database][table.table] = TableFiles(table.kinds, tuple(files))
        if location.local:  # an object is durable once its PUT returns
            for directory in {Path(path).parent for path in written}:
                fsync_dir(directory)
        save_catalog(location, after)
    except BaseException:
        _delete(location, written)
        raise
    return after


def _delete(location: FileLocation, written: list[str]) -> None:
    """Remove the files of a failed persist (on an object store, as far as it answers: a
    start removes the rest, as files the catalog does not name)."""
    for path in written:
        if location.local:
            Path(path).unlink(missing_ok=True)
            continue
        try:
            location.filesystem.delete_file(path)
        except OSError:
            pass


def persist_loop(
    stop: threading.Event,
    wake: threading.Event,
    interval: float,
    persist: Callable[[], object],
    store: Path,
) -> None:
    """The persister thread: ``persist`` when woken, or every ``interval`` seconds, until
    ``stop``. A persist that fails is logged and tried again later (the WAL holds its rows)."""
    deadline = time.monotonic() + interval
    while not stop.is_set():
        wake.wait(max(0.0, deadline - time.monotonic()))
        if stop.is_set():
            return
        if wake.is_set() or time.monotonic() >= deadline:
            wake.clear()
            deadline = time.monotonic() + interval
            try:
                persist()
            except Exception:
                _LOGGER.exception("store %s: persist failed", store)


def clean_up(store_dir: Path, wal_dir: Path, location: FileLocation, after: FileCatalog) -> None:
    """After a commit: delete the WAL segments ``after`` covers, the files it no longer names
    (merged or dropped), and the snapshots of a store converted from that format."""
    for seq, segment in list_segments(wal_dir):
        if seq <= after.wal_seq:
            segment.unlink()
    remove_unlisted(location, after)
    shutil.rmtree(store_dir / SNAPSHOTS_DIR, ignore_errors=True)


def commit(memory: MemoryStore, frozen: list[Frozen], after: FileCatalog) -> None:
    """Make each frozen table's files the catalog's, where the table is still the same."""
    states = dict(memory.database_states())
    for table in frozen:
        db = states.get(table.database)
        if db is not None:
            with db.lock:
                if db.tables.get(table.table) is table.data and table.data.disk is not None:
                    entry = after.databases[table.database][table.table]
                    table.data.disk.commit(entry.files)
                    table.data.version += 1
