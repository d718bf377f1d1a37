"""Internal: reading `_wal` segments back, and the damage ``pluginmgr store repair`` cuts.

A bad record is a torn tail (a crash mid-write, truncated away at start) only in the last
segment, only when it runs to the end of the file (or the rest is zero fill), and only when no
CRC-valid record follows it anywhere: one flipped length byte mid-segment looks like a record
running past EOF, and taking that for a torn tail would drop every acknowledged record after
it. Any other damage raises `StoreCorruptionError` naming the file, the offset and the repair
command; `find_damage` and `cut_segment` are what that command uses to cut a segment there,
keeping the cut bytes beside it.
"""

from __future__ import annotations

import json
import logging
import os
import re
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from .._atomic import fsync_dir, write_atomic
from ._wal import (
    MAX_RECORD,
    READABLE_HEADERS,
    RECORD_HEAD,
    SEGMENT_HEADER,
    WAL_FORMAT_VERSION,
    WRITE_HEAD,
    StoreCorruptionError,
    WalRecord,
)

__all__ = ["SegmentDamage", "cut_segment", "find_damage", "read_segment"]

_LOGGER = logging.getLogger(__name__)

#: how every payload starts (`encode_record` puts the kind first): where a scan for the next
#: record after damage looks, so it checks a CRC only at plausible offsets
#: how a payload starts: a binary write (b"W", then accept_partial 0 or 1), or JSON
_PAYLOAD_START: Final = re.compile(rb'W[\x00\x01]|\{"k":')


def _decode_payload(payload: bytes) -> WalRecord:
    if payload[:1] == b"W":
        _, accept, default, database_end, precision_len = WRITE_HEAD.unpack_from(payload)
        database_end += WRITE_HEAD.size
        precision_end = database_end + precision_len
        return WalRecord(
            "write",
            payload[WRITE_HEAD.size : database_end].decode(),
            payload[precision_end:].decode(),
            payload[database_end:precision_end].decode(),
            bool(accept),
            default,
        )
    fields = json.loads(payload)
    if fields["k"] == "create":
        return WalRecord("create", str(fields["d"]))
    if fields["k"] == "dropdb":
        return WalRecord("dropdb", str(fields["d"]))
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


def read_segment(path: Path, *, last: bool) -> list[WalRecord]:
    """Every record of ``path``, in order.

    In the ``last`` segment a torn tail (an incomplete header or record, zero fill, or a bad
    final record, with no valid record after it: a crash mid-write) is truncated away with a
    warning. Any other damage raises StoreCorruptionError naming the file, the offset and the
    repair command.
    """
    data = path.read_bytes()
    if len(data) < len(SEGMENT_HEADER) and last and SEGMENT_HEADER.startswith(data):
        return _truncate(path, data, 0, [])
    _check_header(path, data)
    records, offset, end, problem = _scan(data)
    if offset is None:
        return records
    if last and _is_torn_tail(data, offset, end):
        return _truncate(path, data, offset, records)
    following = _next_record_at(data, offset)
    if following is not None and end >= len(data):
        problem += f", yet valid records follow at byte offset {following}"
    msg = f"WAL segment {path} is corrupt at byte offset {offset}: {problem}"
    hint = (
        f"stop the server, then keep the {len(records)} records before it with: pluginmgr "
        f"store repair --store-dir {path.parent.parent} --truncate-at {offset} (it saves what "
        "it cuts beside the segment), or restore the file from a backup"
    )
    raise StoreCorruptionError(msg, hint=hint, path=path, offset=offset)


def _check_header(path: Path, data: bytes) -> None:
    if not data.startswith(READABLE_HEADERS):
        msg = f"{path}: not a WAL segment of format version {WAL_FORMAT_VERSION} or older"
        raise StoreCorruptionError(msg, hint="was it written by a newer version?", path=path)


def _scan(data: bytes) -> tuple[list[WalRecord], int | None, int, str]:
    """The records of a segment up to the first bad one; its offset (None: no damage), its end
    and what is wrong with it."""
    records: list[WalRecord] = []
    offset = len(SEGMENT_HEADER)
    while offset < len(data):
        record, end, problem = _read_record(data, offset)
        if record is None:
            return records, offset, end, problem
        records.append(record)
        offset = end
    return records, None, offset, ""


def _read_record(data: bytes, offset: int) -> tuple[WalRecord | None, int, str]:
    """The record at ``offset``, its end offset, and what is wrong when it is None."""
    head_end = offset + RECORD_HEAD.size
    if head_end > len(data):
        return None, head_end, "incomplete record header"
    length, crc = RECORD_HEAD.unpack_from(data, offset)
    end = head_end + length
    if length > MAX_RECORD or end > len(data):
        return None, end, f"record length {length} runs past the end of the file"
    payload = data[head_end:end]
    if zlib.crc32(payload) != crc:
        return None, end, "CRC32 mismatch"
    try:
        return _decode_payload(payload), end, ""
    except (ValueError, KeyError, TypeError, struct.error) as exc:
        return None, end, f"undecodable record ({exc})"


def _next_record_at(data: bytes, after: int) -> int | None:
    """Offset of the first valid (CRC-checked, decodable) record starting after ``after``."""
    for found in _PAYLOAD_START.finditer(data, after + 1 + RECORD_HEAD.size):
        candidate = found.start() - RECORD_HEAD.size
        if _read_record(data, candidate)[0] is not None:
            return candidate
    return None


def _is_torn_tail(data: bytes, offset: int, end: int) -> bool:
    if not data[offset:].strip(b"\0"):
        return True
    return end >= len(data) and _next_record_at(data, offset) is None


@dataclass(frozen=True, slots=True)
class SegmentDamage:
    """The first bad record of a segment, and what cutting the segment there loses."""

    path: Path
    offset: int
    problem: str
    #: valid records before ``offset`` (kept by a cut)
    records_kept: int
    #: valid records found after the damage (lost by a cut), and the lines their writes hold
    records_lost: int
    lines_lost: int
    #: bytes from ``offset`` to the end of the file
    bytes_cut: int


def find_damage(path: Path) -> SegmentDamage | None:
    """The first bad record of segment ``path`` (a torn tail included), or None when every
    record reads back; raises StoreCorruptionError when ``path`` is not a segment at all."""
    data = path.read_bytes()
    _check_header(path, data)
    records, offset, _, problem = _scan(data)
    if offset is None:
        return None
    lost, lines = 0, 0
    position = _next_record_at(data, offset)
    while position is not None:
        record, end, _ = _read_record(data, position)
        if record is None:
            position = _next_record_at(data, position)
            continue
        lost += 1
        lines += sum(1 for line in record.text.splitlines() if line.strip()[:1] not in ("", "#"))
        position = end if end < len(data) else None
    return SegmentDamage(path, offset, problem, len(records), lost, lines, len(data) - offset)


def cut_segment(path: Path, offset: int) -> Path:
    """Truncate segment ``path`` at ``offset``, first saving the bytes cut to
    ``<segment>.corrupt-<offset>`` beside it (0600); returns that file."""
    data = path.read_bytes()
    backup = path.with_name(f"{path.name}.corrupt-{offset}")
    write_atomic(backup, data[offset:])
    with path.open("r+b") as handle:
        handle.truncate(offset)
        handle.flush()
        os.fsync(handle.fileno())
    fsync_dir(path.parent)
    return backup


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
