"""The plan of one node: the fleet file and its lock against what the node holds (its API)
and what the last apply put there (the state file). Pure: no I/O.

Actions, in the order apply carries them out: ``create`` a database, ``install`` a package,
``create``/``update`` a plugin (its files uploaded), then
``create``/``update``/``replace``/``enable``/``disable``/``delete`` a trigger, and last
``remove`` a plugin no trigger uses any more (after its triggers are gone; a node whose API
cannot delete files, InfluxDB 3's, keeps it, unmanaged). ``replace`` is a changed spec
(disable, delete, create); ``update`` a changed plugin, arguments or setting.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

from engine_runtime import parse_trigger_spec
from engine_runtime.trigger_definition import trigger_specification_json

if TYPE_CHECKING:
    from .lock import FleetLock, LockedPlugin
    from .node_api import PluginFileRow, TriggerRow
    from .observe import NodeView
    from .spec import FleetFile, FleetNode, FleetTrigger
    from .state import FileRecord, NodeRecord, TriggerRecord

__all__ = ["Change", "NodePlan", "plan_node"]

#: apply's order of kinds
KINDS: Final = ("database", "package", "plugin", "trigger")


@dataclass(frozen=True, slots=True)
class Change:
    """One thing to do on a node; ``fields`` are (name, old, new) for what differs."""

    kind: str
    action: str
    key: str
    reason: str = ""
    fields: tuple[tuple[str, Any, Any], ...] = ()
    trigger: FleetTrigger | None = None
    plugin: LockedPlugin | None = None
    #: the plugin's name on the node, for a trigger
    plugin_name: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "action": self.action,
            "key": self.key,
            "reason": self.reason,
            "fields": [{"name": n, "old": o, "new": w} for n, o, w in self.fields],
        }


@dataclass(frozen=True, slots=True)
class NodePlan:
    """The changes for one node, or why it could not be planned."""

    node: FleetNode
    changes: tuple[Change, ...] = ()
    error: str | None = None
    #: trigger keys the node holds that the fleet does not manage (left alone)
    unmanaged: tuple[str, ...] = field(default=())

    def to_json(self) -> dict[str, Any]:
        return {
            "node": self.node.name,
            "url": self.node.url,
            "reachable": self.error is None,
            "error": self.error,
            "changes": [c.to_json() for c in self.changes],
            "unmanaged_triggers": list(self.unmanaged),
        }


def spec_json(spec: str) -> Any:
    """A spec as upstream's system table shows it (serde JSON), parsed."""
    return json.loads(trigger_specification_json(parse_trigger_spec(spec)))


def _listed(plugin: LockedPlugin, key: str) -> bool:
    """Whether ``system.plugin_files`` lists ``key``: a directory's ``.py`` files only."""
    return not plugin.is_directory or key.endswith(".py")


def _file_drift(
    plugin: LockedPlugin, key: str, recorded: FileRecord, seen: PluginFileRow | None, running: bool
) -> str | None:
    """Why the node's copy of ``key`` differs from what the last apply uploaded, if it does."""
    if seen is not None and recorded.last_modified is not None:
        if seen.size != recorded.size or seen.last_modified != recorded.last_modified:
            return f"{key}: edited on the node ({recorded.size} -> {seen.size} B)"
    if seen is None and running and _listed(plugin, key):
        return f"{key}: missing on the node"
    return None


def _plugin_changes(
    plugins: list[LockedPlugin], record: NodeRecord, view: NodeView
) -> list[Change]:
    changes = []
    running = {t.plugin_filename.rstrip("/") for t in view.triggers.values()}
    for plugin in plugins:
        recorded_keys = {k for k, f in record.files.items() if f.plugin == plugin.name}
        if not recorded_keys:
            reason = f"{len(plugin.files)} file(s), not uploaded yet"
            changes.append(Change("plugin", "create", plugin.name, reason, plugin=plugin))
            continue
        reasons = [
            f"{key}: removed from the plugin" for key in sorted(recorded_keys - set(plugin.files))
        ]
        for key in sorted(plugin.files):
            recorded = record.files.get(key)
            if recorded is None:
                reasons.append(f"{key}: new in the lock")
            elif recorded.sha256 != plugin.file_sha256[key]:
                reasons.append(f"{key}: new content in the lock")
            elif drift := _file_drift(
                plugin, key, recorded, view.files.get(key), plugin.name in running
            ):
                reasons.append(drift)
        if reasons:
            changes.append(
                Change("plugin", "update", plugin.name, "; ".join(reasons), plugin=plugin)
            )
    return changes


def _trigger_fields(
    want: FleetTrigger, name: str, have: TriggerRow, recorded: TriggerRecord | None
) -> list[tuple[str, Any, Any]]:
    fields: list[tuple[str, Any, Any]] = []
    if have.plugin_filename.rstrip("/") != name:
        fields.append(("plugin", have.plugin_filename, name))
    if (have.arguments or {}) != dict(want.arguments or {}):
        fields.append(("arguments", have.arguments, dict(want.arguments or {}) or None))
    if have.error_behavior != want.error_behavior:
        fields.append(("error-behavior", have.error_behavior, want.error_behavior))
    if recorded is not None and recorded.run_async != want.run_async:
        fields.append(("run-async", recorded.run_async, want.run_async))
    return fields


def _trigger_changes(
    triggers: tuple[FleetTrigger, ...], lock: FleetLock, record: NodeRecord, view: NodeView
) -> list[Change]:
    changes = []
    for want in triggers:
        name = lock.plugins[want.plugin].name
        have = view.triggers.get(want.key)
        if have is None:
            create = Change(
                "trigger", "create", want.key, want.spec, trigger=want, plugin_name=name
            )
            changes.append(create)
            continue
        recorded = record.triggers.get(want.key)
        if have.specification != spec_json(want.spec):
            old = recorded.spec if recorded else json.dumps(have.specification)
            spec = (("spec", old, want.spec),)
            changes.append(Change("trigger", "replace", want.key, "", spec, trigger=want))
            continue
        fields = _trigger_fields(want, name, have, recorded)
        if fields:
            changes.append(Change("trigger", "update", want.key, "", tuple(fields), trigger=want))
        elif have.disabled != want.disabled:
            action = "disable" if want.disabled else "enable"
            fields_ = (("enabled", not have.disabled, not want.disabled),)
            changes.append(Change("trigger", action, want.key, "", fields_, trigger=want))
    wanted = {t.key for t in triggers}
    for key in sorted(record.triggers):
        if key not in wanted and key in view.triggers:
            changes.append(Change("trigger", "delete", key, "no longer in the fleet file"))
    return changes


def plan_node(
    fleet: FleetFile, lock: FleetLock, node: FleetNode, record: NodeRecord, view: NodeView
) -> NodePlan:
    """What apply would do on ``node``."""
    triggers = fleet.triggers_for(node)
    changes = [
        Change("database", "create", db) for db in fleet.databases if db not in view.databases
    ]
    installed = set(record.packages)
    changes += [Change("package", "install", p) for p in lock.packages if p not in installed]
    plugins = list({lock.plugins[t.plugin].name: lock.plugins[t.plugin] for t in triggers}.values())
    changes += _plugin_changes(plugins, record, view)
    used = {p.name for p in plugins}
    recorded_plugins = {f.plugin for f in record.files.values()}
    changes += _trigger_changes(triggers, lock, record, view)
    for name in sorted(recorded_plugins - used):  # last: its triggers are deleted by then
        why = "no trigger uses it (InfluxDB 3, which cannot delete files, keeps it, unmanaged)"
        changes.append(Change("plugin", "remove", name, why))
    managed = {t.key for t in triggers} | set(record.triggers)
    unmanaged = tuple(sorted(k for k in view.triggers if k not in managed))
    return NodePlan(node, tuple(changes), unmanaged=unmanaged)
