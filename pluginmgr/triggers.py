"""Triggers as pluginmgr sees them: where their code comes from, and what creating one does.

Creating a trigger first checks what the catalog would refuse (the database exists, the name
and request path are free, the spec parses), then resolves its plugin reference and pins it in
the lock file, then reads the plugin's source without running it (`check_trigger_plugin`): a
plugin without the entry point of the trigger's type is refused, and what will misbehave (a
``request:/x`` path, an ``all_tables`` trigger re-triggered by its own writes) is returned as
warnings. A local plugin is recorded in ``<PLUGIN_DIR>/plugins.in`` as used by a trigger, so
its requirements are in the set (a fetched one is, through its pin). Then, when the plugin
declares requirements the lock does not already record for it (or the venv does not meet), it
re-resolves the requirements of the plugins in use together into ``pylock.toml`` and syncs the
venv (`DependencySet.apply`, which skips the resolver when the lock already meets them; a
conflict changes nothing and names the plugins), and only then adds the trigger to the engine.

At run time a local plugin is re-checked before every call (hot reload, as upstream); a fetched
one (``gh:``, ``git+``) is the pinned content, loaded once: upgrade it with ``lock --upgrade``
and re-enable the trigger.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from engine_runtime import LocalPluginSource, check_trigger_plugin

from .atomic import restored_on_error
from .errors import InstallError
from .plugin_source import FetchedPluginSource, plugin_code
from .refs import LocalRef, parse_ref

if TYPE_CHECKING:
    from engine_runtime import (
        PluginSource,
        ProcessingEngine,
        SourceFactory,
        TriggerDefinition,
        TriggerSettings,
        TriggerSpec,
    )

    from .declared_deps import DeclaredDeps
    from .dep_sync import SyncResult
    from .fetched import FetchedPlugin
    from .installers import InstallOptions
    from .manager import PluginManager
    from .venv import PluginEnv

__all__ = ["CreatedTrigger", "create_trigger", "source_factory"]


@dataclass(frozen=True, slots=True)
class CreatedTrigger:
    """What `create_trigger` did: the stored trigger, the venv sync (None without ``env`` or
    declared requirements) and the warnings about how the trigger will behave."""

    definition: TriggerDefinition
    synced: SyncResult | None = None
    warnings: tuple[str, ...] = ()


def source_factory(
    manager: PluginManager,
    env: PluginEnv | None = None,
    *,
    sources: InstallOptions | None = None,
) -> SourceFactory:
    """The engine's ``source_for``: local references hot-reload, fetched ones are pinned.

    With ``env``, a plugin whose declared dependencies the venv does not satisfy is refused
    (the engine reports the trigger as failed, with the command that fixes it, which uses
    ``sources``) instead of failing on its first run with an ImportError.
    """
    plugin_dir = manager.settings.plugin_dir

    def source_for(definition: TriggerDefinition) -> PluginSource:
        name = definition.plugin_filename
        fetched = None
        if env is not None:
            fetched = manager.fetch(name)  # also what the first load runs: fetched once
            _check_dependencies(manager, env, name, fetched, sources)
        if isinstance(parse_ref(name), LocalRef) and plugin_dir is not None:
            return LocalPluginSource(plugin_dir, name)
        return FetchedPluginSource(manager, name, recheck=False, fetched=fetched)

    return source_for


def _check_dependencies(
    manager: PluginManager,
    env: PluginEnv,
    ref: str,
    plugin: FetchedPlugin,
    sources: InstallOptions | None,
) -> None:
    from .plugin_deps import plugin_requirements
    from .venv import venv_python_mismatch, venv_rebuild_command

    declared = plugin_requirements(manager, plugin, pinned_only=True)
    missing = env.unsatisfied(list(declared.requirements))
    if not missing:
        return
    # packages in a venv made for another Python are there, just invisible to this runtime
    problem = venv_python_mismatch(env.venv_path, sys.version_info[:2])
    if problem is not None:
        plugin_dir = manager.settings.plugin_dir or env.venv_path.parent
        command = venv_rebuild_command(env.venv_path, plugin_dir, sources=sources)
        message = f"{ref} needs {', '.join(missing)}, but {problem}"
        raise InstallError(message, hint=f"rebuild it with `{command}`")
    message = f"missing dependencies for {ref}: {', '.join(missing)}"
    raise InstallError(message, hint=f"run `pluginmgr install deps {ref}`")


def _requester_name(plugin: FetchedPlugin, plugin_dir: Path) -> str:
    """The plugin's name among the dependency set's requesters (`dep_inputs`): its path under
    the plugin dir for a local one, its reference for a pinned one."""
    if plugin.origin != "local" and plugin.kind != "directory":
        return plugin.ref
    try:
        return plugin.path.resolve().relative_to(plugin_dir.resolve()).as_posix()
    except ValueError:
        return plugin.ref


def _lock_and_sync(
    manager: PluginManager,
    env: PluginEnv,
    plugin_dir: Path,
    plugin: FetchedPlugin,
    declared: DeclaredDeps,
    sources: InstallOptions | None,
    progress: Callable[[str], None] | None = None,
) -> SyncResult:
    """Bring the set and the venv up to this plugin: nothing at all when the lock already
    records it with these requirements and the venv meets them (a trigger of a plugin in use
    adds nothing; the read lock and the installed set are cached, so this costs the same with
    200 triggers as with 2); otherwise `DependencySet.apply`, which resolves only when the
    plugin brings requirements the lock lacks."""
    from .dep_extend import records
    from .dep_sync import SyncPlan, SyncResult
    from .dependency_set import DependencySet
    from .lock_cache import cached_lock
    from .pylock import PYLOCK_NAME

    start = time.perf_counter()
    lock = cached_lock(plugin_dir / PYLOCK_NAME)
    name = _requester_name(plugin, plugin_dir)
    if (
        lock is not None
        and records(lock, name, declared.source, declared.requirements)
        and not env.unsatisfied(list(declared.requirements))
    ):
        return SyncResult(SyncPlan(), ran_installer=False, seconds=time.perf_counter() - start)
    deps = DependencySet(manager, env, plugin_dir, sources=sources, progress=progress)
    _plan, synced = deps.apply()
    return synced


def create_trigger(
    engine: ProcessingEngine,
    manager: PluginManager,
    database: str,
    name: str,
    plugin_filename: str,
    spec: TriggerSpec | str,
    *,
    settings: TriggerSettings | None = None,
    arguments: Mapping[str, str] | None = None,
    disabled: bool = False,
    env: PluginEnv | None = None,
    install_options: InstallOptions | None = None,
    progress: Callable[[str], None] | None = None,
) -> CreatedTrigger:
    """Check, pin (or record in plugins.in) the plugin, check its code, lock and sync what it
    declares into ``env``, add the trigger. If any step fails, plugins.lock and plugins.in
    are as they were.

    :param progress: told the resolver's and the installer's steps (`DependencySet`).

    :raises MissingEntryPointError: the plugin has no entry point for the trigger's type.
    """
    from .plugin_deps import plugin_requirements
    from .plugins_in import PLUGINS_IN_NAME, TRIGGER, record_plugins

    parsed = engine.check_trigger(database, name, plugin_filename, spec, arguments=arguments)
    plugin_dir = manager.settings.plugin_dir
    recorded = [manager.settings.lock_path]
    if plugin_dir is not None:
        recorded.append(plugin_dir / PLUGINS_IN_NAME)
    # a trigger that is refused (no entry point, a conflict, a duplicate) leaves no new pin
    with restored_on_error(*recorded):
        plugin = manager.fetch(plugin_filename)  # resolves, verifies and pins; raises on a bad ref
        warnings = check_trigger_plugin(
            plugin_code(plugin), parsed, plugin=plugin_filename, database=database
        )
        synced = None
        if plugin_dir is not None:
            record_plugins(plugin_dir, [plugin_filename], reason=TRIGGER)  # local ones only
        if env is not None:
            declared = plugin_requirements(manager, plugin)
            if declared.requirements and plugin_dir is not None:
                synced = _lock_and_sync(
                    manager, env, plugin_dir, plugin, declared, install_options, progress
                )
            elif declared.requirements:
                env.install(list(declared.requirements), options=install_options)
            engine.hosts.recycle()  # the trigger's first run sees what was installed
        definition = engine.create_trigger(
            database,
            name,
            plugin_filename,
            parsed,
            settings=settings,
            arguments=arguments,
            disabled=disabled,
        )
    return CreatedTrigger(definition, synced, tuple(warnings))
