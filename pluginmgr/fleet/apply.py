"""Carry out one node's plan, in an order that never leaves a trigger pointing at a missing
file or package: databases, packages, plugin files, then triggers.

A changed trigger goes through a `TriggerUpdater`. `InPlaceUpdater`, the default, changes it
with one ``PUT`` (InfluxDB 3.11's ``update trigger``) and falls back, for good on that node, to
`RecreateUpdater` (disable, delete, create: what every InfluxDB 3 version has) when the node
does not know the operation; a change of ``run_async``, which an update cannot make, is a
re-creation too. A failure stops this node's apply: what
succeeded is recorded in the state, the rest is returned as what is left.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final, Protocol

from ..errors import NodeError, PluginManagerError
from .state import FileRecord, TriggerRecord

if TYPE_CHECKING:
    from .lock import FleetLock, LockedPlugin
    from .node_api import NodeClient
    from .plan import Change, NodePlan
    from .spec import FleetFile, FleetTrigger
    from .state import NodeRecord

__all__ = [
    "InPlaceUpdater",
    "NodeOutcome",
    "RecreateUpdater",
    "TriggerUpdater",
    "apply_node",
    "create_trigger",
]


class TriggerUpdater(Protocol):
    """Changes an existing trigger to ``want`` (its plugin, arguments or settings)."""

    def update(self, client: NodeClient, want: FleetTrigger, plugin_filename: str) -> None: ...


def create_trigger(client: NodeClient, want: FleetTrigger, plugin_filename: str) -> None:
    client.create_trigger(
        database=want.database,
        name=want.name,
        plugin_filename=plugin_filename,
        spec=want.spec,
        arguments=want.arguments,
        error_behavior=want.error_behavior,
        run_async=want.run_async,
        disabled=want.disabled,
    )


def _remove_trigger(client: NodeClient, database: str, name: str) -> None:
    """Disable first, so no run starts while it is deleted (upstream's advice)."""
    client.disable_trigger(database, name)
    client.delete_trigger(database, name)


class RecreateUpdater:
    """Disable, delete and create again: the only update every InfluxDB 3 version has."""

    def update(self, client: NodeClient, want: FleetTrigger, plugin_filename: str) -> None:
        _remove_trigger(client, want.database, want.name)
        create_trigger(client, want, plugin_filename)


#: what a node without an in-place update answers it (no such route, or not that method)
_NO_UPDATE: Final = (404, 405)
#: a plugin file delete that leaves the file where it is (see `_NodeApply.run`)
_KEPT: Final = (404, 405, 409)


class InPlaceUpdater:
    """One ``PUT`` per changed trigger; nodes that answer it 404 or 405 (InfluxDB 3 before
    3.11) are remembered and get `RecreateUpdater`'s disable, delete and create instead.

    The trigger was just seen on the node, so a 404 means the operation, not the trigger, is
    missing. Shared by the nodes of one apply (their threads), hence the lock."""

    def __init__(self) -> None:
        self._without: set[str] = set()
        self._lock = threading.Lock()
        self._recreate = RecreateUpdater()

    def update(self, client: NodeClient, want: FleetTrigger, plugin_filename: str) -> None:
        with self._lock:
            lacking = client.node.name in self._without
        if not lacking:
            try:
                client.update_trigger(
                    database=want.database,
                    name=want.name,
                    plugin_filename=plugin_filename,
                    arguments=want.arguments,
                    error_behavior=want.error_behavior,
                    disabled=want.disabled,
                )
            except NodeError as exc:
                if exc.status not in _NO_UPDATE:
                    raise
                with self._lock:
                    self._without.add(client.node.name)
            else:
                return
        self._recreate.update(client, want, plugin_filename)


@dataclass(frozen=True, slots=True)
class NodeOutcome:
    """What an apply did on a node and, if it stopped, why and what is left."""

    node: str
    done: tuple[Change, ...]
    left: tuple[Change, ...] = ()
    error: str | None = None
    seconds: float = 0.0


def _record_trigger(want: FleetTrigger, plugin_filename: str) -> TriggerRecord:
    return TriggerRecord(
        plugin_filename=plugin_filename,
        spec=want.spec,
        arguments=dict(want.arguments) if want.arguments is not None else None,
        error_behavior=want.error_behavior,
        run_async=want.run_async,
        disabled=want.disabled,
    )


class _NodeApply:
    def __init__(
        self, client: NodeClient, lock: FleetLock, record: NodeRecord, updater: TriggerUpdater
    ) -> None:
        self.client, self.lock, self.record, self.updater = client, lock, record, updater
        #: trigger name -> plugin it runs on the node, for an atomic directory replace
        self.running: dict[str, str] = {}
        self._names: Counter[str] | None = None

    def _unique(self, trigger: str) -> bool:
        """Whether ``trigger`` names one trigger in all the node's databases: the directory
        API takes a trigger name alone and replaces the plugin of the first one so named."""
        if self._names is None:
            databases = sorted(self.client.databases())
            self._names = Counter(n for db in databases for n in self.client.trigger_names(db))
        return self._names[trigger] == 1

    def upload(self, plugin: LockedPlugin) -> None:
        runner = next((t for t, p in self.running.items() if p == plugin.name), None)
        if plugin.is_directory and runner is not None and self._unique(runner):
            prefix = f"{plugin.name}/"
            self.client.replace_directory(
                runner, {k.removeprefix(prefix): c for k, c in plugin.files.items()}
            )
        else:
            for key, content in sorted(plugin.files.items()):
                self.client.write_file(key, content)
        for key in [k for k, f in self.record.files.items() if f.plugin == plugin.name]:
            del self.record.files[key]
        for key, content in plugin.files.items():
            sha, size = plugin.file_sha256[key], len(content.encode())
            self.record.files[key] = FileRecord(plugin.name, sha, size)

    def trigger(self, change: Change) -> None:
        want = change.trigger
        if change.action == "delete":
            database, _, name = change.key.partition("/")
            _remove_trigger(self.client, database, name)
            self.record.triggers.pop(change.key, None)
            return
        assert want is not None  # noqa: S101 - the plan sets it for every other action
        filename = self.lock.plugins[want.plugin].name
        # no update changes a spec or run_async: those are re-created on every node
        recreate = change.action == "replace" or (
            change.action == "update" and any(f[0] == "run-async" for f in change.fields)
        )
        if change.action == "create":
            create_trigger(self.client, want, filename)
        elif recreate:
            RecreateUpdater().update(self.client, want, filename)
        elif change.action == "update":
            self.updater.update(self.client, want, filename)
        elif change.action == "enable":
            self.client.enable_trigger(want.database, want.name)
        else:
            self.client.disable_trigger(want.database, want.name)
        self.record.triggers[want.key] = _record_trigger(want, filename)

    def run(self, change: Change) -> None:
        if change.kind == "database":
            self.client.create_database(change.key)
        elif change.kind == "plugin" and change.action == "remove":
            try:
                self.client.delete_file(change.key)
            except NodeError as exc:
                # 404/405: InfluxDB 3 cannot delete files (or it is gone); 409: a trigger the
                # fleet does not manage runs it. Either way it stays, no longer managed.
                if exc.status not in _KEPT:
                    raise
            for key in [k for k, f in self.record.files.items() if f.plugin == change.key]:
                del self.record.files[key]
        elif change.kind == "plugin":
            assert change.plugin is not None  # noqa: S101 - the plan sets it
            self.upload(change.plugin)
        elif change.kind == "trigger":
            self.trigger(change)


def apply_node(
    client: NodeClient,
    fleet: FleetFile,
    lock: FleetLock,
    plan: NodePlan,
    record: NodeRecord,
    *,
    updater: TriggerUpdater,
    running: dict[str, str],
) -> NodeOutcome:
    """Apply ``plan`` to the node, updating ``record`` as each step succeeds.

    :param running: trigger name -> plugin the node's triggers run now (from its view).
    """
    start = time.perf_counter()
    work = _NodeApply(client, lock, record, updater)
    work.running = dict(running)
    changes = list(plan.changes)
    packages = [c.key for c in changes if c.kind == "package"]
    done: list[Change] = []
    for index, change in enumerate(changes):
        try:
            if change.kind == "package":
                if change.key == packages[0]:
                    client.install_packages(packages)  # one resolution for all of them
                    record.packages = sorted(set(record.packages) | set(packages))
            else:
                work.run(change)
        except PluginManagerError as exc:
            seconds = time.perf_counter() - start
            return NodeOutcome(
                plan.node.name, tuple(done), tuple(changes[index:]), str(exc), seconds
            )
        done.append(change)
    record.packages = sorted(set(record.packages) & set(lock.packages) | set(packages))
    wanted = {t.key: t for t in fleet.triggers_for(plan.node)}
    record.triggers = {
        key: _record_trigger(t, lock.plugins[t.plugin].name) for key, t in wanted.items()
    }
    record.databases = sorted(set(record.databases) | set(fleet.databases))
    return NodeOutcome(plan.node.name, tuple(done), seconds=time.perf_counter() - start)
