"""Internal: how a `DurableStore` comes back from disk (at start, and after a failed flush).

Apart from `durable` because it reads the files the running store writes and shares none of
its state: it fills a `MemoryStore` from the file catalog and the log after it.

The catalog (``files.json``) is loaded, not the rows, and checked against its own checksum
first: each table gets its column kinds and the list of its files, and files the catalog does
not name are deleted. A catalog written before checksums is accepted once: rewritten with one,
and nothing is deleted on its word at that start. Then the WAL segments after
the catalog's ``wal_seq`` are replayed in order, so what a start reads grows with the rows
written since the last persist, not with the rows kept. A store written by the snapshot format
(``snapshots/<seq>/``, no catalog) is read as before, its newest snapshot loaded into memory;
the caller persists it at once and removes the snapshots (`convert` is True).

A torn record at the tail of the last segment (a crash mid-write, with no valid record after it)
is truncated away with a warning. Any other damage (a bad record inside the log, a missing
segment, an unreadable catalog, a snapshot file that fails its checksum) raises
`StoreCorruptionError` naming the file and offset, and for the log the ``pluginmgr store
repair`` command that cuts it there: acknowledged data is never dropped silently. Files that
cannot be read raise `StoreOpenError` (the caller turns the `OSError` into it).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from engine_runtime.errors import EngineError, WriteError
from engine_runtime.store._files import (
    FileCatalog,
    TableFiles,
    load_catalog,
    remove_unlisted,
    save_catalog,
)
from engine_runtime.store._location import CATALOG_NAME, FILES_DIR, FileLocation
from engine_runtime.store._persist import SNAPSHOTS_DIR
from engine_runtime.store._snapshot import latest_snapshot, load_snapshot, prune_snapshots
from engine_runtime.store._table import TableData
from engine_runtime.store._wal import (
    StoreCorruptionError,
    StoreOpenError,
    WalRecord,
    list_segments,
)
from engine_runtime.store._wal_read import read_segment
from engine_runtime.store.memory import MemoryStore

__all__ = ["Recovered", "make_private_dirs", "open_dirs", "recover"]

_LOGGER = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Recovered:
    """What a recovery found: the catalog, the WAL it replayed, and whether the store was in
    the snapshot format (to persist at once)."""

    catalog: FileCatalog
    replayed: int
    last_seq: int
    convert: bool


def recover(
    memory: MemoryStore, data_dir: Path, wal_dir: Path, location: FileLocation
) -> Recovered:
    """Load the catalog (or an old snapshot) and replay the log into ``memory``, whose
    `MemoryStore.new_disk` gives new tables their files state; ``location`` holds the files
    and their catalog (``data_dir`` itself, or an object store)."""
    snapshot_dir = data_dir / SNAPSHOTS_DIR
    catalog = load_catalog(location)  # checked against its checksum before any deletion
    convert = False
    if catalog is not None:
        for database, tables in catalog.databases.items():
            memory.create_database(database)
            for table, entry in tables.items():
                _attach(memory, database, table, entry)
        snapshot = None
        if not catalog.checksummed:
            _reseal(location, catalog)
    else:
        catalog = FileCatalog()
        snapshot = latest_snapshot(snapshot_dir) if snapshot_dir.is_dir() else None
        if snapshot is not None:
            catalog.wal_seq, loaded = load_snapshot(snapshot)
            convert = True
            for database, db_tables in loaded.items():
                memory.create_database(database)
                for table, data in db_tables.items():
                    memory.import_table(database, table, data)
    covered = catalog.wal_seq
    segments = list_segments(wal_dir)
    if catalog.checksummed:  # never delete on the word of a file that could not be checked
        if snapshot_dir.is_dir():
            prune_snapshots(snapshot_dir, catalog.wal_seq, all_temporary=True)
        remove_unlisted(location, catalog)
        for seq, path in segments:
            if seq <= covered:
                path.unlink()  # a crash between a persist and its clean-up
    pending = [(seq, path) for seq, path in segments if seq > covered]
    replayed = 0
    for index, (seq, path) in enumerate(pending):
        if seq != covered + 1 + index:
            msg = f"WAL segment {covered + 1 + index} is missing before {path}"
            raise StoreCorruptionError(msg, hint="restore the file from a backup")
        for record in read_segment(path, last=index == len(pending) - 1):
            _replay_record(memory, record, path)
            replayed += 1
    last_seq = pending[-1][0] if pending else covered
    files = sum(len(t.files) for tables in catalog.databases.values() for t in tables.values())
    _LOGGER.info(
        "store %s: %d files, %d WAL records replayed%s",
        data_dir,
        files,
        replayed,
        f" (snapshot {snapshot} to convert)" if convert else "",
    )
    return Recovered(catalog, replayed, last_seq, convert)


def _reseal(location: FileLocation, catalog: FileCatalog) -> None:
    """Rewrite a catalog written before checksums with one (it was accepted once); this start
    deletes nothing on its word, the next persist cleans up."""
    _LOGGER.warning(
        "store %s: %s has no checksum (written by an older version): accepted once and "
        "rewritten with one",
        location.describe(),
        CATALOG_NAME,
    )
    save_catalog(location, catalog)


def _attach(memory: MemoryStore, database: str, table: str, entry: TableFiles) -> None:
    """Give ``table`` its kinds and files, and no rows in memory."""
    data = TableData.empty(entry.kinds)
    if memory.new_disk is None:
        raise RuntimeError("a store with files needs MemoryStore.new_disk")
    data.disk = memory.new_disk()
    data.disk.add_files(entry.files)
    for name, db in memory.database_states():
        if name == database:
            with db.lock:
                db.tables[table] = data


def open_dirs(data_dir: Path, wal_dir: Path, location: FileLocation) -> None:
    """Reach the files' location (`FileLocation.check`), then create the local directories.

    :raises StoreOpenError: the files are on an object store, and a catalog of local files is
        in ``data_dir`` too: the store was moved there without them, and would open without
        the rows they hold.
    """
    location.check()
    local_catalog = data_dir / CATALOG_NAME
    if not location.local and local_catalog.exists():
        msg = (
            f"the store at {data_dir} keeps its files on local disk ({local_catalog}), not on "
            f"the object store {location.describe()}"
        )
        hint = (
            f"copy {data_dir / FILES_DIR}/ and then {CATALOG_NAME} to {location.describe()}/ "
            "and remove them here, or use --object-store file"
        )
        raise StoreOpenError(msg, hint=hint)
    local = [Path(location.files)] if location.local else []
    make_private_dirs(data_dir, wal_dir, *local)


def make_private_dirs(*directories: Path) -> None:
    """Create the store's directories 0700 (they hold every row); tighten older ones."""
    for directory in directories:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        if directory.stat().st_mode & 0o077:
            directory.chmod(0o700)


def _replay_record(memory: MemoryStore, record: WalRecord, path: Path) -> None:
    if record.kind == "create":
        memory.create_database(record.database)
        return
    if record.kind in ("table", "drop"):
        _replay_table(memory, record, path)
        return
    if record.kind == "dropdb":
        if record.database in memory.databases():
            memory.delete_database(record.database)
        return
    try:
        memory.write_lp(
            record.database,
            record.text,
            precision=record.precision,
            accept_partial=record.accept_partial,
            default_time_ns=record.default_time_ns,
        )
    except WriteError as exc:
        # Only possible in logs written before a failed flush stopped the log (older versions
        # kept logging after one); it was acknowledged, so say so loudly.
        _LOGGER.error("replaying %s: a logged write to %s failed: %s", path, record.database, exc)


def _replay_table(memory: MemoryStore, record: WalRecord, path: Path) -> None:
    tags = [name for name, kind in record.columns if kind == "tag"]
    fields = [(name, kind) for name, kind in record.columns if kind != "tag"]
    try:
        if record.kind == "table":
            memory.create_table(record.database, record.table, tags=tags, fields=fields)
        else:
            memory.delete_table(record.database, record.table)
    except EngineError as exc:  # checked before it was logged: the log and memory disagree
        _LOGGER.error("replaying %s: a logged %s record failed: %s", path, record.kind, exc)
