"""Internal: the persisted files of a `DurableStore` and the catalog that lists them.

Rows leave the write buffer as immutable Parquet files: one per table per time chunk (the
chunk is ``time // gen1_ns``, upstream's ``--gen1-duration``, 10 minutes by default) per
persist, sorted by series (tags) then time, written once and never changed. A chunk holds no
(series, time) twice across its files: a persist whose rows may repeat rows of a chunk's files
merges them into one new file that replaces them.

``files.json``, the file catalog, is the only record of which files make the store::

    {"format_version": 1, "wal_seq": 7, "next_file": 12,
     "databases": {"db": {"dir": "d0", "tables": {"cpu": {
         "kinds": {"host": "tag", "usage": "f64"},
         "files": [{"path": "d0/3.parquet", "chunk": 1700000400000000000,
                    "min_time": ..., "max_time": ..., "rows": 10000, "size": 91234,
                    "sha256": "<hex>"}]}}}}}

It carries its own checksum (`engine_runtime.file_checksum`: ``"checksum": "sha256:..."`` over the
rest), checked at load before anything is deleted on its word; a catalog written before
checksums loads once and the start rewrites it with one.
It is replaced atomically (a temporary file, fsynced, renamed, the directory fsynced), after
the files it adds are fsynced; on an object store (`_location`) each file is one PUT, and the
catalog one PUT made after them (an object is whole or absent). ``wal_seq`` is the last WAL
segment whose rows the files hold: a start loads the catalog (not the rows) and replays only
the segments after it. A file the
catalog does not name (a persist that crashed before its commit, or a file a merge replaced)
is deleted at start. Each file's SHA-256 is recorded; Parquet page checksums are written and
checked on every read, so a damaged page fails the query that reads it instead of answering
with other values.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Final

import numpy as np
import pyarrow as pa  # type: ignore[import-untyped]  # pyarrow ships no stubs
import pyarrow.compute as pc  # type: ignore[import-untyped]  # pyarrow ships no stubs
import pyarrow.fs as pafs  # type: ignore[import-untyped]  # pyarrow ships no stubs
import pyarrow.parquet as pq  # type: ignore[import-untyped]  # pyarrow ships no stubs

from engine_runtime._atomic import write_atomic
from engine_runtime.file_checksum import check_checksum, with_checksum
from engine_runtime.store._location import CATALOG_NAME, FILES_DIR, FileLocation
from engine_runtime.store._wal import StoreCorruptionError

__all__ = [
    "CATALOG_NAME",
    "DEFAULT_GEN1_NS",
    "FILES_DIR",
    "FileCatalog",
    "PersistedFile",
    "TableFiles",
    "chunk_starts",
    "chunk_tables",
    "load_catalog",
    "read_file",
    "remove_unlisted",
    "save_catalog",
    "verify_files",
    "write_file",
    "write_new",
]

FORMAT_VERSION: Final = 1
#: upstream's ``--gen1-duration`` default: 10 minutes
DEFAULT_GEN1_NS: Final = 600 * 1_000_000_000
_RESTORE_HINT: Final = "restore the store's files from a backup; it does not start without them"
_CHANGED_HINT: Final = (
    "restore files.json from a backup of the data dir taken while the server was stopped; "
    "nothing was deleted"
)
_DAMAGED_HINT: Final = (
    "restore the file from a backup (the catalog names it); the table's other files and the "
    "other tables still answer"
)
#: files whose SHA-256 this process has checked (or written): (path, sha256, mtime, size);
#: objects have no reliable mtime (-1): they are written once, under names never reused
_VERIFIED: set[tuple[str, str, int, int]] = set()
_VERIFIED_LOCK: Final = threading.Lock()


@dataclass(frozen=True, slots=True)
class PersistedFile:
    """One immutable Parquet file of one table and one time chunk."""

    path: str  # relative to the files directory
    chunk: int  # the chunk's start, ns
    min_time: int
    max_time: int
    rows: int
    size: int
    sha256: str


@dataclass(slots=True)
class TableFiles:
    """A table's column kinds (name -> kind, ``time`` implied) and its files."""

    kinds: dict[str, str]
    files: tuple[PersistedFile, ...] = ()


@dataclass(slots=True)
class FileCatalog:
    """Which files make the store, and the last WAL segment they cover."""

    wal_seq: int = 0
    next_file: int = 0
    #: database -> its directory under `FILES_DIR`
    directories: dict[str, str] = field(default_factory=dict)
    #: database -> table -> its files (every database and table, empty ones included)
    databases: dict[str, dict[str, TableFiles]] = field(default_factory=dict)
    #: False: read from a file written before checksums (nothing is deleted on its word)
    checksummed: bool = True

    def directory(self, database: str) -> str:
        """The directory of ``database``'s files, assigned on first use."""
        found = self.directories.get(database)
        if found is None:
            used = set(self.directories.values())
            index = len(used)
            while f"d{index}" in used:
                index += 1
            found = self.directories[database] = f"d{index}"
        return found

    def new_path(self, database: str) -> str:
        """A file name no file of the store has had."""
        path = f"{self.directory(database)}/{self.next_file}.parquet"
        self.next_file += 1
        return path


def _dump(catalog: FileCatalog) -> dict[str, Any]:
    return {
        "format_version": FORMAT_VERSION,
        "wal_seq": catalog.wal_seq,
        "next_file": catalog.next_file,
        "databases": {
            database: {
                "dir": catalog.directory(database),
                "tables": {
                    table: {
                        "kinds": entry.kinds,
                        "files": [asdict(f) for f in entry.files],
                    }
                    for table, entry in tables.items()
                },
            }
            for database, tables in catalog.databases.items()
        },
    }


def save_catalog(location: FileLocation, catalog: FileCatalog) -> None:
    """Replace ``files.json`` atomically; the files it names must already be fsynced."""
    document = with_checksum(_dump(catalog))
    content = json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode()
    if not location.local:
        with location.filesystem.open_output_stream(location.catalog) as out:
            out.write(content)  # one PUT: atomic
        return
    write_atomic(Path(location.catalog), content)


def load_catalog(location: FileLocation) -> FileCatalog | None:
    """The catalog at ``location``, or None when the store has none yet.

    :raises StoreCorruptionError: it cannot be read, does not match its checksum, or was
        written by a newer version.
    """
    shown = location.describe(location.catalog)
    path = Path(location.catalog) if location.local else None
    try:
        if path is not None:
            raw = json.loads(path.read_bytes())
        else:
            with location.filesystem.open_input_stream(location.catalog) as stream:
                raw = json.loads(stream.readall())
    except FileNotFoundError:
        return None
    except ValueError as exc:
        msg = f"the store's file catalog {shown} cannot be read: {exc}"
        raise StoreCorruptionError(msg, hint=_RESTORE_HINT, path=path) from exc
    except OSError as exc:
        if not location.local:
            raise  # the object store failed (network, credentials): the store cannot open
        msg = f"the store's file catalog {shown} cannot be read: {exc}"
        raise StoreCorruptionError(msg, hint=_RESTORE_HINT, path=path) from exc
    if not isinstance(raw, dict) or raw.get("format_version") != FORMAT_VERSION:
        version = raw.get("format_version") if isinstance(raw, dict) else None
        msg = f"the store's file catalog {shown} has format_version {version}, expected 1"
        raise StoreCorruptionError(msg, hint="was it written by a newer version?", path=path)
    checked = check_checksum(raw)
    if checked is False:
        msg = (
            f"the store's file catalog {shown} does not match its checksum: it was changed "
            "or damaged"
        )
        raise StoreCorruptionError(msg, hint=_CHANGED_HINT, path=path)
    try:
        catalog = FileCatalog(
            wal_seq=int(raw["wal_seq"]), next_file=int(raw["next_file"]), checksummed=bool(checked)
        )
        for database, entry in raw["databases"].items():
            catalog.directories[database] = str(entry["dir"])
            catalog.databases[database] = {
                table: TableFiles(
                    {str(k): str(v) for k, v in item["kinds"].items()},
                    tuple(PersistedFile(**f) for f in item["files"]),
                )
                for table, item in entry["tables"].items()
            }
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        msg = f"the store's file catalog {shown} is damaged: {exc!r}"
        raise StoreCorruptionError(msg, hint=_RESTORE_HINT, path=path) from exc
    return catalog


def remove_unlisted(location: FileLocation, catalog: FileCatalog) -> int:
    """Delete files under the files directory that ``catalog`` does not name; how many."""
    listed = {
        f.path for tables in catalog.databases.values() for t in tables.values() for f in t.files
    }
    removed = 0
    if not location.local:
        selector = pafs.FileSelector(location.files, recursive=True, allow_not_found=True)
        prefix = location.files + "/"
        for info in location.filesystem.get_file_info(selector):
            if info.type == pafs.FileType.File and info.path.removeprefix(prefix) not in listed:
                location.filesystem.delete_file(info.path)
                removed += 1
        return removed
    files_dir = Path(location.files)
    if not files_dir.is_dir():
        return 0
    for path in files_dir.rglob("*"):
        if path.is_file() and path.relative_to(files_dir).as_posix() not in listed:
            path.unlink()
            removed += 1
    return removed


def chunk_starts(times: np.ndarray, gen1_ns: int) -> np.ndarray:
    """The start of each time's chunk (ns): the one rule for which chunk a row is in."""
    starts: np.ndarray = times - np.mod(times, gen1_ns)
    return starts


def chunk_tables(table: pa.Table, gen1_ns: int) -> list[tuple[int, pa.Table]]:
    """``table``'s rows by time chunk (each chunk's start, ns), in chunk order."""
    if table.num_rows == 0:
        return []
    starts = chunk_starts(table.column("time").cast(pa.int64()).to_numpy(), gen1_ns)
    unique = np.unique(starts)
    if len(unique) == 1:
        return [(int(unique[0]), table)]
    chunks = pa.array(starts)
    return [(int(start), table.filter(pc.equal(chunks, start))) for start in unique]


def write_file(location: FileLocation, path: str, chunk: int, table: pa.Table) -> PersistedFile:
    """Write one chunk's rows, sorted by series then time, as the file ``path`` (fsynced, or
    one PUT); its catalog entry."""
    tags = [c.name for c in table.schema if pa.types.is_dictionary(c.type)]
    keys = pa.table(
        {**{name: table.column(name).cast(pa.string()) for name in tags}, "time": table["time"]}
    )
    order = pc.sort_indices(keys, sort_keys=[(name, "ascending") for name in keys.column_names])
    ordered = table.take(order)
    sink = pa.BufferOutputStream()
    pq.write_table(ordered, sink, write_page_checksum=True)
    content = sink.getvalue().to_pybytes()
    sha256 = hashlib.sha256(content).hexdigest()
    target = location.file(path)
    if location.local:
        Path(target).parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        write_new(Path(target), content)
    else:
        with location.filesystem.open_output_stream(target) as out:
            out.write(content)  # one PUT: the object is whole or absent
    key = _verified_key(location, target, sha256, len(content))
    with _VERIFIED_LOCK:
        _VERIFIED.add(key)
    times = pc.min_max(ordered.column("time").cast(pa.int64()))
    return PersistedFile(
        path=path,
        chunk=chunk,
        min_time=times["min"].as_py(),
        max_time=times["max"].as_py(),
        rows=ordered.num_rows,
        size=len(content),
        sha256=sha256,
    )


def verify_files(location: FileLocation, files: Sequence[PersistedFile]) -> None:
    """Check each file against its SHA-256 the first time this process reads it.

    Parquet checks its pages, but not its footer: a flipped bit there (a column's statistics,
    say) could skip or misread rows silently. Once per file per process, so a query pays it
    only after a start, and only for the tables it reads.

    :raises StoreCorruptionError: a file is missing or does not match its catalog entry.
    """
    for persisted in files:
        path = location.file(persisted.path)
        damaged = Path(path) if location.local else None
        try:
            key = _verified_key(location, path, persisted.sha256, persisted.size)
            with _VERIFIED_LOCK:
                if key in _VERIFIED:
                    continue
            with location.filesystem.open_input_stream(path) as stream:
                content = stream.readall()
        except OSError as exc:
            msg = f"store file {location.describe(path)} cannot be read: {exc}"
            raise StoreCorruptionError(msg, hint=_DAMAGED_HINT, path=damaged) from exc
        if (
            len(content) != persisted.size
            or hashlib.sha256(content).hexdigest() != persisted.sha256
        ):
            msg = (
                f"store file {location.describe(path)} does not match the SHA-256 in the "
                "catalog: it is damaged"
            )
            raise StoreCorruptionError(msg, hint=_DAMAGED_HINT, path=damaged)
        with _VERIFIED_LOCK:
            _VERIFIED.add(key)


def _verified_key(
    location: FileLocation, path: str, sha256: str, size: int
) -> tuple[str, str, int, int]:
    """How `_VERIFIED` knows a file: on disk by its mtime and size too (a file changed in place
    is checked again); an object has no reliable mtime, and is written once under a name never
    reused, so its catalog size stands in."""
    if not location.local:
        return (path, sha256, -1, size)
    facts = os.stat(path)
    return (path, sha256, facts.st_mtime_ns, facts.st_size)


def read_file(location: FileLocation, persisted: PersistedFile) -> pa.Table:
    """One persisted file's rows, its Parquet pages checked."""
    return pq.read_table(
        location.file(persisted.path),
        filesystem=location.filesystem,
        page_checksum_verification=True,
    )


def write_new(path: Path, content: bytes) -> None:
    """Create ``path`` 0600 (it holds rows) with ``content``, fsynced; it must not exist (a
    new file under a name never used, so no temporary file is needed)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(content)
        handle.flush()
        os.fsync(handle.fileno())
