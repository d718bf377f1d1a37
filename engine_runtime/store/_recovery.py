"""Internal: how a `DurableStore` comes back from disk (at start, and after a failed flush).

Apart from `durable` because it reads the files the running store writes and shares none of
its state: it fills a `MemoryStore` from the newest snapshot and the log after it.

The newest snapshot is loaded, then the segments after it are replayed in order. A torn record
at the tail of the last segment (a crash mid-write, with no valid record after it) is truncated
away with a warning. Any other damage (a bad record inside the log, a missing segment, a
snapshot file that fails its checksum) raises `StoreCorruptionError` naming the file and
offset, and for the log the ``pluginmgr store repair`` command that cuts it there: acknowledged
data is never dropped silently. Files that cannot be read raise `StoreOpenError` (the caller
turns the `OSError` into it).
"""

from __future__ import annotations

import logging
from pathlib import Path

from engine_runtime.errors import EngineError, WriteError
from engine_runtime.store._snapshot import latest_snapshot, load_snapshot, prune_snapshots
from engine_runtime.store._wal import StoreCorruptionError, WalRecord, list_segments
from engine_runtime.store._wal_read import read_segment
from engine_runtime.store.memory import MemoryStore

__all__ = ["make_private_dirs", "recover"]

_LOGGER = logging.getLogger(__name__)


def recover(
    memory: MemoryStore, data_dir: Path, wal_dir: Path, snapshot_dir: Path
) -> tuple[int, int, int]:
    """Load the snapshot and replay the log into ``memory``: (covered seq, records
    replayed, last seq)."""
    covered = 0
    snapshot = latest_snapshot(snapshot_dir)
    if snapshot is not None:
        covered, tables = load_snapshot(snapshot)
        for database, db_tables in tables.items():
            memory.create_database(database)
            for table, data in db_tables.items():
                memory.import_table(database, table, data)
    prune_snapshots(snapshot_dir, covered, all_temporary=True)
    segments = list_segments(wal_dir)
    for seq, path in segments:
        if seq <= covered:
            path.unlink()  # a crash between a snapshot and its clean-up
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
    _LOGGER.info("store %s: snapshot %s, %d WAL records replayed", data_dir, snapshot, replayed)
    return covered, replayed, last_seq


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
