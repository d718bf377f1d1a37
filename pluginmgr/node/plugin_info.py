"""What each plugin is and who uses it: the data behind ``pluginmgr show plugins``.

A plugin is described from its own metadata, wherever it came from: ``manifest.toml`` (name,
version, triggers, Python and plugin dependencies; beside a file plugin or inside a directory
plugin), the docstring JSON header (plugin types and each type's argument schema), and the
dependency declaration `plugin_requirements` picks. The triggers that use it come from the local
catalog. Bad or missing metadata is listed in `PluginInfo.problems`, never raised: one broken
plugin must not hide the others.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any, Final

from registry_index import (
    Manifest,
    PluginHeader,
    RegistryIndexError,
    read_manifest,
    read_plugin_header,
)

from ..deps.plugin_deps import plugin_requirements, plugin_sibling
from ..errors import PluginManagerError
from ..fetch.plugin_layout import entry_file
from ..fetch.refs import GhRef, GitRef, LocalRef, RegistryRef, parse_ref

if TYPE_CHECKING:
    from engine_runtime import TriggerDefinition

    from ..fetch.fetched import FetchedPlugin
    from ..fetch.manager import PluginManager

__all__ = ["PluginInfo", "TriggerUse", "describe_plugin", "plugin_inventory"]

_MANIFEST: Final = "manifest.toml"
#: plugin dir entries that are never plugins
_NOT_PLUGINS: Final = frozenset({"venv", "__pycache__", "plugins.lock"})


@dataclass(frozen=True, slots=True)
class TriggerUse:
    """A trigger that runs the plugin."""

    database: str
    trigger_name: str
    trigger_specification: str
    disabled: bool


@dataclass(frozen=True, slots=True)
class PluginInfo:
    """One plugin as a reference names it, with its metadata and the triggers that use it."""

    plugin: str  #: the reference, as triggers give it (``plugin_filename``)
    kind: str  #: local | gh | git | registry
    name: str
    version: str | None = None
    sha256: str | None = None
    triggers: tuple[str, ...] = ()  #: process_writes, process_scheduled_call, process_request
    python: tuple[str, ...] = ()
    plugins: tuple[str, ...] = ()  #: plugin dependencies as NAME + specifier
    #: argument schema per plugin type (``scheduled``, ``onwrite``, ``http``)
    arguments: dict[str, tuple[dict[str, Any], ...]] = field(default_factory=dict)
    used_by: tuple[TriggerUse, ...] = ()
    problems: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready view."""
        return {
            "plugin": self.plugin,
            "kind": self.kind,
            "name": self.name,
            "version": self.version,
            "sha256": self.sha256,
            "triggers": list(self.triggers),
            "python": list(self.python),
            "plugins": list(self.plugins),
            "arguments": {kind: list(args) for kind, args in self.arguments.items()},
            "used_by": [
                {
                    "database": use.database,
                    "trigger_name": use.trigger_name,
                    "trigger_specification": use.trigger_specification,
                    "disabled": use.disabled,
                }
                for use in self.used_by
            ],
            "problems": list(self.problems),
        }


def _kind(ref: str) -> str:
    try:
        parsed = parse_ref(ref)
    except PluginManagerError:
        return "invalid"
    kinds = ((GhRef, "gh"), (GitRef, "git"), (RegistryRef, "registry"), (LocalRef, "local"))
    return next((name for cls, name in kinds if isinstance(parsed, cls)), "local")


def _arguments(header: PluginHeader | None) -> dict[str, tuple[dict[str, Any], ...]]:
    if header is None:
        return {}
    return {
        plugin_type: tuple(
            {
                "name": arg.name,
                "required": arg.required,
                "description": arg.description,
                "example": arg.example,
            }
            for arg in header.args_for(plugin_type)
        )
        for plugin_type in header.plugin_types
    }


def _plugin_file(plugin: FetchedPlugin, problems: list[str]) -> Path | None:
    """The file holding a plugin's code (and docstring header)."""
    if plugin.path.is_file():
        return plugin.path
    try:
        return entry_file(plugin.path)
    except PluginManagerError as exc:
        problems.append(str(exc))
        return None


def _manifest(
    manager: PluginManager, plugin: FetchedPlugin, problems: list[str]
) -> Manifest | None:
    try:
        data = plugin_sibling(manager, plugin, _MANIFEST)
        if data is None:
            return None
        return read_manifest(data.decode("utf-8", errors="replace"), path=_MANIFEST)
    except (PluginManagerError, RegistryIndexError, OSError) as exc:
        problems.append(f"{_MANIFEST}: {exc}")
        return None


def describe_plugin(manager: PluginManager, ref: str) -> PluginInfo:
    """Describe the plugin ``ref`` names (fetched or pinned through ``manager`` as triggers are)."""
    kind = _kind(ref)
    fallback = PurePosixPath(ref.rpartition("path=")[2] or ref.partition(":")[2] or ref).stem
    problems: list[str] = []
    try:
        plugin = manager.fetch(ref)
    except PluginManagerError as exc:
        return PluginInfo(ref, kind, fallback, problems=(str(exc),))
    manifest = _manifest(manager, plugin, problems)
    header = None
    code = _plugin_file(plugin, problems)
    if code is not None:
        try:
            text = code.read_text(encoding="utf-8", errors="replace")
            header = read_plugin_header(text, path=code.name)
        except (RegistryIndexError, OSError) as exc:
            problems.append(f"{code.name}: {exc}")
    python: tuple[str, ...] = ()
    try:
        python = plugin_requirements(manager, plugin).requirements
    except PluginManagerError as exc:
        problems.append(f"dependencies: {exc}")
    triggers = manifest.triggers if manifest else (header.triggers if header else ())
    plugin_deps = manifest.dependencies.plugins if manifest else ()
    return PluginInfo(
        plugin=ref,
        kind=kind,
        name=manifest.name if manifest else fallback,
        version=manifest.version if manifest else plugin.rev if kind == "registry" else None,
        sha256=plugin.sha256,
        triggers=triggers,
        python=python,
        plugins=tuple(f"{dep.name}{dep.version}" for dep in plugin_deps),
        arguments=_arguments(header),
        problems=tuple(problems),
    )


def _plugin_dir_refs(plugin_dir: Path | None) -> list[str]:
    """Plugins sitting in the plugin dir: top-level ``*.py`` files and package directories."""
    if plugin_dir is None or not plugin_dir.is_dir():
        return []
    refs = []
    for entry in sorted(plugin_dir.iterdir()):
        if entry.name in _NOT_PLUGINS or entry.name.startswith("."):
            continue
        if entry.is_file() and entry.suffix == ".py":
            refs.append(entry.name)
        elif entry.is_dir() and (entry / "__init__.py").is_file():
            refs.append(entry.name)
    return refs


def plugin_inventory(
    manager: PluginManager, triggers: Iterable[TriggerDefinition]
) -> list[PluginInfo]:
    """Every plugin the triggers use or the plugin dir holds, described, with its triggers."""
    uses: dict[str, list[TriggerUse]] = {}
    for trigger in triggers:
        spec = str(trigger.spec)
        use = TriggerUse(trigger.database, trigger.trigger_name, spec, trigger.disabled)
        uses.setdefault(trigger.plugin_filename, []).append(use)
    refs = dict.fromkeys([*_plugin_dir_refs(manager.settings.plugin_dir), *sorted(uses)])
    infos = []
    for ref in refs:
        info = describe_plugin(manager, ref)
        used_by = sorted(uses.get(ref, ()), key=lambda u: (u.database, u.trigger_name))
        infos.append(replace(info, used_by=tuple(used_by)))
    return infos
