"""The HTTP API as a Starlette app: `create_app(ServerState)`.

Paths, bodies and status codes follow InfluxDB 3 (engine-behavior.md §2.5, §3.6, §4.5-§4.7,
§6); every error answers ``{"error": "..."}``. Blocking engine and manager calls run on the
thread pool, so request triggers are served while other plugins run, including a plugin that
calls this server's own ``/api/v3/engine/<path>`` and waits for the answer.

Auth (`auth.AuthMiddleware`) wraps every route unless ``tokens`` is None (``--without-auth``);
``/health`` and ``/ping`` are exempt when ``exempt_health``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from . import routes_data, routes_engine, routes_plugins
from .auth import AuthMiddleware
from .routes_common import DEFAULT_MAX_REQUEST_BYTES

if TYPE_CHECKING:
    from pathlib import Path

    from starlette.requests import Request

    from engine_runtime import ProcessingEngine

    from ..installers import InstallOptions
    from ..manager import PluginManager
    from ..venv import PluginEnv
    from .auth import TokenStore

__all__ = ["HEALTH_PATHS", "ServerState", "create_app"]

#: paths ``exempt_health`` lets through without a token
HEALTH_PATHS: Final = ("/health", "/ping")


@dataclass(frozen=True, slots=True)
class ServerState:
    """Everything the routes use; built once by ``serve``.

    :param engine: the started engine (its store, catalog and triggers).
    :param manager: resolves, pins and fetches plugin references.
    :param plugin_dir: where plugin files live; uploads and requirement paths stay inside it.
    :param env: the plugin venv that install endpoints and trigger creation install into.
    :param install_options: where packages may come from (``--find-links``, ``--offline``, ...).
    :param tokens: the token store; None serves without auth (``--without-auth``).
    :param exempt_health: let ``/health`` and ``/ping`` through without a token.
    :param request_timeout: seconds a request trigger may take before a 500; None: no limit.
    :param version: what ``/ping`` reports.
    :param max_request_bytes: the largest request body, as sent and once decompressed
        (``--max-http-request-size``); larger ones answer 413.
    """

    engine: ProcessingEngine
    manager: PluginManager
    plugin_dir: Path
    env: PluginEnv
    install_options: InstallOptions
    tokens: TokenStore | None
    exempt_health: bool = True
    request_timeout: float | None = None
    version: str = "unknown"
    max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES


async def health(request: Request) -> Response:
    """``GET /health``: ``OK`` while the server serves."""
    return PlainTextResponse("OK")


async def ping(request: Request) -> Response:
    """``GET /ping``: the server's version, as InfluxDB 3 answers."""
    state: ServerState = request.app.state.server
    return JSONResponse({"version": state.version, "revision": "pluginmgr"})


async def not_found(request: Request, exc: Exception) -> Response:
    message = f"not found: {request.method} {request.url.path} is not an endpoint of this server"
    return JSONResponse({"error": message}, status_code=404)


async def method_not_allowed(request: Request, exc: Exception) -> Response:
    message = f"method {request.method} is not allowed on {request.url.path}"
    return JSONResponse({"error": message}, status_code=405)


def create_app(state: ServerState) -> Starlette:
    """The API over ``state``; run it with uvicorn (the engine is started by the caller)."""
    middleware = []
    if state.tokens is not None:
        exempt = HEALTH_PATHS if state.exempt_health else ()
        middleware.append(Middleware(AuthMiddleware, tokens=state.tokens, exempt=exempt))
    app = Starlette(
        routes=[
            Route("/health", health, methods=["GET", "HEAD"]),
            Route("/ping", ping, methods=["GET", "HEAD"]),
            *routes_data.routes,
            *routes_engine.routes,
            *routes_plugins.routes,
        ],
        middleware=middleware,
        exception_handlers={404: not_found, 405: method_not_allowed},
    )
    app.state.server = state
    return app
