"""``pluginmgr gc``: which store content is still needed, and deleting the rest.

Needed = what plugins.lock pins (a tree with every file in it) + the ``keep`` newest other
versions (by last seen) of every reference in the store's history, which are what ``rollback``
can go back to. Everything else goes: blobs, materialized trees, the quarantine, and the history
entries of versions whose bytes were deleted (so ``versions`` and ``rollback`` never offer
content that is gone). Bare git repositories are kept: they are a fetch cache, not content.

A store shared by several plugin directories should be collected with a ``--keep`` that
covers the other locks' pins (they are versions in its history too), or not at all.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..fetch.manager import PluginManager
from ..fetch.store import Collected, Version

__all__ = ["GcReport", "collect"]


@dataclass(frozen=True, slots=True)
class GcReport:
    """What `collect` deleted (or would), how many contents (files, trees) it kept, and how
    many versions it dropped from the history."""

    collected: Collected
    kept: int
    forgotten: int


def collect(manager: PluginManager, *, keep: int, grace: float, dry_run: bool) -> GcReport:
    """Delete what no pin and no recent version needs (``dry_run``: only count it)."""
    store = manager.store
    blobs: set[str] = set()
    trees: set[str] = set()

    def need(kind: str, sha256: str) -> None:
        (trees if kind == "directory" else blobs).add(sha256)

    lock = manager.read_lock()
    for entry in lock.values():
        need(entry.kind, entry.sha256)
    histories: dict[str, tuple[list[Version], list[Version]]] = {}
    for ref in store.history_refs():
        versions = store.versions(ref)
        pinned = lock.get(ref)
        pinned_sha = pinned.sha256 if pinned is not None else None
        others = [v for v in versions if v.sha256 != pinned_sha]
        newest = sorted(others, key=lambda v: v.last_seen, reverse=True)[:keep]
        kept = [v for v in versions if v in newest or v.sha256 == pinned_sha]
        for version in kept:
            need(version.kind, version.sha256)
        histories[ref] = (versions, kept)
    collected = store.collect_garbage(blobs, trees, grace=grace, dry_run=dry_run)
    gone = set(collected.blobs)
    forgotten = 0
    for ref, (versions, kept) in histories.items():
        # a version outside --keep whose bytes survived (grace, shared with another) stays
        remaining = [v for v in versions if v in kept or v.sha256 not in gone]
        forgotten += len(versions) - len(remaining)
        if not dry_run and len(remaining) != len(versions):
            store.set_versions(ref, remaining)
    return GcReport(collected, len(blobs) + len(trees), forgotten)
