"""The operator's lifecycle of pinned plugins: ``lock [--upgrade [--dry-run]]``, ``outdated``,
``rollback``, ``remove``, ``gc`` (and ``why``, the short form of ``deps why``).

Every command that moves pins is all or nothing: the plan is computed first (every reference
fetched and verified), shown, then plugins.lock is written once; if the plugins' declared
requirements moved and the node keeps a pylock.toml, the dependency set is re-resolved and
synced in the same step, and any failure puts plugins.lock back as it was.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Final

import click
from rich.console import Console

from ..atomic import restored_on_error
from ..deps.pylock import PYLOCK_NAME
from ..node.inventory import plugin_rows
from ..node.pin_plan import UpgradePlan, apply_plan, plan_removal, plan_rollback, plan_upgrade
from ._common import emit_json, err_console, manager_from, pass_options, settings_options
from ._deps_common import dependency_set, env_options, progress, render_apply
from ._fetch_output import ProgressBar, run_fetch, show_report
from ._triggers import TriggerQuery, trigger_options
from .plan_view import plan_json, print_plan, summary

if TYPE_CHECKING:
    from ..fetch.manager import PluginManager

__all__ = ["gc", "lock", "outdated", "remove", "rollback"]

#: `lock --upgrade --dry-run` and `outdated`: like `terraform plan -detailed-exitcode`
EXIT_CHANGES: Final = 2


def _stdout() -> Console:
    # made per command: the width follows the terminal (or COLUMNS) of this run
    return Console(highlight=False)


def _planned(manager: PluginManager, refs: Sequence[str], *, dry_run: bool) -> UpgradePlan:
    if not err_console().is_terminal:
        return plan_upgrade(manager, refs, dry_run=dry_run)
    bar = ProgressBar(len(refs) or len(manager.locked_refs()))
    with bar.shown():
        return plan_upgrade(manager, refs, dry_run=dry_run, progress=bar.bytes, on_done=bar.done)


def _apply(
    manager: PluginManager,
    plan: UpgradePlan,
    options: dict[str, Any],
    output: str,
    *,
    forget: Sequence[str] = (),
) -> dict[str, Any]:
    """Write the plan (and drop ``forget``, local plugins, from plugins.in); re-resolve and
    sync the dependency set when declarations moved. Returns what the dependency step did,
    for the JSON envelope."""
    from ..deps.plugins_in import PLUGINS_IN_NAME, forget_plugins
    from ..deps.pylock import read_pylock

    plugin_dir = manager.settings.plugin_dir
    pylock = plugin_dir / PYLOCK_NAME if plugin_dir is not None else None
    recorded = [manager.settings.lock_path]
    if plugin_dir is not None:
        recorded.append(plugin_dir / PLUGINS_IN_NAME)
    with restored_on_error(*recorded):
        apply_plan(manager, plan)
        dropped = forget_plugins(plugin_dir, forget) if plugin_dir and forget else []
        locked = read_pylock(pylock) if pylock is not None else None
        left = locked is not None and bool({r.name for r in locked.requesters} & set(dropped))
        if not plan.declarations_changed and not left:
            return {"dependencies": "unchanged"}
        if pylock is None or not pylock.is_file():
            click.echo(
                "note: declared requirements changed; `pluginmgr deps lock` resolves them into "
                "pylock.toml and `pluginmgr deps sync` installs them",
                err=True,
            )
            return {"dependencies": "not locked"}
        ds = dependency_set(manager, options)
        with progress("re-resolving the plugins' requirements…"):
            lock_plan, result = ds.apply()
    if output != "json":
        render_apply(ds, lock_plan, result, "pretty", {})
    changes = [{"name": c.name, "old": c.old, "new": c.new} for c in lock_plan.changes]
    return {"dependencies": "re-resolved", "pylock": str(ds.lock_path), "package_changes": changes}


def _show(plan: UpgradePlan, output: str) -> None:
    # like `terraform plan`: the rows that change (or fail); unchanged ones are only counted
    if output != "json":
        print_plan(_stdout(), plan, only_changes=True)


def _finish(plan: UpgradePlan, output: str, extra: dict[str, Any], *, note: str = "") -> None:
    if output == "json":
        emit_json({**plan_json(plan), **extra})
    else:
        _stdout().print(summary(plan) + note, markup=False)
    if plan.failed:
        raise click.exceptions.Exit(1)


@click.command()
@click.argument("refs", nargs=-1)
@click.option(
    "--upgrade",
    is_flag=True,
    help="Fetch the pinned references again, show the plan, apply it whole (or not at all).",
)
@click.option(
    "--dry-run",
    is_flag=True,
    help="With --upgrade: show the plan, write nothing anywhere; exit 2 if anything would change.",
)
@env_options
@settings_options
@pass_options
def lock(options: dict[str, Any]) -> None:
    """Pin REFS (default: every pinned reference) and make sure their content is in the store.

    With --upgrade, pinned references are fetched again and the plan (reference, old -> new
    sha256 and version, size change, declared-requirement changes) is printed, then applied in
    one write of plugins.lock; if any reference fails, nothing changes.
    """
    refs, upgrade, dry_run = options.pop("refs"), options.pop("upgrade"), options.pop("dry_run")
    output = options.pop("output")
    if dry_run and not upgrade:
        raise click.UsageError("--dry-run shows an upgrade plan: add --upgrade")
    with manager_from(options) as manager:
        targets = list(refs) or manager.locked_refs()
        if not targets:
            err_console().print(f"nothing to lock: {manager.settings.lock_path} pins nothing yet")
            return
        if not upgrade:
            show_report(run_fetch(manager, targets, refresh=False), output)
            return
        plan = _planned(manager, targets, dry_run=dry_run)
        lock_path = manager.settings.lock_path
        _show(plan, output)
        if plan.failed:
            note = f"; nothing changed: {lock_path} is as it was"
            _finish(plan, output, {"written": False}, note=note)
        if dry_run:
            _finish(plan, output, {"written": False}, note=" (dry run: nothing written)")
            if plan.changed or plan.declarations_changed:
                raise click.exceptions.Exit(EXIT_CHANGES)
            return
        extra = _apply(manager, plan, options, output) if plan.changed else {}
    written = f"; wrote {lock_path}" if plan.changed else ""
    _finish(plan, output, {"written": bool(plan.changed), **extra}, note=written)


@click.command()
@click.argument("refs", nargs=-1)
@click.option(
    "--packages/--no-packages",
    default=True,
    show_default=True,
    help="Also resolve the packages with upgrades allowed (runs uv; needs pylock.toml).",
)
@env_options
@settings_options
@pass_options
def outdated(options: dict[str, Any]) -> None:
    """Which pinned plugins' sources now serve other content (newest matching version for
    registry plugins), and which locked packages have newer allowed versions.

    One conditional request per file; nothing is written to plugins.lock, pylock.toml or the
    store. Exit 0 whether or not something is outdated, 1 if a source could not be checked.
    """
    refs, packages, output = options.pop("refs"), options.pop("packages"), options.pop("output")
    with manager_from(options) as manager:
        plan = _planned(manager, list(refs), dry_run=True)
        package_result = _outdated_packages(manager, options) if packages else None
    failed = bool(plan.failed) or (package_result is not None and "error" in package_result)
    if output == "json":
        emit_json({**plan_json(plan), "packages": package_result})
    else:
        print_plan(_stdout(), plan, only_changes=True)
        if not plan.changed and not plan.failed:
            _stdout().print(f"every pinned plugin is up to date ({len(plan.changes)} checked)")
        _print_packages(package_result)
    if failed:
        raise click.exceptions.Exit(1)


def _outdated_packages(manager: PluginManager, options: dict[str, Any]) -> dict[str, Any] | None:
    """``deps lock --upgrade --dry-run`` in a scratch store; None without a pylock.toml."""
    from ..errors import PluginManagerError

    plugin_dir = manager.settings.plugin_dir
    if plugin_dir is None or not (plugin_dir / PYLOCK_NAME).is_file():
        return None
    with manager.dry_run() as dry:
        try:
            ds = dependency_set(dry, options)
            with progress("resolving the packages with upgrades allowed…"):
                resolved = ds.resolve(upgrade=True)
        except PluginManagerError as exc:
            return {"error": str(exc), "changes": []}
    return {"changes": [{"name": c.name, "old": c.old, "new": c.new} for c in resolved.changes]}


def _print_packages(result: dict[str, Any] | None) -> None:
    if result is None:
        return
    if "error" in result:
        _stdout().print(f"error: cannot check the packages: {result['error']}", markup=False)
        return
    if not result["changes"]:
        _stdout().print("every locked package is at the newest version its requirers allow")
        return
    _stdout().print("packages with newer allowed versions (`pluginmgr deps lock --upgrade`):")
    for change in result["changes"]:
        old, new = change["old"] or "(new)", change["new"] or "(dropped)"
        _stdout().print(f"  {change['name']} {old} -> {new}", markup=False)


@click.command()
@click.argument("ref")
@click.option("--to", "to", default=None, help="The sha256 prefix of the version to pin.")
@click.option("--previous", is_flag=True, help="The version before the pinned one (default).")
@env_options
@settings_options
@pass_options
def rollback(options: dict[str, Any]) -> None:
    """Pin REF to an earlier content the store still holds (see `pluginmgr versions REF`);
    the dependency set is re-resolved if its declarations differ. Works offline."""
    ref, to, previous, output = (options.pop(k) for k in ("ref", "to", "previous", "output"))
    if to is not None and previous:
        raise click.UsageError("--to and --previous exclude each other")
    with manager_from(options) as manager:
        plan = plan_rollback(manager, ref, to=to)
        _show(plan, output)
        extra = _apply(manager, plan, options, output)
        lock_path = manager.settings.lock_path
    _finish(plan, output, {"written": True, **extra}, note=f"; wrote {lock_path}")


@click.command()
@click.argument("refs", nargs=-1, required=True)
@click.option("--force", is_flag=True, help="Remove even what triggers use (they will fail).")
@trigger_options
@env_options
@settings_options
@pass_options
def remove(options: dict[str, Any]) -> None:
    """Unpin REFS (with the siblings and registry dependencies only they need), or drop local
    ones from PLUGIN_DIR/plugins.in; drop their requirements from the dependency set and sync
    the venv (orphaned packages leave it).

    Refused while a trigger uses one of them, unless --force; the triggers are read from
    -H URL or the data dir's catalog (--data-dir).
    """
    refs, force, output = options.pop("refs"), options.pop("force"), options.pop("output")
    query = TriggerQuery.from_options(options)
    with manager_from(options) as manager:
        pinned, local = _split_removal(manager, refs)
        plan = plan_removal(manager, pinned) if pinned else UpgradePlan((), dry_run=False)
        _refuse_used(manager, plan, query, force=force, local=local)
        _show(plan, output)
        extra = _apply(manager, plan, options, output, forget=local)
        lock_path = manager.settings.lock_path
    dropped = f"dropped from plugins.in: {', '.join(local)}" if local else ""
    if not pinned and output != "json":  # no pin moved: no plan to sum up
        _stdout().print(dropped, markup=False)
        return
    note = f"; wrote {lock_path}" + (f"; {dropped}" if dropped else "")
    _finish(plan, output, {"written": bool(pinned), "unrecorded": local, **extra}, note=note)


def _split_removal(manager: PluginManager, refs: Sequence[str]) -> tuple[list[str], list[str]]:
    """(references pinned in plugins.lock, local plugins plugins.in lists); a reference in
    neither is refused, naming both files."""
    from ..deps.plugins_in import PLUGINS_IN_NAME, local_plugin_name, read_plugins_in
    from ..errors import ResolveError

    lock = manager.read_lock()
    plugin_dir = manager.settings.plugin_dir
    recorded = read_plugins_in(plugin_dir) if plugin_dir is not None else {}
    pinned, local, unknown, unknown_local = [], [], [], False
    for ref in refs:
        name = local_plugin_name(plugin_dir, ref) if plugin_dir is not None else None
        if ref in lock:
            pinned.append(ref)
        elif name is not None and name in recorded:
            local.append(name)
        else:
            unknown.append(ref)
            unknown_local = unknown_local or name is not None
    if unknown:
        message = f"{', '.join(unknown)} is not pinned in {manager.settings.lock_path}"
        if unknown_local and plugin_dir is not None:
            message += f" nor listed in {plugin_dir / PLUGINS_IN_NAME}"
        raise ResolveError(message, ref=unknown[0], hint="`pluginmgr list` shows what is pinned")
    return pinned, local


def _refuse_used(
    manager: PluginManager,
    plan: UpgradePlan,
    query: TriggerQuery,
    *,
    force: bool,
    local: Sequence[str] = (),
) -> None:
    from ..deps.venv import default_venv_path
    from ..errors import ResolveError

    triggers = query.read()
    if triggers.rows is None:
        click.echo(f"warning: {triggers.describe()}: not checked", err=True)
        return
    plugin_dir = manager.settings.plugin_dir
    doomed = {c.ref for c in plan.changes} | set(local)
    if plugin_dir is None:  # no local plugins to match against: the references as written
        uses = {ref: [t.label for t in triggers.rows if t.plugin == ref] for ref in doomed}
    else:
        rows = plugin_rows(manager, default_venv_path(plugin_dir), triggers)
        uses = {row.ref: [t.label for t in row.triggers or ()] for row in rows}
    users = [f"{ref} by {', '.join(uses[ref])}" for ref in sorted(doomed) if uses.get(ref)]
    if users and not force:
        message = f"still used: {'; '.join(users)}"
        hint = "delete those triggers first (`pluginmgr delete trigger`), or pass --force"
        raise ResolveError(message, hint=hint)
    for user in users:
        click.echo(f"warning: removing what triggers use (--force): {user}", err=True)


@click.command()
@click.option(
    "--keep",
    type=click.IntRange(min=0),
    default=3,
    show_default=True,
    help="Newest versions of each reference to keep besides the pinned one (rollback targets).",
)
@click.option(
    "--grace",
    type=click.FloatRange(min=0),
    default=300.0,
    show_default=True,
    help="Seconds: blobs stored or re-used this recently are kept (a fetch may be pinning them).",
)
@click.option("--dry-run", is_flag=True, help="Say what would be deleted; delete nothing.")
@click.option("--format", "output", type=click.Choice(["pretty", "json"]), default="pretty")
@settings_options
@pass_options
def gc(options: dict[str, Any]) -> None:
    """Delete store content that plugins.lock does not pin and that is not among the --keep
    newest versions of any reference (history entries of deleted content go too)."""
    from ..node.gc import collect

    keep, grace = options.pop("keep"), options.pop("grace")
    dry_run, output = options.pop("dry_run"), options.pop("output")
    with manager_from(options) as manager:
        report = collect(manager, keep=keep, grace=grace, dry_run=dry_run)
    if output == "json":
        emit_json(
            {
                "dry_run": dry_run,
                "deleted_blobs": list(report.collected.blobs),
                "deleted_bytes": report.collected.bytes,
                "deleted_trees": report.collected.trees,
                "quarantine_cleared": report.collected.quarantined,
                "kept_contents": report.kept,
                "forgotten_versions": report.forgotten,
            }
        )
        return
    verb = "would delete" if dry_run else "deleted"
    found = report.collected
    _stdout().print(
        f"{verb} {len(found.blobs)} blobs ({found.bytes:,} bytes), {found.trees} trees and "
        f"{found.quarantined} quarantined files; kept {report.kept} contents "
        f"(pinned, or among the {keep} newest versions of a reference)"
    )
    if report.forgotten:
        _stdout().print(f"{'would forget' if dry_run else 'forgot'} {report.forgotten} versions")
