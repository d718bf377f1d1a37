"""``store repair``: cut a damaged write-ahead log segment where the damage starts.

The store refuses to start on a WAL record that is damaged anywhere but at a torn tail, and
names the segment's byte offset. ``store repair --truncate-at OFFSET`` keeps the records before
that offset: the offset must be the one the store named (the first damage in the log), so
nothing is cut by mistake. The cut bytes are saved to ``<segment>.corrupt-<offset>`` beside
the segment, and the command says how many records (and lines of line protocol) it could
still read in them: those writes are lost to the store. Run it while the server is stopped:
it holds the node's owner lock (`pluginmgr.node.owner_lock`) while it reads and cuts, so beside
a live server it is refused in one line naming the server's pid, and a server cannot start
meanwhile.
"""

from __future__ import annotations

from pathlib import Path

import click

from engine_runtime.store.durable import SegmentDamage, cut_segment, find_damage, list_segments

from ..errors import PluginManagerError
from ..node.data_layout import node_data
from ..node.owner_lock import hold_node
from ._common import WholeHelpGroup

__all__ = ["store"]


class _RepairError(PluginManagerError):
    """The store cannot be repaired as asked."""


@click.group(cls=WholeHelpGroup)
def store() -> None:
    """Inspect and repair a node's durable store (the WAL and the persisted files)."""


@store.command()
@click.option(
    "--data-dir",
    envvar=["INFLUXDB3_DB_DIR", "PLUGINMGR_DATA_DIR"],
    default=None,
    help="The server's data directory. [env: INFLUXDB3_DB_DIR or PLUGINMGR_DATA_DIR; default: "
    "~/.pluginmgr/data]",
)
@click.option(
    "--node-id",
    envvar="INFLUXDB3_NODE_IDENTIFIER_PREFIX",
    default=None,
    help="The node whose store to repair (default: the only node in the data dir).",
)
@click.option(
    "--store-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="The store directory itself (DATA_DIR/NODE_ID/store), instead of --data-dir.",
)
@click.option(
    "--truncate-at",
    "offset",
    type=click.IntRange(min=0),
    required=True,
    help="Byte offset of the damage, as the error at start named it.",
)
def repair(data_dir: str | None, node_id: str | None, store_dir: Path | None, offset: int) -> None:
    """Cut the damaged WAL segment at --truncate-at OFFSET, saving what is cut beside it.

    Stop the server first. The records after the offset are lost to the store (they stay in
    the saved file); the command says how many it could read there.
    """
    directory = store_dir if store_dir is not None else _node_store(data_dir, node_id)
    wal = directory / "wal"
    if not wal.is_dir():
        message = f"no WAL in {directory} (no {wal.name}/ directory)"
        raise _RepairError(message, hint="pass the server's --data-dir and --node-id")
    refused = "cutting the WAL of a live server would cut acknowledged writes"
    hint = "stop the server (pid {pid}) first, then run store repair again"
    with hold_node(directory.parent, refused=refused, hint=hint):  # the node's directory
        _repair(directory, wal, offset)


def _repair(directory: Path, wal: Path, offset: int) -> None:
    damage = _first_damage(wal)
    if damage is None:
        click.echo(f"every WAL segment in {wal} reads back: nothing to repair")
        return
    if offset != damage.offset:
        message = (
            f"WAL segment {damage.path} is damaged at byte offset {damage.offset}, "
            f"not {offset}: refusing to cut elsewhere"
        )
        hint = f"run: pluginmgr store repair --store-dir {directory} --truncate-at {damage.offset}"
        raise _RepairError(message, hint=hint)
    backup = cut_segment(damage.path, damage.offset)
    click.echo(_report(damage, backup))


def _node_store(data_dir: str | None, node_id: str | None) -> Path:
    root = Path(data_dir).expanduser() if data_dir else Path.home() / ".pluginmgr" / "data"
    if not root.is_dir():
        message = f"data directory {root} does not exist"
        raise _RepairError(message, hint="pass the server's --data-dir, or --store-dir DIR")
    node = node_data(root, node_id)
    if node is None:
        where = f"node {node_id!r} in {root}" if node_id else root
        message = f"no store in {where}"
        raise _RepairError(message, hint="pass the server's --data-dir and --node-id")
    return node.store


def _first_damage(wal: Path) -> SegmentDamage | None:
    for _, path in list_segments(wal):
        damage = find_damage(path)
        if damage is not None:
            return damage
    return None


def _report(damage: SegmentDamage, backup: Path) -> str:
    lost = (
        f"lost {damage.records_lost} readable records ({damage.lines_lost} lines of line "
        "protocol) after the damage"
        if damage.records_lost
        else "no readable record after the damage was lost"
    )
    return (
        f"cut WAL segment {damage.path} at byte offset {damage.offset} ({damage.problem}): "
        f"kept {damage.records_kept} records; {lost}; the {damage.bytes_cut} bytes cut are "
        f"saved in {backup}"
    )
