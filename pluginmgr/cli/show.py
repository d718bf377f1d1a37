"""``show triggers``, ``show plugins`` and ``show summary``: what a running server runs.

``--format json`` and ``csv`` are for machines and keep every column; ``pretty`` (the
default) is for people and fits the terminal (`tables`): triggers as a table of the columns
that matter (state says whether a trigger is disabled), plugins as one block each, with the
problems found in their metadata listed after them.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any, Final, TypeVar

import click

from ..errors import ServerError
from ._common import WholeHelpGroup
from ._retention import show_retention
from ._triggers import PLUGINS_PATH, fetch_triggers
from .client import DATABASE_PATH, ServerClient, database_option, server_options
from .tables import output_width, print_rows, records, wrap
from .tokens import show_tokens

__all__ = ["PLUGINS_PATH", "fetch_triggers", "show"]

F = TypeVar("F", bound=Callable[..., Any])

_TABLE_FORMATS: Final = click.Choice(["pretty", "json", "csv"])
_TRIGGER_COLUMNS: Final = (
    "trigger_name",
    "plugin_filename",
    "trigger_specification",
    "disabled",
    "error_behavior",
    "state",
)
#: the pretty table: fewer columns, short headers (``state`` covers ``disabled``)
_TRIGGER_LABELS: Final = {
    "database_name": "database",
    "trigger_name": "trigger",
    "plugin_filename": "plugin",
    "trigger_specification": "spec",
    "error_behavior": "on error",
    "state": "state",
}
_PLUGIN_COLUMNS: Final = (
    "plugin",
    "name",
    "version",
    "triggers",
    "dependencies",
    "arguments",
    "used_by",
    "problems",
)
#: entry point -> the trigger type it serves
_TRIGGER_TYPES: Final = {
    "process_writes": "wal",
    "process_scheduled_call": "schedule",
    "process_request": "request",
}


def _show_options(func: F) -> F:
    func = server_options(func)
    func = click.option("--format", "output", type=_TABLE_FORMATS, default="pretty")(func)
    return database_option(required=False)(func)


@click.group(cls=WholeHelpGroup)
def show() -> None:
    """Show databases, tokens, triggers, the plugins they run, or a summary."""


# -- databases -----------------------------------------------------------------------------------


@show.command("databases")
@server_options
@click.option("--format", "output", type=_TABLE_FORMATS, default="pretty")
def show_databases(output: str, host: str, token: str | None) -> None:
    """List the server's databases."""
    with ServerClient(host, token) as client:
        answer = client.request("GET", DATABASE_PATH, params={"format": "json"})
    rows = answer.json()
    if not isinstance(rows, list) or not all(isinstance(row, dict) for row in rows):
        raise ServerError("the server answered the database list with something other than rows")
    print_rows(rows, ["iox::database"], output)


show.add_command(show_tokens)
show.add_command(show_retention)


# -- triggers ------------------------------------------------------------------------------------


def _pretty_triggers(rows: Sequence[dict[str, Any]], *, database: str | None) -> None:
    columns = list(_TRIGGER_LABELS)
    if database is not None or not any("database_name" in row for row in rows):
        columns.remove("database_name")  # one database, or a server that does not say
    shown = [
        {**row, "state": row.get("state") or ("disabled" if row.get("disabled") else "enabled")}
        for row in rows
    ]
    print_rows(shown, columns, "pretty", labels=_TRIGGER_LABELS)


@show.command("triggers")
@_show_options
def show_triggers(database: str | None, output: str, host: str, token: str | None) -> None:
    """List the triggers (of one database with -d)."""
    rows = fetch_triggers(database, host, token)
    if output == "pretty":
        _pretty_triggers(rows, database=database)
    else:
        print_rows(rows, _TRIGGER_COLUMNS, output)


# -- plugins -------------------------------------------------------------------------------------


def _plugin_rows(triggers: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    by_plugin: dict[str, list[str]] = {}
    for trigger in triggers:
        names = by_plugin.setdefault(str(trigger.get("plugin_filename")), [])
        names.append(str(trigger.get("trigger_name")))
    return [
        {"plugin_filename": plugin, "trigger_count": len(names), "triggers": sorted(names)}
        for plugin, names in sorted(by_plugin.items())
    ]


def _arguments(info: dict[str, Any]) -> list[str]:
    """Each plugin type's arguments as ``type: name*, name`` (``*`` = required)."""
    return [
        f"{kind}: " + ", ".join(a["name"] + ("*" if a.get("required") else "") for a in args)
        for kind, args in dict(info.get("arguments") or {}).items()
        if args
    ]


def _used_by(info: dict[str, Any]) -> list[str]:
    return [
        f"{u['database']}/{u['trigger_name']}" + (" (disabled)" if u.get("disabled") else "")
        for u in info.get("used_by") or ()
    ]


def _plugin_summary(info: dict[str, Any]) -> dict[str, Any]:
    """One CSV row: arguments as ``type: name*, name`` (``*`` = required), uses as db/name."""
    return {
        "plugin": info.get("plugin"),
        "name": info.get("name"),
        "version": info.get("version"),
        "triggers": info.get("triggers") or [],
        "dependencies": [*(info.get("python") or ()), *(info.get("plugins") or ())],
        "arguments": "; ".join(_arguments(info)),
        "used_by": _used_by(info),
        "problems": "; ".join(info.get("problems") or ()),
    }


def _plugin_block(info: dict[str, Any]) -> tuple[str, list[tuple[str, str]]]:
    """One plugin for people: its reference, then its name and version, the trigger types,
    dependencies and arguments it declares, and the triggers that use it."""
    name = " ".join(str(part) for part in (info.get("name"), info.get("version")) if part)
    kinds = [_TRIGGER_TYPES.get(str(t), str(t)) for t in info.get("triggers") or ()]
    dependencies = [*(info.get("python") or ()), *(info.get("plugins") or ())]
    fields = [
        ("name", f"{name} ({info['kind']})" if info.get("kind") else name),
        ("trigger types", ", ".join(kinds)),
        ("dependencies", ", ".join(map(str, dependencies))),
        ("arguments", "; ".join(_arguments(info))),
    ]
    # what the plugin does not declare is left out; who uses it is always said
    used_by = ("used by", ", ".join(_used_by(info)) or "no trigger")
    return str(info.get("plugin")), [*(field for field in fields if field[1]), used_by]


def _pretty_plugins(data: Sequence[dict[str, Any]]) -> None:
    width = output_width()
    click.echo(records([_plugin_block(info) for info in data], width) or "no plugins")
    problems = [
        problem if problem.startswith(f"{plugin}:") else f"{plugin}: {problem}"
        for info in data
        for plugin in [str(info.get("plugin"))]
        for problem in map(str, info.get("problems") or ())
    ]
    if problems:
        click.echo("\nproblems:")
    for problem in problems:
        first, *rest = wrap(problem, width - 4) if width else [problem]
        click.echo("\n".join([f"  {first}", *(f"    {line}" for line in rest)]))


@show.command("plugins")
@_show_options
def show_plugins(database: str | None, output: str, host: str, token: str | None) -> None:
    """List the plugins (those the triggers use and those in the plugin dir): version, triggers,
    dependencies, argument schema (* = required) and the triggers that use each one."""
    params = {"db": database} if database else None
    try:
        with ServerClient(host, token) as client:
            data = client.get_json(PLUGINS_PATH, params=params)
    except ServerError as exc:
        if exc.status != 404 or "Database not found" in exc.message:
            raise
        # not a pluginmgr server (upstream InfluxDB 3): what the triggers say is all there is
        rows = _plugin_rows(fetch_triggers(database, host, token))
        print_rows(rows, ("plugin_filename", "trigger_count", "triggers"), output)
        return
    if not isinstance(data, list) or not all(isinstance(row, dict) for row in data):
        message = f"the server at {host} answered {PLUGINS_PATH} with an unexpected shape"
        raise ServerError(message)
    if output == "json":
        click.echo(json.dumps(data, indent=2))
    elif output == "csv":
        print_rows([_plugin_summary(info) for info in data], _PLUGIN_COLUMNS, output)
    else:
        _pretty_plugins(data)


# -- summary -------------------------------------------------------------------------------------


def _trigger_type(spec: Any) -> str:
    text = str(spec)
    if text.startswith(("table:", "all_tables")):
        return "wal"
    if text.startswith("request:"):
        return "request"
    return "schedule"


def _summary_rows(triggers: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    rows = []
    for kind in ("wal", "schedule", "request"):
        chosen = [t for t in triggers if _trigger_type(t.get("trigger_specification")) == kind]
        disabled = sum(1 for t in chosen if t.get("disabled"))
        plugins = {str(t.get("plugin_filename")) for t in chosen}
        rows.append(
            {
                "trigger_type": kind,
                "triggers": len(chosen),
                "enabled": len(chosen) - disabled,
                "disabled": disabled,
                "plugins": len(plugins),
            }
        )
    return rows


@show.command("summary")
@_show_options
def show_summary(database: str | None, output: str, host: str, token: str | None) -> None:
    """Count triggers (enabled, disabled) and plugins per trigger type."""
    rows = _summary_rows(fetch_triggers(database, host, token))
    print_rows(rows, ("trigger_type", "triggers", "enabled", "disabled", "plugins"), output)
