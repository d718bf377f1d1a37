"""The mirror's own records: `mirror.json`, `SHA256SUMS`, safe paths, and `verify_mirror`.

`mirror.json` is what a re-sync revalidates against (the ETag / Last-Modified seen for each file)
and `SHA256SUMS` is what anyone can check with ``sha256sum -c``; both describe the files as they
sit in DEST (so a rewritten `index.json` is listed with its rewritten hash).
"""

from __future__ import annotations

import fcntl
import json
import os
import re
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Final

from ..atomic import atomic_write
from ..errors import MirrorError
from ..fetch.hashes import sha256_file
from ..fetch.repo_sums import MIRROR_JSON, SHA256SUMS, parse_sums

__all__ = [
    "MIRROR_FORMAT_VERSION",
    "MIRROR_JSON",
    "SHA256SUMS",
    "FileState",
    "MirrorState",
    "VerifyResult",
    "dest_lock",
    "dest_path",
    "parse_sums",
    "prune_files",
    "read_state",
    "remove_temp_files",
    "render_sums",
    "sha256_file",
    "state_json",
    "verify_mirror",
    "write_if_changed",
]

MIRROR_FORMAT_VERSION: Final = 1
#: files the mirror writes about itself; never listed in SHA256SUMS, never pruned
_OWN_FILES: Final = frozenset({MIRROR_JSON, SHA256SUMS})
#: what `atomic_write` (and the wheel copier) name a file being written: ``.NAME.XXXXXXXX.tmp``,
#: the 8 characters being `tempfile.mkstemp`'s random part
_TEMP_NAME: Final = re.compile(r"\..+\.[a-z0-9_]{8}\.tmp")


@dataclass(frozen=True, slots=True)
class FileState:
    """One mirrored file as it sits in DEST, plus the validators its source last sent."""

    sha256: str
    size: int
    etag: str | None = None
    last_modified: str | None = None


@dataclass(frozen=True, slots=True)
class MirrorState:
    """The content of `mirror.json`."""

    source: str
    synced_at: str
    files: Mapping[str, FileState] = field(default_factory=dict)
    source_artifacts_url: str | None = None
    rev: str | None = None  #: the commit a git source resolved to


def dest_path(dest: Path, relative: str) -> Path:
    """``DEST/relative``, refusing absolute paths, ``..`` and the mirror's own files."""
    parts = PurePosixPath(relative).parts
    if (
        not relative
        or relative.startswith("/")
        or "\\" in relative
        or any(part in ("..", ".") for part in parts)
        or relative in _OWN_FILES
    ):
        message = f"refusing to mirror unsafe path {relative!r}"
        raise MirrorError(message, hint="the source lists a path outside the repository")
    return dest.joinpath(*parts)


def read_state(dest: Path) -> MirrorState | None:
    """Read ``DEST/mirror.json``; None when DEST has never been synced."""
    path = dest / MIRROR_JSON
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        message = f"cannot read {path}: {exc}"
        raise MirrorError(message, hint="delete it to force a full re-sync") from exc
    if not isinstance(data, dict) or data.get("format_version") != MIRROR_FORMAT_VERSION:
        message = f"{path} is not a mirror.json this pluginmgr understands"
        raise MirrorError(message, hint="delete it to force a full re-sync, or upgrade pluginmgr")
    files: dict[str, FileState] = {}
    for name, item in dict(data.get("files") or {}).items():
        if isinstance(item, dict) and isinstance(item.get("sha256"), str):
            files[str(name)] = FileState(
                sha256=item["sha256"],
                size=int(item.get("size", 0)),
                etag=item.get("etag"),
                last_modified=item.get("last_modified"),
            )
    return MirrorState(
        source=str(data.get("source", "")),
        synced_at=str(data.get("synced_at", "")),
        files=files,
        source_artifacts_url=data.get("source_artifacts_url"),
        rev=data.get("rev"),
    )


def state_json(state: MirrorState) -> bytes:
    """Serialise `state` canonically (sorted keys and paths, 2-space JSON, trailing newline)."""
    files = {}
    for name in sorted(state.files):
        item = state.files[name]
        entry: dict[str, object] = {"sha256": item.sha256, "size": item.size}
        if item.etag is not None:
            entry["etag"] = item.etag
        if item.last_modified is not None:
            entry["last_modified"] = item.last_modified
        files[name] = entry
    data: dict[str, object] = {
        "format_version": MIRROR_FORMAT_VERSION,
        "source": state.source,
        "synced_at": state.synced_at,
        "files": files,
    }
    if state.source_artifacts_url is not None:
        data["source_artifacts_url"] = state.source_artifacts_url
    if state.rev is not None:
        data["rev"] = state.rev
    return (json.dumps(data, indent=2, sort_keys=True) + "\n").encode()


def render_sums(files: Mapping[str, FileState]) -> bytes:
    """``SHA256SUMS``: ``<sha256>  <path>`` for every file, sorted by path."""
    return "".join(f"{files[name].sha256}  {name}\n" for name in sorted(files)).encode()


@dataclass(frozen=True, slots=True)
class VerifyResult:
    """What `verify_mirror` found: every listed file checked, the missing and the tampered."""

    dest: Path
    checked: tuple[str, ...] = ()
    missing: tuple[str, ...] = ()
    tampered: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        """True when every listed file is present with its recorded hash."""
        return not self.missing and not self.tampered


def verify_mirror(dest: Path) -> VerifyResult:
    """Re-hash every file listed in ``DEST/SHA256SUMS`` and ``DEST/mirror.json``.

    A file is tampered when its hash differs from either record (or the records disagree).
    """
    sums_path = dest / SHA256SUMS
    sums = parse_sums(sums_path.read_text(encoding="utf-8")) if sums_path.is_file() else {}
    state = read_state(dest)
    recorded = {name: item.sha256 for name, item in (state.files if state else {}).items()}
    if not sums and not recorded:
        message = f"{dest} has no SHA256SUMS or mirror.json to verify against"
        raise MirrorError(message, hint=f"run `pluginmgr mirror sync SOURCE {dest}` first")
    missing: list[str] = []
    tampered: list[str] = []
    names = sorted(set(sums) | set(recorded))
    for name in names:
        path = dest_path(dest, name)
        if not path.is_file():
            missing.append(name)
            continue
        expected = {sums.get(name), recorded.get(name)} - {None}
        if expected != {sha256_file(path)}:
            tampered.append(name)
    return VerifyResult(dest, tuple(names), tuple(missing), tuple(tampered))


def prune_files(dest: Path, paths: Iterable[str]) -> list[str]:
    """Delete ``DEST/path`` for each path, then any directory that leaves empty."""
    deleted = []
    for path in sorted(paths):
        target = dest_path(dest, path)
        target.unlink(missing_ok=True)
        deleted.append(path)
        parent = target.parent
        while parent != dest and not any(parent.iterdir()):
            parent.rmdir()
            parent = parent.parent
    return deleted


@contextmanager
def dest_lock(dest: Path) -> Iterator[None]:
    """Hold an exclusive ``flock`` on the DEST directory itself (no lock file in the mirror):
    two syncs into one DEST run one after the other, so neither removes the other's temp files.
    """
    fd = os.open(dest, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def remove_temp_files(dest: Path) -> int:
    """Delete the temp files a killed sync left anywhere under DEST; returns how many.

    Only names of our own temp pattern go: anything else in DEST is the operator's. Call it under
    `dest_lock`, when no other sync can be writing.
    """
    removed = 0
    for folder, _dirs, names in os.walk(dest):  # never into a symlinked directory
        for name in names:
            path = Path(folder, name)
            if _TEMP_NAME.fullmatch(name) and not path.is_symlink() and path.is_file():
                path.unlink(missing_ok=True)
                removed += 1
    return removed


def write_if_changed(path: Path, data: bytes) -> bool:
    """Atomically write ``data`` unless ``path`` already holds exactly it; True if written."""
    if path.is_file() and path.read_bytes() == data:
        return False
    atomic_write(path, data)
    return True
