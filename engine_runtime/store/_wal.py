"""Internal: the write-ahead log of `DurableStore` (segment files, records, group commit).

A segment ``wal/<seq:020d>.wal`` starts with the 8-byte header `SEGMENT_HEADER` (which carries
the format version), followed by records. A record is ``struct.pack("<II", length, crc32)``
then ``length`` bytes of compact UTF-8 JSON (`WalRecord`); the CRC32 covers the JSON bytes.

Records are appended to an in-memory buffer; `WalWriter.flush` writes the buffer with
``os.write`` and ``os.fsync``s the segment (group commit), then wakes the writers waiting on
those records. A failed flush truncates the segment back to its last durable size (retried at
the next flush if that fails too), so a later successful flush never leaves garbage mid-file.
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

from engine_runtime.errors import EngineError, WriteError

from .._atomic import fsync_dir

__all__ = [
    "SEGMENT_HEADER",
    "WAL_FORMAT_VERSION",
    "FlushObserver",
    "StoreCorruptionError",
    "WalAck",
    "WalRecord",
    "WalWriter",
    "encode_record",
    "list_segments",
    "read_segment",
    "segment_path",
]

_LOGGER = logging.getLogger(__name__)

WAL_FORMAT_VERSION: Final = 1
SEGMENT_HEADER: Final = b"PMWAL" + f"{WAL_FORMAT_VERSION:03d}".encode()
_RECORD_HEAD: Final = struct.Struct("<II")
#: a record longer than this is taken for garbage (line protocol bodies are far smaller)
_MAX_RECORD: Final = 1 << 30
_SUFFIX: Final = ".wal"

#: told of every flush that wrote something: (seconds it took, records, bytes, the error or
#: None); called on the flushing thread, so it must be quick and must not flush the WAL itself
FlushObserver: TypeAlias = Callable[[float, int, int, "Exception | None"], None]


class StoreCorruptionError(EngineError):
    """Stored data cannot be read back without losing acknowledged writes."""


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
    """``record`` framed for a segment: length, CRC32, compact JSON."""
    fields: dict[str, Any] = {"k": record.kind, "d": record.database}
    if record.kind == "write":
        fields |= {
            "lp": record.text,
            "p": record.precision,
            "a": record.accept_partial,
            "t": record.default_time_ns,
        }
    elif record.kind in ("table", "drop"):
        fields["n"] = record.table
        if record.kind == "table":
            fields["c"] = [list(column) for column in record.columns]
    payload = json.dumps(fields, ensure_ascii=False, separators=(",", ":")).encode()
    return _RECORD_HEAD.pack(len(payload), zlib.crc32(payload)) + payload


def _decode_payload(payload: bytes) -> WalRecord:
    fields = json.loads(payload)
    if fields["k"] == "create":
        return WalRecord("create", str(fields["d"]))
    if fields["k"] == "drop":
        return WalRecord("drop", str(fields["d"]), table=str(fields["n"]))
    if fields["k"] == "table":
        columns = tuple((str(name), str(kind)) for name, kind in fields["c"])
        return WalRecord("table", str(fields["d"]), table=str(fields["n"]), columns=columns)
    if fields["k"] != "write":
        msg = f"unknown record kind {fields['k']!r}"
        raise ValueError(msg)
    return WalRecord(
        "write",
        str(fields["d"]),
        str(fields["lp"]),
        str(fields["p"]),
        bool(fields["a"]),
        int(fields["t"]),
    )


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


def read_segment(path: Path, *, last: bool) -> list[WalRecord]:
    """Every record of ``path``, in order.

    In the ``last`` segment a torn tail (an incomplete header or record, zero fill, or a bad
    final record: a crash mid-write) is truncated away with a warning. Any other damage raises
    StoreCorruptionError naming the file and offset.
    """
    data = path.read_bytes()
    if len(data) < len(SEGMENT_HEADER) and last and SEGMENT_HEADER.startswith(data):
        return _truncate(path, data, 0, [])
    if not data.startswith(SEGMENT_HEADER):
        msg = f"{path}: not a WAL segment of format version {WAL_FORMAT_VERSION}"
        raise StoreCorruptionError(msg, hint="was it written by a newer version?")
    records: list[WalRecord] = []
    offset = len(SEGMENT_HEADER)
    while offset < len(data):
        record, end, problem = _read_record(data, offset)
        if record is None:
            if last and _is_torn_tail(data, offset, end):
                return _truncate(path, data, offset, records)
            msg = f"WAL segment {path} is corrupt at byte offset {offset}: {problem}"
            raise StoreCorruptionError(msg, hint="restore the file from a backup")
        records.append(record)
        offset = end
    return records


def _read_record(data: bytes, offset: int) -> tuple[WalRecord | None, int, str]:
    """The record at ``offset``, its end offset, and what is wrong when it is None."""
    head_end = offset + _RECORD_HEAD.size
    if head_end > len(data):
        return None, head_end, "incomplete record header"
    length, crc = _RECORD_HEAD.unpack_from(data, offset)
    end = head_end + length
    if length > _MAX_RECORD or end > len(data):
        return None, end, f"record length {length} runs past the end of the file"
    payload = data[head_end:end]
    if zlib.crc32(payload) != crc:
        return None, end, "CRC32 mismatch"
    try:
        return _decode_payload(payload), end, ""
    except (ValueError, KeyError, TypeError) as exc:
        return None, end, f"undecodable record ({exc})"


def _is_torn_tail(data: bytes, offset: int, end: int) -> bool:
    return end >= len(data) or not data[offset:].strip(b"\0")


def _truncate(path: Path, data: bytes, offset: int, records: list[WalRecord]) -> list[WalRecord]:
    _LOGGER.warning(
        "WAL segment %s: torn record at byte offset %d (a crash mid-write); truncating %d bytes",
        path,
        offset,
        len(data) - offset,
    )
    with path.open("r+b") as handle:
        handle.truncate(offset)
        if offset == 0:  # a torn header: keep a valid (empty) segment
            handle.write(SEGMENT_HEADER)
        handle.flush()
        os.fsync(handle.fileno())
    return records


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
        """Block until the flush covering the record ends; raises WriteError if it failed."""
        self._done.wait()
        if self._error is not None:
            msg = f"write not durable: {self._error}"
            raise WriteError(msg) from self._error


class WalWriter:
    """Appends records to the current segment; a thread flushes them every ``interval``."""

    def __init__(self, directory: Path, seq: int, *, interval: float) -> None:
        self._directory = directory
        self._interval = interval
        self._cond = threading.Condition()
        self._buffer: list[tuple[bytes, WalAck | None]] = []
        #: serialises file I/O: flushes, rotations, close
        self._io = threading.Lock()
        self._stop = threading.Event()
        self.seq = seq
        self._fd, self._size = self._open(seq)
        #: durable size to restore before the next write, after a failed flush
        self._dirty_from: int | None = None
        #: told of each flush that wrote records (metrics); None: nobody listens
        self.on_flush: FlushObserver | None = None
        self._thread = threading.Thread(target=self._run, name="wal-flusher", daemon=True)
        self._thread.start()

    def _open(self, seq: int) -> tuple[int, int]:
        path = segment_path(self._directory, seq)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o644)
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
            else:
                self._buffer.append((data, ack))
        return ack

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
        while not self._stop.wait(self._interval):
            try:
                self.flush()
            except Exception:  # a flusher that dies would hang every writer
                _LOGGER.exception("WAL flush failed")

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
        for _, ack in batch:
            if ack is not None:
                ack.finish(error)
        if error is not None:
            lost = sum(1 for _, ack in batch if ack is None)
            _LOGGER.error("WAL flush failed (%s); %d no_sync writes are not durable", error, lost)

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
