"""What ``serve`` does to the plugin environment before it starts the engine: record the
catalog's triggers' plugins in ``plugins.in``, create the venv if missing, sync it (and each
isolated trigger's) to the committed locks, and name a venv whose interpreter is gone."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from ..errors import PluginManagerError
from ._serve_options import ServeOptions

if TYPE_CHECKING:
    from ..deps.installers import InstallOptions
    from ..deps.venv import PluginEnv
    from ..fetch.manager import PluginManager

__all__ = ["plugin_env", "record_trigger_plugins"]


def record_trigger_plugins(manager: PluginManager, node_root: Path | None) -> None:
    """`record_catalog_plugins` (the upgrade from taking every file); a failure is a warning."""
    from ..deps.plugins_in import PLUGINS_IN_NAME, record_catalog_plugins

    plugin_dir = manager.settings.plugin_dir
    if plugin_dir is None or node_root is None:
        return
    try:
        added = record_catalog_plugins(plugin_dir, node_root / "catalog.json")
    except PluginManagerError as exc:
        click.echo(f"warning: the triggers' plugins were not recorded: {exc}", err=True)
        return
    if added:
        where = plugin_dir / PLUGINS_IN_NAME
        click.echo(f"recorded in {where}, as used by triggers: {', '.join(added)}", err=True)


def plugin_env(
    manager: PluginManager, serving: ServeOptions, install: InstallOptions
) -> PluginEnv | None:
    """The plugin venv (created if missing), None without a plugin directory."""
    from ..deps.venv import PluginEnv, default_venv_path

    plugin_dir = manager.settings.plugin_dir
    if plugin_dir is None:
        return None
    env = PluginEnv(
        serving.venv_location or default_venv_path(plugin_dir),
        package_manager=serving.package_manager,
        log_dir=manager.settings.log_dir,
        python=serving.python,
    )
    check_dependency_lock(manager, env, plugin_dir, install)
    create_venv(env)
    warn_foreign_venv(env, plugin_dir, install)
    return env


def create_venv(env: PluginEnv) -> None:
    """A missing venv is made now, so the first install or plugin run does not wait for it.
    A stale one is left alone (`warn_foreign_venv` names it); a failure is only a warning."""
    if env.installer is None or env.state().status != "missing":
        return
    try:
        done = env.ensure()
    except (PluginManagerError, OSError) as exc:
        click.echo(f"warning: the plugin venv was not created: {exc}", err=True)
        return
    if done.created:
        click.echo(f"created the plugin venv {env.venv_path}", err=True)


def check_dependency_lock(
    manager: PluginManager, env: PluginEnv, plugin_dir: Path, sources: InstallOptions
) -> None:
    """A stale pylock.toml is reported, never used or re-resolved; a fresh one is synced (a
    no-op when the venv already matches). One stale only because Python was upgraded is
    re-resolved from the same declarations, with a warning. None of this stops the server."""
    from ..deps.dependency_set import DependencySet

    deps = DependencySet(manager, env, plugin_dir, sources=sources)
    try:
        status = deps.status()
        if status.state == "stale" and not status.interpreter_only:
            click.echo(f"warning: {deps.lock_path} is stale, the venv is left as it is:", err=True)
            for change in status.changes:
                click.echo(f"  - {change}", err=True)
            click.echo("  run `pluginmgr deps lock` (then `deps sync`) to re-resolve", err=True)
        elif status.state != "missing" and env.installer is not None:
            result = deps.sync()  # a Python upgrade re-resolves the same declarations first
            if result.relocked:
                click.echo(f"warning: {result.relocked}: re-resolved {deps.lock_path}", err=True)
            if result.ran_installer:
                click.echo(f"synced {env.venv_path} to {deps.lock_path}", err=True)
    except PluginManagerError as exc:
        click.echo(f"warning: the plugin venv was not checked against pylock.toml: {exc}", err=True)
    from ..deps.isolated import sync_isolated_envs

    if env.installer is not None:
        for line in sync_isolated_envs(manager, env, plugin_dir, sources=sources):
            click.echo(line, err=True)


def warn_foreign_venv(env: PluginEnv, plugin_dir: Path, sources: InstallOptions) -> None:
    """A venv whose interpreter is gone is named as such at start, rather than surfacing later
    as every trigger's failed host start."""
    from ..deps.venv_repair import venv_problem, venv_rebuild_command

    problem = venv_problem(env.venv_path)
    if problem is not None:
        command = venv_rebuild_command(env.venv_path, plugin_dir, sources=sources)
        click.echo(f"warning: {problem}; rebuild it with `{command}`", err=True)
