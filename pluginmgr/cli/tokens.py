"""``create token --admin`` and ``delete token``: admin tokens from the running server, or in its
data directory.

What ``create token --admin`` makes (`TokenRequest`), as ``influxdb3 create token --admin``::

    (no --name, no --regenerate)    the operator token _admin: POST .../token/admin (only the
                                    first admin token; needs no token while there is none)
    --name NAME [--expiry 30d]      a named admin token: POST .../token/named_admin (--token)
    --regenerate                    a new secret for _admin: POST .../token/admin/regenerate
                                    (--token, or -H at the recovery endpoint; asks first)

Where it is made (`token_plan`)::

    -H/--host or INFLUXDB3_HOST_URL given    the server; with --data-dir too, DATA_DIR/tokens.json
                                             when the server cannot be reached or refuses the
                                             token (401), or has no such endpoint (404)
    only --data-dir (or INFLUXDB3_DB_DIR,    DATA_DIR/tokens.json, no request at all: the way
      PLUGINMGR_DATA_DIR)                    back in when every admin token is lost
    neither                                  the server at the default host

Writing ``DATA_DIR/tokens.json`` needs the data dir to itself: while a server runs on one of
its nodes (it holds that node's owner lock, `pluginmgr.node.owner_lock`) the command is refused
in one line naming the server's pid, so it never races the server's own token endpoints; ask
the server instead (-H with --token, or its recovery endpoint), or stop it. A server started
later reads the file. A fallback is announced on stderr with its reason. ``delete token
--token-name NAME`` asks the server (``DELETE /api/v3/configure/token``); the operator token
``_admin`` cannot be deleted.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Literal

import click
from click.core import ParameterSource

from ..errors import PluginManagerError, ServerError
from .client import ServerClient, server_options
from .tables import print_rows

if TYPE_CHECKING:
    from ..server.auth import TokenStore

__all__ = [
    "ADMIN_TOKEN_PATH",
    "OPERATOR_DELETE_MESSAGE",
    "REGENERATE_NAME_MESSAGE",
    "TokenPlan",
    "TokenRequest",
    "create_token",
    "delete_token",
    "show_tokens",
    "token_plan",
]

#: upstream's endpoints (`pluginmgr.server.routes_tokens`)
ADMIN_TOKEN_PATH: Final = "/api/v3/configure/token/admin"  # noqa: S105 - a path, not a secret
_NAMED_PATH: Final = "/api/v3/configure/token/named_admin"
_REGENERATE_PATH: Final = "/api/v3/configure/token/admin/regenerate"
_TOKEN_PATH: Final = "/api/v3/configure/token"  # noqa: S105 - a path, not a secret
_OPERATOR: Final = "_admin"
_EXPLICIT: Final = (ParameterSource.COMMANDLINE, ParameterSource.ENVIRONMENT)
#: upstream's words
REGENERATE_NAME_MESSAGE: Final = (
    "--regenerate cannot be used with --name, --regenerate only applies for operator token"
)
OPERATOR_DELETE_MESSAGE: Final = (
    'The operator token "_admin" is required and cannot be deleted. To regenerate an operator '
    "token, use: pluginmgr create token --admin --regenerate --token [TOKEN]"
)
_DATA_DIR_HINT: Final = (
    "pass --data-dir DIR (the server's --data-dir) to write the token to its token file"
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
class TokenRequest:
    """What to make: the operator token, a named admin token, or a regenerated operator token."""

    kind: Literal["operator", "named", "regenerate"]
    name: str = _OPERATOR
    expiry_secs: int | None = None


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


def _refusal(host: str, exc: ServerError, kind: str) -> tuple[str, str | None, bool]:
    """Why the server at ``host`` made no token, what to do, and whether the data dir may."""
    if exc.status is None:
        reason = exc.message.removeprefix(f"cannot reach the server at {host}: ")
        message = f"cannot reach the server at {host} to create the token: {reason}"
        hint = "start the server or pass -H/--host URL of the running one; or " + _DATA_DIR_HINT
        return message, hint, True
    if exc.status in (401, 409) and kind == "operator":
        message = f"the server at {host} already has an admin token (it makes only the first one)"
        hint = "pass --name NAME --token ADMIN_TOKEN for another admin token; or " + _DATA_DIR_HINT
        return message, hint, True
    if exc.status == 401:
        message = f"the server at {host} refused the token: {exc.message}"
        hint = "pass an admin token with --token; lost them all? " + _DATA_DIR_HINT
        return message, hint, True
    if exc.status == 405:
        message = f"the server at {host} runs without auth ({exc.message}): it needs no token"
        return message, None, False
    if exc.status == 404:
        message = f"the server at {host} has no such endpoint ({exc.message})"
        return message, _DATA_DIR_HINT, True
    return f"the server at {host} could not create the token: {exc.message}", exc.hint, False


def _from_server(host: str, token: str | None, request: TokenRequest) -> _Created:
    with ServerClient(host, token) as client:
        if request.kind == "named":
            body = {"token_name": request.name, "expiry_secs": request.expiry_secs}
            response = client.request("POST", _NAMED_PATH, json_body=body)
        else:
            path = _REGENERATE_PATH if request.kind == "regenerate" else ADMIN_TOKEN_PATH
            response = client.request("POST", path)
    try:
        answer: Any = response.json()
    except ValueError:
        answer = None
    if not isinstance(answer, dict) or not isinstance(answer.get("token"), str):
        message = f"the server at {host} answered {response.url.path} without a token"
        raise ServerError(message, status=response.status_code)
    name = str(answer.get("name") or request.name)
    return _Created(name, answer["token"], "server", client.host)


def _in_data_dir(directory: Path, request: TokenRequest) -> _Created:
    from ..atomic import private_dir
    from ..node.owner_lock import hold_data_dir
    from ..server.auth import TokenStore  # the server side; loaded only for this path

    private_dir(directory)  # it holds the tokens: 0700 when made here, whatever the umask
    refused = "its server owns the token file"
    hint = (
        "create the token through that server (pid {pid}): -H URL --token ADMIN_TOKEN, or -H "
        "its recovery endpoint for --regenerate; or stop it first"
    )
    with hold_data_dir(directory, refused=refused, hint=hint):
        return _write_token(TokenStore(directory / "tokens.json"), request)


def _write_token(store: TokenStore, request: TokenRequest) -> _Created:
    name = request.name
    if request.kind == "regenerate":
        token, record = store.regenerate(_OPERATOR)
        return _Created(record.name, token, "data_dir", str(store.path))
    if request.kind == "operator":  # the operator name is taken by the server's: number the next
        taken = {record.name for record in store.records()}
        number = 1
        while name in taken:
            number += 1
            name = f"{request.name}-{number}"
    token = store.create(name, admin=True, expiry_secs=request.expiry_secs)
    return _Created(name, token, "data_dir", str(store.path))


def _create(plan: TokenPlan, token: str | None, request: TokenRequest) -> _Created:
    if plan.host is not None:
        try:
            return _from_server(plan.host, token, request)
        except ServerError as exc:
            message, hint, fallback = _refusal(plan.host, exc, request.kind)
            if plan.data_dir is None or not fallback:
                raise _TokenError(message, hint=hint) from exc
            target = plan.data_dir / "tokens.json"
            click.echo(f"note: {message}; writing the token to {target} instead", err=True)
    assert plan.data_dir is not None  # noqa: S101 - token_plan sets a host or a data dir
    return _in_data_dir(plan.data_dir, request)


def _show(created: _Created, output: str) -> None:
    if output == "json":
        source = {"kind": created.kind, "location": created.location}
        body = {"name": created.name, "token": created.token, "admin": True, "source": source}
        click.echo(json.dumps(body))
        return
    click.echo(
        f"New token created successfully!\n\n"
        f"Token: {created.token}\n"
        f"HTTP Requests Header: Authorization: Bearer {created.token}\n\n"
        "IMPORTANT: Store this token securely, as it will not be shown again."
    )


def _request(options: dict[str, Any]) -> TokenRequest:
    """The token asked for, checked as upstream checks the flags."""
    if not options["admin"]:
        raise click.UsageError("only admin tokens are supported: pass --admin")
    name, expiry = options["name"], options["expiry"]
    if options["regenerate"]:
        if name is not None:
            raise click.UsageError(REGENERATE_NAME_MESSAGE)
        if expiry is not None:
            raise click.UsageError("--expiry applies to named admin tokens: pass --name NAME")
        return TokenRequest("regenerate")
    if name is None:
        if expiry is not None:
            raise click.UsageError("--expiry applies to named admin tokens: pass --name NAME")
        return TokenRequest("operator")
    if not name.strip():
        raise click.UsageError("--name is empty: pass the name of the new token")
    return TokenRequest("named", name, None if expiry is None else _seconds(expiry))


def _seconds(text: str) -> int:
    from engine_runtime import parse_duration

    try:
        seconds = parse_duration(text) // 10**9
    except ValueError as exc:
        message = f"invalid --expiry {text!r}: {exc} (e.g. 30d, 1y, 12h)"
        raise click.UsageError(message) from None
    if seconds <= 0:
        raise click.UsageError(f"invalid --expiry {text!r}: use at least 1s")
    return int(seconds)


def _confirm_regenerate(yes: bool) -> None:
    if yes:
        return
    click.echo("Are you sure you want to regenerate admin token? Enter 'yes' to confirm", err=True)
    answer = sys.stdin.readline()
    if answer.strip() != "yes":
        message = "Cannot regenerate token without confirmation"
        raise _TokenError(message, hint="answer yes, or pass --yes")


@click.command("token")
@click.option("--admin", is_flag=True, help="Create an admin token (the only kind).")
@click.option(
    "--name",
    default=None,
    help="A named admin token (with --token ADMIN_TOKEN); without it: the operator token _admin.",
)
@click.option(
    "--expiry",
    default=None,
    metavar="DURATION",
    help="The named token stops working after this long, e.g. 30d, 1y, 12h. Default: never.",
)
@click.option(
    "--regenerate",
    is_flag=True,
    help="A new secret for the operator token _admin (the old one stops working); asks first. "
    "-H may name the admin token recovery endpoint, which needs no --token.",
)
@click.option("--yes", "-y", is_flag=True, help="Do not ask before --regenerate.")
@click.option(
    "--data-dir",
    envvar=["INFLUXDB3_DB_DIR", "PLUGINMGR_DATA_DIR"],
    default=None,
    type=click.Path(file_okay=False),
    help="The server's --data-dir: the token goes to DATA_DIR/tokens.json (no server "
    "needed without -H; with -H, when the server refuses). "
    "[env: INFLUXDB3_DB_DIR, PLUGINMGR_DATA_DIR]",
)
@click.option(
    "--format",
    "output",
    type=click.Choice(["pretty", "text", "json"]),
    default="pretty",
    help="pretty (or text): the token and its header; json: name, token and where it was made.",
)
@server_options
def create_token(**options: Any) -> None:
    """Create or regenerate an admin token on the running server (-H), or in its data
    directory (--data-dir); it is shown once."""
    request = _request(options)
    ctx = click.get_current_context()
    data_dir = Path(options["data_dir"]).expanduser() if options["data_dir"] else None
    host_given = ctx.get_parameter_source("host") in _EXPLICIT
    plan = token_plan(options["host"], host_given=host_given, data_dir=data_dir)
    if request.kind == "regenerate":
        _confirm_regenerate(options["yes"])
    created = _create(plan, options["token"], request)
    _show(created, options["output"])


@click.command("token")
@click.option("--token-name", required=True, help="The name of the token to delete.")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@server_options
def delete_token(token_name: str, yes: bool, host: str, token: str | None) -> None:
    """Delete the token named --token-name (the operator token _admin cannot be deleted)."""
    if token_name == _OPERATOR:
        raise _TokenError(OPERATOR_DELETE_MESSAGE)
    if not yes:
        question = f'Are you sure you want to delete "{token_name}"?'
        click.confirm(question, abort=True, err=True)
    with ServerClient(host, token) as client:
        client.request("DELETE", _TOKEN_PATH, params={"token_name": token_name})
    click.echo(f'Token "{token_name}" deleted successfully')


_TOKEN_COLUMNS: Final = ("token_id", "name", "hash", "created_at", "updated_at", "expiry")


@click.command("tokens")
@click.option("--format", "output", type=click.Choice(["pretty", "json", "csv"]), default="pretty")
@server_options
def show_tokens(output: str, host: str, token: str | None) -> None:
    """List the server's tokens (system.tokens of _internal; never the tokens themselves)."""
    params = {"db": "_internal", "q": "SELECT * FROM system.tokens", "format": "json"}
    with ServerClient(host, token) as client:
        rows = client.request("GET", "/api/v3/query_sql", params=params).json()
    if not isinstance(rows, list) or not all(isinstance(row, dict) for row in rows):
        raise ServerError("the server answered the token list with something other than rows")
    columns = [c for c in _TOKEN_COLUMNS if any(c in row for row in rows)] or ["name"]
    print_rows(rows, columns if output == "pretty" else list(_all_columns(rows)), output)


def _all_columns(rows: list[dict[str, Any]]) -> dict[str, None]:
    return {column: None for row in rows for column in row}
