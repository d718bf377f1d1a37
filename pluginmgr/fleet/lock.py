"""The fleet's lock: every plugin fetched, pinned and verified, and their packages resolved
together, beside the fleet file, with pluginmgr's own machinery.

::

    plugins.lock   the fleet's plugin references pinned (`PluginManager`), as for one node
    plugins.in     the fleet's local plugins (paths beside the fleet file), as ``added``
    pylock.toml    their declared requirements resolved as one set (`DependencySet`) for the
                   nodes' Python (``python`` in the fleet file, else the bundled one)

The directory of the fleet file plays the plugin directory's part. Pinned references are
answered from the store without the network; a lock whose inputs did not change is used as it
is, and a resolution that fails (a conflict) raises before any node is asked anything. What is
applied to the nodes is this lock: the same bytes (`LockedPlugin.files`) and the same
``name==version`` packages everywhere.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

from ..deps.dependency_set import DependencySet
from ..deps.inputs import is_plugin_ref
from ..deps.installers import InstallOptions
from ..deps.plugins_in import (
    ADDED,
    forget_plugins,
    local_plugin_name,
    read_plugins_in,
    record_plugins,
)
from ..deps.venv import PluginEnv
from ..errors import FleetFileError
from ..fetch.hashes import sha256_hex
from ..fetch.manager import PluginManager
from ..fetch.refs import GhRef, GitRef, LocalRef, RegistryRef, parse_ref
from ..settings import Settings

if TYPE_CHECKING:
    from collections.abc import Mapping

    from ..fetch.fetched import FetchedPlugin
    from .spec import FleetFile

__all__ = ["FleetLock", "LockedPlugin", "build_lock", "fleet_settings"]

#: never created: the interpreter packages are resolved for is probed, no venv is made
_VENV_NAME = ".fleet-venv"


@dataclass(frozen=True, slots=True)
class LockedPlugin:
    """A plugin as the nodes get it: ``name`` under their plugin directory and its files
    (one for a single-file plugin, keyed by ``name``; ``name/relative`` for a directory), with
    the sha256 of each file's text as uploaded (UTF-8), hashed once here for every node."""

    ref: str
    name: str
    kind: str
    files: Mapping[str, str]
    file_sha256: Mapping[str, str]

    @property
    def is_directory(self) -> bool:
        return self.kind == "directory"


@dataclass(frozen=True, slots=True)
class FleetLock:
    """What every node gets: plugins by reference, and the locked packages."""

    plugins: Mapping[str, LockedPlugin]
    packages: tuple[str, ...]


def fleet_settings(fleet: FleetFile, *, offline: bool = False) -> Settings:
    """The fetch settings of the fleet: its directory as the plugin dir, the lock beside it."""
    return Settings.from_sources(
        os.environ,
        plugin_dir=str(fleet.directory),
        plugin_repo=fleet.plugin_repo,
        lock_file=str(fleet.directory / "plugins.lock"),
        offline=offline,
    )


def _node_name(fleet: FleetFile, ref: str, fetched: FetchedPlugin) -> str:
    """The plugin's path under each node's plugin directory."""
    parsed = parse_ref(ref)
    if isinstance(parsed, LocalRef):
        return local_plugin_name(fleet.directory, ref) or PurePosixPath(parsed.path).name
    if isinstance(parsed, GhRef | GitRef):
        return PurePosixPath(parsed.path.rstrip("/")).name
    assert isinstance(parsed, RegistryRef)  # noqa: S101 - parse_ref's union
    return parsed.name if fetched.kind == "directory" else f"{parsed.name}.py"


def _read_text(fleet: FleetFile, ref: str, path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        message = f"{fleet.path}: plugin {ref}: {path.name} is not UTF-8 text"
        hint = "InfluxDB 3's file API carries text only: keep binary files out of plugins"
        raise FleetFileError(message, hint=hint) from None


def _files(fleet: FleetFile, fetched: FetchedPlugin, name: str) -> dict[str, str]:
    if fetched.kind != "directory":
        return {name: _read_text(fleet, fetched.ref, fetched.path)}
    files = {}
    for path in sorted(fetched.path.rglob("*")):
        relative = path.relative_to(fetched.path)
        if path.is_file() and "__pycache__" not in relative.parts:
            files[f"{name}/{relative.as_posix()}"] = _read_text(fleet, fetched.ref, path)
    return files


def _locked_plugins(
    fleet: FleetFile, manager: PluginManager, *, upgrade: bool
) -> dict[str, LockedPlugin]:
    refs = list(dict.fromkeys(t.plugin for t in fleet.triggers))
    report = manager.fetch_many(refs, refresh=upgrade)
    if report.errors:
        _ref, error = report.errors[0]
        raise error
    plugins: dict[str, LockedPlugin] = {}
    owners: dict[str, str] = {}
    # the report holds one plugin per reference, in order; keyed by the file's own text
    for ref, fetched in zip(refs, report.plugins, strict=True):
        name = _node_name(fleet, ref, fetched)
        if owners.setdefault(name, ref) != ref:
            message = (
                f"{fleet.path}: plugins {owners[name]} and {ref} would both be {name} on the nodes"
            )
            hint = "use one of them, or copy one beside the fleet file under another name"
            raise FleetFileError(message, hint=hint)
        files = _files(fleet, fetched, name)
        hashes = {key: sha256_hex(text.encode()) for key, text in files.items()}
        plugins[ref] = LockedPlugin(ref, name, fetched.kind, files, hashes)
    return plugins


def _forget_others(fleet: FleetFile, manager: PluginManager, refs: set[str]) -> None:
    """Unpin what the fleet no longer uses, so its packages leave the set too."""
    stale = [
        ref
        for ref, entry in manager.read_lock().items()
        if is_plugin_ref(ref, entry.kind) and ref not in refs
    ]
    if stale:
        manager.write_pins([], removed=stale)
    names = {local_plugin_name(fleet.directory, ref) for ref in refs}
    gone = [name for name in read_plugins_in(fleet.directory) if name not in names]
    if gone:
        forget_plugins(fleet.directory, gone)


def build_lock(fleet: FleetFile, *, offline: bool = False, upgrade: bool = False) -> FleetLock:
    """Fetch and pin the fleet's plugins, lock their packages; see the module docstring.

    :param upgrade: fetch every remote plugin again and pin what its source serves now, and
        resolve the packages to the newest versions allowed (as ``lock --upgrade``).
    """
    sources = InstallOptions(
        find_links=tuple(str(fleet.directory / link) for link in fleet.find_links),
        index_url=fleet.index_url,
        no_index=fleet.no_index,
        offline=offline,
    )
    python = Path(fleet.python) if fleet.python else None
    with PluginManager(fleet_settings(fleet, offline=offline)) as manager:
        plugins = _locked_plugins(fleet, manager, upgrade=upgrade)
        local = [ref for ref in plugins if isinstance(parse_ref(ref), LocalRef)]
        record_plugins(fleet.directory, local, reason=ADDED)
        _forget_others(fleet, manager, set(plugins))
        env = PluginEnv(fleet.directory / _VENV_NAME, python=python)
        deps = DependencySet(manager, env, fleet.directory, sources=sources)
        lock = deps.read_lock()
        if upgrade or lock is None or deps.status(lock).state != "fresh":
            lock = deps.lock(upgrade=upgrade, sources=sources).lock
        packages = tuple(
            f"{p.name}=={p.version}" for p in lock.installable(env.markers) if p.version
        )
    return FleetLock(plugins, tuple(sorted(packages)))
