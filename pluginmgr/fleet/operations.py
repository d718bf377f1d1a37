"""Plan, apply and status over a whole fleet, node by node, ``parallel`` nodes at a time.

The lock is built first (`build_lock`): a plugin that cannot be fetched or packages that
conflict stop everything before any node is asked anything. Then every node is read and
planned on its own: a node that cannot be reached is named in its plan, the others are still
planned (and applied: a failing node stops only itself unless ``stop_on_error``).
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, TypeVar

from ..atomic import file_lock
from ..errors import NodeError
from .apply import InPlaceUpdater, NodeOutcome, TriggerUpdater, apply_node
from .lock import FleetLock, build_lock
from .node_api import NodeClient
from .observe import NodeView, observe
from .plan import NodePlan, plan_node
from .state import FleetState, NodeRecord, state_path

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    import httpx

    from .spec import FleetFile, FleetNode

T = TypeVar("T")

__all__ = ["FleetApply", "FleetPlan", "NodeStatus", "apply_fleet", "fleet_status", "plan_fleet"]


@dataclass(frozen=True, slots=True)
class FleetPlan:
    """Every targeted node's plan."""

    nodes: tuple[NodePlan, ...]

    @property
    def pending(self) -> int:
        return sum(len(p.changes) for p in self.nodes)

    @property
    def failed(self) -> tuple[NodePlan, ...]:
        return tuple(p for p in self.nodes if p.error is not None)


@dataclass(frozen=True, slots=True)
class FleetApply:
    """Every targeted node's outcome, in the fleet file's order."""

    outcomes: tuple[NodeOutcome, ...]

    @property
    def failed(self) -> tuple[NodeOutcome, ...]:
        return tuple(o for o in self.outcomes if o.error is not None)


@dataclass(frozen=True, slots=True)
class NodeStatus:
    """One line of ``fleet status``."""

    node: FleetNode
    reachable: bool
    changes: int
    applied_at: str | None
    error: str | None = None


def _targets(fleet: FleetFile, names: Sequence[str] | None) -> list[FleetNode]:
    if not names:
        return list(fleet.nodes)
    return [fleet.node(name) for name in names]


def _databases(fleet: FleetFile, record: NodeRecord) -> set[str]:
    return set(fleet.databases) | {key.partition("/")[0] for key in record.triggers}


def _read_node(
    fleet: FleetFile,
    lock: FleetLock,
    node: FleetNode,
    record: NodeRecord,
    client: NodeClient,
) -> tuple[NodePlan, NodeView | None]:
    try:
        view = observe(client, _databases(fleet, record))
    except NodeError as exc:
        return NodePlan(node, error=str(exc)), None
    return plan_node(fleet, lock, node, record, view), view


def _map(parallel: int, function: Callable[[FleetNode], T], nodes: list[FleetNode]) -> list[T]:
    with ThreadPoolExecutor(max_workers=max(1, min(parallel, len(nodes)))) as pool:
        return list(pool.map(function, nodes))


def plan_fleet(
    fleet: FleetFile,
    *,
    targets: Sequence[str] | None = None,
    parallel: int = 4,
    on_request: Callable[[httpx.Request], None] | None = None,
    offline: bool = False,
    upgrade: bool = False,
    lock: FleetLock | None = None,
) -> tuple[FleetLock, FleetPlan]:
    """The lock and every targeted node's plan; nothing is changed on any node."""
    lock = lock or build_lock(fleet, offline=offline, upgrade=upgrade)
    state = FleetState.read(state_path(fleet.path))

    def one(node: FleetNode) -> NodePlan:
        with NodeClient(node, on_request=on_request) as client:
            return _read_node(fleet, lock, node, state.node(node.name), client)[0]

    return lock, FleetPlan(tuple(_map(parallel, one, _targets(fleet, targets))))


def _settle(client: NodeClient, fleet: FleetFile, record: NodeRecord) -> None:
    """Record the size and time the node shows for each file just uploaded, so a later edit
    on the node is seen as drift."""
    fresh = {k for k, f in record.files.items() if f.last_modified is None}
    if not fresh:
        return
    view = observe(client, _databases(fleet, record))
    for key in fresh:
        seen = view.files.get(key)
        if seen is not None:
            record.files[key] = replace(
                record.files[key], size=seen.size, last_modified=seen.last_modified
            )


def apply_fleet(
    fleet: FleetFile,
    *,
    targets: Sequence[str] | None = None,
    parallel: int = 4,
    stop_on_error: bool = False,
    updater: TriggerUpdater | None = None,
    on_request: Callable[[httpx.Request], None] | None = None,
    offline: bool = False,
    upgrade: bool = False,
) -> FleetApply:
    """Plan and apply every targeted node; the state file is written after each node."""
    lock = build_lock(fleet, offline=offline, upgrade=upgrade)
    path = state_path(fleet.path)
    with file_lock(path.with_name(f".{path.name}.lock")):  # one apply per fleet file at a time
        state = FleetState.read(path)
        stop = threading.Event()
        updater = updater or InPlaceUpdater()

        def one(node: FleetNode) -> NodeOutcome:
            if stop.is_set():
                return NodeOutcome(
                    node.name, (), error="skipped: another node failed (--stop-on-error)"
                )
            record = state.node(node.name)
            with NodeClient(node, on_request=on_request) as client:
                plan, view = _read_node(fleet, lock, node, record, client)
                if view is None:
                    outcome = NodeOutcome(node.name, (), error=plan.error)
                else:
                    running = {
                        t.name: t.plugin_filename.rstrip("/") for t in view.triggers.values()
                    }
                    outcome = apply_node(
                        client, fleet, lock, plan, record, updater=updater, running=running
                    )
                    if plan.changes or record.applied_at is None:
                        try:
                            _settle(client, fleet, record)
                        except NodeError as exc:
                            outcome = replace(outcome, error=outcome.error or str(exc))
                        if outcome.error is None:
                            record.applied_at = datetime.now(UTC).isoformat(timespec="seconds")
                        state.save(node.name, record)
            if outcome.error is not None and stop_on_error:
                stop.set()
            return outcome

        return FleetApply(tuple(_map(parallel, one, _targets(fleet, targets))))


def fleet_status(
    fleet: FleetFile,
    *,
    parallel: int = 4,
    on_request: Callable[[httpx.Request], None] | None = None,
    offline: bool = False,
) -> list[NodeStatus]:
    """Each node: reachable, how many changes a plan has for it, when it was last applied."""
    _lock, plan = plan_fleet(fleet, parallel=parallel, on_request=on_request, offline=offline)
    state = FleetState.read(state_path(fleet.path))
    return [
        NodeStatus(
            p.node, p.error is None, len(p.changes), state.node(p.node.name).applied_at, p.error
        )
        for p in plan.nodes
    ]
