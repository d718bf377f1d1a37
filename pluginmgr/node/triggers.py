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
conflict changes nothing, names the plugins and offers ``--isolated``), and only then adds the
trigger to the engine. An isolated trigger's plugin is not recorded in plugins.in: its
requirements are resolved alone into ``<PLUGIN_DIR>/envs/<trigger>/`` (`pluginmgr.deps.isolated`),
and the start check reads that venv.

At run time a local plugin is re-checked before every call (hot reload, as upstream); a fetched
one (``gh:``, ``git+``) is the pinned content, loaded once: upgrade it with ``lock --upgrade``
and re-enable the trigger.
"""

from __future__ import annotations

import contextlib
import shlex
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from engine_runtime import LocalPluginSource, check_trigger_plugin

from ..atomic import restored_on_error
from ..errors import DependencyConflictError, InstallError
from ..fetch.refs import LocalRef, parse_ref
from .plugin_policy import check_database_version, refuse_outside_plugin_dir
from .plugin_source import FetchedPluginSource, plugin_code

if TYPE_CHECKING:
    from engine_runtime import (
        PluginSource,
        ProcessingEngine,
        SourceFactory,
        TriggerDefinition,
        TriggerSettings,
        TriggerSpec,
    )

    from ..deps.declared import DeclaredDeps
    from ..deps.installers import InstallOptions
    from ..deps.sync import SyncResult
    from ..deps.venv import PluginEnv
    from ..fetch.fetched import FetchedPlugin
    from ..fetch.manager import PluginManager

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
    dir_only: bool = False,
) -> SourceFactory:
    """The engine's ``source_for``: local references hot-reload, fetched ones are pinned.

    With ``env``, a plugin whose declared dependencies the venv does not satisfy is refused
    (the engine reports the trigger as failed, with the command that fixes it, which uses
    ``sources``) instead of failing on its first run with an ImportError. With ``dir_only``
    (``serve --plugin-dir-only``) a plugin from outside the plugin dir is refused, as upstream
    refuses to read one: its trigger is reported as failed.
    """
    plugin_dir = manager.settings.plugin_dir

    def source_for(definition: TriggerDefinition) -> PluginSource:
        name = definition.plugin_filename
        if dir_only:
            refuse_outside_plugin_dir(name)
        fetched = None
        if env is not None:
            fetched = manager.fetch(name)  # also what the first load runs: fetched once
            trigger_env, isolated = env, None
            if definition.settings.isolated and plugin_dir is not None:
                from ..deps.isolated import isolated_env

                isolated = definition.trigger_name
                trigger_env = isolated_env(plugin_dir, isolated, env)
            _check_dependencies(manager, trigger_env, name, fetched, sources, isolated=isolated)
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
    *,
    isolated: str | None = None,
) -> None:
    """Refuse a plugin whose declared requirements ``env`` (the shared venv, or the isolated
    trigger ``isolated``'s own) does not meet, with the command that installs them."""
    from ..deps.plugin_deps import plugin_requirements
    from ..deps.venv_repair import venv_problem, venv_rebuild_command

    declared = plugin_requirements(manager, plugin, pinned_only=True)
    missing = env.unsatisfied(list(declared.requirements))
    if not missing:
        return
    # a venv whose interpreter is gone: rebuild it rather than install into it
    problem = venv_problem(env.venv_path)
    if problem is not None:
        plugin_dir = manager.settings.plugin_dir or env.venv_path.parent
        command = venv_rebuild_command(env.venv_path, plugin_dir, sources=sources)
        message = f"{ref} needs {', '.join(missing)}, but {problem}"
        raise InstallError(message, hint=f"rebuild it with `{command}`")
    message = f"missing dependencies for {ref}: {', '.join(missing)}"
    if isolated is not None:
        node_dir = manager.settings.plugin_dir
        where = ["--plugin-dir", str(node_dir)] if node_dir else []
        command = shlex.join(["pluginmgr", "deps", "sync", "--trigger", isolated, *where])
        raise InstallError(message, hint=f"sync the trigger's own environment: `{command}`")
    raise InstallError(message, hint=f"run `pluginmgr install deps {ref}`")


def _record_use(
    engine: ProcessingEngine, plugin_dir: Path, plugin_filename: str, *, isolated: bool
) -> None:
    """Rewrite which plugins only isolated triggers use, with the new trigger counted, before
    any set is resolved (the shared set leaves those out)."""
    from ..deps.plugins_in import record_isolated_only

    uses = [(t.plugin_filename, t.settings.isolated) for t in engine.catalog.triggers()]
    record_isolated_only(plugin_dir, [*uses, (plugin_filename, isolated)])


def _shared_deps(
    manager: PluginManager,
    env: PluginEnv,
    plugin: FetchedPlugin,
    sources: InstallOptions | None,
    progress: Callable[[str], None] | None,
    trigger: tuple[str, str, str],
) -> SyncResult | None:
    """Bring the shared venv up to the plugin (`_lock_and_sync`); a conflict's hint offers the
    trigger an environment of its own. ``trigger``: (database, name, spec)."""
    from ..deps.plugin_deps import plugin_requirements

    declared = plugin_requirements(manager, plugin)
    plugin_dir = manager.settings.plugin_dir
    synced = None
    if declared.requirements and plugin_dir is not None:
        try:
            synced = _lock_and_sync(manager, env, plugin_dir, plugin, declared, sources, progress)
        except DependencyConflictError as exc:
            database, name, spec = trigger
            command = shlex.join(
                [
                    *("pluginmgr", "create", "trigger", name, "--isolated"),
                    *("--plugin-filename", plugin.ref, "--trigger-spec", spec),
                    *("--database", database),
                ]
            )
            exc.hint = f"give trigger {name} its own environment: `{command}`"
            raise
    elif declared.requirements:
        env.install(list(declared.requirements), options=sources)
    return synced


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
    from ..deps.dependency_set import DependencySet
    from ..deps.extend import records
    from ..deps.inputs import requester_name
    from ..deps.lock_cache import cached_lock
    from ..deps.pylock import PYLOCK_NAME
    from ..deps.sync import SyncPlan, SyncResult

    start = time.perf_counter()
    lock = cached_lock(plugin_dir / PYLOCK_NAME)
    name = requester_name(plugin, plugin_dir)
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
    ignore_database_version: bool = False,
) -> CreatedTrigger:
    """Check, pin (or record in plugins.in) the plugin, check its code, lock and sync what it
    declares into ``env`` (or, for an isolated trigger, into an environment of its own: see
    `pluginmgr.deps.isolated`), add the trigger. If any step fails, plugins.lock, plugins.in,
    ``envs/isolated-only.txt`` are as they were and no new environment is left.

    :param progress: told the resolver's and the installer's steps (`DependencySet`).

    :raises MissingEntryPointError: the plugin has no entry point for the trigger's type.
    :raises DatabaseVersionError: the plugin's manifest excludes this node's InfluxDB version
        (unless ``ignore_database_version``; `plugin_policy.check_database_version`).
    :raises DependencyConflictError: the plugin's requirements conflict with the shared set
        (its hint names ``--isolated``).
    """
    from ..deps.isolated import check_isolated_name, new_env_dir
    from ..deps.plugins_in import ISOLATED_ONLY_NAME, PLUGINS_IN_NAME, TRIGGER, record_plugins

    parsed = engine.check_trigger(database, name, plugin_filename, spec, arguments=arguments)
    plugin_dir = manager.settings.plugin_dir
    isolated = settings is not None and settings.isolated
    recorded = [manager.settings.lock_path]
    if plugin_dir is not None:
        recorded += [plugin_dir / PLUGINS_IN_NAME, plugin_dir / "envs" / ISOLATED_ONLY_NAME]
    with contextlib.ExitStack() as stack:
        if isolated:
            check_isolated_name(plugin_dir, engine.catalog.triggers(), database, name)
            assert plugin_dir is not None  # noqa: S101 - check_isolated_name refuses None
            stack.enter_context(new_env_dir(plugin_dir, name))  # removed if creation fails
        # a trigger that is refused (no entry point, a conflict, a duplicate) leaves no new pin
        stack.enter_context(restored_on_error(*recorded))
        plugin = manager.fetch(plugin_filename)  # resolves, verifies and pins; raises on a bad ref
        check_database_version(manager, plugin, ref=plugin_filename, ignore=ignore_database_version)
        warnings = check_trigger_plugin(
            plugin_code(plugin), parsed, plugin=plugin_filename, database=database
        )
        if plugin_dir is not None:
            _record_use(engine, plugin_dir, plugin_filename, isolated=isolated)
            if not isolated:
                record_plugins(plugin_dir, [plugin_filename], reason=TRIGGER)  # local ones only
        synced = None
        if env is not None and isolated and plugin_dir is not None:
            from ..deps.isolated import sync_isolated

            synced = sync_isolated(
                manager, env, plugin_dir, name, plugin_filename, install_options, progress
            )
        elif env is not None:
            synced = _shared_deps(
                manager, env, plugin, install_options, progress, (database, name, str(parsed))
            )
        if env is not None:
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
