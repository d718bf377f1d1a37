"""Safe, bounded reading of ``.tar.gz`` plugin artifacts into memory (`safe_extract`).

Only regular files and directories are accepted; symlinks, hard links, devices, FIFOs, sparse
files, absolute paths, ``..`` components, backslashes and control characters in names (NUL,
newline, ...) are each refused with an `UnsafeArchiveError` naming the member. Nothing touches
the disk.

Memory stays bounded for hostile input:

* inflation stops as soon as the tar stream passes ``max_bytes`` plus a fixed overhead per
  allowed member (a gzip bomb is cut off, not inflated);
* at most `MAX_ARCHIVE_MEMBERS` members, and at most `MAX_GZIP_MEMBERS` gzip members (a file of
  500,000 empty gzip members is refused after 100, in milliseconds);
* no PAX (``x``/``g``) or GNU long name/link (``L``/``K``) header payload over
  `MAX_EXTENDED_HEADER` bytes. tarfile reads such a payload with a single ``read(size)`` and
  parses it whole, so the stream it reads from refuses any single read over that size; file
  contents are read in smaller chunks.
"""

from __future__ import annotations

import io
import tarfile
import zlib
from pathlib import PurePosixPath
from typing import Final

from ..errors import IntegrityError
from .hashes import has_control_chars

__all__ = [
    "MAX_ARCHIVE_MEMBERS",
    "MAX_EXTENDED_HEADER",
    "MAX_GZIP_MEMBERS",
    "UnsafeArchiveError",
    "safe_extract",
]

_ALLOWED_FILE_TYPES: Final = (tarfile.REGTYPE, tarfile.AREGTYPE)
_TYPE_NAMES: Final = {
    tarfile.SYMTYPE: "a symbolic link",
    tarfile.LNKTYPE: "a hard link",
    tarfile.CHRTYPE: "a character device",
    tarfile.BLKTYPE: "a block device",
    tarfile.FIFOTYPE: "a FIFO",
    tarfile.CONTTYPE: "a contiguous file",
    tarfile.GNUTYPE_SPARSE: "a sparse file",
}


#: the largest PAX (``x``/``g``) or GNU long name/link (``L``/``K``) header payload accepted
MAX_EXTENDED_HEADER: Final = 64 * 1024
#: the most members (files, directories, ...) one artifact may hold
MAX_ARCHIVE_MEMBERS: Final = 10_000
#: the most gzip members one artifact may be made of (gzip and tar write one)
MAX_GZIP_MEMBERS: Final = 100
# tarfile reads an extended header's payload rounded up to whole 512-byte blocks
_MAX_HEADER_READ: Final = MAX_EXTENDED_HEADER
# per member: a header block, padding and a modest PAX header, on top of the file bytes
_TAR_OVERHEAD_PER_MEMBER: Final = 2048
_INFLATE_CHUNK: Final = 1 << 20
#: compressed bytes handed to zlib at once
_FEED: Final = 64 * 1024
_CONTENT_CHUNK: Final = 16 * 1024
_HOSTILE_HINT: Final = "the artifact is hostile or corrupt; it was not extracted"
_LIMIT_HINT: Final = "the artifact is hostile or too large; it was not extracted"


class UnsafeArchiveError(IntegrityError):
    """A registry artifact holds a member that must never be extracted."""


def _refusal(source: str, member: str, reason: str) -> UnsafeArchiveError:
    return UnsafeArchiveError(
        f"unsafe archive {source}: member {member!r} {reason}", hint=_HOSTILE_HINT
    )


def _member_path(member: tarfile.TarInfo, *, source: str) -> str:
    """The safe relative POSIX path of ``member`` ("" for the root); raise for anything unsafe."""
    raw = member.name
    if has_control_chars(raw) or "\\" in raw:
        raise _refusal(source, raw, "has a control character (newline, NUL, ...) or a backslash")
    if raw.startswith("/") or (len(raw) > 1 and raw[1] == ":"):
        raise _refusal(source, raw, "has an absolute path")
    parts = [p for p in raw.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise _refusal(source, raw, "has a '..' path component")
    if member.sparse is not None:  # PAX-format sparse files keep a regular type flag
        raise _refusal(source, raw, "is a sparse file")
    if member.type in _TYPE_NAMES:
        raise _refusal(source, raw, f"is {_TYPE_NAMES[member.type]}")
    if not member.isdir() and member.type not in _ALLOWED_FILE_TYPES:
        raise _refusal(source, raw, f"has unsupported type {member.type!r}")
    if not parts and not member.isdir():
        raise _refusal(source, raw, "has an empty name")
    return "/".join(parts)


def _check_layout(files: dict[str, bytes], directories: set[str], *, source: str) -> None:
    if not files:
        raise UnsafeArchiveError(f"archive {source} holds no files")
    for rel in files:
        if rel in directories:
            raise _refusal(source, rel, "is both a file and a directory")
        parent = str(PurePosixPath(rel).parent)
        while parent not in (".", ""):
            if parent in files:
                raise _refusal(source, rel, f"lies under {parent!r}, which is a file")
            parent = str(PurePosixPath(parent).parent)


class _HeaderTooLarge(Exception):
    """tarfile asked for more header bytes at once than `_MAX_HEADER_READ`."""


class _BoundedReads(io.BytesIO):
    """The inflated tar stream, refusing any single read over `_MAX_HEADER_READ` bytes.

    tarfile reads a PAX (``x``/``g``) or GNU longname/longlink (``L``/``K``) payload with one
    ``read(payload size)`` and parses it in memory; refusing the read bounds that work. File
    contents are read by `_read_member` in chunks below the limit, so they never trip it.
    """

    def read(self, size: int | None = -1, /) -> bytes:
        if size is None or size < 0 or size > _MAX_HEADER_READ:
            raise _HeaderTooLarge(size)
        return super().read(size)


def _inflate(data: bytes, *, source: str, limit: int) -> bytes:
    """Gunzip ``data`` (one or more gzip members), stopping as soon as ``limit`` is passed."""
    try:
        return _inflate_bounded(data, source=source, limit=limit)
    except zlib.error as exc:
        raise UnsafeArchiveError(f"cannot read archive {source}: not gzip data ({exc})") from None


def _inflate_bounded(data: bytes, *, source: str, limit: int) -> bytes:
    """Inflate member after member, reading the input in `_FEED`-byte slices of one view:
    nothing is copied but the slice at hand (re-slicing the rest for each member made 500,000
    empty members cost minutes), and members past `MAX_GZIP_MEMBERS` are refused."""
    out = bytearray()
    view = memoryview(data)
    pos = members = 0
    while pos < len(view):
        members += 1
        if members > MAX_GZIP_MEMBERS:
            message = f"archive {source} holds more than {MAX_GZIP_MEMBERS} gzip members"
            raise UnsafeArchiveError(message, hint=_HOSTILE_HINT)
        inflater = zlib.decompressobj(wbits=31)  # gzip framing only
        while not inflater.eof:
            feed: bytes | memoryview = inflater.unconsumed_tail
            if not feed:
                if pos >= len(view):
                    raise UnsafeArchiveError(f"cannot read archive {source}: truncated gzip stream")
                feed = view[pos : pos + _FEED]
                pos += len(feed)
            out += inflater.decompress(feed, _INFLATE_CHUNK)
            if len(out) > limit:
                message = f"archive {source} inflates to more than {limit} bytes"
                hint = f"{_LIMIT_HINT} (raise --max-file-size if it is legitimate)"
                raise UnsafeArchiveError(message, hint=hint)
        pos -= len(inflater.unused_data)  # what was fed past this member's end
    if not out:
        raise UnsafeArchiveError(f"cannot read archive {source}: empty gzip stream")
    return bytes(out)


def _read_member(tar: tarfile.TarFile, member: tarfile.TarInfo) -> bytes:
    handle = tar.extractfile(member)
    if handle is None:
        return b""
    parts = []
    while chunk := handle.read(_CONTENT_CHUNK):
        parts.append(chunk)
    return b"".join(parts)


def _walk_members(
    tar: tarfile.TarFile, *, source: str, max_bytes: int
) -> tuple[dict[str, bytes], set[str]]:
    files: dict[str, bytes] = {}
    directories: set[str] = set()
    total = 0
    for count, member in enumerate(tar, start=1):
        if count > MAX_ARCHIVE_MEMBERS:
            message = f"archive {source} holds more than {MAX_ARCHIVE_MEMBERS} members"
            raise UnsafeArchiveError(message, hint=_LIMIT_HINT)
        rel = _member_path(member, source=source)
        if member.isdir():
            if rel:
                directories.add(rel)
            continue
        if rel in files:
            raise _refusal(source, member.name, "appears twice")
        total += member.size
        if total > max_bytes:
            reason = f"takes the archive over the {max_bytes}-byte limit"
            raise _refusal(source, member.name, reason)
        content = _read_member(tar, member)
        if len(content) != member.size:
            raise _refusal(source, member.name, "is truncated")
        files[rel] = content
    return files, directories


def safe_extract(data: bytes, *, source: str, max_bytes: int) -> dict[str, bytes]:
    """The regular files of a ``.tar.gz`` as ``{posix relative path: bytes}``; refuse the unsafe.

    Nothing touches the disk. Memory is bounded: ``max_bytes`` caps the total size of the files,
    the inflated stream may exceed it only by the tar overhead of `MAX_ARCHIVE_MEMBERS` members,
    and no PAX or GNU long-name header may be over `MAX_EXTENDED_HEADER` bytes.
    """
    limit = max_bytes + MAX_ARCHIVE_MEMBERS * _TAR_OVERHEAD_PER_MEMBER
    stream = _BoundedReads(_inflate(data, source=source, limit=limit))
    try:
        with tarfile.open(fileobj=stream, mode="r:") as tar:
            files, directories = _walk_members(tar, source=source, max_bytes=max_bytes)
    except _HeaderTooLarge:
        message = (
            f"unsafe archive {source}: a PAX or GNU long-name header is over the "
            f"{MAX_EXTENDED_HEADER}-byte limit"
        )
        raise UnsafeArchiveError(message, hint=_HOSTILE_HINT) from None
    except RecursionError:  # tarfile recurses once per chained extended header
        message = f"unsafe archive {source}: too many chained extended headers"
        raise UnsafeArchiveError(message, hint=_HOSTILE_HINT) from None
    except (tarfile.TarError, EOFError, OSError, UnicodeError) as exc:
        raise UnsafeArchiveError(f"cannot read archive {source}: {exc}") from None
    _check_layout(files, directories, source=source)
    return files
