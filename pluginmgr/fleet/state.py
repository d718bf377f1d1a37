"""The state file beside the fleet file: what the last apply put on each node.

InfluxDB 3's API shows a plugin file's name, size and modification time but not its content,
a trigger's settings but not ``run_async``, and no installed package at all; the plan compares
those with what the last apply recorded here. ``<fleet>.state.json``, versioned, written
atomically after every node's apply (also a partial one: what succeeded is recorded).
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from ..atomic import atomic_write
from ..errors import FleetFileError

__all__ = ["FileRecord", "FleetState", "NodeRecord", "TriggerRecord", "state_path"]

FORMAT_VERSION: Final = 1


@dataclass(frozen=True, slots=True)
class FileRecord:
    """A file of ``plugin`` as uploaded (``sha256``), then seen on the node (size, ms)."""

    plugin: str
    sha256: str
    size: int
    last_modified: int | None = None


@dataclass(frozen=True, slots=True)
class TriggerRecord:
    """A trigger as the last apply created it."""

    plugin_filename: str
    spec: str
    arguments: dict[str, str] | None
    error_behavior: str
    run_async: bool
    disabled: bool


@dataclass(slots=True)
class NodeRecord:
    """What the fleet manages on one node."""

    applied_at: str | None = None
    databases: list[str] = field(default_factory=list)
    packages: list[str] = field(default_factory=list)
    files: dict[str, FileRecord] = field(default_factory=dict)
    triggers: dict[str, TriggerRecord] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "applied_at": self.applied_at,
            "databases": sorted(self.databases),
            "packages": sorted(self.packages),
            "files": {k: vars_of(v) for k, v in sorted(self.files.items())},
            "triggers": {k: vars_of(v) for k, v in sorted(self.triggers.items())},
        }

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> NodeRecord:
        return cls(
            applied_at=raw.get("applied_at"),
            databases=list(raw.get("databases", [])),
            packages=list(raw.get("packages", [])),
            files={k: FileRecord(**v) for k, v in raw.get("files", {}).items()},
            triggers={k: TriggerRecord(**v) for k, v in raw.get("triggers", {}).items()},
        )


def vars_of(record: FileRecord | TriggerRecord) -> dict[str, Any]:
    return {name: getattr(record, name) for name in record.__slots__}


def state_path(fleet_file: Path) -> Path:
    """``fleet.toml`` -> ``fleet.state.json`` beside it."""
    return fleet_file.with_name(f"{fleet_file.stem}.state.json")


class FleetState:
    """The state file's nodes; `save` is safe from several nodes' threads."""

    def __init__(self, path: Path, nodes: dict[str, NodeRecord]) -> None:
        self.path = path
        self.nodes = nodes
        self._lock = threading.Lock()

    @classmethod
    def read(cls, path: Path) -> FleetState:
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return cls(path, {})
        except (OSError, ValueError) as exc:
            hint = "delete it: the next plan then treats every file and package as new"
            raise FleetFileError(f"{path}: unreadable state file: {exc}", hint=hint) from exc
        version = raw.get("format_version") if isinstance(raw, dict) else None
        if version != FORMAT_VERSION:
            hint = "it was written by another pluginmgr version; upgrade pluginmgr or delete it"
            raise FleetFileError(f"{path}: state format {version!r} is not supported", hint=hint)
        try:
            nodes = {name: NodeRecord.from_json(n) for name, n in raw["nodes"].items()}
        except (KeyError, TypeError, AttributeError) as exc:
            hint = "delete it: the next plan then treats every file and package as new"
            raise FleetFileError(f"{path}: malformed state file: {exc}", hint=hint) from exc
        return cls(path, nodes)

    def node(self, name: str) -> NodeRecord:
        return self.nodes.get(name) or NodeRecord()

    def save(self, name: str, record: NodeRecord) -> None:
        """Record ``name``'s state and write the file (all nodes) atomically."""
        with self._lock:
            self.nodes[name] = record
            payload = {
                "format_version": FORMAT_VERSION,
                "nodes": {n: r.to_json() for n, r in sorted(self.nodes.items())},
            }
            atomic_write(self.path, (json.dumps(payload, indent=2) + "\n").encode())
