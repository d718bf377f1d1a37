"""What a node holds, read through its API: databases, triggers, plugin files.

Triggers are read for the databases the fleet file names and those the last apply managed
(a database that no longer exists has none). Plugin files are keyed as the lock keys them:
a single file by its path, a directory plugin's files as ``directory/relative``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from .node_api import NodeClient, PluginFileRow, TriggerRow

__all__ = ["NodeView", "observe"]


@dataclass(frozen=True, slots=True)
class NodeView:
    """A node's databases, triggers (``db/name``) and visible plugin files."""

    databases: frozenset[str]
    triggers: Mapping[str, TriggerRow]
    files: Mapping[str, PluginFileRow]


def _file_key(trigger: TriggerRow, row: PluginFileRow) -> str:
    filename = trigger.plugin_filename.rstrip("/")
    if row.file_name == trigger.plugin_filename:
        return filename
    return f"{filename}/{row.file_name}"


def observe(client: NodeClient, databases: Iterable[str]) -> NodeView:
    """Read the node (`NodeError` when it cannot be reached or refuses)."""
    present = client.databases()
    triggers: dict[str, TriggerRow] = {}
    for database in sorted(set(databases) & present):
        for row in client.triggers(database):
            triggers[f"{database}/{row.name}"] = row
    by_name: dict[str, TriggerRow] = {}
    for row in triggers.values():
        by_name.setdefault(row.name, row)  # plugin_files names the trigger, not its database
    files: dict[str, PluginFileRow] = {}
    if triggers:
        for file_row in client.plugin_files():
            trigger = by_name.get(file_row.trigger)
            if trigger is not None:
                files.setdefault(_file_key(trigger, file_row), file_row)
    return NodeView(frozenset(present), triggers, files)
