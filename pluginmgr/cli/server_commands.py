"""Commands that change a running server: ``create``, ``enable``, ``disable`` and ``delete``
(InfluxDB 3's client commands, same endpoints and bodies).

``show`` lives in `show`, ``write`` and ``query`` in `data`, ``create token`` in `tokens`,
the ``last_cache``/``distinct_cache`` commands in `caches`
(it asks the server, or writes the server's token file). ``create trigger`` prints each
``"warnings"`` entry of the server's answer as ``warning: …`` on stderr, and warns before
sending about a ``request:/PATH`` spec (upstream serves it at ``/api/v3/engine//PATH``). While
the server installs the plugin's packages, its progress lines are printed on stderr as they come.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

import click

from ._common import WholeHelpGroup
from ._retention import retention_period_option
from ._triggers import PLUGINS_PATH, fetch_triggers
from .caches import (
    create_distinct_cache,
    create_last_cache,
    delete_distinct_cache,
    delete_last_cache,
)
from .client import DATABASE_PATH, TRIGGER_PATH, ServerClient, database_option, server_options
from .tokens import create_token, delete_token

if TYPE_CHECKING:
    pass

__all__ = [
    "PLUGINS_PATH",
    "create",
    "delete",
    "disable",
    "enable",
    "fetch_triggers",
    "request_path_warning",
]

_ENGINE_PATH: Final = "/api/v3/engine/"


def _parse_key_values(text: str | None, option: str) -> dict[str, str] | None:
    from ._common import parse_key_values  # upstream's split: on `,`, then the first `=`

    return parse_key_values(text, option=option)


# -- create --------------------------------------------------------------------------------------


@click.group(cls=WholeHelpGroup)
def create() -> None:
    """Create a database, a trigger, a cache or an API token."""


create.add_command(create_token)
create.add_command(create_last_cache)
create.add_command(create_distinct_cache)


@create.command("database")
@click.argument("name")
@retention_period_option
@server_options
def create_database(name: str, retention_period: str | None, host: str, token: str | None) -> None:
    """Create the database NAME on the server (with a retention period, if given)."""
    body: dict[str, Any] = {"db": name}
    if retention_period is not None:
        body["retention_period"] = retention_period
    with ServerClient(host, token) as client:
        client.request("POST", DATABASE_PATH, json_body=body)
    click.echo(f'Database "{name}" created successfully')


def _trigger_spec(_ctx: click.Context, _param: click.Parameter, value: str) -> str:
    from engine_runtime import TriggerSpecError, parse_trigger_spec

    try:
        return str(parse_trigger_spec(value))  # the CLI sends the canonical form, as upstream
    except TriggerSpecError as exc:
        raise click.BadParameter(str(exc)) from None


def request_path_warning(spec: str) -> str | None:
    """The warning for a ``request:/PATH`` spec (served at ``/api/v3/engine//PATH``), if any."""
    kind, _, path = spec.partition(":")
    if kind != "request" or not path.startswith("/"):
        return None
    return (
        f"{spec} starts with a slash: the server serves it at {_ENGINE_PATH}{path} "
        f"(a double slash), as upstream does; use request:{path.lstrip('/')} for "
        f"{_ENGINE_PATH}{path.lstrip('/')}"
    )


def _same_slash_warning(warning: str, spec: str) -> bool:
    """Whether the server's ``warning`` is about the leading slash `request_path_warning` named."""
    doubled = _ENGINE_PATH + spec.partition(":")[2]
    return doubled in warning or (spec in warning and "//" in warning)


def _echo_err(line: str) -> None:
    click.echo(line, err=True)  # the server's progress while it installs the plugin's packages


def _server_warnings(body: Any) -> list[str]:
    """The ``"warnings"`` of the server's answer (none when it answered an empty body)."""
    warnings = body.get("warnings") if isinstance(body, dict) else None
    return [str(w) for w in warnings] if isinstance(warnings, list) else []


@create.command("trigger")
@click.argument("name")
@click.option(
    "--trigger-spec",
    required=True,
    callback=_trigger_spec,
    help="table:<TABLE>, all_tables, cron:<EXPR>, every:<DURATION> or request:<PATH>.",
)
@click.option("--plugin-filename", required=True, help="Plugin file, directory or gh: reference.")
@database_option(required=True)
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
@click.option(
    "--isolated",
    is_flag=True,
    help="Give the trigger its own environment (PLUGIN_DIR/envs/NAME: a venv and a lock of "
    "its plugin's requirements alone) and plugin host, apart from the shared venv.",
)
@click.option(
    "--ignore-database-version",
    is_flag=True,
    help="Create it even if the plugin's manifest excludes the server's InfluxDB version.",
)
@server_options
def create_trigger(**options: Any) -> None:
    """Create the trigger NAME that runs a plugin on writes, on a schedule or on requests."""
    name, spec = options["name"], options["trigger_spec"]
    body = {
        "db": options["database"],
        "plugin_filename": options["plugin_filename"],
        "trigger_name": name,
        "trigger_specification": spec,
        "trigger_settings": {
            "run_async": options["run_asynchronous"],
            "error_behavior": options["error_behavior"],
            **({"isolated": True} if options["isolated"] else {}),
        },
        "trigger_arguments": _parse_key_values(options["trigger_arguments"], "--trigger-arguments"),
        "disabled": options["disabled"],
    }
    if options["ignore_database_version"]:
        body["ignore_database_version"] = True
    ours = request_path_warning(spec)
    if ours:
        click.echo(f"warning: {ours}", err=True)
    with ServerClient(options["host"], options["token"]) as client:
        answer = client.post_with_progress(TRIGGER_PATH, json_body=body, on_progress=_echo_err)
    for warning in _server_warnings(answer):
        if ours and _same_slash_warning(warning, spec):
            continue  # the server says what we already said

        click.echo(f"warning: {warning}", err=True)
    click.echo(f"Trigger {name} created successfully")


# -- enable / disable / delete ------------------------------------------------------------------


def _toggle(action: str, name: str, database: str, host: str, token: str | None) -> None:
    params = {"db": database, "trigger_name": name}
    with ServerClient(host, token) as client:
        client.request("POST", f"{TRIGGER_PATH}/{action}", params=params)
    click.echo(f"Trigger {name} {action}d successfully")


@click.group(cls=WholeHelpGroup)
def enable() -> None:
    """Enable a trigger."""


@enable.command("trigger")
@click.argument("name")
@database_option(required=True)
@server_options
def enable_trigger(name: str, database: str, host: str, token: str | None) -> None:
    """Enable (and start) the trigger NAME."""
    _toggle("enable", name, database, host, token)


@click.group(cls=WholeHelpGroup)
def disable() -> None:
    """Disable a trigger."""


@disable.command("trigger")
@click.argument("name")
@database_option(required=True)
@server_options
def disable_trigger(name: str, database: str, host: str, token: str | None) -> None:
    """Disable (and stop) the trigger NAME; its cache is dropped."""
    _toggle("disable", name, database, host, token)


@click.group(cls=WholeHelpGroup)
def delete() -> None:
    """Delete a database, a trigger, a cache or a token."""


delete.add_command(delete_token)
delete.add_command(delete_last_cache)
delete.add_command(delete_distinct_cache)


@delete.command("database")
@click.argument("name")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@server_options
def delete_database(name: str, yes: bool, host: str, token: str | None) -> None:
    """Delete the database NAME, its tables and its triggers."""
    if not yes:
        click.confirm(f'Are you sure you want to delete "{name}"?', abort=True, err=True)
    with ServerClient(host, token) as client:
        client.request("DELETE", DATABASE_PATH, params={"db": name})
    click.echo(f'Database "{name}" deleted successfully')


@delete.command("trigger")
@click.argument("name")
@database_option(required=True)
@click.option("--force", is_flag=True, help="Delete even if the trigger is running.")
@server_options
def delete_trigger(name: str, database: str, force: bool, host: str, token: str | None) -> None:
    """Delete the trigger NAME (its plugin files stay on disk)."""
    body = {"db": database, "trigger_name": name, "force": force}
    with ServerClient(host, token) as client:
        client.request("DELETE", TRIGGER_PATH, json_body=body)
    click.echo(f"Trigger {name} deleted successfully")
