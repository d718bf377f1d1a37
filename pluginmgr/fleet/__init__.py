"""Fleets: one fleet file's plugins, packages and triggers kept on many InfluxDB 3 nodes
through InfluxDB 3's own HTTP API (real InfluxDB 3 nodes or ``pluginmgr serve`` alike).

The fleet file (`spec`) is locked with pluginmgr's own machinery (`lock`: plugins.lock and
pylock.toml beside it); each node is read through its API (`node_api`, `observe`), compared
with the lock and the state the last apply recorded (`state`) into a plan (`plan`), and
changed in a safe order (`apply`). `operations` runs that over the fleet, `render` prints it.
This layer uses fetch and deps; the CLI uses it.
"""

from __future__ import annotations

from .apply import InPlaceUpdater, NodeOutcome, RecreateUpdater, TriggerUpdater
from .lock import FleetLock, LockedPlugin, build_lock
from .node_api import NodeClient
from .operations import FleetApply, FleetPlan, NodeStatus, apply_fleet, fleet_status, plan_fleet
from .plan import Change, NodePlan
from .render import apply_json, apply_text, plan_json, plan_text, status_json, status_text
from .spec import FleetFile, FleetNode, FleetTrigger, read_fleet_file
from .state import FleetState, state_path

__all__ = [
    "Change",
    "FleetApply",
    "FleetFile",
    "FleetLock",
    "FleetNode",
    "FleetPlan",
    "FleetState",
    "FleetTrigger",
    "InPlaceUpdater",
    "LockedPlugin",
    "NodeClient",
    "NodeOutcome",
    "NodePlan",
    "NodeStatus",
    "RecreateUpdater",
    "TriggerUpdater",
    "apply_fleet",
    "apply_json",
    "apply_text",
    "build_lock",
    "fleet_status",
    "plan_fleet",
    "plan_json",
    "plan_text",
    "read_fleet_file",
    "state_path",
    "status_json",
    "status_text",
]
