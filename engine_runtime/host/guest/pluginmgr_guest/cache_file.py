"""Internal: the cache file `CacheStore.save` writes and `CacheStore.load` reads.

A pickle of ``{"format_version", "saved_at", "entries"}`` whose outer layer holds builtins only
(read with an unpickler that refuses every class); each entry's value is pickled on its own, so
one bad value never spoils the rest. Written atomically with mode 0600.

The pickle is preceded by one line that holds its checksum, ``pluginmgr-cache sha256:<hex>``
(the SHA-256 of the bytes after the line), checked before anything is unpickled: a damaged
file is never unpickled. A file without the line was written before checksums (a pickle starts
with the byte 0x80): it is read as before, and the server rewrites it with one at start
(`seal_cache`, `open_cache`).
"""

from __future__ import annotations

import hashlib
import io
import pickle
from pathlib import Path
from typing import Any

from .cache_namespaces import SAVE_FORMAT_VERSION, GlobalNamespace, Namespace, TriggerNamespace

__all__ = [
    "CacheFileError",
    "Record",
    "decode_record",
    "describe",
    "encode_namespace",
    "open_cache",
    "read_document",
    "seal_cache",
]

_MAGIC = b"pluginmgr-cache sha256:"
_DIGEST_HEX = 64


class CacheFileError(Exception):
    """The saved plugin cache cannot be used: it was written by a newer version."""

    def __init__(self, message: str, *, path: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.path = path
        self.hint = hint


# (namespace, key, remaining ttl or None, pickled value); namespaces are encoded as plain tuples
# so that the outer document holds builtins only and is read with `_DocumentUnpickler`.
Record = tuple[tuple[str, ...], str, float | None, bytes]


def seal_cache(payload: bytes) -> bytes:
    """``payload`` (the pickled document) behind the line that holds its checksum."""
    return _MAGIC + hashlib.sha256(payload).hexdigest().encode("ascii") + b"\n" + payload


def open_cache(raw: bytes) -> tuple[bytes, bool | None]:
    """The pickled document in a cache file's bytes, and whether it matches its checksum
    (None: no checksum line, a file written before them); check before unpickling."""
    if not raw.startswith(_MAGIC):
        return raw, None
    start = len(_MAGIC)
    digest, newline = raw[start : start + _DIGEST_HEX], raw[start + _DIGEST_HEX : start + 65]
    payload = raw[start + _DIGEST_HEX + 1 :]
    matches = newline == b"\n" and hashlib.sha256(payload).hexdigest().encode("ascii") == digest
    return payload, matches


def describe(ns: Namespace) -> str:
    if isinstance(ns, TriggerNamespace):
        return f"trigger {ns.trigger!r} of database {ns.database!r}"
    return "the global cache" if isinstance(ns, GlobalNamespace) else repr(ns)


def encode_namespace(ns: TriggerNamespace | GlobalNamespace) -> tuple[str, ...]:
    if isinstance(ns, TriggerNamespace):
        return ("trigger", ns.database, ns.trigger)
    return ("global",)


def decode_record(record: object) -> tuple[Namespace, str, float | None, bytes]:
    if not isinstance(record, tuple) or len(record) != 4:
        raise ValueError("not a 4-tuple")
    encoded, key, ttl, data = record
    if not isinstance(key, str) or not isinstance(data, bytes):
        raise TypeError("key or value of the wrong type")
    if ttl is not None and not isinstance(ttl, float | int):
        raise TypeError("ttl of the wrong type")
    ns: Namespace
    match encoded:
        case ("trigger", str(database), str(trigger)):
            ns = TriggerNamespace(database, trigger)
        case ("global",):
            ns = GlobalNamespace()
        case _:
            raise ValueError(f"unknown namespace {encoded!r}")
    return ns, key, None if ttl is None else float(ttl), data


class _DocumentUnpickler(pickle.Unpickler):
    """Reads the outer document, which holds builtins only: no class may be loaded there."""

    def find_class(self, module: str, name: str) -> Any:
        message = f"unexpected {module}.{name} in the cache document"
        raise pickle.UnpicklingError(message)


def read_document(raw: bytes, path: Path, now: float) -> tuple[list[object], float, str | None]:
    """The records of a saved file and the downtime since it was saved, or an error."""
    try:
        document = _DocumentUnpickler(io.BytesIO(raw)).load()
    except Exception as exc:  # truncated or garbage bytes raise a variety of errors
        return [], 0.0, f"corrupt cache file: {type(exc).__name__}: {exc}"
    if not isinstance(document, dict) or not isinstance(document.get("format_version"), int):
        return [], 0.0, "corrupt cache file: no format_version"
    version = document["format_version"]
    if version > SAVE_FORMAT_VERSION:
        message = (
            f"the cache file {path} was written by a newer version "
            f"(format_version {version}, this one reads up to {SAVE_FORMAT_VERSION})"
        )
        hint = "upgrade, or move the file away to start with an empty cache"
        raise CacheFileError(message, path=str(path), hint=hint)
    saved_at, records = document.get("saved_at"), document.get("entries")
    if not isinstance(saved_at, float | int) or not isinstance(records, list):
        return [], 0.0, "corrupt cache file: no saved_at or entries"
    # a wall clock that went backwards counts as no downtime
    return records, max(0.0, now - float(saved_at)), None
