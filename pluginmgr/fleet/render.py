"""Plans, applies and statuses as text (Terraform-style, within 80 columns) or JSON values.

::

    node ingest-1 (http://127.0.0.1:8181)
      + database sensors
      + package pm-alpha==1.0.0
      ~ plugin downsampler.py
          downsampler.py: edited on the node (1200 -> 1210 B)
      -/+ trigger sensors/downsample
          spec: table:cpu -> table:mem
    Plan: 3 to add, 2 to change, 0 to remove.

``+`` create or install, ``~`` update, enable or disable, ``-/+`` replace, ``-`` delete or
remove. The JSON forms carry the same data; the CLI wraps them in its versioned envelope.
"""

from __future__ import annotations

import textwrap
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from .apply import NodeOutcome
    from .operations import FleetApply, FleetPlan, NodeStatus
    from .plan import Change, NodePlan

__all__ = ["apply_json", "apply_text", "plan_json", "plan_text", "status_json", "status_text"]

WIDTH: Final = 80
_SYMBOLS: Final = {
    "create": "+",
    "install": "+",
    "update": "~",
    "enable": "~",
    "disable": "~",
    "replace": "-/+",
    "delete": "-",
    "remove": "-",
}
_ADD: Final = frozenset({"create", "install"})
_REMOVE: Final = frozenset({"delete", "remove"})


def _fit(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _value(value: Any) -> str:
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}={v}" for k, v in sorted(value.items())) + "}"
    if value is None:
        return "(none)"
    return str(value)


def _field_lines(name: str, old: Any, new: Any) -> list[str]:
    """``name: old -> new``, wrapped (never cut: the new value is the point); two mappings
    (a trigger's arguments) as one line per key that differs, ``arguments.window: 10m -> 5m``."""
    if isinstance(old, dict | None) and isinstance(new, dict | None) and (old or new):
        before, after = old or {}, new or {}
        keys = sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))
        pairs = [(f"{name}.{k}", _value(before.get(k)), _value(after.get(k))) for k in keys]
    else:
        pairs = [(name, _value(old), _value(new))]
    lines: list[str] = []
    for label, was, will in pairs:
        text = f"{label}: {was} -> {will}"
        lines += textwrap.wrap(text, WIDTH, initial_indent=" " * 6, subsequent_indent=" " * 8)
    return lines


def _change_lines(change: Change) -> list[str]:
    symbol = _SYMBOLS.get(change.action, "?")
    head = f"  {symbol} {change.kind} {change.key}"
    if change.action in ("enable", "disable", "remove"):
        head += f" ({change.action})"
    elif change.kind == "trigger" and change.action == "create" and change.trigger is not None:
        head += f" ({change.trigger.spec} -> {change.plugin_name or change.trigger.plugin})"
    lines = [_fit(head, WIDTH)]
    for name, old, new in change.fields:
        lines += _field_lines(name, old, new)
    if change.reason and change.kind in ("plugin", "trigger") and change.action != "create":
        for part in change.reason.split("; "):
            lines += textwrap.wrap(
                part, WIDTH, initial_indent="      ", subsequent_indent="        "
            )
    return lines


def _node_lines(plan: NodePlan) -> list[str]:
    head = f"node {plan.node.name} ({plan.node.url})"
    if plan.error is not None:
        return [
            _fit(head, WIDTH),
            *textwrap.wrap(
                f"error: {plan.error}", WIDTH, initial_indent="  ", subsequent_indent="    "
            ),
        ]
    if not plan.changes:
        lines = [_fit(f"{head}: no changes", WIDTH)]
    else:
        lines = [_fit(head, WIDTH)]
        for change in plan.changes:
            lines += _change_lines(change)
    if plan.unmanaged:
        left = f"not in the fleet file, left alone: {', '.join(plan.unmanaged)}"
        lines += textwrap.wrap(left, WIDTH, initial_indent="  ", subsequent_indent="    ")
    return lines


def _summary(changes: list[Change]) -> str:
    add = sum(c.action in _ADD for c in changes)
    remove = sum(c.action in _REMOVE for c in changes)
    return f"{add} to add, {len(changes) - add - remove} to change, {remove} to remove"


def _done(changes: list[Change]) -> str:
    add = sum(c.action in _ADD for c in changes)
    remove = sum(c.action in _REMOVE for c in changes)
    return f"{add} added, {len(changes) - add - remove} changed, {remove} removed"


def plan_text(plan: FleetPlan) -> str:
    lines: list[str] = []
    for node_plan in plan.nodes:
        lines += _node_lines(node_plan)
    changes = [c for p in plan.nodes for c in p.changes]
    tail = f"Plan: {_summary(changes)}."
    if plan.failed:
        names = ", ".join(p.node.name for p in plan.failed)
        tail += f" Not planned: {names}."
    if not changes and not plan.failed:
        tail = "No changes: every node matches the fleet file."
    lines.append(tail)
    return "\n".join(lines)


def plan_json(plan: FleetPlan) -> dict[str, Any]:
    return {"pending": plan.pending, "nodes": [p.to_json() for p in plan.nodes]}


def _outcome_lines(outcome: NodeOutcome) -> list[str]:
    if outcome.error is None:
        done = _done(list(outcome.done)) if outcome.done else "no changes"
        return [_fit(f"node {outcome.node}: applied ({done}) in {outcome.seconds:.1f}s", WIDTH)]
    done = f" after {_done(list(outcome.done))}" if outcome.done else ""
    lines = [_fit(f"node {outcome.node}: FAILED{done}", WIDTH)]
    lines += textwrap.wrap(outcome.error, WIDTH, initial_indent="  ", subsequent_indent="    ")
    if outcome.left:
        lines.append("  left to do:")
        for change in outcome.left:
            lines += ["  " + line for line in _change_lines(change)]
    return lines


def apply_text(result: FleetApply) -> str:
    lines: list[str] = []
    for outcome in result.outcomes:
        lines += _outcome_lines(outcome)
    failed = len(result.failed)
    lines.append(
        f"Applied to {len(result.outcomes) - failed} of {len(result.outcomes)} nodes."
        + (f" {failed} failed." if failed else "")
    )
    return "\n".join(lines)


def apply_json(result: FleetApply) -> dict[str, Any]:
    return {
        "nodes": [
            {
                "node": o.node,
                "ok": o.error is None,
                "error": o.error,
                "done": [c.to_json() for c in o.done],
                "left": [c.to_json() for c in o.left],
                "seconds": round(o.seconds, 3),
            }
            for o in result.outcomes
        ]
    }


def status_text(statuses: list[NodeStatus]) -> str:
    width = max((len(s.node.name) for s in statuses), default=4)
    lines = []
    for status in statuses:
        if not status.reachable:
            state = "unreachable"
        elif status.changes:
            state = f"drifted ({status.changes} change{'s' * (status.changes != 1)})"
        else:
            state = "in sync"
        applied = f"last apply {status.applied_at}" if status.applied_at else "never applied"
        lines.append(_fit(f"{status.node.name:<{width}}  {state:<22} {applied}", WIDTH))
    return "\n".join(lines)


def status_json(statuses: list[NodeStatus]) -> dict[str, Any]:
    return {
        "nodes": [
            {
                "node": s.node.name,
                "url": s.node.url,
                "reachable": s.reachable,
                "in_sync": s.reachable and s.changes == 0,
                "changes": s.changes,
                "last_apply": s.applied_at,
                "error": s.error,
            }
            for s in statuses
        ]
    }
