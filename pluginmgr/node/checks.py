"""The checks behind ``pluginmgr doctor``: whether this node can run its triggers, and what to
run when it cannot.

Each check returns a `Check`: ``ok``, ``warn`` or ``fail``, what was found and, when something
is wrong, the command (or the step) that fixes it. No plugin is fetched and nothing is changed,
except that a corrupted blob is quarantined, as ``pluginmgr verify`` does. `run_checks` runs
them, in order (the repo, registry and git probes live in `pluginmgr.fetch.probes`)::

    plugin-dir        the plugin directory is set and exists
    store             every stored blob re-hashes, every pin has its content
    venv-python       the venv's interpreter exists and runs (plugins run on it, whatever
                      Python the server runs on)
    pylock            pylock.toml exists (else warn), matches the declarations, its graph holds
    venv-sync         the venv holds exactly what pylock.toml locks (drift: fail)
    imports:REF       each plugin in pylock.toml's set imports what it imports, on the venv's
                      interpreter alone (`pluginmgr.deps.imports`; a failure: fail)
    triggers          where the triggers were read (-H, else --data-dir's catalog.json)
    trigger:DB/NAME   its plugin is pinned with its bytes in the store, or a local file, and what
                      it declares is installed in the venv (what the server's own environment
                      has does not count; a disabled trigger only warns); a local plugin
                      with requirements that plugins.in does not list warns (not in the set)
    repo, registry,   one cheap request each, timed: --plugin-repo if a gh: reference is pinned,
    git:URL           --plugin-registry if a registry: one is, every pinned git URL (not with
                      --offline)
    upstream          whether each pinned reference's source still serves the pinned bytes: a
                      dry upgrade plan, one conditional request per file (not with --offline)
    disk:PATH         free space for the data dir and the plugin dir (warn under 1 GiB or 5%,
                      fail under 100 MiB)
"""

from __future__ import annotations

import shlex
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Final

from ..check import Check, Status
from ..check import count as _count
from ..check import fix_from as _fix
from ..deps.venv import PluginEnv, default_venv_path
from ..deps.venv_repair import venv_problem, venv_rebuild_command
from ..errors import OfflineError, PluginManagerError
from ..fetch.probes import source_checks
from ..fetch.refs import LocalRef, parse_ref

if TYPE_CHECKING:
    from ..deps.dependency_set import DependencySet
    from ..deps.pylock import PyLock
    from ..fetch.manager import PluginManager
    from .inventory import TriggerQuery, TriggerRow

__all__ = ["Check", "Status", "disk_status", "run_checks"]

_MIB: Final = 1024 * 1024
_DISK_FAIL: Final = 100 * _MIB
_DISK_WARN: Final = 1024 * _MIB
_DISK_WARN_SHARE: Final = 0.05
_LOCK: Final = "pluginmgr deps lock"
_LISTED: Final = 5


def _command(*parts: str) -> str:
    return shlex.join(parts)


# -- the plugin dir and the venv -----------------------------------------------------------------


def _plugin_dir_check(plugin_dir: Path | None) -> Check:
    fix = "pass --plugin-dir DIR (the server's) or set INFLUXDB3_PLUGIN_DIR"
    if plugin_dir is None:
        return Check("plugin-dir", "fail", "not set: plugins.lock and the venv live in it", fix)
    if not plugin_dir.is_dir():
        return Check("plugin-dir", "fail", f"{plugin_dir} does not exist", fix)
    return Check("plugin-dir", "ok", str(plugin_dir))


def _venv_python_check(env: PluginEnv, plugin_dir: Path) -> Check:
    if not (env.venv_path / "pyvenv.cfg").is_file():
        return Check("venv-python", "ok", f"no venv at {env.venv_path} yet (deps sync makes one)")
    problem = venv_problem(env.venv_path)
    if problem is not None:
        fix = venv_rebuild_command(env.venv_path, plugin_dir)
        return Check("venv-python", "fail", problem, fix)
    try:
        found = env.interpreter
    except PluginManagerError as exc:
        fix = venv_rebuild_command(env.venv_path, plugin_dir)
        return Check("venv-python", "fail", exc.message, fix)
    detail = f"{env.venv_path} runs Python {found.version_text} ({found.executable})"
    return Check("venv-python", "ok", detail)


def _pylock_check(ds: DependencySet, lock: PyLock | None) -> Check:
    if lock is None:
        return Check("pylock", "warn", f"no {ds.lock_path}: the venv is not locked", _LOCK)
    try:
        status = ds.status(lock)
    except PluginManagerError as exc:
        detail = f"cannot compare {ds.lock_path} with the plugins' declarations: {exc.message}"
        return Check("pylock", "fail", detail, _fix(exc, _LOCK))
    changes = "; ".join(status.changes)
    if status.state == "stale" and status.interpreter_only:
        # serve and `deps sync` re-resolve the same declarations for the new Python themselves
        return Check("pylock", "warn", f"{ds.lock_path}: {changes}", "pluginmgr deps sync")
    if status.state == "stale":
        return Check("pylock", "fail", f"{ds.lock_path} is stale: {changes}", _LOCK)
    if status.notes:
        detail = f"{ds.lock_path}: {'; '.join(status.notes)}"
        return Check("pylock", "warn", detail, "pluginmgr deps lock --upgrade")
    counts = (
        f"{_count(len(lock.packages), 'package')} for {_count(len(lock.requesters), 'requester')}"
    )
    return Check("pylock", "ok", f"{ds.lock_path} matches the declarations ({counts})")


def _drift_check(ds: DependencySet, lock: PyLock) -> Check:
    plan = ds.sync_plan(lock)
    if plan.empty:
        count = len(lock.installable(ds.env.markers))
        detail = f"{ds.env.venv_path} holds exactly the {_count(count, 'locked package')}"
        return Check("venv-sync", "ok", detail)
    found = [
        f"{name} {old or 'missing'} (locked {new})"
        for name, (old, new) in sorted(plan.install.items())
    ]
    found += [f"{name} {version} (not locked)" for name, version in sorted(plan.remove.items())]
    detail = f"{ds.env.venv_path} differs from pylock.toml: {', '.join(found)}"
    return Check("venv-sync", "fail", detail, "pluginmgr deps sync")


def _venv_checks(manager: PluginManager, env: PluginEnv, plugin_dir: Path) -> list[Check]:
    from ..deps.dependency_set import DependencySet

    ds = DependencySet(manager, env, plugin_dir)
    try:
        lock = ds.read_lock()
    except PluginManagerError as exc:
        unreadable = Check("pylock", "fail", exc.message, _fix(exc, _LOCK))
        return [_venv_python_check(env, plugin_dir), unreadable]
    checks = [_venv_python_check(env, plugin_dir), _pylock_check(ds, lock)]
    if lock is not None:
        checks.append(_drift_check(ds, lock))
        if checks[0].status == "ok" and (env.venv_path / "pyvenv.cfg").is_file():
            checks += _import_checks(manager, env, lock)
    return checks


def _import_checks(manager: PluginManager, env: PluginEnv, lock: PyLock) -> list[Check]:
    """One check per plugin of the set: its module-level imports run, in a subprocess each
    (two at a time), on the venv's interpreter, as the plugin host runs them."""
    from concurrent.futures import ThreadPoolExecutor

    from ..deps.imports import check_imports
    from ..deps.inputs import OPERATOR

    plugins = []
    for requester in lock.requesters:
        if requester.name == OPERATOR:
            continue
        try:
            plugins.append((requester.name, manager.fetch(requester.name).path))
        except PluginManagerError:
            continue  # the pylock and trigger checks say what is wrong with it
    with ThreadPoolExecutor(max_workers=2) as pool:
        problems = list(pool.map(lambda p: check_imports(p[1], env.venv_python), plugins))
    checks = []
    for (ref, _path), problem in zip(plugins, problems, strict=True):
        if problem is None:
            checks.append(Check(f"imports:{ref}", "ok", f"{ref} imports what it imports"))
            continue
        detail = f"{ref} cannot import: `{problem.statement}` fails: {problem.error}"
        fix = (
            "declare the package it lacks, or constrain the one that fails to a release that "
            "imports on this Python: pluginmgr deps constrain 'PKG>=VERSION'"
        )
        checks.append(Check(f"imports:{ref}", "fail", detail, fix))
    return checks


# -- triggers ------------------------------------------------------------------------------------


def _missing_plugin_fix(manager: PluginManager, ref: str, exc: PluginManagerError) -> str | None:
    if isinstance(exc, OfflineError):
        return _command("pluginmgr", "fetch", ref)  # pins it and puts its bytes in the store
    try:
        local = isinstance(parse_ref(ref), LocalRef)
    except PluginManagerError:
        return "recreate the trigger with a valid plugin reference"
    if local:
        where = manager.settings.plugin_dir or "PLUGIN_DIR"
        return f"put the plugin at {where}/{ref}, or recreate the trigger with one that exists"
    return _fix(exc, _command("pluginmgr", "fetch", ref))


def _trigger_check(
    manager: PluginManager,
    env: PluginEnv | None,
    trigger: TriggerRow,
    recorded: frozenset[str] | None = None,
) -> Check:
    from ..deps.plugin_deps import plugin_requirements

    name, ref = f"trigger:{trigger.database}/{trigger.name}", trigger.plugin
    bad: Status = "warn" if trigger.disabled else "fail"
    state = " (disabled)" if trigger.disabled else ""
    try:
        plugin = manager.fetch(ref)  # the manager is offline: the lock and store, or a local file
    except PluginManagerError as exc:
        detail = f"{ref}{state}: {exc.message}"
        return Check(name, bad, detail, _missing_plugin_fix(manager, ref, exc))
    where = f"local {plugin.kind}" if plugin.origin == "local" else f"pinned {plugin.sha256[:12]}"
    if env is None:
        return Check(name, "warn", f"{ref}{state} ({where}); dependencies not checked: no venv")
    install = _command("pluginmgr", "install", "deps", ref)
    plugin_dir = manager.settings.plugin_dir
    if trigger.isolated and plugin_dir is not None:  # checked against its own environment
        from ..deps.isolated import isolated_env

        env = isolated_env(plugin_dir, trigger.name, env)
        install = _command("pluginmgr", "deps", "sync", "--trigger", trigger.name)
    try:
        declared = plugin_requirements(manager, plugin, pinned_only=True)
        missing = env.unsatisfied(list(declared.requirements))
    except PluginManagerError as exc:
        detail = f"{ref}{state}: its dependencies cannot be checked: {exc.message}"
        return Check(name, bad, detail, _fix(exc, install))
    if missing:
        # a venv whose interpreter is gone holds nothing a plugin can import
        broken = venv_problem(env.venv_path)
        if broken is not None and manager.settings.plugin_dir is not None:
            install = venv_rebuild_command(env.venv_path, manager.settings.plugin_dir)
        return Check(name, bad, f"{ref}{state}: missing {', '.join(missing)}", install)
    count = len(declared.requirements)
    deps = f"{_count(count, 'dependency')} installed" if count else "no dependencies"
    local = _local_name(manager, ref)
    if count and recorded is not None and not trigger.isolated and local not in (recorded | {None}):
        detail = (
            f"{ref}{state} ({where}, {deps}), but plugins.in does not list it: the next "
            "`deps lock` leaves its requirements out"
        )
        return Check(name, "warn", detail, install)  # install deps records it
    return Check(name, "ok", f"{ref}{state} ({where}, {deps})")


def _local_name(manager: PluginManager, ref: str) -> str | None:
    from ..deps.plugins_in import local_plugin_name

    plugin_dir = manager.settings.plugin_dir
    return local_plugin_name(plugin_dir, ref) if plugin_dir is not None else None


def _recorded(manager: PluginManager) -> frozenset[str] | None:
    """The local plugins in the set (plugins.in); None when that does not matter: no plugin
    dir, or a lock made with --all-plugins. :raises PluginManagerError: unreadable."""
    from ..deps.plugins_in import read_plugins_in
    from ..deps.pylock import PYLOCK_NAME, read_pylock

    plugin_dir = manager.settings.plugin_dir
    if plugin_dir is None or not plugin_dir.is_dir():
        return None
    lock = read_pylock(plugin_dir / PYLOCK_NAME)
    return None if lock is not None and lock.all_plugins else frozenset(read_plugins_in(plugin_dir))


def _trigger_checks(
    manager: PluginManager, env: PluginEnv | None, query: TriggerQuery
) -> list[Check]:
    try:
        triggers = query.read()
    except PluginManagerError as exc:
        return [Check("triggers", "fail", exc.message, _fix(exc, None))]
    if triggers.rows is None:
        fix = "pluginmgr doctor --data-dir DIR (or -H URL)"
        return [Check("triggers", "warn", "not checked: " + triggers.describe(), fix)]
    summary = Check("triggers", "ok", f"{len(triggers.rows)} {triggers.describe()}")
    checks = [summary]
    try:
        recorded = _recorded(manager)
    except PluginManagerError as exc:
        recorded = None
        checks.append(Check("plugins.in", "fail", exc.message, _fix(exc, None)))
    return [*checks, *(_trigger_check(manager, env, t, recorded) for t in triggers.rows)]


# -- the store, the disk, upstream ---------------------------------------------------------------


def _store_check(manager: PluginManager) -> Check:
    try:
        report = manager.verify()
    except PluginManagerError as exc:
        return Check("store", "fail", f"cannot verify: {exc.message}", _fix(exc, None))
    if report.ok:
        lock = manager.settings.lock_path
        blobs = _count(report.blobs_checked, "blob")
        detail = f"{blobs} re-hashed; every pin in {lock} has its bytes"
        return Check("store", "ok", detail)
    found = [f"blob {digest[:12]} corrupted (quarantined)" for digest in report.corrupted]
    found += [f"{ref}: {problem}" for ref, problem in report.lock_problems]
    return Check("store", "fail", "; ".join(found), "pluginmgr lock")


def disk_status(free: int, total: int) -> Status:
    """``fail`` under 100 MiB free, ``warn`` under 1 GiB or 5% of the filesystem, else ``ok``."""
    if free < _DISK_FAIL:
        return "fail"
    if free < _DISK_WARN or (total and free / total < _DISK_WARN_SHARE):
        return "warn"
    return "ok"


def _disk_checks(places: Sequence[tuple[str, Path]]) -> list[Check]:
    """One check per filesystem holding one of ``places`` (label, path that exists)."""
    by_device: dict[int, list[tuple[str, Path]]] = {}
    for label, path in places:
        if path.exists():
            by_device.setdefault(path.stat().st_dev, []).append((label, path))
    checks = []
    for group in by_device.values():
        path = group[0][1]
        usage = shutil.disk_usage(path)
        share = usage.free / usage.total if usage.total else 0.0
        where = ", ".join(f"{label} {p}" for label, p in group)
        detail = f"{usage.free / 2**30:.1f} GiB free ({share:.0%}) for {where}"
        status = disk_status(usage.free, usage.total)
        fix = None if status == "ok" else f"free space on the filesystem of {path}"
        checks.append(Check(f"disk:{path}", status, detail, fix))
    return checks


def _upstream_checks(manager: PluginManager) -> list[Check]:
    """Pins whose source no longer serves the pinned bytes: a dry upgrade plan (one
    conditional request per file, nothing written). A moved source is a warning (the store
    still has the pinned bytes); one that cannot be checked is reported by the source checks."""
    import dataclasses

    from ..fetch.manager import PluginManager
    from .pin_plan import plan_upgrade

    if not manager.locked_refs():
        return []
    online = dataclasses.replace(manager.settings, offline=False)
    with PluginManager(online, store=manager.store) as checker:
        plan = plan_upgrade(checker, dry_run=True)
    moved = [c.ref for c in plan.changed]
    failed = plan.failed
    checked = len(plan.changes) - len(failed)
    if failed:
        first = failed[0]
        detail = f"{len(failed)} pinned references could not be checked, e.g. {first.error}"
        return [Check("upstream", "warn", detail, "see the repo and registry checks above")]
    if moved:
        listed = ", ".join(moved[:_LISTED]) + (
            f" and {len(moved) - _LISTED} more" if len(moved) > _LISTED else ""
        )
        detail = f"{len(moved)} of {checked} sources now serve other content: {listed}"
        return [
            Check(
                "upstream",
                "warn",
                detail,
                "pluginmgr lock --upgrade --dry-run (then without --dry-run)",
            )
        ]
    return [
        Check("upstream", "ok", f"every source still serves the pinned bytes ({checked} checked)")
    ]


# -- the command ---------------------------------------------------------------------------------


def run_checks(
    manager: PluginManager, query: TriggerQuery, *, venv: Path | None = None, probe: bool = True
) -> list[Check]:
    """Every check, in report order. ``manager`` should be offline (nothing is fetched).

    :param venv: the plugin venv [default: PLUGIN_DIR/venv].
    :param probe: make one request to each repository, registry and git URL pinned.
    """
    plugin_dir = manager.settings.plugin_dir
    # the store first: later checks read pinned blobs, and reading one quarantines it if it is
    # corrupted, which verify would then only see as missing
    checks = [_plugin_dir_check(plugin_dir), _store_check(manager)]
    env = None
    if plugin_dir is not None and plugin_dir.is_dir():
        env = PluginEnv(venv or default_venv_path(plugin_dir))
        checks += _venv_checks(manager, env, plugin_dir)
    checks += _trigger_checks(manager, env, query)
    if probe:
        checks += source_checks(manager.settings)
    places = [("data dir", query.data_dir), ("plugin dir", plugin_dir)]
    checks += _disk_checks([(label, path) for label, path in places if path is not None])
    if probe:
        checks += _upstream_checks(manager)
    return checks
