"""``update trigger``: change a trigger's plugin, arguments, enabled state or error behaviour in
place, as InfluxDB 3.11's ``influxdb3 update trigger`` does, keeping its name, spec and history.

A new plugin reference is checked as `create_trigger` checks one (resolved and pinned, its entry
point for the trigger's type, the ``database_version`` gate, its requirements locked and
installed) before the catalog changes; any failure leaves plugins.lock, plugins.in and the
catalog as they were. The engine then restarts the trigger (`ProcessingEngine.update_trigger`),
so its next event runs the new definition and the plugin as it is now on disk.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from engine_runtime import TriggerSettings, check_trigger_plugin

from ..atomic import restored_on_error
from .plugin_policy import check_database_version
from .plugin_source import plugin_code
from .triggers import _shared_deps

if TYPE_CHECKING:
    from engine_runtime import ProcessingEngine, TriggerDefinition

    from ..deps.installers import InstallOptions
    from ..deps.venv import PluginEnv
    from ..fetch.manager import PluginManager

__all__ = ["TriggerChange", "UpdatedTrigger", "update_trigger"]


@dataclass(frozen=True, slots=True)
class TriggerChange:
    """What to change; None keeps the current value. ``arguments`` replace the trigger's
    when ``replace_arguments`` (None then clears them)."""

    plugin_filename: str | None = None
    arguments: Mapping[str, str] | None = None
    replace_arguments: bool = False
    disabled: bool | None = None
    error_behavior: str | None = None

    @property
    def empty(self) -> bool:
        """Nothing to change (a restart alone, e.g. after the plugin's file was replaced)."""
        return (
            self.plugin_filename is None
            and not self.replace_arguments
            and self.disabled is None
            and self.error_behavior is None
        )


@dataclass(frozen=True, slots=True)
class UpdatedTrigger:
    """The stored trigger after the change, and warnings about its (new) plugin."""

    definition: TriggerDefinition
    warnings: tuple[str, ...] = ()


def update_trigger(
    engine: ProcessingEngine,
    manager: PluginManager,
    database: str,
    name: str,
    change: TriggerChange,
    *,
    env: PluginEnv | None = None,
    install_options: InstallOptions | None = None,
    ignore_database_version: bool = False,
    progress: Callable[[str], None] | None = None,
) -> UpdatedTrigger:
    """Check ``change`` against the trigger ``name`` of ``database``, apply it, restart it.

    :raises NotFoundError, DatabaseNotFoundError: no such trigger or database.
    :raises InvalidTriggerError: a bad error behaviour or an empty plugin reference.
    :raises MissingEntryPointError, DatabaseVersionError: the new plugin does not fit.
    """
    current = engine.catalog.get_trigger(database, name)
    if change.error_behavior is not None:
        TriggerSettings(error_behavior=change.error_behavior)  # type: ignore[arg-type]  # checks
    warnings: list[str] = []
    plugin_dir = manager.settings.plugin_dir
    recorded = [manager.settings.lock_path]
    if plugin_dir is not None:
        from ..deps.plugins_in import ISOLATED_ONLY_NAME, PLUGINS_IN_NAME

        recorded += [plugin_dir / PLUGINS_IN_NAME, plugin_dir / "envs" / ISOLATED_ONLY_NAME]
    new_ref = change.plugin_filename
    with contextlib.ExitStack() as stack:
        stack.enter_context(restored_on_error(*recorded))
        if new_ref is not None and new_ref != current.plugin_filename:
            warnings = _switch_plugin(
                engine, manager, current, new_ref, env, install_options, progress,
                ignore_database_version=ignore_database_version,
            )  # fmt: skip
        definition = engine.update_trigger(
            database,
            name,
            plugin_filename=new_ref,
            arguments=change.arguments,
            replace_arguments=change.replace_arguments,
            disabled=change.disabled,
            error_behavior=change.error_behavior,
        )
    return UpdatedTrigger(definition, tuple(warnings))


def _switch_plugin(
    engine: ProcessingEngine,
    manager: PluginManager,
    current: TriggerDefinition,
    ref: str,
    env: PluginEnv | None,
    install_options: InstallOptions | None,
    progress: Callable[[str], None] | None,
    *,
    ignore_database_version: bool,
) -> list[str]:
    """Fetch, pin and check ``ref`` for ``current``'s spec, record it as used, bring the
    trigger's environment up to what it declares; returns the check's warnings."""
    from ..deps.plugins_in import TRIGGER, record_isolated_only, record_plugins

    plugin = manager.fetch(ref)
    warnings = check_trigger_plugin(
        plugin_code(plugin), current.spec, plugin=ref, database=current.database
    )
    check_database_version(manager, plugin, ref=ref, ignore=ignore_database_version)
    plugin_dir = manager.settings.plugin_dir
    isolated = current.settings.isolated
    if plugin_dir is not None:
        uses = [
            (ref if t is current else t.plugin_filename, t.settings.isolated)
            for t in engine.catalog.triggers()
        ]
        record_isolated_only(plugin_dir, uses)
        if not isolated:
            record_plugins(plugin_dir, [ref], reason=TRIGGER)
    if env is not None and isolated and plugin_dir is not None:
        from ..deps.isolated import sync_isolated

        sync_isolated(
            manager, env, plugin_dir, current.trigger_name, ref, install_options, progress
        )
    elif env is not None:
        spec = str(current.spec)
        _shared_deps(
            manager, env, plugin, install_options, progress,
            (current.database, current.trigger_name, spec),
        )  # fmt: skip
    if env is not None:
        engine.hosts.recycle()  # the restarted trigger sees what was installed
    return warnings
