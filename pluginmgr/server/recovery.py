"""The admin token recovery endpoint (``serve --admin-token-recovery-http-bind``), as upstream.

A second listener, on its own address (``127.0.0.1:8182`` by default), that serves one request:
``POST /api/v3/configure/token/admin/regenerate`` *without a token*. It answers as the main
server's endpoint does (201 with the new operator token; 500 ``missing admin token, cannot
update`` when there is none) and, after one successful regeneration, closes itself, as
upstream's recovery server does. Every other method or path answers 404 ``not found``. Whoever
can reach the address can take over the server while it is open: bind it to loopback only.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Final

from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.responses import Response
from starlette.routing import Route

from .routes_common import endpoint, error_response
from .routes_tokens import REGENERATE_PATH, regenerate_operator_token

if TYPE_CHECKING:
    import socket

    from starlette.requests import Request

    from .token_store import TokenStore

__all__ = ["DEFAULT_RECOVERY_BIND", "RecoveryServer", "recovery_app"]

_LOGGER: Final = logging.getLogger(__name__)
#: upstream's ``DEFAULT_ADMIN_TOKEN_RECOVERY_BIND_ADDR``
DEFAULT_RECOVERY_BIND: Final = "127.0.0.1:8182"


def recovery_app(tokens: TokenStore, *, done: Callable[[], None]) -> Starlette:
    """The recovery endpoint over ``tokens``; ``done`` runs once a regeneration was answered."""

    @endpoint
    async def regenerate(request: Request) -> Response:
        response = await regenerate_operator_token(tokens)
        if response.status_code == 201:
            _LOGGER.warning("admin token regenerated: closing the admin token recovery endpoint")
            response.background = BackgroundTask(done)
        return response

    async def not_found(request: Request, exc: Exception) -> Response:
        return error_response(404, "not found")

    # upstream answers anything but the one POST with 404, wrong methods included
    routes = [Route(REGENERATE_PATH, regenerate, methods=["POST"])]
    return Starlette(routes=routes, exception_handlers={404: not_found, 405: not_found})


class RecoveryServer:
    """The recovery endpoint served on ``sock`` in a thread of its own until it is used or
    `stop` is called."""

    def __init__(self, tokens: TokenStore, sock: socket.socket) -> None:
        import uvicorn

        self._sock = sock
        app = recovery_app(tokens, done=self._close)
        self._server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
        self._thread = threading.Thread(
            target=self._serve, name="admin-token-recovery", daemon=True
        )
        #: set once the endpoint has closed after a successful regeneration
        self.used = threading.Event()

    def start(self) -> None:
        """Serve in the background."""
        self._thread.start()

    def _serve(self) -> None:
        try:
            self._server.run(sockets=[self._sock])
        finally:
            self._sock.close()

    def _close(self) -> None:
        self.used.set()
        self._server.should_exit = True

    def stop(self) -> None:
        """Stop serving (at server exit) and wait for the thread."""
        self._server.should_exit = True
        if self._thread.is_alive():
            self._thread.join(timeout=10)
