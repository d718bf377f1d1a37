"""Triggers as pluginmgr sees them: where their code comes from, and what creating one does.

Creating a trigger resolves its plugin reference and pins it in the lock file (a bad reference
fails here, before the catalog changes), installs the dependencies the plugin declares into the
plugin venv (nothing to do when they are satisfied), then adds the trigger to the engine.

At run time a local plugin is re-checked before every call (hot reload, as upstream); a fetched
one (``gh:``, ``git+``) is the pinned content, loaded once: upgrade it with ``lock --upgrade``
and re-enable the trigger.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from engine_runtime import LocalPluginSource, activate, parse_trigger_spec

from .errors import InstallError
from .plugin_source import FetchedPluginSource
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

    from .installers import InstallOptions
    from .manager import FetchedPlugin, PluginManager
    from .venv import InstallResult, PluginEnv

__all__ = ["create_trigger", "source_factory"]


def source_factory(manager: PluginManager, env: PluginEnv | None = None) -> SourceFactory:
    """The engine's ``source_for``: local references hot-reload, fetched ones are pinned.

    With ``env``, a plugin whose declared dependencies the venv does not satisfy is refused
    (the engine reports the trigger as failed, with the command that fixes it) instead of
    failing on its first run with an ImportError.
    """
    plugin_dir = manager.settings.plugin_dir

    def source_for(definition: TriggerDefinition) -> PluginSource:
        name = definition.plugin_filename
        fetched = None
        if env is not None:
            fetched = manager.fetch(name)  # also what the first load runs: fetched once
            _check_dependencies(manager, env, name, fetched)
        if isinstance(parse_ref(name), LocalRef) and plugin_dir is not None:
            return LocalPluginSource(plugin_dir, name)
        return FetchedPluginSource(manager, name, recheck=False, fetched=fetched)

    return source_for


def _check_dependencies(
    manager: PluginManager, env: PluginEnv, ref: str, plugin: FetchedPlugin
) -> None:
    from .plugin_deps import plugin_requirements

    declared = plugin_requirements(manager, plugin)
    missing = env.unsatisfied(list(declared.requirements))
    if missing:
        message = f"missing dependencies for {ref}: {', '.join(missing)}"
        raise InstallError(message, hint=f"run `pluginmgr install deps {ref}`")


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
) -> tuple[TriggerDefinition, InstallResult | None]:
    """Resolve and pin the plugin, install what it declares into ``env``, add the trigger.

    :returns: the trigger and the install result (None without ``env`` or declarations).
    """
    from .plugin_deps import plugin_requirements

    parsed = parse_trigger_spec(spec) if isinstance(spec, str) else spec
    plugin = manager.fetch(plugin_filename)  # resolves, verifies and pins; raises on a bad ref
    installed = None
    if env is not None:
        declared = plugin_requirements(manager, plugin)
        if declared.requirements:
            installed = env.install(list(declared.requirements), options=install_options)
        activate(env.site_packages)  # importable by the trigger's first run, no restart
    definition = engine.create_trigger(
        database,
        name,
        plugin_filename,
        parsed,
        settings=settings,
        arguments=arguments,
        disabled=disabled,
    )
    return definition, installed
