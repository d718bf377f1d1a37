"""Commands that talk to a running server: ``create``, ``enable``, ``disable``, ``delete``,
``show``, ``write`` and ``query`` (InfluxDB 3's client commands, same endpoints and bodies).

``create token`` is the exception: it writes the server's token file directly (no HTTP).
"""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, Final, TypeVar

import click

from .client import ServerClient, ServerError, server_options

__all__ = ["create", "delete", "disable", "enable", "fetch_triggers", "query", "show", "write"]

F = TypeVar("F", bound=Callable[..., Any])

_TRIGGER_PATH: Final = "/api/v3/configure/processing_engine_trigger"
_DATABASE_PATH: Final = "/api/v3/configure/database"
_WRITE_PATH: Final = "/api/v3/write_lp"
_QUERY_PATH: Final = "/api/v3/query_sql"
_TABLE_FORMATS: Final = click.Choice(["pretty", "json", "csv"])
_TRIGGER_COLUMNS: Final = (
    "trigger_name",
    "plugin_filename",
    "trigger_specification",
    "disabled",
    "error_behavior",
    "state",
)
_PRECISIONS: Final = {
    "auto": "auto",
    "nanosecond": "nanosecond",
    "ns": "nanosecond",
    "n": "nanosecond",
    "microsecond": "microsecond",
    "us": "microsecond",
    "u": "microsecond",
    "millisecond": "millisecond",
    "ms": "millisecond",
    "second": "second",
    "s": "second",
}


def _database_option(*, required: bool) -> Callable[[F], F]:
    return click.option(
        "-d",
        "--database",
        envvar="INFLUXDB3_DATABASE_NAME",
        required=required,
        default=None,
        help="Database name. [env: INFLUXDB3_DATABASE_NAME]",
    )


# -- output --------------------------------------------------------------------------------------


def _cell(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    if isinstance(value, list | tuple):
        return ",".join(_cell(item) for item in value)
    if isinstance(value, dict):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


def _print_rows(rows: Sequence[dict[str, Any]], columns: Sequence[str], output: str) -> None:
    """Rows as a rich table (``pretty``), a JSON array (``json``) or CSV with a header row."""
    if output == "json":
        click.echo(json.dumps(list(rows), indent=2))
    elif output == "csv":
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(columns)
        writer.writerows([_cell(row.get(column)) for column in columns] for row in rows)
    else:
        from rich.console import Console
        from rich.table import Table

        table = Table()
        for column in columns:
            table.add_column(column, overflow="fold")  # wrap long values, never cut them
        for row in rows:
            table.add_row(*(_cell(row.get(column)) for column in columns))
        # piped output is not cut to 80 columns: the table takes its natural width
        width = None if sys.stdout.isatty() else 100_000
        Console(highlight=False, width=width).print(table)


def _columns_of(rows: Iterable[dict[str, Any]]) -> list[str]:
    columns: dict[str, None] = {}
    for row in rows:
        columns.update(dict.fromkeys(row))
    return list(columns)


def _parse_key_values(text: str | None, option: str) -> dict[str, str] | None:
    from .plugin_test import parse_key_values  # upstream's split: on `,`, then the first `=`

    return parse_key_values(text, option=option)


# -- create --------------------------------------------------------------------------------------


@click.group()
def create() -> None:
    """Create a database, a trigger or an API token."""


@create.command("database")
@click.argument("name")
@server_options
def create_database(name: str, host: str, token: str | None) -> None:
    """Create the database NAME on the server."""
    with ServerClient(host, token) as client:
        client.request("POST", _DATABASE_PATH, json_body={"db": name})
    click.echo(f'Database "{name}" created successfully')


def _trigger_spec(_ctx: click.Context, _param: click.Parameter, value: str) -> str:
    from engine_runtime import TriggerSpecError, parse_trigger_spec

    try:
        return str(parse_trigger_spec(value))  # the CLI sends the canonical form, as upstream
    except TriggerSpecError as exc:
        raise click.BadParameter(str(exc)) from None


@create.command("trigger")
@click.argument("name")
@click.option(
    "--trigger-spec",
    required=True,
    callback=_trigger_spec,
    help="table:<TABLE>, all_tables, cron:<EXPR>, every:<DURATION> or request:<PATH>.",
)
@click.option("--plugin-filename", required=True, help="Plugin file, directory or gh: reference.")
@_database_option(required=True)
@click.option(
    "--trigger-arguments",
    default=None,
    metavar="K=V,...",
    help="Arguments passed to the plugin as `args` (a value cannot contain a comma).",
)
@click.option("--run-asynchronous", is_flag=True, help="Let runs of this trigger overlap.")
@click.option(
    "--error-behavior",
    type=click.Choice(["log", "retry", "disable"]),
    default="log",
    show_default=True,
    help="What to do when the plugin raises.",
)
@click.option("--disabled", is_flag=True, help="Create the trigger disabled.")
@server_options
def create_trigger(**options: Any) -> None:
    """Create the trigger NAME that runs a plugin on writes, on a schedule or on requests."""
    name = options["name"]
    body = {
        "db": options["database"],
        "plugin_filename": options["plugin_filename"],
        "trigger_name": name,
        "trigger_specification": options["trigger_spec"],
        "trigger_settings": {
            "run_async": options["run_asynchronous"],
            "error_behavior": options["error_behavior"],
        },
        "trigger_arguments": _parse_key_values(options["trigger_arguments"], "--trigger-arguments"),
        "disabled": options["disabled"],
    }
    with ServerClient(options["host"], options["token"]) as client:
        client.request("POST", _TRIGGER_PATH, json_body=body)
    click.echo(f"Trigger {name} created successfully")


@create.command("token")
@click.option("--admin", is_flag=True, help="Create an admin token (the only kind for now).")
@click.option("--name", default="_admin", show_default=True, help="Name of the token.")
@click.option(
    "--data-dir",
    envvar="INFLUXDB3_DB_DIR",
    required=True,
    type=click.Path(file_okay=False),
    help="The server's --data-dir; the token goes to DATA_DIR/tokens.json. [env: INFLUXDB3_DB_DIR]",
)
@click.option("--format", "output", type=click.Choice(["pretty", "json"]), default="pretty")
def create_token(admin: bool, name: str, data_dir: str, output: str) -> None:
    """Create an API token in the server's data directory (no server needed); shown once."""
    if not admin:
        raise click.UsageError("only admin tokens are supported: pass --admin")
    from ..server.auth import TokenStore  # the server side; loaded only for this command

    directory = Path(data_dir)
    directory.mkdir(parents=True, exist_ok=True)
    token = TokenStore(directory / "tokens.json").create(name, admin=True)
    if output == "json":
        click.echo(json.dumps({"name": name, "token": token, "admin": True}))
        return
    click.echo(
        f"New token created successfully!\n\n"
        f"Token: {token}\n"
        f"HTTP Requests Header: Authorization: Bearer {token}\n\n"
        "IMPORTANT: Store this token securely, as it will not be shown again."
    )


# -- enable / disable / delete ------------------------------------------------------------------


def _toggle(action: str, name: str, database: str, host: str, token: str | None) -> None:
    params = {"db": database, "trigger_name": name}
    with ServerClient(host, token) as client:
        client.request("POST", f"{_TRIGGER_PATH}/{action}", params=params)
    click.echo(f"Trigger {name} {action}d successfully")


@click.group()
def enable() -> None:
    """Enable a trigger."""


@enable.command("trigger")
@click.argument("name")
@_database_option(required=True)
@server_options
def enable_trigger(name: str, database: str, host: str, token: str | None) -> None:
    """Enable (and start) the trigger NAME."""
    _toggle("enable", name, database, host, token)


@click.group()
def disable() -> None:
    """Disable a trigger."""


@disable.command("trigger")
@click.argument("name")
@_database_option(required=True)
@server_options
def disable_trigger(name: str, database: str, host: str, token: str | None) -> None:
    """Disable (and stop) the trigger NAME; its cache is dropped."""
    _toggle("disable", name, database, host, token)


@click.group()
def delete() -> None:
    """Delete a trigger."""


@delete.command("trigger")
@click.argument("name")
@_database_option(required=True)
@click.option("--force", is_flag=True, help="Delete even if the trigger is running.")
@server_options
def delete_trigger(name: str, database: str, force: bool, host: str, token: str | None) -> None:
    """Delete the trigger NAME (its plugin files stay on disk)."""
    body = {"db": database, "trigger_name": name, "force": force}
    with ServerClient(host, token) as client:
        client.request("DELETE", _TRIGGER_PATH, json_body=body)
    click.echo(f"Trigger {name} deleted successfully")


# -- show ----------------------------------------------------------------------------------------


def _fetch_triggers(database: str | None, host: str, token: str | None) -> list[dict[str, Any]]:
    params = {"db": database, "format": "json"} if database else {"format": "json"}
    with ServerClient(host, token) as client:
        data = client.get_json(_TRIGGER_PATH, params=params)
    if isinstance(data, dict) and isinstance(data.get("triggers"), list):
        data = data["triggers"]
    if not isinstance(data, list) or not all(isinstance(row, dict) for row in data):
        message = f"the server at {host} answered {_TRIGGER_PATH} with an unexpected shape"
        raise ServerError(message)
    return data


#: every trigger of the server (of ``database`` when given), as rows of its JSON answer
fetch_triggers = _fetch_triggers


def _show_options(func: F) -> F:
    func = server_options(func)
    func = click.option("--format", "output", type=_TABLE_FORMATS, default="pretty")(func)
    return _database_option(required=False)(func)


@click.group()
def show() -> None:
    """Show triggers, the plugins they run, or a summary."""


@show.command("triggers")
@_show_options
def show_triggers(database: str | None, output: str, host: str, token: str | None) -> None:
    """List the triggers (of one database with -d)."""
    _print_rows(_fetch_triggers(database, host, token), _TRIGGER_COLUMNS, output)


def _plugin_rows(triggers: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    by_plugin: dict[str, list[str]] = {}
    for trigger in triggers:
        names = by_plugin.setdefault(str(trigger.get("plugin_filename")), [])
        names.append(str(trigger.get("trigger_name")))
    return [
        {"plugin_filename": plugin, "trigger_count": len(names), "triggers": sorted(names)}
        for plugin, names in sorted(by_plugin.items())
    ]


#: the server's plugin inventory (a pluginmgr extension; see routes_engine.list_plugins)
PLUGINS_PATH: Final = "/api/v3/pluginmgr/plugins"
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


def _plugin_summary(info: dict[str, Any]) -> dict[str, Any]:
    """One table row: arguments as ``type: name*, name`` (``*`` = required), uses as db/name."""
    arguments = [
        f"{kind}: " + ", ".join(a["name"] + ("*" if a.get("required") else "") for a in args)
        for kind, args in dict(info.get("arguments") or {}).items()
        if args
    ]
    used_by = [
        f"{u['database']}/{u['trigger_name']}" + (" (disabled)" if u.get("disabled") else "")
        for u in info.get("used_by") or ()
    ]
    return {
        "plugin": info.get("plugin"),
        "name": info.get("name"),
        "version": info.get("version"),
        "triggers": info.get("triggers") or [],
        "dependencies": [*(info.get("python") or ()), *(info.get("plugins") or ())],
        "arguments": "; ".join(arguments),
        "used_by": used_by,
        "problems": "; ".join(info.get("problems") or ()),
    }


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
        rows = _plugin_rows(_fetch_triggers(database, host, token))
        _print_rows(rows, ("plugin_filename", "trigger_count", "triggers"), output)
        return
    if not isinstance(data, list) or not all(isinstance(row, dict) for row in data):
        message = f"the server at {host} answered {PLUGINS_PATH} with an unexpected shape"
        raise ServerError(message)
    if output == "json":
        click.echo(json.dumps(data, indent=2))
        return
    _print_rows([_plugin_summary(info) for info in data], _PLUGIN_COLUMNS, output)


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
    rows = _summary_rows(_fetch_triggers(database, host, token))
    _print_rows(rows, ("trigger_type", "triggers", "enabled", "disabled", "plugins"), output)


# -- write / query -------------------------------------------------------------------------------


def _line_protocol(text: str | None, file: str | None) -> bytes:
    if text is not None and file is not None:
        raise click.UsageError("pass LINE_PROTOCOL or --file F, not both")
    if file is not None:
        return Path(file).read_bytes()
    if text is None:
        raise click.UsageError("pass LINE_PROTOCOL, --file F, or - to read standard input")
    return sys.stdin.buffer.read() if text == "-" else text.encode()


@click.command()
@click.argument("line_protocol", required=False)
@_database_option(required=True)
@click.option(
    "-f",
    "--file",
    type=click.Path(exists=True, dir_okay=False),
    default=None,
    help="File of line protocol to write.",
)
@click.option(
    "--precision",
    type=click.Choice(list(_PRECISIONS)),
    default=None,
    help="Timestamp precision. [server default: auto]",
)
@click.option(
    "--accept-partial/--no-accept-partial",
    default=True,
    show_default=True,
    help="Write the valid lines even if some lines are rejected.",
)
@click.option("--no-sync", is_flag=True, help="Answer before the write is persisted.")
@server_options
def write(**options: Any) -> None:
    """Write LINE_PROTOCOL (or --file F, or - for stdin) to the database."""
    body = _line_protocol(options["line_protocol"], options["file"])
    params = {"db": options["database"]}
    if options["precision"]:
        params["precision"] = _PRECISIONS[options["precision"]]
    if not options["accept_partial"]:
        params["accept_partial"] = "false"
    if options["no_sync"]:
        params["no_sync"] = "true"
    headers = {"Content-Type": "text/plain; charset=utf-8"}
    with ServerClient(options["host"], options["token"]) as client:
        client.request("POST", _WRITE_PATH, params=params, content=body, headers=headers)


def _query_params(items: Sequence[str]) -> dict[str, str]:
    params: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            message = f'invalid value {item!r} for --param: must be formatted as "key=value"'
            raise click.UsageError(message)
        params[key] = value
    return params


@click.command()
@click.argument("sql")
@_database_option(required=True)
@click.option(
    "--format",
    "output",
    type=click.Choice(["pretty", "json", "jsonl", "csv"]),
    default="pretty",
    show_default=True,
)
@click.option("--param", "params", multiple=True, metavar="K=V", help="Query parameter $K.")
@server_options
def query(**options: Any) -> None:
    """Run the SQL query on the database and print the result."""
    output, params = options["output"], _query_params(options["params"])
    # pretty is rendered here from JSON; the other formats come from the server verbatim
    wire = "json" if output == "pretty" else output
    with ServerClient(options["host"], options["token"]) as client:
        if params:
            body = {"db": options["database"], "q": options["sql"], "format": wire}
            response = client.request("POST", _QUERY_PATH, json_body={**body, "params": params})
        else:
            fields = {"db": options["database"], "q": options["sql"], "format": wire}
            response = client.request("GET", _QUERY_PATH, params=fields)
    if output != "pretty":
        click.echo(response.text, nl=not response.text.endswith("\n"))
        return
    try:
        rows = response.json()
    except ValueError as exc:
        raise ServerError(f"the server answered the query with invalid JSON: {exc}") from exc
    if not isinstance(rows, list):
        raise ServerError("the server answered the query with something other than a JSON array")
    _print_rows(rows, _columns_of(rows), "pretty")
