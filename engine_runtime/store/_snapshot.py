"""Internal: Parquet snapshots of every table of a `DurableStore`.

``snapshots/<wal_seq:020d>/`` holds one directory per database (``d0``, ``d1``, ...) with one
Parquet file per table (``<index>-<safe name>.parquet``) and ``manifest.json``::

    {"format_version": 1, "wal_seq": 7, "created_ns": ...,
     "databases": {"db": {"dir": "d0", "tables": {"_system.x": "0000-_system.x.parquet"}}}}

The manifest maps the real names to file names, so any table name is safe on disk. A snapshot
is written into ``snapshots/.tmp-<seq>`` and renamed into place, so a directory with a numeric
name is always complete. It covers every WAL segment up to and including ``wal_seq``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import time
from pathlib import Path
from typing import Any, Final

import pyarrow as pa  # type: ignore[import-untyped]  # pyarrow ships no stubs
import pyarrow.parquet as pq  # type: ignore[import-untyped]  # pyarrow ships no stubs

from engine_runtime._atomic import fsync_dir
from engine_runtime.store._wal import StoreCorruptionError

__all__ = [
    "SNAPSHOT_FORMAT_VERSION",
    "latest_snapshot",
    "load_snapshot",
    "prune_snapshots",
    "write_snapshot",
]

SNAPSHOT_FORMAT_VERSION: Final = 1
_MANIFEST: Final = "manifest.json"
_TMP_PREFIX: Final = ".tmp-"
_UNSAFE: Final = re.compile(r"[^A-Za-z0-9_.-]")

Tables = dict[str, dict[str, pa.Table]]


def _file_name(index: int, table: str) -> str:
    return f"{index:04d}-{_UNSAFE.sub('_', table)[:60]}.parquet"


def write_snapshot(root: Path, seq: int, tables: Tables) -> Path:
    """Write ``tables`` (database -> table -> Arrow) as snapshot ``seq``; returns its path."""
    final = root / f"{seq:020d}"
    tmp = root / f"{_TMP_PREFIX}{seq:020d}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    databases: dict[str, Any] = {}
    for db_index, (database, db_tables) in enumerate(sorted(tables.items())):
        db_dir = f"d{db_index}"
        (tmp / db_dir).mkdir()
        names: dict[str, str] = {}
        for index, (table, data) in enumerate(sorted(db_tables.items())):
            names[table] = _file_name(index, table)
            path = tmp / db_dir / names[table]
            pq.write_table(data, path)
            _fsync_file(path)
        fsync_dir(tmp / db_dir)
        databases[database] = {"dir": db_dir, "tables": names}
    manifest = {
        "format_version": SNAPSHOT_FORMAT_VERSION,
        "wal_seq": seq,
        "created_ns": time.time_ns(),
        "databases": databases,
    }
    (tmp / _MANIFEST).write_text(json.dumps(manifest, indent=1, ensure_ascii=False))
    _fsync_file(tmp / _MANIFEST)
    fsync_dir(tmp)
    os.replace(tmp, final)
    fsync_dir(root)
    return final


def _fsync_file(path: Path) -> None:
    with path.open("rb") as handle:
        os.fsync(handle.fileno())


def _snapshot_dirs(root: Path) -> list[tuple[int, Path]]:
    return sorted((int(p.name), p) for p in root.iterdir() if p.name.isdigit() and p.is_dir())


def latest_snapshot(root: Path) -> Path | None:
    """The newest complete snapshot under ``root``, if any."""
    found = _snapshot_dirs(root)
    return found[-1][1] if found else None


def load_snapshot(path: Path) -> tuple[int, Tables]:
    """The WAL sequence snapshot ``path`` covers, and its tables (empty databases included)."""
    try:
        manifest = json.loads((path / _MANIFEST).read_text())
    except (OSError, ValueError) as exc:
        msg = f"snapshot {path} has no readable {_MANIFEST}: {exc}"
        raise StoreCorruptionError(msg) from exc
    version = manifest.get("format_version")
    if version != SNAPSHOT_FORMAT_VERSION:
        msg = f"snapshot {path} has format_version {version}, expected {SNAPSHOT_FORMAT_VERSION}"
        raise StoreCorruptionError(msg, hint="was it written by a newer version?")
    tables: Tables = {}
    for database, entry in manifest["databases"].items():
        db_dir = path / entry["dir"]
        try:
            tables[database] = {
                table: pq.read_table(db_dir / name) for table, name in entry["tables"].items()
            }
        except (OSError, pa.ArrowException) as exc:
            msg = f"snapshot {path}: cannot read database {database}: {exc}"
            raise StoreCorruptionError(msg) from exc
    return int(manifest["wal_seq"]), tables


def prune_snapshots(root: Path, keep: int, *, all_temporary: bool = False) -> None:
    """Delete snapshots older than ``keep`` and temporary directories of older ones.

    ``all_temporary`` deletes every temporary directory (at start, when none is in use).
    """
    for seq, path in _snapshot_dirs(root):
        if seq < keep:
            shutil.rmtree(path, ignore_errors=True)
    for path in root.glob(f"{_TMP_PREFIX}*"):
        stem = path.name.removeprefix(_TMP_PREFIX)
        if all_temporary or not stem.isdigit() or int(stem) < keep:
            shutil.rmtree(path, ignore_errors=True)
