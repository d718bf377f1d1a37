"""``<PLUGIN_DIR>/plugins.lock``: which exact bytes each plugin reference resolved to.

TOML, one ``[[plugin]]`` table per reference, sorted by reference, keys in a fixed order, so the
file diffs cleanly in review. ``fetched_at`` is when that content was first fetched: re-fetching
the same bytes does not touch the file. Example::

    format_version = 1

    [[plugin]]
    ref = "gh:influxdata/downsampler/downsampler.py"
    kind = "file"
    source = "plugin-repo:influxdata/downsampler/downsampler.py"
    sha256 = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
    size = 18231
    fetched_at = "2026-11-22T05:40:12Z"

``source`` is logical, the same on every node: ``plugin-repo:PATH`` is that path in whichever
``--plugin-repo`` a node uses (upstream or a mirror), ``plugin-registry:NAME==VERSION`` a
registry plugin. Git references record the URL, commit and path, and add ``commit`` (the
resolved 40-hex sha) and ``rev`` (what the user asked for). The hash is what is trusted, not
the source: the same reference fetched from a mirror must produce
the same sha256, or the fetch fails (like ``go.sum`` and Terraform's lock file).
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from ..atomic import atomic_write, file_lock
from ..errors import LockfileError

__all__ = [
    "FORMAT_VERSION",
    "LockEntry",
    "dump_lock",
    "format_timestamp",
    "read_lock",
    "update_lock",
]

FORMAT_VERSION: Final = 1
_HEADER: Final = (
    "# plugins.lock: written by pluginmgr, do not edit by hand.\n"
    "# `pluginmgr lock --upgrade` refreshes it; `pluginmgr verify` re-hashes what it pins.\n"
)
_KINDS: Final = ("file", "directory")


def format_timestamp(epoch: float) -> str:
    """RFC 3339 UTC with second precision, e.g. ``2026-11-22T05:40:12Z``."""
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True, slots=True)
class LockEntry:
    """One pinned reference. Field order is the order written to the file."""

    ref: str
    kind: str
    source: str
    sha256: str
    size: int
    fetched_at: str
    rev: str | None = None
    commit: str | None = None

    def same_content(self, other: LockEntry) -> bool:
        """True if both entries pin the same bytes (and the same git commit or registry
        version). Where they were fetched from does not count: an entry written on another
        node, or through a mirror, is kept as it is, so a committed lock stays clean."""
        return replace(self, fetched_at="", source="") == replace(other, fetched_at="", source="")


def _toml_value(value: str | int) -> str:
    # a JSON string is a valid TOML basic string (same escapes, \uXXXX for control characters)
    return str(value) if isinstance(value, int) else json.dumps(value, ensure_ascii=False)


def dump_lock(entries: Mapping[str, LockEntry]) -> str:
    """Serialize entries as sorted, stable TOML."""
    out = [_HEADER, f"format_version = {FORMAT_VERSION}\n"]
    for ref in sorted(entries):
        out.append("\n[[plugin]]\n")
        for field in fields(LockEntry):
            value = getattr(entries[ref], field.name)
            if value is not None:
                out.append(f"{field.name} = {_toml_value(value)}\n")
    return "".join(out)


def _entry(path: Path, index: int, raw: Any) -> LockEntry:
    where = f"{path}: [[plugin]] #{index + 1}"
    if not isinstance(raw, dict):
        raise LockfileError(f"{where} is not a table", hint=_REGENERATE)
    names = {f.name for f in fields(LockEntry)}
    if unknown := sorted(set(raw) - names):
        raise LockfileError(f"{where} has unknown keys {unknown}", hint=_REGENERATE)
    try:
        entry = LockEntry(**raw)
    except TypeError as exc:
        raise LockfileError(f"{where} is incomplete: {exc}", hint=_REGENERATE) from None
    sha_ok = isinstance(entry.sha256, str) and len(entry.sha256) == 64
    if not sha_ok or entry.kind not in _KINDS or not isinstance(entry.size, int):
        raise LockfileError(f"{where} ({entry.ref!r}) has invalid values", hint=_REGENERATE)
    return entry


_REGENERATE: Final = "fix it, or delete it and run `pluginmgr lock` to write a new one"


def read_lock(path: Path) -> dict[str, LockEntry]:
    """Read a lock file; a missing file is an empty lock.

    :raises LockfileError: unreadable, malformed, or written by a newer pluginmgr.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError) as exc:
        raise LockfileError(f"cannot read lock file {path}: {exc}", hint=_REGENERATE) from exc
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise LockfileError(f"lock file {path} is not valid TOML: {exc}", hint=_REGENERATE) from exc
    version = data.get("format_version")
    if not isinstance(version, int):
        raise LockfileError(f"lock file {path} has no format_version", hint=_REGENERATE)
    if version > FORMAT_VERSION:
        message = f"lock file {path} has format_version {version}, newer than this pluginmgr"
        raise LockfileError(message, hint="upgrade pluginmgr to read it")
    plugins = data.get("plugin", [])
    if not isinstance(plugins, list):
        raise LockfileError(f"lock file {path}: 'plugin' must be an array of tables")
    entries = [_entry(path, i, raw) for i, raw in enumerate(plugins)]
    return {entry.ref: entry for entry in entries}


def update_lock(
    path: Path, changed: Iterable[LockEntry], *, removed: Iterable[str] = ()
) -> dict[str, LockEntry]:
    """Merge entries into the lock file under an inter-process lock; write only if it changed.

    An entry whose content did not change keeps its original ``fetched_at``.
    :returns: the lock's entries after the update.
    """
    with file_lock(path.with_name(f".{path.name}.lck")):
        entries = read_lock(path)
        before = dict(entries)
        for entry in changed:
            old = entries.get(entry.ref)
            entries[entry.ref] = old if old is not None and old.same_content(entry) else entry
        for ref in removed:
            entries.pop(ref, None)
        if entries != before or not path.exists():
            atomic_write(path, dump_lock(entries).encode("utf-8"))
        return entries
