"""The local store: content-addressed blobs, per-URL HTTP metadata and per-reference versions.

Layout under the cache directory::

    CACHEDIR.TAG                 tells backup tools to skip the directory
    blobs/sha256/ab/cdef…        immutable, read-only files named by the sha256 of their bytes
    trees/<sha256>/<name>/…      materialized directory plugins (see below)
    meta/                        diskcache: URL metadata (ETag, Last-Modified, sha256, times)
                                 and the version history of each reference
    git/                         bare git repositories (git_source.py)

A blob is written to a temporary file in the same directory and renamed into place, so a crash
never leaves a partial blob under its final name. Every read re-hashes the bytes: a blob that no
longer matches its name is moved to ``quarantine/`` and reported, never returned.

Directory plugins are stored as a *tree manifest*: a blob whose text is ``sha256sum`` output
(``<hex>  <relative path>`` lines, sorted by path). The tree's hash is the manifest's hash, so it
covers every file name and every byte but not archive or filesystem details (the Go ``h1:`` idea).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from ..atomic import atomic_write, private_dir
from ..errors import IntegrityError, StoreError
from .hashes import (
    parse_tree_manifest,
    sha256_hex,
    tree_manifest,
)

if TYPE_CHECKING:
    import diskcache

__all__ = [
    "Collected",
    "Store",
    "UrlMeta",
    "Version",
]

_CACHEDIR_TAG: Final = (
    "Signature: 8a477f597d28d172789f06886806bc55\n"
    "# This file is a cache directory tag created by pluginmgr.\n"
)
_META_FORMAT: Final = 1


@dataclass(frozen=True, slots=True)
class UrlMeta:
    """What we know about a URL from its last successful fetch."""

    sha256: str
    size: int
    fetched_at: float
    etag: str | None = None
    last_modified: str | None = None


@dataclass(frozen=True, slots=True)
class Version:
    """One distinct content seen for a reference."""

    ref: str
    sha256: str
    size: int
    first_seen: float
    last_seen: float
    source: str
    kind: str = "file"
    #: the git commit or registry artifact hash, and the registry version (as in the lock)
    commit: str | None = None
    rev: str | None = None


def _unusable(root: Path, exc: OSError) -> StoreError:
    message = f"cannot use cache directory {str(root)!r}: {exc.strerror or exc}"
    return StoreError(message, hint="pass a writable --cache-dir or set PLUGINMGR_CACHE_DIR")


class Store:
    """Blobs, trees and metadata under one cache directory. Safe across threads and processes."""

    def __init__(self, root: Path) -> None:
        self.root = root
        try:
            private_dir(root)  # fetched code lives here: 0700 when made, whatever the umask
            (root / "blobs" / "sha256").mkdir(parents=True, exist_ok=True)
            tag = root / "CACHEDIR.TAG"
            if not tag.exists():
                atomic_write(tag, _CACHEDIR_TAG.encode(), mode=0o644)
        except OSError as exc:
            raise _unusable(root, exc) from exc
        self._opened: diskcache.Cache | None = None
        self._opening = threading.Lock()

    @property
    def _meta(self) -> diskcache.Cache:
        """The URL and version metadata, opened at first use: a command that only reads pinned
        blobs (a no-op install) never loads diskcache nor opens its SQLite file."""
        with self._opening:
            if self._opened is None:
                import diskcache

                try:
                    self._opened = diskcache.Cache(str(self.root / "meta"))
                except OSError as exc:
                    raise _unusable(self.root, exc) from exc
            return self._opened

    def close(self) -> None:
        with self._opening:
            if self._opened is not None:
                self._opened.close()

    # -- blobs ------------------------------------------------------------------------------

    def blob_path(self, sha256: str) -> Path:
        """Where the blob with this hash lives (it may not exist)."""
        return self.root / "blobs" / "sha256" / sha256[:2] / sha256[2:]

    def put(self, data: bytes) -> str:
        """Store ``data`` and return its sha256; storing the same bytes twice is a no-op."""
        digest = sha256_hex(data)
        path = self.blob_path(digest)
        try:
            os.utime(path)  # fresh again: `collect_garbage` spares what a fetch is pinning
        except FileNotFoundError:
            atomic_write(path, data, mode=0o444)
        except OSError:
            pass  # a read-only store keeps working; only gc's grace needs the time
        return digest

    def read(self, sha256: str) -> bytes:
        """Read a blob and check its hash.

        :raises KeyError: the blob is not in the store.
        :raises IntegrityError: the bytes no longer hash to ``sha256``; the blob is quarantined.
        """
        path = self.blob_path(sha256)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise KeyError(sha256) from None
        actual = sha256_hex(data)
        if actual != sha256:
            self._quarantine(path)
            message = f"stored blob {sha256} is corrupted (its bytes hash to {actual}); removed it"
            raise IntegrityError(message, hint="fetch again to replace it")
        return data

    def has(self, sha256: str) -> bool:
        """True if a blob with this hash exists and its bytes still match."""
        try:
            self.read(sha256)
        except (KeyError, IntegrityError):
            return False
        return True

    def iter_blobs(self) -> Iterator[str]:
        """Every blob hash present on disk (not verified)."""
        base = self.root / "blobs" / "sha256"
        for sub in sorted(base.iterdir()):
            if sub.is_dir() and len(sub.name) == 2:
                for blob in sorted(sub.iterdir()):
                    if not blob.name.startswith("."):
                        yield sub.name + blob.name

    def _quarantine(self, path: Path) -> None:
        target = self.root / "quarantine" / f"{path.parent.name}{path.name}.{time.time_ns()}"
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.replace(path, target)
        except OSError:
            path.unlink(missing_ok=True)

    # -- trees (directory plugins) -----------------------------------------------------------

    def put_tree(self, files: Mapping[str, bytes]) -> str:
        """Store every file and the manifest; return the tree hash (the manifest's sha256)."""
        for data in files.values():
            self.put(data)
        return self.put(tree_manifest(files))

    def tree_size(self, tree_sha256: str) -> int:
        """Total bytes of the files in a tree."""
        entries = parse_tree_manifest(self.read(tree_sha256))
        return sum(self.blob_path(digest).stat().st_size for digest in entries.values())

    def materialize_tree(self, tree_sha256: str, name: str) -> Path:
        """Return ``trees/<hash>/<name>``: the directory, created from verified blobs if needed.

        An existing directory is checked file by file against the manifest; if anything differs
        (an edit, a deleted file, an extra ``.py``), it is rebuilt.
        """
        entries = parse_tree_manifest(self.read(tree_sha256))
        target = self.root / "trees" / tree_sha256 / name
        if target.is_dir() and _tree_matches(target, entries):
            return target
        staging = Path(tempfile.mkdtemp(prefix=".tmp-", dir=_ensure_dir(target.parent.parent)))
        try:
            for rel, digest in entries.items():
                dest = staging / name / rel
                dest.parent.mkdir(parents=True, exist_ok=True)
                dest.write_bytes(self.read(digest))
            if target.exists():
                shutil.rmtree(target.parent)
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(staging / name, target)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        return target

    def collect_garbage(
        self, keep: Iterable[str], keep_trees: Iterable[str], *, grace: float, dry_run: bool
    ) -> Collected:
        """Delete every blob not in ``keep`` nor in a tree of ``keep_trees`` (whose manifests
        are kept too), their materialized trees, and the quarantine.

        Blobs written or re-put within ``grace`` seconds are spared: a fetch running beside
        gc stores (or touches) its blob before it pins it.
        """
        kept = set(keep)
        for tree in keep_trees:
            kept.add(tree)
            try:
                kept.update(parse_tree_manifest(self.read(tree)).values())
            except (KeyError, IntegrityError):
                continue
        before = time.time() - grace
        doomed = [
            d for d in self.iter_blobs() if d not in kept and _age_ok(self.blob_path(d), before)
        ]
        size = sum(self.blob_path(d).stat().st_size for d in doomed)
        trees_dir = self.root / "trees"
        old_trees = (
            [t for t in trees_dir.iterdir() if t.name not in kept and not t.name.startswith(".")]
            if trees_dir.is_dir()
            else []
        )
        quarantine = self.root / "quarantine"
        dropped = sorted(quarantine.iterdir()) if quarantine.is_dir() else []
        if not dry_run:
            for digest in doomed:
                self.blob_path(digest).unlink(missing_ok=True)
            for directory in old_trees:
                shutil.rmtree(directory, ignore_errors=True)
            for item in dropped:
                item.unlink(missing_ok=True)
        return Collected(tuple(doomed), size, len(old_trees), len(dropped))

    # -- metadata ----------------------------------------------------------------------------

    def url_meta(self, url: str) -> UrlMeta | None:
        """Metadata from the last successful fetch of ``url``, if any."""
        raw = self._meta.get(("url", _META_FORMAT, url))
        return UrlMeta(**raw) if isinstance(raw, dict) else None

    def set_url_meta(self, url: str, meta: UrlMeta) -> None:
        self._meta.set(("url", _META_FORMAT, url), asdict(meta))

    def url_digests(self) -> set[str]:
        """The blob of every URL's last fetch (what a 304 would point at)."""
        found = set()
        for key in self._meta.iterkeys():
            if isinstance(key, tuple) and key[:2] == ("url", _META_FORMAT):
                raw = self._meta.get(key)
                if isinstance(raw, dict) and isinstance(raw.get("sha256"), str):
                    found.add(raw["sha256"])
        return found

    def history_refs(self) -> list[str]:
        """Every reference with a recorded version history, sorted."""
        return sorted(
            key[2]
            for key in self._meta.iterkeys()
            if isinstance(key, tuple) and key[:2] == ("versions", _META_FORMAT)
        )

    def set_versions(self, ref: str, versions: Iterable[Version]) -> None:
        """Replace a reference's history (gc drops the versions whose bytes it deleted)."""
        self._meta.set(("versions", _META_FORMAT, ref), [asdict(v) for v in versions])

    def versions(self, ref: str) -> list[Version]:
        """Every distinct content seen for ``ref``, oldest first."""
        raw: list[dict[str, Any]] = self._meta.get(("versions", _META_FORMAT, ref), [])
        return [Version(**item) for item in raw]

    def record_versions(self, seen: Iterable[Version]) -> list[Version]:
        """Add each content to its reference's history, or refresh its last-seen time.

        All updates run in one transaction: concurrent writers would each wait on SQLite's write
        lock (milliseconds per call) where one batch takes microseconds per entry.
        :returns: the versions that were new for their reference.
        """
        new: list[Version] = []
        with self._meta.transact():
            for version in seen:
                key = ("versions", _META_FORMAT, version.ref)
                raw: list[dict[str, Any]] = self._meta.get(key, [])
                known = next((item for item in raw if item["sha256"] == version.sha256), None)
                if known is None:
                    raw.append(asdict(version))
                    new.append(version)
                else:
                    known["last_seen"] = version.last_seen
                    known["source"] = version.source
                self._meta.set(key, raw)
        return new


@dataclass(frozen=True, slots=True)
class Collected:
    """What `Store.collect_garbage` removed (or, dry, would remove)."""

    blobs: tuple[str, ...]
    bytes: int
    trees: int
    quarantined: int


def _age_ok(path: Path, before: float) -> bool:
    try:
        return path.stat().st_mtime < before
    except FileNotFoundError:
        return False


def _tree_matches(directory: Path, entries: Mapping[str, str]) -> bool:
    present = {
        p.relative_to(directory).as_posix()
        for p in directory.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    }
    if present != set(entries):
        return False
    return all(
        sha256_hex((directory / rel).read_bytes()) == digest for rel, digest in entries.items()
    )


def _ensure_dir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path
