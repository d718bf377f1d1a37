"""Internal: the write-ahead log of `DurableStore` (segment files, records, group commit).

A segment ``wal/<seq:020d>.wal`` starts with the 8-byte header `SEGMENT_HEADER` (which carries
the format version), followed by records. A record is ``struct.pack("<II", length, crc32)``
then ``length`` bytes of payload (`WalRecord`); the CRC32 covers the payload. A write's payload
is binary (`WRITE_HEAD`, then its strings), every other record's compact UTF-8 JSON; format 1
segments, all JSON, are still read.
Segments are created 0600: they hold every row written.

Reading segments back (torn tails, damage, the repair cut) is `_wal_read`'s.

Records are appended to an in-memory buffer; `WalWriter.flush` writes the buffer with
``os.write`` and ``os.fsync``s the segment (group commit), then wakes the writers waiting on
those records. A record someone waits for starts a commit as soon as the previous one ends:
the records appended during an ``fsync`` make the next commit, so writers never wait for a
timer and a busy log commits back to back. Records nobody waits for (``no_sync``) wait for the
next commit, at most ``interval`` seconds.

A failed flush (disk full, I/O error) truncates the segment back to its last durable size and
puts the writer in a failed state: it fails that batch, everything buffered after it and every
later append with `DurabilityError`, until the owner calls `WalWriter.reset` (which retries the
truncation) once it has dropped what it applied for those records. So no record after a failed
one can reach the log, and nothing refused is replayed later.
"""

from __future__ import annotations

import json
import logging
import os
import struct
import threading
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, TypeAlias

from engine_runtime.errors import EngineError

from .._atomic import fsync_dir

__all__ = [
    "MAX_RECORD",
    "READABLE_HEADERS",
    "RECORD_HEAD",
    "SEGMENT_HEADER",
    "WAL_FORMAT_VERSION",
    "WRITE_HEAD",
    "DurabilityError",
    "FlushObserver",
    "StoreCorruptionError",
    "StoreOpenError",
    "WalAck",
    "WalRecord",
    "WalWriter",
    "encode_record",
    "list_segments",
    "segment_path",
]

_LOGGER = logging.getLogger(__name__)

WAL_FORMAT_VERSION: Final = 2
SEGMENT_HEADER: Final = b"PMWAL" + f"{WAL_FORMAT_VERSION:03d}".encode()
#: the segment headers a reader accepts: format 1 wrote every record as JSON
READABLE_HEADERS: Final = (b"PMWAL001", SEGMENT_HEADER)
#: a write record's payload: b"W", then accept_partial, default_time_ns, the database's and the
#: precision's lengths, then the database, the precision and the line protocol (UTF-8)
WRITE_HEAD: Final = struct.Struct("<cBqHB")
#: a record's head: payload length and CRC32
RECORD_HEAD: Final = struct.Struct("<II")
#: a record longer than this is taken for garbage (line protocol bodies are far smaller)
MAX_RECORD: Final = 1 << 30
_SUFFIX: Final = ".wal"

#: told of every flush that wrote something: (seconds it took, records, bytes, the error or
#: None); called on the flushing thread, so it must be quick and must not flush the WAL itself
FlushObserver: TypeAlias = Callable[[float, int, int, "Exception | None"], None]


class StoreOpenError(EngineError):
    """The store cannot be opened: its files cannot be read, or are damaged."""


class StoreCorruptionError(StoreOpenError):
    """Stored data cannot be read back without losing acknowledged writes; ``path`` is the
    damaged file and ``offset`` where in it (None: the whole file)."""

    def __init__(
        self,
        message: str,
        *,
        hint: str | None = None,
        path: Path | None = None,
        offset: int | None = None,
    ) -> None:
        super().__init__(message, hint=hint)
        self.path = path
        self.offset = offset


class DurabilityError(EngineError):
    """A write could not be made durable (the WAL could not be written or synced): the
    server's failure, not the request's; it was not applied. ``errno`` is the OS error's
    (``errno.ENOSPC`` for a full disk), None when unknown."""

    def __init__(self, message: str, *, hint: str | None = None, errno: int | None = None) -> None:
        super().__init__(message, hint=hint)
        self.errno = errno


def _not_durable(error: BaseException) -> DurabilityError:
    msg = f"write not durable: {error}"
    hint = "free space in the data dir or fix the disk, then send the write again"
    return DurabilityError(msg, hint=hint, errno=getattr(error, "errno", None))


@dataclass(frozen=True, slots=True)
class WalRecord:
    """One logged operation: a ``write`` (line protocol), a ``create`` (database), a ``table``
    (an empty table declared with its columns) or a ``drop`` (a table deleted)."""

    kind: str
    database: str
    text: str = ""
    precision: str = "ns"
    accept_partial: bool = True
    default_time_ns: int = 0
    #: the table of a ``table`` or ``drop`` record
    table: str = ""
    #: a ``table`` record's columns in declaration order: (name, kind), kind ``tag`` or a field's
    columns: tuple[tuple[str, str], ...] = ()


def encode_record(record: WalRecord) -> bytes:
    """``record`` framed for a segment: length, CRC32, then a write as `WRITE_HEAD` and its
    bytes (the line protocol as sent: no escaping), any other record as compact JSON."""
    if record.kind == "write":
        database = record.database.encode()
        precision = record.precision.encode()
        head = WRITE_HEAD.pack(
            b"W", record.accept_partial, record.default_time_ns, len(database), len(precision)
        )
        payload = b"".join((head, database, precision, record.text.encode()))
        return RECORD_HEAD.pack(len(payload), zlib.crc32(payload)) + payload
    fields: dict[str, Any] = {"k": record.kind, "d": record.database}
    if record.kind in ("table", "drop"):
        fields["n"] = record.table
        if record.kind == "table":
            fields["c"] = [list(column) for column in record.columns]
    payload = json.dumps(fields, ensure_ascii=False, separators=(",", ":")).encode()
    return RECORD_HEAD.pack(len(payload), zlib.crc32(payload)) + payload


def segment_path(directory: Path, seq: int) -> Path:
    """Path of segment ``seq`` in ``directory``."""
    return directory / f"{seq:020d}{_SUFFIX}"


def list_segments(directory: Path) -> list[tuple[int, Path]]:
    """``(seq, path)`` of every segment in ``directory``, in sequence order."""
    found = []
    for path in directory.glob(f"*{_SUFFIX}"):
        stem = path.name.removesuffix(_SUFFIX)
        if stem.isdigit():
            found.append((int(stem), path))
    return sorted(found)


class WalAck:
    """Completion of one synchronous record: `wait` returns once it is durable."""

    __slots__ = ("_done", "_error")

    def __init__(self) -> None:
        self._done = threading.Event()
        self._error: BaseException | None = None

    def finish(self, error: BaseException | None) -> None:
        """Mark the record durable, or failed with ``error``."""
        self._error = error
        self._done.set()

    def wait(self) -> None:
        """Block until the flush covering the record ends; raises DurabilityError if it
        failed."""
        self._done.wait()
        if self._error is not None:
            raise _not_durable(self._error) from self._error


class WalWriter:
    """Appends records to the current segment; a thread commits them as soon as a writer waits
    for one, and every ``interval`` seconds otherwise."""

    def __init__(
        self,
        directory: Path,
        seq: int,
        *,
        interval: float,
        on_failure: Callable[[], None] | None = None,
    ) -> None:
        self._directory = directory
        self._interval = interval
        self._cond = threading.Condition()
        self._buffer: list[tuple[bytes, WalAck | None]] = []
        #: serialises file I/O: flushes, rotations, close
        self._io = threading.Lock()
        self._stop = threading.Event()
        #: a record someone waits for is buffered: commit without waiting for the interval
        self._waited_for = False
        self.seq = seq
        self._fd, self._size = self._open(seq)
        #: durable size to restore before the next write, after a failed flush
        self._dirty_from: int | None = None
        #: told of each flush that wrote records (metrics); None: nobody listens
        self.on_flush: FlushObserver | None = None
        #: the error of a failed flush, until `reset`: appends fail meanwhile
        self.failed: Exception | None = None
        #: called (on the flushing thread) when a flush fails, so the owner can `reset` soon
        self._on_failure = on_failure
        self._thread = threading.Thread(target=self._run, name="wal-flusher", daemon=True)
        self._thread.start()

    def _open(self, seq: int) -> tuple[int, int]:
        path = segment_path(self._directory, seq)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o600)
        try:
            _write_all(fd, SEGMENT_HEADER)
            os.fsync(fd)
            fsync_dir(self._directory)
        except BaseException:
            os.close(fd)
            raise
        return fd, len(SEGMENT_HEADER)

    def append(self, data: bytes, *, sync: bool) -> WalAck | None:
        """Buffer one encoded record; with ``sync``, an ack to wait on for its durability."""
        ack = WalAck() if sync else None
        with self._cond:
            if self._fd < 0:
                error = OSError("the WAL is closed")
                if ack is None:
                    raise error
                ack.finish(error)
            elif self.failed is not None:  # never log a record after a failed one
                if ack is not None:
                    ack.finish(self.failed)
            else:
                self._buffer.append((data, ack))
                if ack is not None and not self._waited_for:
                    self._waited_for = True
                    self._cond.notify()
        return ack

    def reset(self) -> None:
        """Leave the failed state: drop what is buffered and cut the segment back to its last
        durable size. Raises DurabilityError (still failed) when that cut fails again."""
        with self._io:
            with self._cond:
                error, batch, self._buffer = self.failed, self._buffer, []
            for _, ack in batch:
                if ack is not None and error is not None:
                    ack.finish(error)
            if self._dirty_from is not None:
                try:
                    os.ftruncate(self._fd, self._dirty_from)
                except OSError as exc:
                    raise _not_durable(exc) from exc
                self._dirty_from = None
            with self._cond:
                self.failed = None

    def flush(self) -> None:
        """Write and fsync everything buffered so far (failures go to the acks)."""
        with self._io:
            self._flush_locked()

    def rotate(self) -> int:
        """Flush, then continue in a new segment; returns the sequence of the finished one."""
        with self._io:
            self._flush_locked()
            if self._dirty_from is not None:  # never leave a torn record mid-log
                os.ftruncate(self._fd, self._dirty_from)
                self._dirty_from = None
            fd, size = self._open(self.seq + 1)
            old_fd, old_seq = self._fd, self.seq
            self._fd, self._size, self.seq = fd, size, self.seq + 1
            os.close(old_fd)
            return old_seq

    def close(self, *, flush: bool = True) -> None:
        """Stop the flusher thread; flush first unless ``flush`` is False (a simulated crash)."""
        self._stop.set()
        with self._cond:
            self._cond.notify()
        self._thread.join()
        with self._io:
            if flush:
                self._flush_locked()
            if self._fd >= 0:
                with self._cond:
                    fd, self._fd = self._fd, -1
                os.close(fd)
            self._flush_locked()  # fails whatever is left, so no writer waits forever

    def _run(self) -> None:
        while self._next_commit():
            try:
                self.flush()
            except Exception:  # a flusher that dies would hang every writer
                _LOGGER.exception("WAL flush failed")

    def _next_commit(self) -> bool:
        """Wait until a writer waits for a record or ``interval`` passes; False when stopping."""
        deadline = time.monotonic() + self._interval
        with self._cond:
            while not self._waited_for and not self._stop.is_set():
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._cond.wait(left)
            self._waited_for = False
            return not self._stop.is_set()

    def _flush_locked(self) -> None:
        with self._cond:
            batch, self._buffer = self._buffer, []
        if not batch or self._fd < 0:
            for _, ack in batch:
                if ack is not None:
                    ack.finish(OSError("the WAL is closed"))
            return
        payload = b"".join(data for data, _ in batch)
        started = time.perf_counter()
        error = self._write_batch(payload)
        self._observe(time.perf_counter() - started, len(batch), len(payload), error)
        if error is not None:
            with self._cond:  # records buffered meanwhile may depend on the failed ones
                self.failed = error
                batch += self._buffer
                self._buffer = []
        for _, ack in batch:
            if ack is not None:
                ack.finish(error)
        if error is not None:
            lost = sum(1 for _, ack in batch if ack is None)
            _LOGGER.error("WAL flush failed (%s); %d no_sync writes are not durable", error, lost)
            if self._on_failure is not None:
                self._on_failure()

    def _observe(self, seconds: float, records: int, size: int, error: Exception | None) -> None:
        observer = self.on_flush
        if observer is None:
            return
        try:
            observer(seconds, records, size, error)
        except Exception:  # an observer's bug must not fail the writers waiting on this flush
            _LOGGER.exception("WAL flush observer failed")

    def _write_batch(self, data: bytes) -> Exception | None:
        try:
            if self._dirty_from is not None:
                os.ftruncate(self._fd, self._dirty_from)
                self._dirty_from = None
            _write_all(self._fd, data)
            os.fsync(self._fd)
        except Exception as exc:
            self._dirty_from = self._size
            try:
                os.ftruncate(self._fd, self._size)
                self._dirty_from = None
            except OSError:
                _LOGGER.exception("WAL segment %d: cannot truncate after a failed flush", self.seq)
            return exc
        self._size += len(data)
        return None


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]
