"""``fleet plan``, ``fleet apply`` and ``fleet status``: one fleet file, many InfluxDB 3 nodes,
through InfluxDB 3's own HTTP API (`pluginmgr.fleet`).

Exit status of ``plan``: 0 nothing would change, 2 changes are pending, 1 an error (a node
that cannot be reached is named; the others are still planned). ``apply`` exits 1 when any
node failed, ``status`` when any node is unreachable or drifted.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Final

import click

from ._common import WholeHelpGroup, emit_json

__all__ = ["fleet"]

_FORMATS: Final = click.Choice(["pretty", "json"])
_PENDING: Final = 2


def _file_argument(func: Any) -> Any:
    return click.argument("fleet_file", metavar="FILE", type=click.Path(path_type=Path))(func)


def _common(func: Any) -> Any:
    for option in reversed(
        [
            click.option(
                "--parallel",
                type=click.IntRange(min=1, max=64),
                default=4,
                show_default=True,
                help="Nodes read (and changed) at once.",
            ),
            click.option(
                "--offline",
                is_flag=True,
                help="Build the lock from plugins.lock and the store only (no fetch, no index).",
            ),
            click.option(
                "--format",
                "output",
                type=_FORMATS,
                default="pretty",
                show_default=True,
                help="Text within 80 columns, or JSON.",
            ),
        ]
    ):
        func = option(func)
    return func


def _exit(code: int) -> None:
    if code:
        raise click.exceptions.Exit(code)


@click.group(cls=WholeHelpGroup)
def fleet() -> None:
    """Keep the plugins and triggers of many InfluxDB 3 nodes as one fleet file says."""


_UPGRADE = click.option(
    "--upgrade",
    is_flag=True,
    help="Fetch every remote plugin again and pin what it serves now; newest allowed packages.",
)


@fleet.command()
@_file_argument
@click.option(
    "--target", "targets", multiple=True, metavar="NODE", help="Only this node (repeatable)."
)
@_UPGRADE
@_common
def plan(
    fleet_file: Path,
    targets: tuple[str, ...],
    upgrade: bool,
    parallel: int,
    offline: bool,
    output: str,
) -> None:
    """Show what apply would change on each node (exit 0: nothing, 2: changes pending).

    Lock the fleet's plugins and packages beside FILE (plugins.lock, pylock.toml), read every
    node through its HTTP API and compare: plugin files (against FILE's .state.json, written
    by the last apply), triggers, databases and packages.
    """
    from ..fleet import plan_fleet, plan_json, plan_text, read_fleet_file

    parsed = read_fleet_file(fleet_file)
    _lock, result = plan_fleet(
        parsed, targets=targets, parallel=parallel, offline=offline, upgrade=upgrade
    )
    if output == "json":
        emit_json(plan_json(result))
    else:
        click.echo(plan_text(result))
    _exit(1 if result.failed else _PENDING if result.pending else 0)


@fleet.command()
@_file_argument
@click.option(
    "--target", "targets", multiple=True, metavar="NODE", help="Only this node (repeatable)."
)
@click.option(
    "--stop-on-error",
    is_flag=True,
    help="Start no further node once one failed (nodes already running finish).",
)
@_UPGRADE
@_common
def apply(
    fleet_file: Path,
    targets: tuple[str, ...],
    stop_on_error: bool,
    upgrade: bool,
    parallel: int,
    offline: bool,
    output: str,
) -> None:
    """Make every node match FILE: databases, packages, plugin files, then triggers.

    A node that fails stops with the error and what is left to do; the others go on unless
    --stop-on-error.
    """
    from ..fleet import apply_fleet, apply_json, apply_text, read_fleet_file

    parsed = read_fleet_file(fleet_file)
    result = apply_fleet(
        parsed,
        targets=targets,
        parallel=parallel,
        stop_on_error=stop_on_error,
        offline=offline,
        upgrade=upgrade,
    )
    if output == "json":
        emit_json(apply_json(result))
    else:
        click.echo(apply_text(result))
    _exit(1 if result.failed else 0)


@fleet.command()
@_file_argument
@_common
def status(fleet_file: Path, parallel: int, offline: bool, output: str) -> None:
    """One line per node: reachable, in sync or drifted, and when it was last applied."""
    from ..fleet import fleet_status, read_fleet_file, status_json, status_text

    statuses = fleet_status(read_fleet_file(fleet_file), parallel=parallel, offline=offline)
    if output == "json":
        emit_json(status_json(statuses))
    else:
        click.echo(status_text(statuses))
    _exit(0 if all(s.reachable and not s.changes for s in statuses) else 1)
