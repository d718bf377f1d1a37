"""Upgrade plans for pinned plugins: what ``lock --upgrade`` changes, shown first, applied whole.

::

    plan     every target fetched again (conditionally) -> one `PinChange` per reference:
             unchanged | upgraded | added | failed, with the size and declared-requirement changes
    remove   references unpinned, with the siblings and registry dependencies only they need
    rollback one reference re-pinned to an earlier content the store still holds
    apply    only if nothing failed: record the versions and write plugins.lock once

A dry plan (``dry_run=True``, also ``outdated`` and ``doctor``) fetches into a scratch store
(`PluginManager.dry_run`): the lock file, the store, its metadata and history stay byte for byte
as they were. A real plan fetches into the store (blobs are content-addressed, so extra ones are
harmless) but pins nothing until `apply_plan`, so a failure midway leaves the lock untouched.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Final

from ..deps.inputs import is_plugin_ref
from ..errors import PluginManagerError, ResolveError
from ..fetch.fetched import FetchedPlugin, FetchProgress, lock_entry, logical_source
from ..fetch.lockfile import LockEntry, format_timestamp
from ..fetch.manager import PluginManager
from ..fetch.refs import GhRef, GitRef, RegistryRef, parse_ref
from ..fetch.registry_source import locked_dependency_ref, plugin_dependencies
from ..fetch.store import Version

__all__ = [
    "PinChange",
    "UpgradePlan",
    "apply_plan",
    "plan_removal",
    "plan_rollback",
    "plan_upgrade",
]

UNCHANGED, UPGRADED, ADDED, FAILED = "unchanged", "upgraded", "added", "failed"
ROLLED_BACK: Final = "rolled-back"
REMOVED: Final = "removed"
_MIN_PREFIX: Final = 4


@dataclass(frozen=True, slots=True)
class PinChange:
    """How one reference's pin moves. ``status`` describes the pin, not the transfer."""

    ref: str
    status: str
    old: LockEntry | None = None
    new: LockEntry | None = None
    requirements_added: tuple[str, ...] = ()
    requirements_removed: tuple[str, ...] = ()
    error: PluginManagerError | None = None

    @property
    def size_change(self) -> int | None:
        if self.old is None or self.new is None:
            return None
        return self.new.size - self.old.size

    @property
    def declarations_changed(self) -> bool:
        return bool(self.requirements_added or self.requirements_removed)


@dataclass(frozen=True, slots=True)
class UpgradePlan:
    """One `PinChange` per target (and per registry dependency fetched with one)."""

    changes: tuple[PinChange, ...]
    dry_run: bool
    #: what was fetched; for a dry plan the paths were in the scratch store, now gone
    fetched: tuple[FetchedPlugin, ...] = ()

    @property
    def changed(self) -> tuple[PinChange, ...]:
        return tuple(c for c in self.changes if c.status not in (UNCHANGED, FAILED))

    @property
    def failed(self) -> tuple[PinChange, ...]:
        return tuple(c for c in self.changes if c.status == FAILED)

    @property
    def declarations_changed(self) -> bool:
        return any(c.declarations_changed for c in self.changes)


def plan_upgrade(
    manager: PluginManager,
    refs: Sequence[str] = (),
    *,
    dry_run: bool,
    progress: FetchProgress | None = None,
    on_done: Callable[[str], None] | None = None,
) -> UpgradePlan:
    """Fetch ``refs`` (default: every pinned reference) again and compare with their pins.

    Nothing is pinned; with ``dry_run`` nothing is written anywhere either.
    """
    lock = manager.read_lock()
    targets = list(dict.fromkeys(refs)) or sorted(lock)
    with manager.dry_run() as dry:
        fetcher = dry if dry_run else manager
        report = fetcher.collect(
            targets, refresh=True, lock=lock, progress=progress, on_done=on_done
        )
        fetched = [p for p in report.all_plugins() if p.origin != "local"]
        entries = {p.ref: lock_entry(p) for p in fetched}
        changes: dict[str, PinChange] = {}
        for ref, exc in report.errors:
            changes[ref] = PinChange(ref, FAILED, old=lock.get(ref), error=exc)
        for ref, entry in entries.items():
            old = lock.get(ref)
            status = ADDED if old is None else UNCHANGED if old.same_content(entry) else UPGRADED
            changes[ref] = PinChange(ref, status, old=old, new=entry)
        if not report.errors:
            _attach_requirement_changes(dry, changes, lock, entries)
    ordered = [changes[ref] for ref in targets if ref in changes]
    ordered += [c for ref, c in changes.items() if ref not in targets]
    return UpgradePlan(tuple(ordered), dry_run, tuple(fetched))


def apply_plan(manager: PluginManager, plan: UpgradePlan) -> None:
    """Record the plan's versions and write its changed pins in one write of the lock file.

    :raises ValueError: the plan is a dry one or has failures (a caller bug: check first).
    """
    if plan.dry_run or plan.failed:
        raise ValueError("only a complete, real plan can be applied")
    manager.record_versions(plan.fetched)
    pins = [c.new for c in plan.changed if c.new is not None]
    removed = [c.ref for c in plan.changes if c.status == REMOVED]
    if pins or removed:
        manager.write_pins(pins, removed=removed)


def _attach_requirement_changes(
    dry: PluginManager,
    changes: dict[str, PinChange],
    lock: Mapping[str, LockEntry],
    entries: Mapping[str, LockEntry],
) -> None:
    """Each plugin's declared requirements under the old pins vs the new ones (a sibling
    requirements.txt or manifest.toml that moved changes its plugin's declaration)."""
    moved = [ref for ref in entries if changes[ref].status != UNCHANGED]
    if not moved:
        return  # the same bytes everywhere declare the same requirements
    folders = {_folder(ref) for ref in moved} - {None}
    pins = {**lock, **entries}
    plugins = [
        ref
        for ref, e in sorted(pins.items())
        if is_plugin_ref(ref, e.kind) and (ref in moved or _folder(ref) in folders)
    ]
    before = {ref: _declared(dry, ref) for ref in plugins if ref in lock}
    dry.write_pins(list(entries.values()))
    for ref in plugins:
        after = _declared(dry, ref)
        old = before.get(ref, ())
        if after is None or old is None:
            continue
        added = tuple(r for r in after if r not in old)
        removed = tuple(r for r in old if r not in after)
        if added or removed:
            # a plugin whose pin did not move shows up when a sibling of it did
            change = changes.get(ref) or PinChange(ref, UNCHANGED, old=lock[ref], new=lock[ref])
            changes[ref] = dataclasses.replace(
                change, requirements_added=added, requirements_removed=removed
            )


def _declared(manager: PluginManager, ref: str) -> tuple[str, ...] | None:
    """What ``ref`` declares under the manager's current pins, read from the store only;
    None if that cannot be read (the content is gone, the declaration is broken)."""
    from ..deps.plugin_deps import plugin_requirements

    entry = manager.read_lock().get(ref)
    if entry is None:
        return None
    plugin = manager.pinned(ref, entry)
    if plugin is None:
        return None
    try:
        return plugin_requirements(manager, plugin, pinned_only=True).requirements
    except PluginManagerError:
        return None


def plan_rollback(manager: PluginManager, ref: str, *, to: str | None = None) -> UpgradePlan:
    """Re-pin ``ref`` to an earlier content from its version history (``to``: a sha256
    prefix; default the version before the pinned one). Offline: the bytes must be in the
    store, which keeps every version it fetched until ``gc``.
    """
    lock = manager.read_lock()
    current = lock.get(ref)
    if current is None:
        message = f"{ref} is not pinned in {manager.settings.lock_path}"
        raise ResolveError(message, ref=ref, hint="`pluginmgr list` shows what is pinned")
    history = manager.versions(ref)
    target = _pick_version(ref, history, current, to)
    entry = _entry_from(ref, target, current)
    if manager.pinned(ref, entry) is None:
        message = (
            f"{ref}: content {target.sha256[:12]} is no longer in the store at "
            f"{manager.settings.cache_dir}"
        )
        hint = "`pluginmgr gc` removed it; `pluginmgr versions` lists what is left"
        raise ResolveError(message, ref=ref, hint=hint)
    changes = {ref: PinChange(ref, ROLLED_BACK, old=current, new=entry)}
    with manager.dry_run() as dry:
        _attach_requirement_changes(dry, changes, lock, {ref: entry})
    return UpgradePlan(tuple(changes.values()), dry_run=False)


def _pick_version(
    ref: str, history: Sequence[Version], current: LockEntry, to: str | None
) -> Version:
    listed = ", ".join(v.sha256[:12] for v in history) or "none"
    if to is not None:
        prefix = to.lower()
        if len(prefix) < _MIN_PREFIX or any(c not in "0123456789abcdef" for c in prefix):
            message = f"{ref}: --to {to!r} is not a sha256 prefix of {_MIN_PREFIX}+ hex digits"
            raise ResolveError(message, ref=ref, hint=f"the versions seen are {listed}")
        found = [v for v in history if v.sha256.startswith(prefix)]
        if len(found) != 1:
            problem = "matches no version" if not found else "matches several versions"
            message = f"{ref}: --to {to} {problem} (seen: {listed})"
            raise ResolveError(message, ref=ref, hint="`pluginmgr versions REF` lists them")
        if found[0].sha256 == current.sha256:
            message = f"{ref} already pins {current.sha256[:12]}"
            raise ResolveError(message, ref=ref, hint="pick another version with --to")
        return found[0]
    index = next((i for i, v in enumerate(history) if v.sha256 == current.sha256), len(history))
    earlier = [v for v in history[:index] if v.sha256 != current.sha256]
    if not earlier:
        message = f"{ref}: the store has no version older than the pinned {current.sha256[:12]}"
        raise ResolveError(message, ref=ref, hint=f"the versions seen are {listed}")
    return earlier[-1]


def _entry_from(ref: str, version: Version, current: LockEntry) -> LockEntry:
    commit, rev = version.commit, version.rev
    if commit is None and current.commit is not None:
        # a git version recorded before versions kept their commit: the source names it
        match = re.search(r"@([0-9a-f]{40})#path=", version.source)
        if match is None:
            message = f"{ref}: the history does not say which commit {version.sha256[:12]} was"
            raise ResolveError(message, ref=ref, hint="pin it with `pluginmgr lock REF@COMMIT`")
        commit = match.group(1)
    if isinstance(parse_ref(ref), RegistryRef) and rev is None:
        message = f"{ref}: the history does not say which version {version.sha256[:12]} was"
        raise ResolveError(message, ref=ref, hint="pin it with `pluginmgr lock registry:NAME==V`")
    if rev is None:
        rev = current.rev
    return LockEntry(
        ref=ref,
        kind=version.kind,
        source=logical_source(ref, version.source, rev),
        sha256=version.sha256,
        size=version.size,
        fetched_at=format_timestamp(version.first_seen),
        rev=rev,
        commit=commit,
    )


def plan_removal(manager: PluginManager, refs: Sequence[str]) -> UpgradePlan:
    """Unpin ``refs`` with what was pinned only for them: the siblings next to a ``gh:`` or
    ``git+`` file (manifest.toml, requirements.txt) that no remaining plugin shares, and the
    registry dependencies no remaining registry plugin needs. Their declared requirements are
    the plan's removed requirements."""
    lock = manager.read_lock()
    unknown = [ref for ref in refs if ref not in lock]
    if unknown:
        message = f"{', '.join(unknown)} is not pinned in {manager.settings.lock_path}"
        raise ResolveError(message, ref=unknown[0], hint="`pluginmgr list` shows what is pinned")
    doomed = dict.fromkeys(refs)
    kept = [ref for ref in lock if ref not in doomed and is_plugin_ref(ref, lock[ref].kind)]
    folders_kept = {_folder(ref) for ref in kept}
    for ref in list(doomed):
        folder = _folder(ref)
        for other, entry in lock.items():
            sibling = other not in doomed and not is_plugin_ref(other, entry.kind)
            if sibling and folder is not None and _folder(other) == folder:
                if folder not in folders_kept:
                    doomed[other] = None
    pulled = set().union(*(_registry_closure(manager, ref, lock) for ref in refs))
    remaining = [ref for ref in kept if ref not in pulled]
    needed = set(remaining).union(*(_registry_closure(manager, r, lock) for r in remaining))
    for dep in sorted(pulled - needed):
        doomed[dep] = None
    changes = []
    for ref in doomed:
        declared = _declared(manager, ref) if is_plugin_ref(ref, lock[ref].kind) else None
        changes.append(PinChange(ref, REMOVED, old=lock[ref], requirements_removed=declared or ()))
    return UpgradePlan(tuple(changes), dry_run=False)


def _folder(ref: str) -> tuple[str, ...] | None:
    """Where a ``gh:`` or ``git+`` file's siblings live; None for other references."""
    parsed = parse_ref(ref)
    if isinstance(parsed, GhRef):
        return ("gh", PurePosixPath(parsed.path).parent.as_posix())
    if isinstance(parsed, GitRef):
        return ("git", parsed.url, PurePosixPath(parsed.path).parent.as_posix())
    return None


def _registry_closure(manager: PluginManager, ref: str, lock: Mapping[str, LockEntry]) -> set[str]:
    """The pinned registry references ``ref`` depends on, transitively (read from the store)."""
    if not isinstance(parse_ref(ref), RegistryRef):
        return set()
    plugin = manager.pinned(ref, lock[ref])
    found: set[str] = set()
    todo = [plugin.path] if plugin is not None else []
    while todo:
        for name, spec in plugin_dependencies(todo.pop()) or []:
            dep = locked_dependency_ref(lock, name, spec)
            if dep is None or dep in found:
                continue
            found.add(dep)
            pinned = manager.pinned(dep, lock[dep])
            if pinned is not None:
                todo.append(pinned.path)
    return found
