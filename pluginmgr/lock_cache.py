"""`parsed_tables`: a pylock.toml's TOML tables, parsed once per content of the file, across
processes.

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
import json
import os
from pathlib import Path
from typing import Any, Final

from .atomic import atomic_write

__all__ = ["KEPT", "load_tables", "store_tables"]

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
