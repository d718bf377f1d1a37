"""Internal: Parquet snapshots of every table of a `DurableStore`.

``snapshots/<wal_seq:020d>/`` holds one directory per database (``d0``, ``d1``, ...) with one
Parquet file per table (``<index>-<safe name>.parquet``) and ``manifest.json``::

    {"format_version": 2, "wal_seq": 7, "created_ns": ...,
     "databases": {"db": {"dir": "d0", "tables": {"_system.x": "0000-_system.x.parquet"},
                          "sha256": {"0000-_system.x.parquet": "<hex>"}}}}

The manifest maps the real names to file names, so any table name is safe on disk, and holds
each file's SHA-256, checked at load: Parquet's own page checksums are optional and most bit
flips decode to other values silently. Format 1 (no checksums) still loads.

The manifest decides what a start deletes (the WAL segments up to ``wal_seq``, older
snapshots), so it is checked before it is believed: one written by this version carries its own
``checksum`` (`engine_runtime.file_checksum`); one written before has its ``wal_seq`` checked
against its directory's name and each directory and file name against the database or table
name it was derived from, so a changed digit or name is refused rather than acted on. A snapshot is
written into ``snapshots/.tmp-<seq>`` (0700, files 0600) and renamed into place, so a directory
with a numeric name is always complete. It covers every WAL segment up to and including
``wal_seq``.
"""

from __future__ import annotations

import hashlib
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
from engine_runtime.file_checksum import check_checksum, with_checksum
from engine_runtime.store._files import write_new
from engine_runtime.store._wal import StoreCorruptionError

__all__ = [
    "SNAPSHOT_FORMAT_VERSION",
    "latest_snapshot",
    "load_snapshot",
    "prune_snapshots",
    "write_snapshot",
]

SNAPSHOT_FORMAT_VERSION: Final = 2
#: format versions `load_snapshot` reads: 1 has no checksums
_READABLE: Final = (1, 2)
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
    tmp.mkdir(mode=0o700, parents=True)
    databases: dict[str, Any] = {}
    for db_index, (database, db_tables) in enumerate(sorted(tables.items())):
        db_dir = f"d{db_index}"
        (tmp / db_dir).mkdir(mode=0o700)
        names: dict[str, str] = {}
        digests: dict[str, str] = {}
        for index, (table, data) in enumerate(sorted(db_tables.items())):
            names[table] = _file_name(index, table)
            sink = pa.BufferOutputStream()
            pq.write_table(data, sink)
            content = sink.getvalue().to_pybytes()
            digests[names[table]] = hashlib.sha256(content).hexdigest()
            write_new(tmp / db_dir / names[table], content)
        fsync_dir(tmp / db_dir)
        databases[database] = {"dir": db_dir, "tables": names, "sha256": digests}
    manifest = {
        "format_version": SNAPSHOT_FORMAT_VERSION,
        "wal_seq": seq,
        "created_ns": time.time_ns(),
        "databases": databases,
    }
    content = json.dumps(with_checksum(manifest), indent=1, ensure_ascii=False)
    write_new(tmp / _MANIFEST, content.encode())
    fsync_dir(tmp)
    os.replace(tmp, final)
    fsync_dir(root)
    return final


def _snapshot_dirs(root: Path) -> list[tuple[int, Path]]:
    return sorted((int(p.name), p) for p in root.iterdir() if p.name.isdigit() and p.is_dir())


def latest_snapshot(root: Path) -> Path | None:
    """The newest complete snapshot under ``root``, if any."""
    found = _snapshot_dirs(root)
    return found[-1][1] if found else None


def load_snapshot(path: Path) -> tuple[int, Tables]:
    """The WAL sequence snapshot ``path`` covers, and its tables (empty databases included).

    :raises StoreCorruptionError: the manifest is unreadable or too new, a file is missing or
        does not match its checksum.
    """
    manifest_path = path / _MANIFEST
    try:
        manifest = json.loads(manifest_path.read_text())
    except (OSError, ValueError) as exc:
        msg = f"snapshot {path} has no readable {_MANIFEST}: {exc}"
        raise StoreCorruptionError(msg, hint=_RESTORE_HINT, path=manifest_path) from exc
    version = manifest.get("format_version")
    if version not in _READABLE:
        msg = f"snapshot {path} has format_version {version}, expected {SNAPSHOT_FORMAT_VERSION}"
        raise StoreCorruptionError(
            msg, hint="was it written by a newer version?", path=manifest_path
        )
    _check_manifest(path, manifest)
    tables: Tables = {}
    for database, entry in manifest["databases"].items():
        digests = None if version == 1 else entry.get("sha256", {})
        db_dir = path / entry["dir"]
        tables[database] = {
            table: _read_table(db_dir / name, None if digests is None else digests.get(name, ""))
            for table, name in entry["tables"].items()
        }
    return int(manifest["wal_seq"]), tables


_RESTORE_HINT: Final = (
    "restore the snapshot directory from a backup; the store does not start without it"
)
_CHANGED_HINT: Final = (
    "restore the snapshot directory (its manifest.json) from a backup of the data dir; "
    "nothing was deleted"
)


def _check_manifest(path: Path, manifest: dict[str, Any]) -> None:
    """Refuse a manifest that was changed: against its checksum, or (written before
    checksums) against its directory's name and the file names derived from table names."""
    checked = check_checksum(manifest)
    shown = path / _MANIFEST
    if checked is False:
        msg = f"snapshot manifest {shown} does not match its checksum: it was changed or damaged"
        raise StoreCorruptionError(msg, hint=_CHANGED_HINT, path=shown)
    if checked:
        return
    if not path.name.isdigit() or manifest.get("wal_seq") != int(path.name):
        msg = (
            f"snapshot manifest {shown} says wal_seq {manifest.get('wal_seq')!r} but its "
            f"directory is snapshot {path.name}: it was changed or damaged"
        )
        raise StoreCorruptionError(msg, hint=_CHANGED_HINT, path=shown)
    try:
        for index, (database, entry) in enumerate(sorted(manifest["databases"].items())):
            expected = {t: _file_name(i, t) for i, t in enumerate(sorted(entry["tables"]))}
            if entry.get("dir") != f"d{index}" or entry["tables"] != expected:
                msg = (
                    f"snapshot manifest {shown} names database {database!r} or its tables "
                    "otherwise than its files: it was changed or damaged"
                )
                raise StoreCorruptionError(msg, hint=_CHANGED_HINT, path=shown)
    except (KeyError, TypeError, AttributeError) as exc:
        msg = f"snapshot manifest {shown} is damaged: {exc!r}"
        raise StoreCorruptionError(msg, hint=_CHANGED_HINT, path=shown) from exc


def _read_table(path: Path, sha256: str | None) -> pa.Table:
    """One table file, checked against ``sha256`` (None: a format 1 snapshot, unchecked)."""
    try:
        content = path.read_bytes()
    except OSError as exc:
        msg = f"snapshot file {path} cannot be read: {exc}"
        raise StoreCorruptionError(msg, hint=_RESTORE_HINT, path=path) from exc
    if sha256 is not None and hashlib.sha256(content).hexdigest() != sha256:
        msg = f"snapshot file {path} does not match the SHA-256 in its manifest: it is damaged"
        raise StoreCorruptionError(msg, hint=_RESTORE_HINT, path=path)
    try:
        return pq.read_table(pa.BufferReader(content))
    except pa.ArrowException as exc:
        msg = f"snapshot file {path} is not readable Parquet: {exc}"
        raise StoreCorruptionError(msg, hint=_RESTORE_HINT, path=path) from exc


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
