"""`DurableStore`: a `MemoryStore` whose writes survive a crash (write-ahead log + snapshots).

Queries, system tables and `copy` are the wrapped `MemoryStore`'s (`_reads`); this class adds
the disk.

**Guarantees.**

* `write_lp` applies the write in memory (a rejected write raises exactly as `MemoryStore`
  does and is not logged), appends one record to the write-ahead log, then waits for the next
  group commit: a background thread writes the buffered records and ``fsync``\\ s the segment
  every ``flush_interval`` seconds. **When `write_lp` returns, the write is on disk** and
  survives a crash or ``kill -9`` (and a power loss, as far as ``fsync`` holds). If that flush
  fails (disk full, I/O error) the waiting writers raise `DurabilityError` (``write not
  durable: ...``, a server error: HTTP 5xx, not 400); the failed records, and every record
  buffered after them, are cut from the log and the memory is reloaded from disk, so a
  refused write is neither queryable nor replayed later. Later writes work once the disk
  recovers.
* ``no_sync=True`` returns as soon as the write is in memory and queued (upstream's
  ``no_sync``): it is durable within about ``flush_interval`` seconds, and lost if the process
  dies first or that flush fails (logged, not raised; its rows go at the reload).
* `create_database`, `create_table` and `delete_table` are logged and durable the same way.
* `close` flushes, takes a snapshot when anything changed since the last one (so the next
  start replays nothing; pass ``snapshot_on_close=False`` to skip) and stops the threads.

**Files** under ``data_dir`` (directories 0700, files 0600: they hold every row)::

    wal/<seq:020d>.wal                 segments: header b"PMWAL001", then records
                                       <len:u32 LE><crc32:u32 LE><compact JSON>
    snapshots/<seq:020d>/manifest.json {format_version, wal_seq, created_ns, databases
                                       (each file's name and SHA-256)}
    snapshots/<seq:020d>/d<i>/<j>-<safe name>.parquet   one table (names via the manifest)

A write record holds the database, precision, ``accept_partial``, the exact line protocol and
``default_time_ns`` (fixed at write time, so lines without a timestamp replay to the same
rows). A table record holds the database, the table and its declared columns (name and
kind, in order); a drop record the database and the table. A snapshot ``<seq>`` holds every
table of every database (empty ones included) and covers segments up to ``seq``; it is written
to a temporary directory and renamed into place, then the segments and older snapshots it
covers are deleted. A snapshot is taken every
``snapshot_interval`` seconds or after ``snapshot_every`` rows, whichever comes first, when
anything was written; restart time is bounded by what came after the last one.

**Recovery** (`_recovery`): the constructor loads the newest snapshot, then replays the
segments after it. Damage raises `StoreCorruptionError` naming the file, the offset and the
repair command: acknowledged data is never dropped silently. Unreadable files raise
`StoreOpenError`. Writing resumes in a new segment.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from engine_runtime.errors import WriteError
from engine_runtime.store._reads import MemoryReads
from engine_runtime.store._recovery import make_private_dirs, recover
from engine_runtime.store._snapshot import prune_snapshots, write_snapshot
from engine_runtime.store._wal import (
    DurabilityError,
    FlushObserver,
    StoreCorruptionError,
    StoreOpenError,
    WalAck,
    WalRecord,
    WalWriter,
    encode_record,
    list_segments,
)
from engine_runtime.store._wal_read import SegmentDamage, cut_segment, find_damage
from engine_runtime.store._writes import parse_write
from engine_runtime.store.base import SystemTablesProvider, WriteResult
from engine_runtime.store.memory import MemoryStore

__all__ = [
    "DurabilityError",
    "DurableStore",
    "SegmentDamage",
    "StoreCorruptionError",
    "StoreOpenError",
    "cut_segment",
    "find_damage",
    "list_segments",
]

_LOGGER = logging.getLogger(__name__)


class DurableStore(MemoryReads):
    """A thread-safe `Store` kept in memory and made durable in ``data_dir``.

    :param flush_interval: seconds between group commits (how long a write waits at most).
    :param snapshot_every: rows written after which a snapshot is taken.
    :param snapshot_interval: seconds after which a snapshot is taken if anything changed.
    :param snapshot_on_close: whether `close` takes a final snapshot.
    :param clock: ns since the epoch, the time of lines without a timestamp.
    """

    def __init__(
        self,
        data_dir: Path | str,
        *,
        flush_interval: float = 1.0,
        snapshot_every: int = 100_000,
        snapshot_interval: float = 60.0,
        snapshot_on_close: bool = True,
        clock: Callable[[], int] = time.time_ns,
    ) -> None:
        self.data_dir = Path(data_dir)
        self._wal_dir = self.data_dir / "wal"
        self._snapshot_dir = self.data_dir / "snapshots"
        self._memory = MemoryStore()
        self._system_tables: SystemTablesProvider | None = None
        self._clock = clock
        self._snapshot_every = snapshot_every
        self._snapshot_interval = snapshot_interval
        self._snapshot_on_close = snapshot_on_close
        #: orders memory writes and log appends identically; held briefly by snapshots
        self._write_lock = threading.Lock()
        self._snapshot_lock = threading.Lock()
        self._closed = False
        self._stop = threading.Event()
        #: wakes the snapshotter: rows to snapshot, or a failed flush to recover from
        self._wake = threading.Event()
        try:
            make_private_dirs(self.data_dir, self._wal_dir, self._snapshot_dir)
            covered, replayed, last_seq = recover(
                self._memory, self.data_dir, self._wal_dir, self._snapshot_dir
            )
            self._wal = WalWriter(
                self._wal_dir,
                max(covered, last_seq) + 1,
                interval=flush_interval,
                on_failure=self._wake.set,
            )
        except OSError as exc:
            msg = f"cannot open the store at {self.data_dir}: {exc}"
            hint = "check that the data dir exists, is this user's and has free space"
            raise StoreOpenError(msg, hint=hint) from exc
        #: operations and rows logged since the last snapshot
        self._changes = replayed
        self._rows_since_snapshot = 0
        self._snapshotter = threading.Thread(
            target=self._run_snapshots, name="store-snapshotter", daemon=True
        )
        self._snapshotter.start()

    # --- recovery -------------------------------------------------------------------------

    def _heal(self) -> None:
        """`_heal_locked` under both locks, in the order `snapshot` takes them (the reload
        must not race a snapshot's clean-up of the files it reads)."""
        with self._snapshot_lock, self._write_lock:
            self._heal_locked()

    def _heal_locked(self) -> None:
        """After a failed flush (under the snapshot and write locks): drop what was applied
        for records that never reached the log by reloading memory from disk, then let the
        WAL take writes again. Raises DurabilityError while the disk still fails."""
        if self._wal.failed is None:
            return
        self._wal.reset()
        memory = MemoryStore()
        memory.set_system_tables(self._system_tables)
        try:
            _, replayed, _ = recover(memory, self.data_dir, self._wal_dir, self._snapshot_dir)
        except OSError as exc:
            msg = f"cannot reload the store at {self.data_dir} after a failed flush: {exc}"
            raise DurabilityError(msg, errno=exc.errno) from exc
        self._memory = memory
        self._changes, self._rows_since_snapshot = replayed, 0
        _LOGGER.warning(
            "store %s: a WAL flush failed; writes since the last good flush were refused and "
            "dropped (memory reloaded from disk: %d records)",
            self.data_dir,
            replayed,
        )

    def _wait(self, ack: WalAck | None) -> None:
        """Wait for ``ack``; when its flush failed, undo it in memory before raising."""
        if ack is None:
            return
        try:
            ack.wait()
        except DurabilityError:
            try:
                self._heal()
            except DurabilityError:  # the disk still fails: the next write retries
                _LOGGER.exception("store %s: cannot recover from a failed flush", self.data_dir)
            raise

    # --- writes ---------------------------------------------------------------------------

    def write_lp(
        self,
        database: str,
        text: str,
        *,
        precision: str = "ns",
        accept_partial: bool = True,
        default_time_ns: int | None = None,
        no_sync: bool = False,
    ) -> WriteResult:
        """Write line protocol; returns once it is durable (or at once with ``no_sync``).

        Raises WriteError for rejected line protocol (nothing logged), or ``write not
        durable: ...`` when the flush covering it failed.
        """
        when = self._clock() if default_time_ns is None else default_time_ns
        if self._wal.failed is not None:  # unlocked peek: _heal checks again
            self._heal()
        # parsed before the lock: the WAL's order needs one writer, the slow parse does not
        parsed = parse_write(text, precision=precision, default_time_ns=when)
        with self._write_lock:
            self._check_open()
            result = self._memory.write_parsed(database, parsed, accept_partial=accept_partial)
            record = WalRecord("write", database, text, precision, accept_partial, when)
            ack = self._wal.append(encode_record(record), sync=not no_sync)
            self._changes += 1
            self._rows_since_snapshot += result.lines_written
            if self._rows_since_snapshot >= self._snapshot_every:
                self._wake.set()
        self._wait(ack)
        return result

    def create_database(self, name: str, *, no_sync: bool = False) -> None:
        """Create ``name`` durably (no-op when it exists); raises InvalidDatabaseNameError.

        ``no_sync`` returns without waiting for the flush, as `write_lp` does.
        """
        if self._wal.failed is not None:
            self._heal()
        with self._write_lock:
            self._check_open()
            if name in self._memory.databases():
                return
            self._memory.create_database(name)
            ack = self._wal.append(encode_record(WalRecord("create", name)), sync=not no_sync)
            self._changes += 1
        self._wait(ack)

    def create_table(
        self,
        database: str,
        table: str,
        *,
        tags: Sequence[str] = (),
        fields: Sequence[tuple[str, str]] = (),
    ) -> None:
        """Create an empty table durably; raises as `MemoryStore.create_table` (nothing logged)."""
        if self._wal.failed is not None:
            self._heal()
        with self._write_lock:
            self._check_open()
            self._memory.create_table(database, table, tags=tags, fields=fields)
            columns = (*((name, "tag") for name in tags), *fields)
            record = WalRecord("table", database, table=table, columns=tuple(columns))
            ack = self._wal.append(encode_record(record), sync=True)
            self._changes += 1
        self._wait(ack)

    def delete_table(self, database: str, table: str) -> None:
        """Delete a table and its rows durably; raises as `MemoryStore.delete_table`."""
        if self._wal.failed is not None:
            self._heal()
        with self._write_lock:
            self._check_open()
            self._memory.delete_table(database, table)
            record = WalRecord("drop", database, table=table)
            ack = self._wal.append(encode_record(record), sync=True)
            self._changes += 1
        self._wait(ack)

    def set_flush_observer(self, observer: FlushObserver | None) -> None:
        """Call ``observer(seconds, records, bytes, error)`` after every WAL flush that wrote
        records (on the flushing thread: it must be quick); None stops it."""
        self._wal.on_flush = observer

    def flush(self) -> None:
        """Make every write so far durable now (``no_sync`` ones included)."""
        self._check_open()
        self._wal.flush()

    def _check_open(self) -> None:
        if self._closed:
            msg = f"the store at {self.data_dir} is closed"
            raise WriteError(msg)

    # --- snapshots ------------------------------------------------------------------------

    def snapshot(self) -> Path | None:
        """Write a snapshot now and delete what it covers; None when nothing changed."""
        with self._snapshot_lock:
            with self._write_lock:
                self._check_open()
                self._heal_locked()  # never snapshot rows that a failed flush refused
                if self._changes == 0:
                    return None
                covered = self._wal.rotate()
                tables = self._memory.export_tables()
                self._changes = 0
                self._rows_since_snapshot = 0
            try:
                path = write_snapshot(self._snapshot_dir, covered, tables)
            except BaseException:
                with self._write_lock:
                    self._changes += 1  # still to be snapshotted
                raise
            for seq, segment in list_segments(self._wal_dir):
                if seq <= covered:
                    segment.unlink()
            prune_snapshots(self._snapshot_dir, covered)
            return path

    def _run_snapshots(self) -> None:
        deadline = time.monotonic() + self._snapshot_interval
        while not self._stop.is_set():
            self._wake.wait(max(0.0, deadline - time.monotonic()))
            if self._stop.is_set():
                return
            if self._wake.is_set() or time.monotonic() >= deadline:
                self._wake.clear()
                deadline = time.monotonic() + self._snapshot_interval
                try:
                    self.snapshot()
                except Exception:  # keep snapshotting later; the WAL still holds everything
                    _LOGGER.exception("store %s: snapshot failed", self.data_dir)

    # --- life cycle -----------------------------------------------------------------------

    def close(self) -> None:
        """Flush, snapshot if anything changed (unless disabled), stop the threads."""
        if self._closed:
            return
        self._stop.set()
        self._wake.set()
        self._snapshotter.join()
        if self._snapshot_on_close:
            try:
                self.snapshot()
            except Exception:  # the WAL still holds everything; the next start replays it
                _LOGGER.exception("store %s: final snapshot failed", self.data_dir)
        with self._write_lock:  # no write can slip in between this and the final flush
            self._closed = True
        self._wal.close()

    def _abandon(self) -> None:
        """Test hook: stop the threads and drop buffered records, like a crash would."""
        with self._write_lock:
            self._closed = True
        self._stop.set()
        self._wake.set()
        self._snapshotter.join()
        self._wal.close(flush=False)

    def __enter__(self) -> DurableStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # --- reads are the MemoryStore's (MemoryReads); it is replaced after a failed flush ----

    def set_system_tables(self, provider: SystemTablesProvider | None) -> None:
        """Publish ``system.<name>`` tables; see `MemoryStore.set_system_tables`."""
        self._system_tables = provider  # for the memory reloaded after a failed flush
        self._memory.set_system_tables(provider)
