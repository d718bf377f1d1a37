"""Deterministic plugin artifacts: `{name}-{version}.tar.gz` of a plugin directory.

The same tree always gives the same bytes (and so the same `sha256:` hash): members are sorted,
every mtime is 0, owners are uid/gid 0 with empty names, modes are 0o644 for files and 0o755 for
directories, and the gzip header has mtime 0 and no file name. Symlinks and `__pycache__` are
never packed. `exclude` patterns from `manifest.toml` follow gitignore rules: a pattern without a
slash matches a name at any depth, a leading or inner slash anchors it to the plugin directory,
a trailing slash matches directories only, `**` spans directories, `!` re-includes, and the last
matching pattern wins. Members sit at the archive root, at their paths inside the plugin dir.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import re
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from registry_index.manifest import Manifest

__all__ = ["ExcludeRules", "artifact_hash", "build_artifact", "packed_files"]

_ALWAYS_EXCLUDED: Final = frozenset({"__pycache__"})
_FILE_MODE: Final = 0o644
_DIR_MODE: Final = 0o755


@dataclass(frozen=True, slots=True)
class _Rule:
    pattern: re.Pattern[str]
    negated: bool
    directory_only: bool


@dataclass(frozen=True, slots=True)
class ExcludeRules:
    """Compiled gitignore-style exclude patterns."""

    rules: tuple[_Rule, ...]

    @classmethod
    def compile(cls, patterns: tuple[str, ...] | list[str]) -> ExcludeRules:
        """Compile `patterns` (blank lines and `#` comments are ignored)."""
        rules = []
        for raw in patterns:
            text = raw.strip()
            if not text or text.startswith("#"):
                continue
            negated = text.startswith("!")
            text = text.removeprefix("!")
            directory_only = text.endswith("/")
            text = text.rstrip("/")
            anchored = "/" in text
            body = _translate(text.lstrip("/"))
            prefix = "" if anchored else "(?:.*/)?"
            rules.append(_Rule(re.compile(f"{prefix}{body}"), negated, directory_only))
        return cls(tuple(rules))

    def excludes(self, relative: str, *, is_dir: bool) -> bool:
        """Whether the POSIX `relative` path is excluded (the last matching rule wins)."""
        excluded = False
        for rule in self.rules:
            if rule.directory_only and not is_dir:
                continue
            if rule.pattern.fullmatch(relative):
                excluded = not rule.negated
        return excluded


def _translate(pattern: str) -> str:
    """A gitignore glob as a regex body: `*` and `?` stay inside one path segment."""
    out = []
    i = 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("/**", i) and i + 3 == len(pattern):
            out.append("/.*")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            out.append("[^/]")
            i += 1
        elif pattern[i] == "[":
            end = pattern.find("]", i + 1)
            if end < 0:
                out.append(re.escape("["))
                i += 1
            else:
                inner = pattern[i + 1 : end].replace("\\", "\\\\")
                out.append(f"[^{inner[1:]}]" if inner.startswith("!") else f"[{inner}]")
                i = end + 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return "".join(out)


def packed_files(plugin_dir: Path, exclude: tuple[str, ...] | list[str]) -> list[str]:
    """The POSIX paths (relative to `plugin_dir`, sorted) of the files an artifact holds."""
    rules = ExcludeRules.compile(exclude)
    found: list[str] = []
    pending = [plugin_dir]
    while pending:
        directory = pending.pop()
        for child in directory.iterdir():
            if child.is_symlink() or child.name in _ALWAYS_EXCLUDED:
                continue
            relative = child.relative_to(plugin_dir).as_posix()
            is_dir = child.is_dir()
            if rules.excludes(relative, is_dir=is_dir):
                continue  # like git, an excluded directory's files cannot be re-included
            if is_dir:
                pending.append(child)
            elif child.is_file():
                found.append(relative)
    return sorted(found)


def build_artifact(plugin_dir: Path, manifest: Manifest) -> bytes:
    """The deterministic `{name}-{version}.tar.gz` bytes of `plugin_dir`."""
    files = packed_files(plugin_dir, manifest.exclude)
    directories = sorted({str(parent) for f in files for parent in _parents(f)})
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for member in sorted([*directories, *files]):
            info = tarfile.TarInfo(member)
            info.mtime = 0
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            if member in directories:
                info.type = tarfile.DIRTYPE
                info.mode = _DIR_MODE
                tar.addfile(info)
            else:
                data = (plugin_dir / member).read_bytes()
                info.size = len(data)
                info.mode = _FILE_MODE
                tar.addfile(info, io.BytesIO(data))
    compressed = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=compressed, mtime=0, compresslevel=9) as gz:
        gz.write(raw.getvalue())
    return compressed.getvalue()


def artifact_hash(data: bytes) -> str:
    """The index form of an artifact's hash: `sha256:<64 hex>`."""
    return f"sha256:{hashlib.sha256(data).hexdigest()}"


def _parents(relative: str) -> list[str]:
    parts = relative.split("/")[:-1]
    return ["/".join(parts[: i + 1]) for i in range(len(parts))]
