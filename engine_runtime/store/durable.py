"""`DurableStore`: a `MemoryStore` whose writes survive a crash: a write-ahead log, a write
buffer in memory, and immutable Parquet files (InfluxDB 3's layout).

Queries, system tables and `copy` are the wrapped `MemoryStore`'s (`_reads`); this adds disk.

**Guarantees.**

* `write_lp` applies the write in memory (a rejected write raises exactly as `MemoryStore`
  does and is not logged), appends one record to the write-ahead log, then waits for its group
  commit, which starts as soon as the previous one ends (`_wal`). **When `write_lp` returns,
  the write is on disk** and survives a crash or ``kill -9`` (and a power loss, as far as
  ``fsync`` holds). If that flush fails (disk full, I/O error) the waiting writers raise
  `DurabilityError` (``write not durable: ...``, a server error: HTTP 5xx, not 400); the
  failed records, and every record buffered after them, are cut from the log and the memory
  is reloaded from disk, so a refused write is neither queryable nor replayed later. Later
  writes work once the disk recovers.
* ``no_sync=True`` returns as soon as the write is in memory and queued (upstream's
  ``no_sync``): it is durable within about ``flush_interval`` seconds, and lost if the process
  dies first or that flush fails (logged, not raised; its rows go at the reload).
* `create_database`, `create_table`, `delete_table` and `delete_database` are logged and
  durable the same way.
* Rows wait in the write buffer until a persist (`_persist`) writes them as Parquet files, one
  per table per ``gen1_duration`` time chunk, each written once; then the WAL segments they
  cover are deleted. A persist runs every ``persist_interval`` seconds, after
  ``persist_every`` rows, or when the buffer holds half of ``buffer_limit`` bytes (an estimate:
  twice the line protocol written); past the whole limit, writes are refused with
  `BufferFullError` (HTTP 503) until the persist has freed it. Memory holds the buffer, not
  the rows kept.
* `close` flushes, persists the buffer when anything changed (so the next start replays
  nothing; pass ``persist_on_close=False`` to skip) and stops the threads.

**Files** under ``data_dir`` (directories 0700, files 0600: they hold every row): the WAL
(``wal/``, `_wal`), the catalog ``files.json`` and the Parquet files ``files/`` (`_files`;
or both on an object store: ``files``, `_location`). A WAL record holds a write's line
protocol, precision, ``accept_partial`` and ``default_time_ns`` (fixed when written, so lines
without a timestamp replay to the same rows), or a table's creation or drop.

**Recovery** (`_recovery`) loads the catalog (not the rows) and replays the segments after
the last persist: restart time and memory do not grow with the rows kept. A snapshot-format
store is loaded once and persisted as files. Damage raises `StoreCorruptionError` naming the
file, offset and repair command (acknowledged data is never dropped silently); unreadable
files raise `StoreOpenError`. Writing resumes in a new segment.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from engine_runtime.errors import WriteError
from engine_runtime.store._files import DEFAULT_GEN1_NS
from engine_runtime.store._location import FileLocation
from engine_runtime.store._on_disk import OnDisk
from engine_runtime.store._persist import (
    DEFAULT_BUFFER_LIMIT,
    DEFAULT_PERSIST_EVERY,
    BufferBudget,
    BufferFullError,
    clean_up,
    commit,
    freeze,
    persist_loop,
    write_files,
)
from engine_runtime.store._reads import MemoryReads
from engine_runtime.store._recovery import open_dirs, recover
from engine_runtime.store._retention import RetentionPeriods, any_expired_file
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
from engine_runtime.store._writes import accepted_text, parse_write
from engine_runtime.store.base import SystemTablesProvider, TableFunctionsProvider, WriteResult
from engine_runtime.store.memory import QUERY_MEMORY_BYTES, MemoryStore

__all__ = [
    "DEFAULT_BUFFER_LIMIT",
    "BufferFullError",
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
    """A thread-safe `Store` kept in memory and made durable in ``data_dir``; reads are the
    memory's (`MemoryReads`), which is replaced after a failed flush.

    :param flush_interval: seconds a ``no_sync`` record waits at most for its commit.
    :param persist_every: rows (or ``persist_interval`` seconds, if anything changed) per persist.
    :param persist_on_close: whether `close` persists the buffer.
    :param gen1_duration: seconds each persisted file covers at most (``--gen1-duration``).
    :param buffer_limit: bytes the write buffer may hold (estimated) before writes are refused.
    :param clock: ns since the epoch, the time of lines without a timestamp.
    :param files: where the Parquet files and ``files.json`` go (default: ``data_dir``).
    :param query_memory_bytes: each query context's memory pool (``--exec-mem-pool-size``).
    """

    def __init__(
        self,
        data_dir: Path | str,
        *,
        flush_interval: float = 1.0,
        persist_every: int = DEFAULT_PERSIST_EVERY,
        persist_interval: float = 60.0,
        persist_on_close: bool = True,
        gen1_duration: float = DEFAULT_GEN1_NS / 1e9,
        buffer_limit: int = DEFAULT_BUFFER_LIMIT,
        clock: Callable[[], int] = time.time_ns,
        files: FileLocation | None = None,
        query_memory_bytes: int = QUERY_MEMORY_BYTES,
    ) -> None:
        self.data_dir = Path(data_dir)
        self._query_memory_bytes = query_memory_bytes
        self._wal_dir = self.data_dir / "wal"
        self._location = files or FileLocation.on_disk(self.data_dir)
        self._gen1_ns = max(1, round(gen1_duration * 1e9))
        self._memory = self._new_memory()
        self._system_tables: SystemTablesProvider | None = None
        self._retention: RetentionPeriods | None = None
        self._table_functions: TableFunctionsProvider | None = None
        self._clock = clock
        self._persist_interval = persist_interval
        self._persist_on_close = persist_on_close
        self._budget = BufferBudget(buffer_limit, persist_every)
        #: orders memory writes and log appends identically; held briefly by persists
        self._write_lock = threading.Lock()
        self._persist_lock = threading.Lock()
        self._closed = False
        self._stop = threading.Event()
        #: wakes the persister: rows to persist, or a failed flush to recover from
        self._wake = threading.Event()
        try:
            open_dirs(self.data_dir, self._wal_dir, self._location)
            found = recover(self._memory, self.data_dir, self._wal_dir, self._location)
            self._wal = WalWriter(
                self._wal_dir,
                max(found.catalog.wal_seq, found.last_seq) + 1,
                interval=flush_interval,
                on_failure=self._wake.set,
            )
        except OSError as exc:
            msg = f"cannot open the store at {self.data_dir}: {exc}"
            hint = "check that the data dir exists, is this user's and has free space"
            raise StoreOpenError(msg, hint=hint) from exc
        self._catalog = found.catalog
        #: operations logged since the last persist
        self._changes = found.replayed + found.convert
        if found.convert:
            self.persist()  # the snapshot format: its rows become files, its snapshots go
        loop = (self._stop, self._wake, self._persist_interval, self.persist, self.data_dir)
        self._persister = threading.Thread(
            target=persist_loop, args=loop, name="store-persister", daemon=True
        )
        self._persister.start()
        if found.replayed:  # what the log held goes to files soon, so memory and the log shrink
            self._wake.set()

    def _new_memory(self) -> MemoryStore:
        memory = MemoryStore(query_memory_bytes=self._query_memory_bytes)
        memory.new_disk = lambda: OnDisk(self._location, self._gen1_ns)
        return memory

    # --- recovery -------------------------------------------------------------------------

    def _heal(self) -> None:
        """`_heal_locked` under both locks, in the order `persist` takes them (the reload
        must not race a persist's clean-up of the files it reads)."""
        with self._persist_lock, self._write_lock:
            self._heal_locked()

    def _heal_locked(self) -> None:
        """After a failed flush (under the persist and write locks): drop what was applied
        for records that never reached the log by reloading memory from disk, then let the
        WAL take writes again. Raises DurabilityError while the disk still fails."""
        if self._wal.failed is None:
            return
        self._wal.reset()
        memory = self._new_memory()
        self._configure(memory)
        try:
            found = recover(memory, self.data_dir, self._wal_dir, self._location)
        except OSError as exc:
            msg = f"cannot reload the store at {self.data_dir} after a failed flush: {exc}"
            raise DurabilityError(msg, errno=exc.errno) from exc
        self._memory, self._catalog = memory, found.catalog
        self._changes = found.replayed
        self._budget.clear(persisting=False)
        _LOGGER.warning(
            "store %s: a WAL flush failed; writes since the last good flush were refused and "
            "dropped (memory reloaded from disk: %d records)",
            self.data_dir,
            found.replayed,
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
        # parsed and encoded before the lock: the WAL's order needs one writer, they do not
        parsed = parse_write(text, precision=precision, default_time_ns=when)
        record = encode_record(WalRecord("write", database, text, precision, accept_partial, when))
        with self._write_lock:
            self._check_open()
            try:
                self._budget.check_room()
            except BufferFullError:
                self._wake.set()
                raise
            result = self._memory.write_parsed(database, parsed, accept_partial=accept_partial)
            if result.errors and result.blocks is not None:  # a replay must not judge again
                kept = accepted_text(text, result.blocks)
                record = encode_record(WalRecord("write", database, kept, precision, True, when))
            ack = self._wal.append(record, sync=not no_sync)
            self._changes += 1
            if self._budget.add(result.lines_written, text):
                self._wake.set()
        self._wait(ack)
        return result

    def _logged(self, apply: Callable[[], object], record: WalRecord, *, sync: bool) -> None:
        """``apply`` to memory and log ``record``, in one step under the write lock; nothing is
        logged when ``apply`` raises or returns False (nothing to do)."""
        if self._wal.failed is not None:
            self._heal()
        with self._write_lock:
            self._check_open()
            if apply() is False:
                return
            ack = self._wal.append(encode_record(record), sync=sync)
            self._changes += 1
        self._wait(ack)

    def create_database(self, name: str, *, no_sync: bool = False) -> None:
        """Create ``name`` durably (no-op when it exists); raises InvalidDatabaseNameError.

        ``no_sync`` returns without waiting for the flush, as `write_lp` does.
        """

        def create() -> bool:
            if name in self._memory.databases():
                return False
            self._memory.create_database(name)
            return True

        self._logged(create, WalRecord("create", name), sync=not no_sync)

    def create_table(
        self,
        database: str,
        table: str,
        *,
        tags: Sequence[str] = (),
        fields: Sequence[tuple[str, str]] = (),
    ) -> None:
        """Create an empty table durably; raises as `MemoryStore.create_table` (nothing logged)."""
        columns = (*((name, "tag") for name in tags), *fields)
        record = WalRecord("table", database, table=table, columns=tuple(columns))
        self._logged(
            lambda: self._memory.create_table(database, table, tags=tags, fields=fields),
            record,
            sync=True,
        )

    def delete_table(self, database: str, table: str) -> None:
        """Delete a table and its rows durably; raises as `MemoryStore.delete_table`."""
        record = WalRecord("drop", database, table=table)
        self._logged(lambda: self._memory.delete_table(database, table), record, sync=True)

    def delete_database(self, database: str) -> None:
        """Delete a database and its rows durably (its files go at the next persist); raises
        as `MemoryStore.delete_database`."""
        record = WalRecord("dropdb", database)
        self._logged(lambda: self._memory.delete_database(database), record, sync=True)

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

    # --- persists ------------------------------------------------------------------------

    def persist(self) -> bool:
        """Write every table's buffer as files now, then delete the WAL segments and files
        that they replace, and rows and files past their retention period; False when nothing
        changed since the last persist and no file expired."""
        with self._persist_lock:
            with self._write_lock:
                self._check_open()
                self._heal_locked()  # never persist rows that a failed flush refused
                cutoffs = self._memory.retention_cutoffs()  # expired rows and files are dropped
                if self._changes == 0 and not any_expired_file(self._catalog.databases, cutoffs):
                    return False
                covered = self._wal.rotate()
                frozen, databases = freeze(self._memory)
                self._changes = 0
                self._budget.freeze()
            try:
                found = (frozen, databases, covered, self._gen1_ns, cutoffs)
                after = write_files(self._location, self._catalog, *found)
            except BaseException:
                with self._write_lock:
                    self._changes += 1  # still to be persisted: the rows stay queryable
                raise
            commit(self._memory, frozen, after)
            self._catalog = after
            with self._write_lock:
                self._budget.clear()
            clean_up(self.data_dir, self._wal_dir, self._location, after)
            return True

    # --- life cycle -----------------------------------------------------------------------

    def close(self) -> None:
        """Flush, persist if anything changed (unless disabled), stop the threads."""
        if self._closed:
            return
        self._stop.set()
        self._wake.set()
        self._persister.join()
        if self._persist_on_close:
            try:
                self.persist()
            except Exception:  # the WAL still holds everything; the next start replays it
                _LOGGER.exception("store %s: final persist failed", self.data_dir)
        with self._write_lock:  # no write can slip in between this and the final flush
            self._closed = True
        self._wal.close()

    def _abandon(self) -> None:
        """Test hook: stop the threads and drop buffered records, like a crash would."""
        with self._write_lock:
            self._closed = True
        self._stop.set()
        self._wake.set()
        self._persister.join()
        self._wal.close(flush=False)

    def __enter__(self) -> DurableStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
