"""``serve``'s auth options, as ``influxdb3 serve`` takes them.

* ``--disable-authz health,ping,metrics`` (``INFLUXDB3_DISABLE_AUTHZ``): serve these without a
  token. By default, as InfluxDB 3 Core, every path needs one when auth is on, ``/health``,
  ``/ping`` and ``/metrics`` included. Parsed as upstream (``influxdb3_commands`` helpers): split
  at commas, each item trimmed, at most 6, each one of `AUTHZ_RESOURCES`, with upstream's
  messages (`TOO_MANY_MESSAGE`, `INVALID_VALUE_MESSAGE`). ``ready``, ``pprof`` and
  ``node_stop`` are accepted for upstream's sake; pluginmgr serves none of their paths.
* ``--admin-token-recovery-http-bind [HOST:PORT]``
  (``INFLUXDB3_ADMIN_TOKEN_RECOVERY_HTTP_BIND_ADDR``): open the recovery endpoint
  (`pluginmgr.server.recovery`), ``127.0.0.1:8182`` when given without a value. Refused with
  ``--without-auth``: there is no token to regenerate.
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, TypeVar

import click

from ._listen import listen_on
from ._serve_options import ServeError

if TYPE_CHECKING:
    from ..server.auth import TokenStore
    from ..server.recovery import RecoveryServer

__all__ = [
    "AUTHZ_RESOURCES",
    "INVALID_VALUE_MESSAGE",
    "TOO_MANY_MESSAGE",
    "AuthSettings",
    "auth_options",
    "auth_settings",
    "authz_disabled_paths",
    "recovery_address",
    "recovery_socket",
    "start_recovery",
    "warn_no_admin",
]

F = TypeVar("F", bound=Callable[..., Any])

#: upstream's words (``DISABLED_AUTHZ_TOO_MANY_VALUES_ERR``, ``DISABLED_AUTHZ_INVALID_VALUE_ERR``)
TOO_MANY_MESSAGE: Final = "--disable-authz cannot take more than 6 items"
INVALID_VALUE_MESSAGE: Final = (
    "invalid value passed in for --disable-authz, allowed values are health, ping, metrics, "
    "ready, pprof, and node_stop"
)
#: ``--disable-authz`` names -> the paths they open, as upstream maps them
AUTHZ_RESOURCES: Final[dict[str, tuple[str, ...]]] = {
    "health": ("/health", "/api/v1/health"),
    "ping": ("/ping",),
    "metrics": ("/metrics",),
    "ready": ("/ready",),
    "pprof": ("/debug/pprof/heap",),
    "node_stop": ("/api/v3/enterprise/configure/node/stop",),
}
_MAX_ITEMS: Final = 6
_RECOVERY_DEFAULT: Final = "127.0.0.1:8182"

_OPTIONS: Final = [
    click.option("--without-auth", is_flag=True, help="Serve every endpoint without a token."),
    click.option(
        "--disable-authz",
        envvar="INFLUXDB3_DISABLE_AUTHZ",
        default=None,
        metavar="RESOURCES",
        help="Serve these without a token (comma-separated: health, ping, metrics, ready, "
        "pprof, node_stop); by default every endpoint needs one. [env: INFLUXDB3_DISABLE_AUTHZ]",
    ),
    click.option(
        "--admin-token-recovery-http-bind",
        envvar="INFLUXDB3_ADMIN_TOKEN_RECOVERY_HTTP_BIND_ADDR",
        is_flag=False,
        flag_value=_RECOVERY_DEFAULT,
        default=None,
        metavar="[HOST:PORT]",
        help="Open the admin token recovery endpoint (127.0.0.1:8182 without a value): it "
        "regenerates the operator token WITHOUT a token, once, then closes. [env: "
        "INFLUXDB3_ADMIN_TOKEN_RECOVERY_HTTP_BIND_ADDR]",
    ),
]


def auth_options(func: F) -> F:
    """Add the auth options to a command."""
    for option in reversed(_OPTIONS):
        func = option(func)
    return func


@dataclass(frozen=True, slots=True)
class AuthSettings:
    """The auth options, checked: no auth at all, the paths open without a token, and where
    the recovery endpoint listens (None: closed)."""

    without_auth: bool
    authz_disabled: frozenset[str]
    recovery: tuple[str, int] | None

    def token_store(self, directory: Path) -> TokenStore | None:
        """The node's tokens in ``directory`` (None without auth)."""
        from ..server.auth import TokenStore

        return None if self.without_auth else TokenStore(directory / "tokens.json")


def auth_settings(options: dict[str, Any]) -> AuthSettings:
    """Pop and check the auth options of ``serve``; raises `ServeError` before any bind."""
    without_auth = bool(options.pop("without_auth"))
    recovery = options.pop("admin_token_recovery_http_bind")
    return AuthSettings(
        without_auth,
        authz_disabled_paths(options.pop("disable_authz")),
        recovery_address(recovery, without_auth=without_auth),
    )


def authz_disabled_paths(text: str | None) -> frozenset[str]:
    """The paths ``--disable-authz TEXT`` serves without a token (none for None).

    :raises ServeError: with upstream's message for too many or unknown items.
    """
    if text is None:
        return frozenset()
    items = [item.strip() for item in text.split(",")]
    if len(items) > _MAX_ITEMS:
        raise ServeError(TOO_MANY_MESSAGE, hint="name each of health, ping, metrics at most once")
    unknown = [item for item in items if item not in AUTHZ_RESOURCES]
    if unknown:
        hint = f"got {text!r}; e.g. --disable-authz health,ping,metrics"
        raise ServeError(INVALID_VALUE_MESSAGE, hint=hint)
    return frozenset(path for item in items for path in AUTHZ_RESOURCES[item])


def recovery_address(text: str | None, *, without_auth: bool) -> tuple[str, int] | None:
    """The recovery endpoint's HOST and PORT, checked before anything is bound or created."""
    if text is None:
        return None
    if without_auth:
        message = "--admin-token-recovery-http-bind needs auth: with --without-auth no token exists"
        raise ServeError(message, hint="drop --without-auth or the recovery endpoint")
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        message = f"invalid --admin-token-recovery-http-bind {text!r}: use HOST:PORT"
        raise ServeError(message, hint=f"e.g. {_RECOVERY_DEFAULT}")
    return host.strip("[]") or "127.0.0.1", int(port)


def recovery_socket(address: tuple[str, int] | None) -> socket.socket | None:
    """The recovery endpoint's listening socket, bound now (None when not asked for)."""
    if address is None:
        return None
    hint = "stop what listens there, or pass another --admin-token-recovery-http-bind"
    return listen_on(*address, backlog=64, what="admin token recovery", hint=hint)


def start_recovery(tokens: TokenStore | None, sock: socket.socket | None) -> RecoveryServer | None:
    """Serve the recovery endpoint on ``sock`` in the background, saying so on stderr."""
    if sock is None or tokens is None:
        return None
    from ..server.recovery import RecoveryServer

    host, port = sock.getsockname()[:2]
    server = RecoveryServer(tokens, sock)
    server.start()
    click.echo(
        f"warning: admin token recovery open on http://{host}:{port}: POST "
        "/api/v3/configure/token/admin/regenerate there regenerates the operator token without "
        "a token (once; then it closes)",
        err=True,
    )
    return server


def warn_no_admin(tokens: TokenStore | None) -> None:
    """Say, at start, that every request is refused until the first admin token exists."""
    if tokens is None or tokens.has_admin():
        return
    # the data dir's offline path is refused while this server holds the data dir
    click.echo(
        "warning: no admin token yet: every request will be refused until you run "
        "`pluginmgr create token --admin` (POST /api/v3/configure/token/admin, open without a "
        "token until one exists)",
        err=True,
    )
