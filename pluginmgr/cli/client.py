"""The HTTP client the server commands share: one base URL, one token, one error shape.

Every failure becomes a one-line `ServerError` (a `PluginManagerError`, so `main` prints
``error: <message>`` and exits 1): the server's ``{"error": ...}`` message (or its body, or its
status line) for a non-2xx answer, and the host that could not be reached for a transport error.
The answer's ``"data"`` (e.g. the rejected lines of a write) is kept in `ServerError.data`.

A host that comes from ``INFLUXDB3_HOST_URL`` rather than ``-H`` is announced on stderr
(`note_env_host`), so a command never talks to a server the user did not name on its line
without saying so.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Final, TypeVar, final

import click
from click.core import ParameterSource

from ..errors import ServerError

if TYPE_CHECKING:
    from types import TracebackType

    import httpx

__all__ = [
    "DATABASE_PATH",
    "DEFAULT_HOST",
    "HOST_ENV",
    "TRIGGER_PATH",
    "ServerClient",
    "ServerError",
    "auth_hint",
    "database_option",
    "note_env_host",
    "server_options",
]

F = TypeVar("F", bound=Callable[..., Any])

DEFAULT_HOST: Final = "http://127.0.0.1:8181"
#: where -H/--host comes from when it is not given
HOST_ENV: Final = "INFLUXDB3_HOST_URL"
TRIGGER_PATH: Final = "/api/v3/configure/processing_engine_trigger"
DATABASE_PATH: Final = "/api/v3/configure/database"
_CONNECT_TIMEOUT: Final = 10.0
_READ_TIMEOUT: Final = 300.0  # a query or a synchronous write can take a while
_MAX_MESSAGE: Final = 500
_REACH_HINT: Final = "check -H/--host (or INFLUXDB3_HOST_URL) and that the server runs"
_FORBIDDEN_HINT: Final = "pass an admin token (--token or INFLUXDB3_AUTH_TOKEN)"
#: how our server's 401 message ends: its own hint, replaced by `auth_hint` (which names the host)
_SERVER_AUTH_HINT: Final = re.compile(r" \(pass Authorization: .*`pluginmgr create token[^`]*`\)$")


def auth_hint(host: str) -> str:
    """What to do about a 401 from ``host``: commands that create a token and work."""
    return (
        "pass --token (or set INFLUXDB3_AUTH_TOKEN) with a valid token; create one with "
        f"`pluginmgr create token --admin --host {host}` (while the server has no admin token) "
        "or `pluginmgr create token --admin --data-dir DATA_DIR` (the server's --data-dir)"
    )


def note_env_host(host: str) -> None:
    """Say on stderr that ``host`` comes from ``INFLUXDB3_HOST_URL``, not from the command line."""
    click.echo(f"note: using the server at {host} ({HOST_ENV})", err=True)


def _announce_env_host(ctx: click.Context, param: click.Parameter, value: str) -> str:
    if not ctx.resilient_parsing and param.name:
        if ctx.get_parameter_source(param.name) is ParameterSource.ENVIRONMENT:
            note_env_host(value)
    return value


def database_option(*, required: bool) -> Callable[[F], F]:
    """``-d/--database`` (env ``INFLUXDB3_DATABASE_NAME``)."""
    return click.option(
        "-d",
        "--database",
        envvar="INFLUXDB3_DATABASE_NAME",
        required=required,
        default=None,
        help="Database name. [env: INFLUXDB3_DATABASE_NAME]",
    )


_SERVER_OPTIONS: Final = [
    click.option(
        "-H",
        "--host",
        envvar=HOST_ENV,
        default=DEFAULT_HOST,
        show_default=True,
        callback=_announce_env_host,
        help="URL of the running server. [env: INFLUXDB3_HOST_URL]",
    ),
    click.option(
        "--token",
        envvar="INFLUXDB3_AUTH_TOKEN",
        default=None,
        help="Token sent as `Authorization: Bearer`. [env: INFLUXDB3_AUTH_TOKEN]",
    ),
]


def server_options(func: F) -> F:
    """Add ``-H/--host`` and ``--token`` to a command."""
    for option in reversed(_SERVER_OPTIONS):
        func = option(func)
    return func


def _one_line(text: str) -> str:
    line = "; ".join(part.strip() for part in text.splitlines() if part.strip())
    return line if len(line) <= _MAX_MESSAGE else line[: _MAX_MESSAGE - 3] + "..."


def _error_message(response: httpx.Response) -> tuple[str, Any]:
    """The server's ``{"error": ...}`` message, else its body, else its status line; and the
    answer's ``"data"``."""
    text = response.text.strip()
    try:
        body = json.loads(text) if text else None
    except ValueError:
        body = None
    data = None
    if isinstance(body, dict) and body.get("error") is not None:
        text, data = str(body["error"]), body.get("data")
    message = _one_line(text) or f"{response.status_code} {response.reason_phrase}".strip()
    return message, data


@final
class ServerClient:
    """Requests to the server at ``host`` (``http://HOST:PORT``), with an optional bearer token.

    Use it as a context manager; `request` raises `ServerError` for anything but a 2xx answer.
    """

    def __init__(self, host: str, token: str | None = None) -> None:
        import httpx  # only the server commands need it

        self.host = host.rstrip("/")
        if not self.host.startswith(("http://", "https://")):
            message = f"invalid host {host!r}: expected a URL like {DEFAULT_HOST}"
            raise ServerError(message, hint="pass -H/--host http://HOST:PORT")
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._httpx = httpx
        self._client = httpx.Client(
            base_url=self.host,
            headers=headers,
            timeout=httpx.Timeout(_READ_TIMEOUT, connect=_CONNECT_TIMEOUT),
        )

    def __enter__(self) -> ServerClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._client.close()

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        json_body: Any = None,
        content: bytes | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        """Send one request; return the 2xx response or raise `ServerError`."""
        try:
            response = self._client.request(
                method,
                path,
                params=dict(params) if params else None,
                json=json_body,
                content=content,
                headers=dict(headers) if headers else None,
            )
        except (self._httpx.InvalidURL, self._httpx.TransportError) as exc:
            raise self._transport_error(exc) from exc
        if response.is_success:
            return response
        message, data = _error_message(response)
        raise self._status_error(response.status_code, message, data)

    def post_with_progress(
        self, path: str, *, json_body: Any, on_progress: Callable[[str], None]
    ) -> Any:
        """POST a long operation (an install, a trigger that installs), asking the server to
        stream its progress (`progress_stream`); ``on_progress`` gets each line as it comes.

        :returns: the decoded JSON answer (None for an empty body).
        :raises ServerError: as `request`.
        """
        from .progress_stream import post_with_progress

        try:
            answer = post_with_progress(
                self._client, path, host=self.host, json_body=json_body, on_progress=on_progress
            )
        except (self._httpx.InvalidURL, self._httpx.TransportError) as exc:
            raise self._transport_error(exc) from exc
        if answer.ok:
            return answer.body
        message = _one_line(answer.message) or f"{answer.status} {answer.reason}".strip()
        data = answer.body.get("data") if isinstance(answer.body, dict) else None
        raise self._status_error(answer.status, message, data)

    def _transport_error(self, exc: Exception) -> ServerError:
        if isinstance(exc, self._httpx.InvalidURL):
            return ServerError(f"invalid host {self.host!r}: {exc}")
        reason = _one_line(str(exc)) or type(exc).__name__
        message = f"cannot reach the server at {self.host}: {reason}"
        return ServerError(message, hint=_REACH_HINT)

    def _status_error(self, status: int, message: str, data: Any) -> ServerError:
        hint = None
        if status == 401:
            message, hint = _SERVER_AUTH_HINT.sub("", message), auth_hint(self.host)
        elif status == 403:
            hint = _FORBIDDEN_HINT
        return ServerError(message, status=status, hint=hint, data=data)

    def get_json(self, path: str, *, params: Mapping[str, str] | None = None) -> Any:
        """GET ``path`` and decode the JSON answer."""
        response = self.request("GET", path, params=params)
        try:
            return response.json()
        except ValueError as exc:
            message = f"the server at {self.host} answered {path} with invalid JSON: {exc}"
            raise ServerError(message) from exc
