"""The HTTP client the server commands share: one base URL, one token, one error shape.

Every failure becomes a one-line `ServerError` (a `PluginManagerError`, so `main` prints
``error: <message>`` and exits 1): the server's ``{"error": ...}`` message (or its body, or its
status line) for a non-2xx answer, and the host that could not be reached for a transport error.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Final, TypeVar, final

import click

from ..errors import PluginManagerError

if TYPE_CHECKING:
    from types import TracebackType

    import httpx

__all__ = ["DEFAULT_HOST", "ServerClient", "ServerError", "server_options"]

F = TypeVar("F", bound=Callable[..., Any])

DEFAULT_HOST: Final = "http://127.0.0.1:8181"
_CONNECT_TIMEOUT: Final = 10.0
_READ_TIMEOUT: Final = 300.0  # a query or a synchronous write can take a while
_MAX_MESSAGE: Final = 500
_REACH_HINT: Final = "check -H/--host (or INFLUXDB3_HOST_URL) and that the server runs"
_AUTH_HINT: Final = "pass --token (or set INFLUXDB3_AUTH_TOKEN) with a valid token"


class ServerError(PluginManagerError):
    """The server could not be reached, or answered with an error."""

    def __init__(self, message: str, *, status: int | None = None, hint: str | None = None):
        super().__init__(message, hint=hint)
        self.status = status


_SERVER_OPTIONS: Final = [
    click.option(
        "-H",
        "--host",
        envvar="INFLUXDB3_HOST_URL",
        default=DEFAULT_HOST,
        show_default=True,
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


def _error_message(response: httpx.Response) -> str:
    """The server's ``{"error": ...}`` message, else its body, else its status line."""
    text = response.text.strip()
    try:
        body = json.loads(text) if text else None
    except ValueError:
        body = None
    if isinstance(body, dict) and body.get("error") is not None:
        text = str(body["error"])
    return _one_line(text) or f"{response.status_code} {response.reason_phrase}".strip()


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
        except self._httpx.InvalidURL as exc:
            raise ServerError(f"invalid host {self.host!r}: {exc}") from exc
        except self._httpx.TransportError as exc:
            reason = _one_line(str(exc)) or type(exc).__name__
            message = f"cannot reach the server at {self.host}: {reason}"
            raise ServerError(message, hint=_REACH_HINT) from exc
        if response.is_success:
            return response
        status = response.status_code
        hint = _AUTH_HINT if status in (401, 403) else None
        raise ServerError(_error_message(response), status=status, hint=hint)

    def get_json(self, path: str, *, params: Mapping[str, str] | None = None) -> Any:
        """GET ``path`` and decode the JSON answer."""
        response = self.request("GET", path, params=params)
        try:
            return response.json()
        except ValueError as exc:
            message = f"the server at {self.host} answered {path} with invalid JSON: {exc}"
            raise ServerError(message) from exc
