"""``pluginmgr list``: every plugin of the node, the triggers that use it, the venv's packages.

Read-only, and no plugin is fetched: the rows come from `pluginmgr.node.inventory` (which also
describes where triggers are read and how a trigger is matched to its plugin). Triggers come
from the first of::

    -H/--host or INFLUXDB3_HOST_URL, given explicitly   the running server's trigger list
    --data-dir, INFLUXDB3_DB_DIR or PLUGINMGR_DATA_DIR   DATA_DIR/catalog.json, read only
    neither                                              unknown (shown as ``?``)

``--format csv`` writes two CSV tables separated by one blank line, each under its header row:
the plugins (``ref,origin,kind,version,sha256,size,triggers``), then the packages
(``package,version,required_by,installed_version,status``). Lists inside a cell are
joined with ``;``; a triggers cell of ``?`` means the triggers are unknown.
"""

from __future__ import annotations

import csv
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Final, TypeVar

import click
from click.core import ParameterSource

from ..deps.pylock import PYLOCK_NAME, read_pylock
from ..deps.venv import PluginEnv, default_venv_path
from ..node.inventory import (
    PackageRow,
    PluginRow,
    Triggers,
    package_rows,
    plugin_rows,
    require_plugin_dir,
)
from ._common import emit_json, manager_from, pass_options, settings_options
from ._deps_common import venv_location_option
from ._triggers import TriggerQuery, trigger_options

__all__ = ["TriggerQuery", "list_command", "trigger_options"]

F = TypeVar("F", bound=Callable[..., Any])

_FORMATS: Final = click.Choice(["pretty", "json", "csv"])
_EXPLICIT: Final = (ParameterSource.COMMANDLINE, ParameterSource.ENVIRONMENT)
_PLUGIN_COLUMNS: Final = ("ref", "origin", "kind", "version", "sha256", "size", "triggers")
_PACKAGE_COLUMNS: Final = tuple("package version required_by installed_version status".split())

# -- triggers ------------------------------------------------------------------------------------


# -- output --------------------------------------------------------------------------------------


def _size(size: int | None) -> str:
    if size is None:
        return "-"
    if size < 1024:
        return f"{size} B"
    if size < 1024**2:
        return f"{size / 1024:.1f} KiB"
    if size < 1024**3:
        return f"{size / 1024**2:.1f} MiB"
    return f"{size / 1024**3:.1f} GiB"


def _triggers_cell(row: PluginRow, *, sep: str) -> str:
    if row.triggers is None:
        return "?"
    return sep.join(t.label for t in row.triggers)


def _installed_cell(row: PackageRow) -> str:
    return {
        "ok": "yes",
        "missing": "no",
        "mismatch": f"no ({row.installed} installed)",
        "not-applicable": "n/a (marker)",
        "extraneous": "yes, not locked",
    }.get(row.status, row.status)


def _print_pretty(
    plugins: Sequence[PluginRow], packages: Sequence[PackageRow], triggers: Triggers, lock: str
) -> None:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    # a terminal gets tables that fit it (long cells wrap, never cut); a pipe, natural width
    console = Console(highlight=False, width=None if sys.stdout.isatty() else 100_000)
    console.print(Text(f"plugins ({triggers.describe()})"))
    table = Table()
    for column in ("plugin", "origin", "version", "sha256", "size", "triggers"):
        table.add_column(column, overflow="fold")
    for row in plugins:
        ref = row.ref + (f"\nerror: {row.problem}" if row.problem else "")
        origin = row.origin if row.in_use or row.origin != "local" else "local, not in use"
        cells = (ref, origin, row.version or "-", (row.sha256 or "-")[:12], _size(row.size))
        table.add_row(*(Text(c) for c in (*cells, _triggers_cell(row, sep="\n"))))
    console.print(table)
    where = lock or "no pylock.toml: run `pluginmgr deps lock`"
    console.print(Text(f"packages ({where})"))
    if not packages:
        console.print(Text("  none"))
        return
    table = Table()
    for column in ("package", "version", "required by", "installed"):
        table.add_column(column, overflow="fold")
    for package in packages:
        package_cells = (
            package.name,
            package.version or "-",
            "\n".join(package.required_by) or "-",
            _installed_cell(package),
        )
        table.add_row(*(Text(c) for c in package_cells))
    console.print(table)


def _plugin_json(row: PluginRow) -> dict[str, Any]:
    triggers = None
    if row.triggers is not None:
        triggers = [
            {"database": t.database, "trigger_name": t.name, "disabled": t.disabled}
            for t in row.triggers
        ]
    return {
        "ref": row.ref,
        "origin": row.origin,
        "kind": row.kind,
        "version": row.version,
        "rev": row.rev,
        "commit": row.commit,
        "sha256": row.sha256,
        "size": row.size,
        "triggers": triggers,
        "problem": row.problem,
        "in_use": row.in_use,
    }


def _package_json(row: PackageRow) -> dict[str, Any]:
    return {
        "name": row.name,
        "version": row.version,
        "required_by": list(row.required_by),
        "installed_version": row.installed,
        "status": row.status,
    }


def _csv_cells(data: Mapping[str, Any], columns: Sequence[str]) -> list[str]:
    values = (data[column] for column in columns)
    return [";".join(v) if isinstance(v, list) else "" if v is None else str(v) for v in values]


def _print_csv(plugins: Sequence[PluginRow], packages: Sequence[PackageRow]) -> None:
    writer = csv.writer(sys.stdout, lineterminator="\n")
    writer.writerow(_PLUGIN_COLUMNS)
    for row in plugins:
        data = {**_plugin_json(row), "triggers": _triggers_cell(row, sep=";")}
        writer.writerow(_csv_cells(data, _PLUGIN_COLUMNS))
    sys.stdout.write("\n")
    writer.writerow(_PACKAGE_COLUMNS)
    for package in packages:
        writer.writerow(
            _csv_cells({**_package_json(package), "package": package.name}, _PACKAGE_COLUMNS)
        )


@click.command("list")
@click.option("--format", "output", type=_FORMATS, default="pretty", show_default=True)
@venv_location_option
@trigger_options
@settings_options
@pass_options
def list_command(options: dict[str, Any]) -> None:
    """List every plugin (pinned and local) with the triggers using it, and the venv's packages.

    Triggers come from the server with -H/--host, else from --data-dir's catalog.json.
    """
    output, location = options.pop("output"), options.pop("virtual_env_location")
    query = TriggerQuery.from_options(options)
    options["offline"] = True  # a listing reads the lock, the store and the plugin dir; no fetch
    with manager_from(options) as manager:
        plugin_dir = require_plugin_dir(manager)
        env = PluginEnv(Path(location) if location else default_venv_path(plugin_dir))
        triggers = query.read()
        plugins = plugin_rows(manager, env.venv_path, triggers)
        lock_file = manager.settings.lock_path
    pylock_path = plugin_dir / PYLOCK_NAME
    lock = read_pylock(pylock_path)
    packages = package_rows(lock, env)
    if output == "json":
        source = None
        if triggers.rows is not None:
            source = {"kind": triggers.source, "location": triggers.location}
        emit_json(
            {
                "plugin_dir": str(plugin_dir),
                "lock_file": str(lock_file),
                "triggers_source": source,
                "plugins": [_plugin_json(row) for row in plugins],
                "pylock": str(pylock_path) if lock is not None else None,
                "venv": str(env.venv_path),
                "packages": [_package_json(row) for row in packages],
            }
        )
    elif output == "csv":
        _print_csv(plugins, packages)
    else:
        _print_pretty(plugins, packages, triggers, str(pylock_path) if lock is not None else "")
