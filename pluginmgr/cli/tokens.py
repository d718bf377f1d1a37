"""``create token --admin``: an admin token from the running server, or in its data directory.

Where the token is made (`token_plan`)::

    -H/--host or INFLUXDB3_HOST_URL given    the server (POST /api/v3/configure/token/admin);
                                             with --data-dir too, DATA_DIR/tokens.json when the
                                             server cannot make it
    only --data-dir (or INFLUXDB3_DB_DIR,    DATA_DIR/tokens.json, no request at all
      PLUGINMGR_DATA_DIR)
    neither                                  the server at the default host

When both are given the server wins, as upstream's ``influxdb3 create token --admin`` asks the
server: the data directory is the fallback when the server cannot be reached or refuses (it
makes only the first admin token over HTTP; more come from the token file, which a running
server re-reads without a restart). A fallback is announced on stderr with its reason.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Literal

import click
from click.core import ParameterSource

from ..errors import PluginManagerError, ServerError
from .client import ServerClient, server_options

__all__ = ["ADMIN_TOKEN_PATH", "TokenPlan", "create_token", "token_plan"]

#: upstream's endpoint for the first admin token (`pluginmgr.server.routes_tokens`)
ADMIN_TOKEN_PATH: Final = "/api/v3/configure/token/admin"  # noqa: S105 - a path, not a secret
_DEFAULT_NAME: Final = "_admin"
_EXPLICIT: Final = (ParameterSource.COMMANDLINE, ParameterSource.ENVIRONMENT)
_DATA_DIR_HINT: Final = (
    "pass --data-dir DIR (the server's --data-dir) to write an admin token to its token file"
)


class _TokenError(PluginManagerError):
    """No token could be created where the command asked."""


@dataclass(frozen=True, slots=True)
class TokenPlan:
    """Where to create the token: the server at ``host``, then ``data_dir`` (either may be
    None; at least one is set)."""

    host: str | None
    data_dir: Path | None


@dataclass(frozen=True, slots=True)
class _Created:
    name: str
    token: str
    kind: Literal["server", "data_dir"]
    location: str


def token_plan(host: str, *, host_given: bool, data_dir: Path | None) -> TokenPlan:
    """The server first when a host was given (or no data dir was), then the data dir."""
    if data_dir is not None and not host_given:
        return TokenPlan(None, data_dir)
    return TokenPlan(host, data_dir)


def _refusal(host: str, exc: ServerError) -> tuple[str, str | None]:
    """Why the server at ``host`` made no token, and what to do (without a data dir)."""
    if exc.status is None:
        reason = exc.message.removeprefix(f"cannot reach the server at {host}: ")
        message = f"cannot reach the server at {host} to create the token: {reason}"
        hint = "start the server or pass -H/--host URL of the running one; or " + _DATA_DIR_HINT
        return message, hint
    if exc.status in (401, 409):
        message = f"the server at {host} already has an admin token (it makes only the first one)"
        return message, _DATA_DIR_HINT
    if exc.status == 405:
        return f"the server at {host} runs without auth ({exc.message}): it needs no token", None
    if exc.status == 404:
        message = f"the server at {host} has no {ADMIN_TOKEN_PATH} endpoint ({exc.message})"
        return message, _DATA_DIR_HINT
    return f"the server at {host} could not create the token: {exc.message}", _DATA_DIR_HINT


def _from_server(host: str, token: str | None) -> _Created:
    with ServerClient(host, token) as client:
        response = client.request("POST", ADMIN_TOKEN_PATH)
    try:
        body: Any = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict) or not isinstance(body.get("token"), str):
        message = f"the server at {host} answered {ADMIN_TOKEN_PATH} without a token"
        raise ServerError(message, status=response.status_code)
    return _Created(str(body.get("name") or _DEFAULT_NAME), body["token"], "server", client.host)


def _in_data_dir(directory: Path, name: str, *, pick_name: bool) -> _Created:
    from ..server.auth import TokenStore  # the server side; loaded only for this path

    directory.mkdir(parents=True, exist_ok=True)
    store = TokenStore(directory / "tokens.json")
    if pick_name:  # the default name is taken by the server's first token: number the next
        taken = {record.name for record in store.records()}
        base, number = name, 1
        while name in taken:
            number += 1
            name = f"{base}-{number}"
    token = store.create(name, admin=True)
    return _Created(name, token, "data_dir", str(store.path))


def _create(plan: TokenPlan, token: str | None, name: str, *, name_given: bool) -> _Created:
    if plan.host is not None:
        try:
            created = _from_server(plan.host, token)
        except ServerError as exc:
            message, hint = _refusal(plan.host, exc)
            if plan.data_dir is None:
                raise _TokenError(message, hint=hint) from exc
            target = plan.data_dir / "tokens.json"
            click.echo(f"note: {message}; writing the token to {target} instead", err=True)
        else:
            if name_given and created.name != name:
                note = f"note: the server named the token {created.name} (--name is for --data-dir)"
                click.echo(note, err=True)
            return created
    assert plan.data_dir is not None  # noqa: S101 - token_plan sets a host or a data dir
    return _in_data_dir(plan.data_dir, name, pick_name=not name_given)


def _show(created: _Created, output: str) -> None:
    if output == "json":
        source = {"kind": created.kind, "location": created.location}
        click.echo(
            json.dumps(
                {"name": created.name, "token": created.token, "admin": True, "source": source}
            )
        )
        return
    click.echo(
        f"New token created successfully!\n\n"
        f"Token: {created.token}\n"
        f"HTTP Requests Header: Authorization: Bearer {created.token}\n\n"
        "IMPORTANT: Store this token securely, as it will not be shown again."
    )


@click.command("token")
@click.option("--admin", is_flag=True, help="Create an admin token (the only kind for now).")
@click.option(
    "--name",
    default=_DEFAULT_NAME,
    show_default=True,
    help="Name of a token written to --data-dir (the server names its first token _admin).",
)
@click.option(
    "--data-dir",
    envvar=["INFLUXDB3_DB_DIR", "PLUGINMGR_DATA_DIR"],
    default=None,
    type=click.Path(file_okay=False),
    help="The server's --data-dir: write the token to DATA_DIR/tokens.json (without -H: no "
    "server needed; with -H: when the server cannot make it). "
    "[env: INFLUXDB3_DB_DIR, PLUGINMGR_DATA_DIR]",
)
@click.option("--format", "output", type=click.Choice(["pretty", "json"]), default="pretty")
@server_options
def create_token(**options: Any) -> None:
    """Create an admin token: the running server's first one (-H), or one in its data
    directory (--data-dir); it is shown once."""
    if not options["admin"]:
        raise click.UsageError("only admin tokens are supported: pass --admin")
    ctx = click.get_current_context()
    data_dir = Path(options["data_dir"]).expanduser() if options["data_dir"] else None
    host_given = ctx.get_parameter_source("host") in _EXPLICIT
    plan = token_plan(options["host"], host_given=host_given, data_dir=data_dir)
    name_given = ctx.get_parameter_source("name") is ParameterSource.COMMANDLINE
    created = _create(plan, options["token"], options["name"], name_given=name_given)
    _show(created, options["output"])
