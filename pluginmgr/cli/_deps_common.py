"""What the ``install`` and ``deps`` commands share: the venv and package-source options, the
dependency set a command's options name, and how a lock + sync is printed. Both command modules
import it; neither imports the other.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import click

from ..check import count
from ..deps.installers import PACKAGE_MANAGERS, InstallOptions
from ..deps.venv import PluginEnv, default_venv_path
from ..errors import InstallError
from ._common import emit_json, python_option

if TYPE_CHECKING:
    from ..deps.dependency_set import DependencySet, LockPlan
    from ..deps.sync import SyncResult
    from ..fetch.manager import PluginManager

__all__ = [
    "FORMATS",
    "change_lines",
    "dependency_set",
    "env_options",
    "install_options_from",
    "lock_summary",
    "plan_json",
    "plugin_env_from",
    "progress",
    "render_apply",
    "sync_json",
    "sync_lines",
    "venv_location_option",
]

#: ``--format``'s choices
FORMATS: Final = click.Choice(["pretty", "json"])

#: the plugin venv's location, for the commands that read or change it
venv_location_option: Final = click.option(
    "--virtual-env-location",
    type=click.Path(file_okay=False),
    default=None,
    help="The plugin venv. [default: PLUGIN_DIR/venv]",
)
_ENV_OPTIONS: Final = [
    venv_location_option,
    python_option,
    click.option(
        "--package-manager",
        type=click.Choice(PACKAGE_MANAGERS),
        default="uv",
        envvar="INFLUXDB3_PACKAGE_MANAGER",
        show_default=True,
        help="uv, pip (python -m pip), or disabled. [env: INFLUXDB3_PACKAGE_MANAGER]",
    ),
    click.option("--find-links", multiple=True, help="Directory or URL of wheels (repeatable)."),
    click.option(
        "--no-index", is_flag=True, help="Ignore the package index; use --find-links only."
    ),
    click.option("--index-url", default=None, help="Package index to use instead of PyPI."),
    click.option("--require-hashes", is_flag=True, help="Require a --hash for every requirement."),
    click.option(
        "--allow-build",
        is_flag=True,
        help="Let an sdist be built when no wheel fits (runs its build backend); "
        "by default only wheels are installed.",
    ),
    click.option("--format", "output", type=FORMATS, default="pretty", show_default=True),
]


def env_options(func: Any) -> Any:
    """The venv and package-source options of the install and deps commands."""
    for option in reversed(_ENV_OPTIONS):
        func = option(func)
    return func


def plugin_env_from(
    options: dict[str, Any], plugin_dir: str | None, *, log_dir: Path | None = None
) -> PluginEnv:
    """The plugin venv the command's options name (pops them); failed installs keep their
    output in ``log_dir`` (default: the cache dir's ``logs``)."""
    location = options.pop("virtual_env_location")
    if location is None and plugin_dir is None:
        message = "no plugin directory: pass --plugin-dir DIR, --virtual-env-location DIR or -H URL"
        raise InstallError(message, hint="the venv lives at PLUGIN_DIR/venv")
    venv = Path(location) if location else default_venv_path(Path(plugin_dir or "."))
    python = options.pop("python")
    env = PluginEnv(
        venv,
        python=Path(python) if python else None,
        package_manager=options.pop("package_manager"),
        log_dir=log_dir,
    )
    if python:
        env.interpreter  # noqa: B018 - a bad --python fails here, before any file is written
    return env


def install_options_from(options: dict[str, Any], *, offline: bool) -> InstallOptions:
    """Where packages come from, from the command's options (pops them)."""
    return InstallOptions(
        find_links=tuple(options.pop("find_links")),
        index_url=options.pop("index_url"),
        no_index=options.pop("no_index"),
        offline=offline,
        require_hashes=options.pop("require_hashes"),
        allow_build=options.pop("allow_build"),
    ).from_caller()  # relative paths are the caller's: uv runs in other directories


@contextlib.contextmanager
def progress(text: str) -> Iterator[None]:
    """A spinner on stderr while long work runs (only on a terminal)."""
    if not sys.stderr.isatty():
        yield
        return
    from rich.console import Console

    with Console(stderr=True).status(text):
        yield


def dependency_set(manager: PluginManager, options: dict[str, Any]) -> DependencySet:
    """The set of the command's plugin dir and venv, with its package sources."""
    from ..deps.dependency_set import DependencySet

    plugin_dir = manager.settings.plugin_dir
    if plugin_dir is None:
        message = "no plugin directory: pylock.toml lives at PLUGIN_DIR/pylock.toml"
        raise InstallError(message, hint="pass --plugin-dir DIR or set INFLUXDB3_PLUGIN_DIR")
    trigger = options.pop("trigger", None)
    if trigger is not None and options["virtual_env_location"]:
        message = "--trigger and --virtual-env-location exclude each other"
        raise InstallError(message, hint="an isolated trigger's venv is PLUGIN_DIR/envs/NAME/venv")
    env = plugin_env_from(options, str(plugin_dir), log_dir=manager.settings.log_dir)
    sources = install_options_from(options, offline=manager.settings.offline)
    if trigger is not None:
        from ..deps.isolated import isolated_set

        return isolated_set(manager, env, plugin_dir, trigger, sources=sources)
    return DependencySet(manager, env, plugin_dir, sources=sources)


def change_lines(plan: LockPlan) -> list[str]:
    lines = []
    for change in plan.changes:
        if change.old is None:
            lines.append(f"  + {change.name} {change.new}")
        elif change.new is None:
            lines.append(f"  - {change.name} {change.old}")
        else:
            lines.append(f"  ~ {change.name} {change.old} -> {change.new}")
    return lines


def plan_json(plan: LockPlan) -> dict[str, Any]:
    return {
        "written": plan.written,
        "changes": [{"name": c.name, "old": c.old, "new": c.new} for c in plan.changes],
        "packages": [
            {
                "name": p.name,
                "version": p.version,
                "required_by": list(p.required_by),
            }
            for p in plan.lock.packages
        ],
        "requesters": [
            {
                "name": r.name,
                "declared_in": r.declared_in,
                "reason": r.reason,
                "requirements": list(r.requirements),
            }
            for r in plan.lock.requesters
        ],
        "all_plugins": plan.lock.all_plugins,
    }


def sync_json(result: SyncResult) -> dict[str, Any]:
    return {
        "installed": {name: new for name, (_old, new) in sorted(result.plan.install.items())},
        "removed": sorted(result.plan.remove),
        "ran_installer": result.ran_installer,
        "seconds": round(result.seconds, 3),
        "relocked": result.relocked,
    }


def sync_lines(result: SyncResult) -> list[str]:
    lines = []
    if result.relocked:
        lines.append(
            f"note: {result.relocked}: re-resolved the same declarations for it and rewrote "
            "pylock.toml (commit it)"
        )
    for name, (old, new) in sorted(result.plan.install.items()):
        lines.append(f"installed: {name} {new}" + (f" (was {old})" if old else ""))
    lines += [f"removed: {name} {version}" for name, version in sorted(result.plan.remove.items())]
    if not result.ran_installer:
        lines.append("nothing to install: the venv already matches pylock.toml")
    return lines


def lock_summary(ds: DependencySet, plan: LockPlan, *, dry_run: bool, writes: bool) -> str:
    """One line on the lock; ``writes``: the file changed (or, on a dry run, would change)."""
    lock = plan.lock
    if dry_run:
        verb = "would write" if writes else "would keep"
    else:
        verb = "wrote" if writes else "kept"
    packages = count(len(lock.packages), "package")
    requesters = count(len(lock.requesters), "requester")
    if lock.all_plugins:
        requesters += " (every plugin under the plugin dir: --all-plugins)"
    note = "" if plan.changes else " (no version changes)" if writes else " (no change)"
    return f"{packages} for {requesters}; {verb} {ds.lock_path}{note}"


def render_apply(
    ds: DependencySet, plan: LockPlan, result: SyncResult, output: str, extra: dict[str, Any]
) -> None:
    """Print what a lock + sync did (install deps, install package, deps constrain)."""
    if output == "json":
        emit_json({"lock": str(ds.lock_path), **plan_json(plan), **sync_json(result), **extra})
        return
    if result.created_venv:
        click.echo(f"created {ds.env.venv_path} (Python {ds.env.python})", err=True)
    for line in sync_lines(result):
        click.echo(line)
    click.echo(lock_summary(ds, plan, dry_run=False, writes=plan.written), err=True)
