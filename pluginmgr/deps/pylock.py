"""``<PLUGIN_DIR>/pylock.toml``: the plugin venv's packages, in the PEP 751 format.

uv resolves (``uv pip compile --format pylock.toml --generate-hashes``); this module reads its
output and writes the lock a node commits: the standard tables (``lock-version``,
``[[packages]]`` with ``name``, ``version``, ``marker``, ``wheels`` and ``sdist`` with their
hashes) that uv and ``pip`` read, plus pluginmgr's own facts in the ``tool`` tables PEP 751
reserves for tools::

    [[packages]]
    name = "libx"
    version = "1.0"
    wheels = [{ url = "…", hashes = { sha256 = "…" } }]
    [packages.tool.pluginmgr]
    required-by = ["gh:ops/plugin_a/plugin_a.py", "liby"]   # requesters or packages

    [tool.pluginmgr]
    format-version = 1
    inputs-sha256 = "…"        # what the lock was resolved from (stale when it changes)
    python = "3.11"            # major.minor, implementation and platform it was resolved for
    [[tool.pluginmgr.requesters]]
    name = "gh:ops/plugin_a/plugin_a.py"
    declared-in = "manifest.toml"
    requirements = ["libx<2"]
    reason = "pinned"          # why it is in the set: pinned, trigger, added, all-plugins, operator

So ``deps why`` and ``deps tree`` need no resolver, and a stale lock can say what changed.
Reading and writing are lossless: every key PEP 751 defines, and any other key or tool table
uv, pip or a person wrote, is written back with the same value (``upload-time`` date-times,
``size``, ``index``, ``attestation-identities``, ``vcs``/``directory``/``archive``, other
tools' ``tool`` tables). Two things are ours: ``created-by`` is ``"pluginmgr"`` (the tool that
wrote the file; the resolver that made it, e.g. ``"uv"``, is kept as ``resolved-by`` in
``[tool.pluginmgr]``), and packages are written sorted by name (their order means nothing).

Locks written before plugins ran in a host of their own may mark packages
``provided-by = "runtime"``: the server's own copy was used and the venv left without it. Such a
package is read as an ordinary one (the venv now installs it, at the locked version) and its
name kept in `PyLock.runtime_pinned`, so `doctor` and ``deps sync`` can say that the lock was
resolved against the server's versions; the key is not written back.

This module holds the lock's types and reads it; `pylock_writer` writes it.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final
from urllib.parse import unquote

from packaging.markers import InvalidMarker, Marker, UndefinedEnvironmentName
from packaging.utils import canonicalize_name

from ..errors import LockfileError

__all__ = [
    "CREATED_BY",
    "FORMAT_VERSION",
    "PYLOCK_NAME",
    "TOOL",
    "LockedFile",
    "LockedPackage",
    "PyLock",
    "Requester",
    "lock_from_data",
    "lock_tables",
    "parse_pylock",
    "read_pylock",
]

PYLOCK_NAME: Final = "pylock.toml"
FORMAT_VERSION: Final = 1
#: ``provided-by`` of a package an older lock left to the server's own environment
_RUNTIME: Final = "runtime"
CREATED_BY: Final = "pluginmgr"
TOOL: Final = "pluginmgr"
_FILE_KEYS: Final = frozenset({"name", "hashes", "url", "path", "size"})
_PACKAGE_KEYS: Final = frozenset({"name", "version", "marker", "wheels", "sdist", "tool"})
_TOP_KEYS: Final = frozenset({"lock-version", "created-by", "requires-python", "packages", "tool"})


@dataclass(frozen=True, slots=True)
class LockedFile:
    """A wheel or sdist of a locked package: where it came from and its hashes.

    ``path`` is relative to the lock's directory (PEP 751), or absolute.
    """

    name: str
    hashes: Mapping[str, str]
    url: str | None = None
    path: str | None = None
    size: int | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)  #: other keys (upload-time, …)
    named: bool = True  #: the table has a ``name`` key (else the name comes from url or path)

    @property
    def sha256(self) -> str | None:
        return self.hashes.get("sha256")


@dataclass(frozen=True, slots=True)
class LockedPackage:
    """One ``[[packages]]`` entry."""

    name: str
    version: str  #: "" when the entry has none (PEP 751 allows it for vcs and directories)
    marker: str | None = None
    wheels: tuple[LockedFile, ...] = ()
    sdist: LockedFile | None = None
    required_by: tuple[str, ...] = ()  #: requester names and package names, sorted
    build_requires: tuple[str, ...] = ()  #: an sdist-only package's ``build-system.requires``
    #: other keys, written back as read (requires-python, dependencies, index, vcs, …)
    extra: Mapping[str, Any] = field(default_factory=dict)
    tool: Mapping[str, Any] = field(default_factory=dict)  #: other tools' ``tool`` entries

    @property
    def key(self) -> str:
        return canonicalize_name(self.name)

    def applies(self, environment: Mapping[str, str] | None = None) -> bool:
        """Whether its marker holds for ``environment`` (this interpreter when None)."""
        if not self.marker:
            return True
        try:
            return Marker(self.marker).evaluate(dict(environment) if environment else None)
        except (InvalidMarker, UndefinedEnvironmentName):
            return True  # let the installer decide; never drop a package silently


@dataclass(frozen=True, slots=True)
class Requester:
    """Who asked for packages: a plugin (its declaration) or the operator (requirements.in)."""

    name: str
    declared_in: str
    requirements: tuple[str, ...]
    location: str | None = None  #: relative to the lock's directory when on this node
    #: why it is in the set: pinned, trigger, added, all-plugins or operator (None: an older lock)
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class PyLock:
    """A parsed pylock.toml."""

    packages: tuple[LockedPackage, ...]
    requesters: tuple[Requester, ...] = ()
    constraints: tuple[str, ...] = ()
    inputs_sha256: str = ""
    python: str = ""
    implementation: str = ""
    platform: str = ""
    requires_python: str | None = None
    #: resolved from every plugin under the plugin dir (``deps lock --all-plugins``), kept
    all_plugins: bool = False
    lock_version: str = "1.0"
    resolved_by: str = ""  #: the tool that resolved the packages (uv's ``created-by``)
    #: other top-level keys (environments, extras, dependency-groups, default-groups, …)
    extra: Mapping[str, Any] = field(default_factory=dict)
    tool: Mapping[str, Any] = field(default_factory=dict)  #: other tools' ``tool`` entries
    #: hashed pins (``name==version --hash=…``) of the build backends of its sdist-only packages
    build_constraints: tuple[str, ...] = ()
    #: packages an older lock marked ``provided-by = "runtime"`` (held at the server's own
    #: versions when it was resolved); read only, never written
    runtime_pinned: tuple[str, ...] = ()

    def by_name(self) -> dict[str, LockedPackage]:
        return {package.key: package for package in self.packages}

    def installable(self, environment: Mapping[str, str] | None = None) -> list[LockedPackage]:
        """What the venv must hold: the packages whose marker holds for this interpreter."""
        return [p for p in self.packages if p.applies(environment)]


# -- reading ----------------------------------------------------------------------------------


def _table(raw: Any, *, where: str) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise LockfileError(f"{where}: expected a table, got {type(raw).__name__}")
    return raw


def _file(raw: Any, *, where: str) -> LockedFile:
    raw = _table(raw, where=where)
    hashes = raw.get("hashes")
    if not isinstance(hashes, dict) or not hashes:
        raise LockfileError(f"{where}: no hashes", hint="re-create it with `pluginmgr deps lock`")
    url, path = raw.get("url"), raw.get("path")
    named = isinstance(raw.get("name"), str) and bool(raw["name"])
    name = raw["name"] if named else unquote(str(url or path or "").split("#")[0].split("/")[-1])
    if not name:
        raise LockfileError(f"{where}: neither a name nor a url or path")
    size = raw.get("size")
    if size is not None and (not isinstance(size, int) or isinstance(size, bool) or size < 0):
        raise LockfileError(f"{where}: size {size!r} is not a number of bytes")
    return LockedFile(
        name=str(name).rsplit("/", 1)[-1],  # never a path, whatever the file says
        hashes={str(k): str(v) for k, v in hashes.items()},
        url=str(url) if url else None,
        path=str(path) if path else None,
        size=size,
        extra={k: v for k, v in raw.items() if k not in _FILE_KEYS},
        named=named,
    )


def _split_tool(raw: Any, *, where: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """(our ``tool.pluginmgr`` table, every other tool entry)."""
    tool = _table(raw or {}, where=where)
    ours = _table(tool.get(TOOL) or {}, where=f"{where}.{TOOL}")
    return ours, {k: v for k, v in tool.items() if k != TOOL}


def _package(raw: Any, index: int, *, source: str) -> LockedPackage:
    where = f"{source}: packages[{index}]"
    if not isinstance(raw, dict) or not isinstance(raw.get("name"), str):
        raise LockfileError(f"{where}: expected a table with a name")
    version = raw.get("version", "")
    if not isinstance(version, str):
        raise LockfileError(f"{where} ({raw['name']}): version is not a string")
    wheels = tuple(
        _file(w, where=f"{where}.wheels[{i}]") for i, w in enumerate(raw.get("wheels") or ())
    )
    sdist = _file(raw["sdist"], where=f"{where}.sdist") if raw.get("sdist") else None
    ours, others = _split_tool(raw.get("tool"), where=f"{where}.tool")
    marker = raw.get("marker")
    return LockedPackage(
        name=raw["name"],
        version=version,
        marker=marker if isinstance(marker, str) else None,
        wheels=wheels,
        sdist=sdist,
        required_by=tuple(ours.get("required-by") or ()),
        build_requires=tuple(ours.get("build-requires") or ()),
        extra={k: v for k, v in raw.items() if k not in _PACKAGE_KEYS},
        tool=others,
    )


def _requester(raw: Any, *, where: str) -> Requester:
    raw = _table(raw, where=where)
    return Requester(
        name=str(raw.get("name", "")),
        declared_in=str(raw.get("declared-in", "")),
        requirements=tuple(raw.get("requirements") or ()),
        location=raw.get("location"),
        reason=raw.get("reason"),
    )


def parse_pylock(text: str, *, source: str = PYLOCK_NAME) -> PyLock:
    """Parse pylock.toml text (uv's, pip's or ours); `LockfileError` naming ``source``."""
    return lock_from_data(lock_tables(text, source=source), source=source)


def lock_tables(text: str, *, source: str = PYLOCK_NAME) -> dict[str, Any]:
    """pylock.toml text as TOML tables; `LockfileError` naming ``source`` if it is not TOML."""
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        message = f"{source} is not valid TOML: {exc}"
        raise LockfileError(message, hint="re-create it with `pluginmgr deps lock`") from None


def lock_from_data(data: Mapping[str, Any], *, source: str = PYLOCK_NAME) -> PyLock:
    """The lock from its parsed TOML tables (`parse_pylock` without the TOML parsing)."""
    version = str(data.get("lock-version", ""))
    if not version.startswith("1."):
        message = f"{source}: unsupported lock-version {version or '(none)'!r}; expected 1.x"
        raise LockfileError(message, hint="re-create it with `pluginmgr deps lock`")
    ours, others = _split_tool(data.get("tool"), where=f"{source}: tool")
    if int(ours.get("format-version", FORMAT_VERSION)) > FORMAT_VERSION:
        message = f"{source} was written by a newer pluginmgr"
        raise LockfileError(message, hint="upgrade pluginmgr to read it")
    raw_packages = data.get("packages") or ()
    packages = tuple(_package(raw, i, source=source) for i, raw in enumerate(raw_packages))
    runtime_pinned = tuple(
        package.name
        for package, raw in zip(packages, raw_packages, strict=True)
        if _provided_by(raw) == _RUNTIME
    )
    requesters = tuple(
        _requester(raw, where=f"{source}: tool.pluginmgr.requesters[{i}]")
        for i, raw in enumerate(ours.get("requesters") or ())
    )
    created_by = str(data.get("created-by", ""))
    resolved_by = ours.get("resolved-by") or (created_by if created_by != CREATED_BY else "")
    return PyLock(
        packages=packages,
        requesters=requesters,
        constraints=tuple(ours.get("constraints") or ()),
        build_constraints=tuple(ours.get("build-constraints") or ()),
        inputs_sha256=str(ours.get("inputs-sha256", "")),
        python=str(ours.get("python", "")),
        implementation=str(ours.get("implementation", "")),
        platform=str(ours.get("platform", "")),
        requires_python=data.get("requires-python"),
        all_plugins=ours.get("all-plugins") is True,
        lock_version=version,
        resolved_by=str(resolved_by),
        extra={k: v for k, v in data.items() if k not in _TOP_KEYS},
        tool=others,
        runtime_pinned=runtime_pinned,
    )


def _provided_by(raw: Mapping[str, Any]) -> object:
    """An older lock's ``tool.pluginmgr.provided-by`` of a package (None when absent)."""
    tool = raw.get("tool")
    ours = tool.get(TOOL) if isinstance(tool, dict) else None
    return ours.get("provided-by") if isinstance(ours, dict) else None


def read_pylock(path: Path) -> PyLock | None:
    """The lock at ``path``; None when there is none."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise LockfileError(f"cannot read {path}: {exc.strerror or exc}") from None
    return parse_pylock(text, source=str(path))
