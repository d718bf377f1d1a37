"""`cached_lock`: a pylock.toml parsed once per content of the file, in this process and (its
TOML tables) across processes.

A no-op ``install package`` reads the lock to learn that nothing changed. Parsing a lock of a few
hundred packages from an index (a ``size`` and an ``upload-time`` datetime in every file entry,
as PyPI's) with tomllib costs 20-30 ms, a sixth of the whole command; the same tables as JSON
load in about 1 ms. So the tables are kept as ``<cache dir>/parsed-locks/<sha256 of the
file>.json``: keyed by the file's bytes, an entry can never be stale, only missing. TOML's dates
and times are tagged (``{"$datetime": ISO}``) so they come back as the same objects and the lock
is written back byte for byte. A missing, unreadable or damaged entry means parsing the file;
failing to write one is not an error. The newest `KEPT` entries are kept.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
from pathlib import Path
from typing import Any, Final

from ..atomic import atomic_write
from .pylock import PyLock, lock_from_data, lock_tables

__all__ = ["KEPT", "cached_lock", "load_tables", "store_tables"]

KEPT: Final = 8
_TAGS: Final = {
    "$datetime": dt.datetime.fromisoformat,
    "$date": dt.date.fromisoformat,
    "$time": dt.time.fromisoformat,
}


def _encode(value: object) -> dict[str, str]:
    if isinstance(value, dt.datetime):  # before date: a datetime is a date too
        return {"$datetime": value.isoformat()}
    if isinstance(value, dt.date):
        return {"$date": value.isoformat()}
    if isinstance(value, dt.time):
        return {"$time": value.isoformat()}
    raise TypeError(f"cannot keep {type(value).__name__} in the parsed-lock cache")


def _decode(table: dict[str, Any]) -> Any:
    if len(table) == 1:
        ((key, value),) = table.items()
        parse = _TAGS.get(key)
        if parse is not None and isinstance(value, str):
            return parse(value)
    return table


def load_tables(folder: Path, digest: str) -> dict[str, Any] | None:
    """The tables kept for the file whose sha256 is ``digest``; None when there are none."""
    try:
        data = json.loads((folder / f"{digest}.json").read_bytes(), object_hook=_decode)
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def store_tables(folder: Path, digest: str, tables: dict[str, Any]) -> None:
    """Keep ``tables`` for ``digest`` (best effort), and only the newest `KEPT` entries."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        atomic_write(folder / f"{digest}.json", json.dumps(tables, default=_encode).encode())
        entries = sorted(folder.glob("*.json"), key=lambda p: p.stat().st_mtime, reverse=True)
        for old in entries[KEPT:]:
            os.unlink(old)
    except (OSError, TypeError, ValueError):
        pass


_MAX_CACHED: Final = 8
#: lock path -> (the sha256 of its bytes when parsed, the lock)
_LOCKS: dict[Path, tuple[str, PyLock | None]] = {}


def cached_lock(path: Path, store: Path | None = None) -> PyLock | None:
    """`read_pylock`, parsed once per content of the file: parsing a lock of a few hundred
    packages costs tens of milliseconds (tomllib), which creating each of hundreds of triggers
    paid; reading and hashing its bytes costs a fraction of one. With ``store`` (a cache
    folder), the parsed tables are kept there for the next process too (`lock_cache`)."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    digest = hashlib.sha256(data).hexdigest()
    known = _LOCKS.get(path)
    if known is not None and known[0] == digest:
        return known[1]
    tables = load_tables(store, digest) if store is not None else None
    if tables is None:
        tables = lock_tables(data.decode("utf-8"), source=str(path))
        if store is not None:
            store_tables(store, digest, tables)
    lock = lock_from_data(tables, source=str(path))
    if len(_LOCKS) >= _MAX_CACHED:
        _LOCKS.clear()
    _LOCKS[path] = (digest, lock)
    return lock
