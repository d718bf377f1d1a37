"""``pluginmgr deps``: the plugin venv as one locked set (``<PLUGIN_DIR>/pylock.toml``).

::

    deps lock [--upgrade | --upgrade-package PKG] [--dry-run]   resolve the plugins in use
              [--all-plugins | --in-use]                        (or every plugin) together
    deps sync [--offline] [--find-links DIR] [--no-index]       make the venv exactly the lock
    deps lock|sync --trigger NAME                               an isolated trigger's own set
                                                                (PLUGIN_DIR/envs/NAME/)
    deps constrain SPEC... [--remove]                           operator constraints
    deps tree | deps why PKG                                    read from the lock, no resolver
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import click

from ..errors import InstallError
from ._common import WholeHelpGroup, emit_json, manager_from, pass_options, settings_options
from ._deps_common import (
    FORMATS,
    change_lines,
    dependency_set,
    env_options,
    lock_summary,
    plan_json,
    progress,
    render_apply,
    sync_json,
    sync_lines,
)

if TYPE_CHECKING:
    from ..deps.age import OldVersion
    from ..deps.dependency_set import DependencySet, LockPlan
    from ..fetch.manager import PluginManager

__all__ = ["deps"]

#: `deps lock --dry-run` when pylock.toml would change (as `lock --upgrade --dry-run`)
EXIT_CHANGES: Final = 2


#: an isolated trigger's own set instead of the shared one
_trigger_option: Final = click.option(
    "--trigger",
    "trigger",
    default=None,
    metavar="NAME",
    help="The isolated trigger NAME's own environment (PLUGIN_DIR/envs/NAME/) instead of the "
    "shared venv.",
)


@click.group(cls=WholeHelpGroup)
def deps() -> None:
    """Resolve the Python requirements of the plugins in use together, lock them, sync."""


@deps.command("lock")
@click.option(
    "--upgrade", is_flag=True, help="Let every package move to its newest allowed version."
)
@click.option(
    "--upgrade-package", "upgrade_packages", multiple=True, help="Let PKG move (repeatable)."
)
@click.option(
    "--dry-run",
    is_flag=True,
    help="Print the plan (old -> new); write nothing; exit 2 if pylock.toml would change.",
)
@click.option(
    "--all-plugins/--in-use",
    "all_plugins",
    default=None,
    help="Take every plugin under the plugin dir, or only those in use (triggers', pinned, "
    "added). The lock records the choice. [default: as the lock was made; new: --in-use]",
)
@_trigger_option
@env_options
@settings_options
@pass_options
def lock(options: dict[str, Any]) -> None:
    """Resolve the requirements of the plugins in use together, write PLUGIN_DIR/pylock.toml."""
    all_plugins = options.pop("all_plugins")
    upgrade, packages = options.pop("upgrade"), tuple(options.pop("upgrade_packages"))
    dry_run, output = options.pop("dry_run"), options.pop("output")
    if upgrade and packages:
        raise click.UsageError("--upgrade and --upgrade-package exclude each other")
    with manager_from(options) as manager:
        ds = dependency_set(manager, options)
        with progress("resolving the plugins' requirements…"):
            plan = ds.lock(
                upgrade=upgrade,
                upgrade_packages=packages,
                dry_run=dry_run,
                all_plugins=all_plugins,
            )
        with progress("comparing the locked versions with the index…"):
            old = _old_versions(ds, plan)
    from ..deps.pylock_writer import holds_pylock

    writes = not holds_pylock(ds.lock_path, plan.lock) if dry_run else plan.written
    if output == "json":
        warnings = [_old_json(o) for o in old]
        emit_json(
            {
                "lock": str(ds.lock_path),
                "dry_run": dry_run,
                **plan_json(plan),
                "warnings": warnings,
            }
        )
    else:
        for line in change_lines(plan):
            click.echo(line)
        click.echo(lock_summary(ds, plan, dry_run=dry_run, writes=writes))
        for item in old:
            click.echo(f"warning: {item.message()}", err=True)
    if dry_run and writes:
        raise click.exceptions.Exit(EXIT_CHANGES)  # as `lock --upgrade --dry-run`


def _old_versions(ds: DependencySet, plan: LockPlan) -> list[OldVersion]:
    """The locked packages far below the index's newest release (`pluginmgr.deps.age`)."""
    from ..deps.age import old_versions

    return old_versions(plan.lock, uv=ds.uv, python=ds.env.python, sources=ds.sources)


def _old_json(old: OldVersion) -> dict[str, Any]:
    return {
        "kind": "old-version",
        "name": old.name,
        "version": old.version,
        "newest": old.newest,
        "uploaded": old.uploaded.isoformat() if old.uploaded else None,
        "held_back_by": list(old.held_back_by),
        "free": old.free,
        "message": old.message(),
    }


@deps.command("sync")
@_trigger_option
@env_options
@settings_options
@pass_options
def sync(options: dict[str, Any]) -> None:
    """Make the plugin venv exactly pylock.toml (hash-checked; extraneous packages removed)."""
    output = options.pop("output")
    with manager_from(options) as manager:
        ds = dependency_set(manager, options)
        with progress("syncing the plugin venv…"):
            result = ds.sync()
        from ..deps.status import runtime_pinned_note

        lock = ds.read_lock()
        note = runtime_pinned_note(lock) if lock is not None else None
    if note and output != "json":
        click.echo(f"note: {note}", err=True)
    if output == "json":
        emit_json({"lock": str(ds.lock_path), "venv": str(ds.env.venv_path), **sync_json(result)})
        return
    for line in sync_lines(result):
        click.echo(line)


@deps.command("constrain")
@click.argument("specs", nargs=-1)
@click.option("--remove", is_flag=True, help="Drop the constraints on these package names.")
@env_options
@settings_options
@pass_options
def constrain(options: dict[str, Any]) -> None:
    """Keep SPECs (e.g. 'influxdata-plugin-utils<0.4') in PLUGIN_DIR/constraints.txt, re-lock,
    sync. Without SPECs: list the constraints."""
    specs, remove, output = list(options.pop("specs")), options.pop("remove"), options.pop("output")
    with manager_from(options) as manager:
        ds = dependency_set(manager, options)
        if not specs:
            from ..deps.inputs import read_spec_file

            current = list(read_spec_file(ds.constraints_path))
            if output == "json":
                emit_json({"constraints": current, "file": str(ds.constraints_path)})
            else:
                click.echo("\n".join(current) if current else "no constraints")
            return
        with progress("re-resolving with the new constraints…"):
            plan, result = ds.constrain(specs, remove=remove)
    render_apply(ds, plan, result, output, {"constraints_file": str(ds.constraints_path)})


@deps.command("tree")
@click.option("--format", "output", type=FORMATS, default="pretty", show_default=True)
@settings_options
@pass_options
def tree(options: dict[str, Any]) -> None:
    """Each plugin's packages and what they pull in, read from pylock.toml."""
    output = options.pop("output")
    with manager_from(options) as manager:
        ds = _reader(manager)
        from ..deps import explain as dep_explain

        rows = dep_explain.tree(ds.require_lock())
    if output == "json":
        emit_json(
            {
                "requesters": [
                    {
                        "name": requester.name,
                        "declared_in": requester.declared_in,
                        "reason": requester.reason,
                        "packages": [
                            {"depth": depth, "name": p.name, "version": p.version}
                            for depth, p in packages
                        ],
                    }
                    for requester, packages in rows
                ]
            }
        )
        return
    for requester, packages in rows:
        click.echo(dep_explain.label(requester))
        for depth, package in packages:
            click.echo(f"{'  ' * (depth + 1)}{package.name} {package.version}")


@deps.command("why")
@click.argument("package")
@click.option("--format", "output", type=FORMATS, default="pretty", show_default=True)
@settings_options
@pass_options
def why(options: dict[str, Any]) -> None:
    """Which plugins (their declarations, and why each is in the set) need PACKAGE, directly
    or through what."""
    name, output = options.pop("package"), options.pop("output")
    with manager_from(options) as manager:
        from ..deps import explain as dep_explain

        target, paths = dep_explain.why(_reader(manager).require_lock(), name)
    if output == "json":
        emit_json(
            {
                "name": target.name,
                "version": target.version,
                "needed_by": [
                    {
                        "requester": p.requester,
                        "declared_in": p.declared_in,
                        "reason": p.reason,
                        "requirement": p.requirement,
                        "chain": list(p.chain),
                    }
                    for p in paths
                ],
            }
        )
        return
    click.echo(f"{target.name} {target.version} is needed by:")
    for path in paths:
        through = f" -> {' -> '.join(path.chain[1:])}" if len(path.chain) > 1 else ""
        click.echo(f"  {dep_explain.label(path)}: {path.requirement}{through}")


def _reader(manager: PluginManager) -> DependencySet:
    """A set for reading the lock only (no venv options)."""
    from ..deps.dependency_set import DependencySet
    from ..deps.venv import PluginEnv, default_venv_path

    plugin_dir = manager.settings.plugin_dir
    if plugin_dir is None:
        raise InstallError("no plugin directory", hint="pass --plugin-dir DIR")
    return DependencySet(manager, PluginEnv(default_venv_path(Path(plugin_dir))), plugin_dir)
