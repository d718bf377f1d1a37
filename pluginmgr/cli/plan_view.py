"""How a pin plan (`pluginmgr.node.pin_plan.UpgradePlan`) is shown: a table for people, JSON for
machines. Shared by ``lock --upgrade``, ``outdated``, ``rollback`` and ``remove``."""

from __future__ import annotations

from typing import Any

from rich import box
from rich.console import Console
from rich.table import Table

from ..fetch.lockfile import LockEntry
from ..node.pin_plan import (
    ADDED,
    FAILED,
    REMOVED,
    ROLLED_BACK,
    UNCHANGED,
    UPGRADED,
    PinChange,
    UpgradePlan,
)

__all__ = ["plan_json", "print_plan", "summary"]

_SHORT = 12


def _version(entry: LockEntry | None) -> str:
    if entry is None:
        return ""
    if entry.commit is not None and len(entry.commit) == 40:
        return entry.commit[:_SHORT]
    return entry.rev or ""


def _status(change: PinChange) -> str:
    return "rolled back" if change.status == ROLLED_BACK else change.status


def _content(change: PinChange) -> str:
    """``old →`` / ``new`` sha256 (12 hex digits), then the version or commit if that moved."""
    old, new = change.old, change.new
    if change.status == FAILED:
        return "(see below)"
    if new is None:
        return old.sha256[:_SHORT] if old is not None else ""
    if old is None:
        return new.sha256[:_SHORT]
    if old.sha256 == new.sha256:
        return old.sha256[:_SHORT]
    # one hash per line keeps the column narrow: the reference gets the width
    moved = f"{old.sha256[:_SHORT]} →\n{new.sha256[:_SHORT]}"
    before, after = _version(old), _version(new)
    return f"{moved}\n({before} → {after})" if before != after and after else moved


def _size(change: PinChange) -> str:
    delta = change.size_change
    if delta is None:
        entry = change.new or change.old
        return f"{entry.size:,} B" if entry is not None else ""
    return f"{delta:+,} B" if delta else "="


def _requirements(change: PinChange) -> str:
    added = (f"+{r}" for r in change.requirements_added)
    return " ".join([*added, *(f"-{r}" for r in change.requirements_removed)])


def summary(plan: UpgradePlan) -> str:
    """Terraform's last line: what the plan does, counted."""
    counts: dict[str, int] = {}
    for change in plan.changes:
        counts[change.status] = counts.get(change.status, 0) + 1
    words = [
        (UPGRADED, "to upgrade" if plan.dry_run else "upgraded"),
        (ADDED, "to add" if plan.dry_run else "added"),
        (ROLLED_BACK, "rolled back"),
        (REMOVED, "removed"),
        (UNCHANGED, "unchanged"),
        (FAILED, "failed"),
    ]
    parts = [f"{counts[status]} {word}" for status, word in words if counts.get(status)]
    return "plan: " + (", ".join(parts) or "nothing to do")


def print_plan(console: Console, plan: UpgradePlan, *, only_changes: bool = False) -> None:
    """The table (every reference, or only those that move), then each failure's message."""
    rows = [
        c
        for c in plan.changes
        if not only_changes or c.status != UNCHANGED or c.declarations_changed
    ]
    if rows:
        table = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False)
        table.add_column("pin", no_wrap=True)
        table.add_column("reference", overflow="fold", ratio=3)
        table.add_column("sha256", no_wrap=True)
        table.add_column("size", justify="right", no_wrap=True)
        declared = any(c.declarations_changed for c in rows)
        if declared:
            table.add_column("requirements", overflow="fold", ratio=2)
        for change in rows:
            cells = [_status(change), change.ref, _content(change), _size(change)]
            table.add_row(*cells, *([_requirements(change)] if declared else []))
        console.print(table)
    for change in plan.failed:
        console.print(f"error: {change.error}", markup=False)


def _entry_json(entry: LockEntry | None) -> dict[str, Any] | None:
    if entry is None:
        return None
    return {
        "sha256": entry.sha256,
        "size": entry.size,
        "rev": entry.rev,
        "commit": entry.commit,
        "source": entry.source,
    }


def plan_json(plan: UpgradePlan) -> dict[str, Any]:
    """The plan as the ``changes`` of a JSON envelope."""
    return {
        "dry_run": plan.dry_run,
        "changed": bool(plan.changed),
        "changes": [
            {
                "ref": c.ref,
                "status": c.status,
                "old": _entry_json(c.old),
                "new": _entry_json(c.new),
                "size_change": c.size_change,
                "requirements_added": list(c.requirements_added),
                "requirements_removed": list(c.requirements_removed),
                "error": None if c.error is None else str(c.error),
            }
            for c in plan.changes
        ],
    }
