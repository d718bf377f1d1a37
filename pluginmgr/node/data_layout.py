"""Where a node keeps its data in the data directory, as upstream: one directory per node id.

::

    DATA_DIR/tokens.json        the tokens (shared by the nodes of the directory, as upstream's
                                catalog-level tokens are)
    DATA_DIR/NODE_ID/store/     the write-ahead log and the persisted files
    DATA_DIR/NODE_ID/catalog.json  databases, triggers, cache definitions
    DATA_DIR/NODE_ID/cache.pickle  the caches' contents, saved at stop

A data directory from before the per-node layout (``store/`` and ``catalog.json`` at the top) is
moved into ``DATA_DIR/NODE_ID/`` the first time ``serve`` starts on it: two renames on one file
system, nothing copied. Readers that take only ``--data-dir`` (``list``, ``remove``, ``doctor``)
read the node that ``INFLUXDB3_NODE_IDENTIFIER_PREFIX`` names, else the only node there.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from ..atomic import private_dir
from ..errors import PluginManagerError

__all__ = [
    "NODE_ID_ENV",
    "DataLayoutError",
    "NodeData",
    "check_node_id",
    "node_data",
    "open_node_data",
]

NODE_ID_ENV: Final = "INFLUXDB3_NODE_IDENTIFIER_PREFIX"
_STORE: Final = "store"
_CATALOG: Final = "catalog.json"
_CACHES: Final = "cache.pickle"  # the engine's last-value and distinct caches, saved at stop


class DataLayoutError(PluginManagerError):
    """The data directory cannot be read as one node's data."""


@dataclass(frozen=True, slots=True)
class NodeData:
    """One node's part of a data directory: ``root`` is ``DATA_DIR/NODE_ID`` (``DATA_DIR`` for
    a reader of the flat layout, ``node_id`` None then)."""

    data_dir: Path
    node_id: str | None
    root: Path

    @property
    def store(self) -> Path:
        return self.root / _STORE

    @property
    def catalog(self) -> Path:
        return self.root / _CATALOG

    @property
    def tokens(self) -> Path:
        return self.data_dir / "tokens.json"


def _flat_parts(data_dir: Path) -> list[Path]:
    return [p for p in (data_dir / name for name in (_STORE, _CATALOG, _CACHES)) if p.exists()]


def _nodes(data_dir: Path) -> list[str]:
    if not data_dir.is_dir():
        return []
    return sorted(
        p.name
        for p in data_dir.iterdir()
        if p.is_dir() and ((p / _STORE).is_dir() or (p / _CATALOG).is_file())
    )


def check_node_id(node_id: str) -> None:
    """:raises DataLayoutError: ``node_id`` cannot name a directory of the data dir."""
    if not node_id or node_id in (".", "..") or "/" in node_id or "\\" in node_id:
        message = f"invalid node id {node_id!r}: it names a directory in the data dir"
        raise DataLayoutError(message, hint="use letters, digits, '-' or '_', e.g. node0")
    if node_id in (_STORE, _CATALOG, _CACHES, "tokens.json", "tokens.json.lock"):
        message = f"invalid node id {node_id!r}: the data dir uses that name itself"
        raise DataLayoutError(message, hint="pick another --node-id, e.g. node0")
    if any(ord(c) < 32 for c in node_id):
        message = f"invalid node id {node_id!r}: control characters are not allowed"
        raise DataLayoutError(message, hint="use letters, digits, '-' or '_', e.g. node0")


def open_node_data(data_dir: Path, node_id: str) -> tuple[NodeData, str | None]:
    """The node's data for ``serve`` (directories made); a flat layout is moved in first.

    :returns: the node's data and a one-line notice when data was moved, else None.
    :raises DataLayoutError: the node id cannot name a directory, or the flat layout cannot be
        moved (the node's directory already holds data).
    """
    check_node_id(node_id)
    private_dir(data_dir)  # it holds tokens.json: 0700 when made here, whatever the umask
    node = NodeData(data_dir, node_id, data_dir / node_id)
    flat = _flat_parts(data_dir)
    notice = None
    if flat:
        taken = [p.name for p in flat if (node.root / p.name).exists()]
        if taken:
            message = (
                f"{data_dir} holds data at its top and in {node.root} ({', '.join(taken)}): "
                "it is not clear which is this node's"
            )
            raise DataLayoutError(
                message, hint="move one of them away, or start with another --node-id"
            )
        private_dir(node.root)
        for part in flat:
            os.replace(part, node.root / part.name)
        notice = f"moved this node's data from {data_dir} into {node.root} (one directory per node)"
    private_dir(node.root)  # cache.pickle is unpickled at start: nobody else may write here
    return node, notice


def node_data(data_dir: Path, node_id: str | None = None) -> NodeData | None:
    """The node whose data a reader should read, or None when the data dir holds none yet.

    ``node_id`` (default: ``INFLUXDB3_NODE_IDENTIFIER_PREFIX``) picks one; without it the flat
    layout of older data dirs, else the only node directory.

    :raises DataLayoutError: several nodes and none named, or the named one is not there.
    """
    node_id = node_id or os.environ.get(NODE_ID_ENV) or None
    if _flat_parts(data_dir):  # not served since the per-node layout: one node's data
        return NodeData(data_dir, None, data_dir)
    nodes = _nodes(data_dir)
    if node_id is not None:
        check_node_id(node_id)
        return NodeData(data_dir, node_id, data_dir / node_id) if node_id in nodes else None
    if len(nodes) > 1:
        message = f"data directory {data_dir} holds several nodes ({', '.join(nodes)})"
        raise DataLayoutError(message, hint=f"set {NODE_ID_ENV}=NODE_ID, or pass -H URL")
    return NodeData(data_dir, nodes[0], data_dir / nodes[0]) if nodes else None
