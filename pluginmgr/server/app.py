"""The HTTP API as a Starlette app: `create_app(ServerState)`.

Paths, bodies and status codes follow InfluxDB 3 (engine-behavior.md §2.5, §3.6, §4.5-§4.7,
§6); every error answers ``{"error": "..."}``. Blocking engine and manager calls run on the
thread pool, so request triggers are served while other plugins run, including a plugin that
calls this server's own ``/api/v3/engine/<path>`` and waits for the answer.

Auth (`auth.AuthMiddleware`) wraps every route unless ``tokens`` is None (``--without-auth``);
as InfluxDB 3 Core, ``/health``, ``/ping`` and ``/metrics`` need a token too unless
``serve --disable-authz`` names them (``authz_disabled``), and ``POST
/api/v3/configure/token/admin`` is open while no admin token exists. Every 405 carries ``Allow``
(`allow.AllowMiddleware`). `metrics.MetricsMiddleware`
wraps everything (refusals included) and ``/metrics`` serves the counts of this server alone.

Without a plugin directory (``plugin_dir`` None) the Processing Engine is off, as upstream runs
without ``--plugin-dir``: writes, queries and the trigger list are served; creating or enabling
a trigger, plugin tests, plugin files, package installs and ``/api/v3/engine/<path>`` answer
500 ``Node not configured with plugin directory`` (`routes_common.engine_off`).

``/ping`` (GET, POST, HEAD) answers as InfluxDB 3: ``{"product_name", "version", "revision",
"process_id"}`` (``product_name`` is `PRODUCT_NAME`)
with ``X-Influxdb-Version`` and ``X-Influxdb-Build`` headers (what the v1 and v2 clients read for
``version()`` / ``build()``), and a fresh ``Request-Id``; ``/health`` and ``/api/v1/health``
answer ``OK`` (InfluxDB 2's JSON health object to a client that accepts only JSON).
"""

from __future__ import annotations

import importlib.metadata
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from . import (
    routes_caches,
    routes_data,
    routes_engine,
    routes_plugin_delete,
    routes_plugins,
    routes_retention,
    routes_tables,
    routes_tokens,
    routes_v1,
)
from .allow import AllowMiddleware
from .auth import AuthMiddleware
from .metrics import METRICS_PATH, MetricsMiddleware, ServerMetrics, metrics_endpoint
from .queries import DEFAULT_QUERY_RESULT_BYTES, DEFAULT_QUERY_TIMEOUT, QueryRegistry
from .routes_common import DEFAULT_MAX_REQUEST_BYTES, engine_off
from .routes_trigger_update import plugin_dir_only
from .routes_trigger_update import routes as trigger_update_routes
from .token_table import publish_token_table

if TYPE_CHECKING:
    from pathlib import Path

    import uvicorn
    from starlette.requests import Request

    from engine_runtime import ProcessingEngine

    from ..deps.installers import InstallOptions
    from ..deps.venv import PluginEnv
    from ..fetch.manager import PluginManager
    from .auth import TokenStore

__all__ = [
    "BUILD",
    "HEALTH_PATHS",
    "PRODUCT_NAME",
    "ServerState",
    "cancel_queries_on_exit",
    "create_app",
]

#: what ``--disable-authz health,ping`` lets through without a token
HEALTH_PATHS: Final = ("/health", "/api/v1/health", "/ping")
#: the ``X-Influxdb-Build`` header (InfluxDB 3 says ``Core`` or ``Enterprise``)
BUILD: Final = "pluginmgr"
#: ``/ping``'s ``product_name`` (InfluxDB 3 says ``InfluxDB 3 Core``): what answers, as `BUILD`
PRODUCT_NAME: Final = "pluginmgr"
#: what needs the Processing Engine: path -> methods (None: every method)
_ENGINE_ROUTES: Final[dict[str, frozenset[str] | None]] = {
    "/api/v3/configure/processing_engine_trigger": frozenset({"POST", "PUT"}),
    "/api/v3/configure/processing_engine_trigger/enable": None,
    "/api/v3/configure/plugin_environment/install_packages": None,
    "/api/v3/configure/plugin_environment/install_requirements": None,
    "/api/v3/plugin_test/wal": None,
    "/api/v3/plugin_test/schedule": None,
    "/api/v3/plugins/files": None,
    "/api/v3/plugins/directory": None,
    "/api/v3/engine/{path:path}": None,
}


def _package_version() -> str:
    try:
        return importlib.metadata.version("pluginmgr")
    except importlib.metadata.PackageNotFoundError:  # run from a source tree, not installed
        return "unknown"


@dataclass(frozen=True, slots=True)
class ServerState:
    """Everything the routes use; built once by ``serve``.

    :param engine: the started engine (its store, catalog and triggers).
    :param manager: resolves, pins and fetches plugin references.
    :param plugin_dir: where plugin files live; uploads and requirement paths stay inside it.
        None: the Processing Engine is off (no ``--plugin-dir``).
    :param env: the plugin venv that install endpoints and trigger creation install into; None
        installs nothing (``--package-manager disabled``: installs answer 403).
    :param install_options: where packages may come from (``--find-links``, ``--offline``, ...).
    :param tokens: the token store; None serves without auth (``--without-auth``).
    :param authz_disabled: paths served without a token (``serve --disable-authz``); none by
        default, as InfluxDB 3 Core.
    :param request_timeout: seconds a request trigger may take before a 500; None: no limit.
    :param version: what ``/ping`` reports; the installed package's version by default.
    :param max_request_bytes: the largest request body, as sent and once decompressed
        (``--max-http-request-size``); larger ones answer 413.
    :param query_timeout: seconds a SQL or InfluxQL query may run (``--query-timeout``) before
        it is stopped with a 500; None or 0: no limit.
    :param queries: the running queries, stopped at shutdown (`cancel_queries_on_exit`).
    :param query_result_bytes: the Arrow bytes one HTTP request's queries may return, all
        statements together, before it answers 413; None: no limit.
    :param node_id: ``serve --node-id``; ``/ping`` adds it as ``node_id`` (clients ignore
        fields they do not know, and it tells an operator which node answered).
    :param allowed_triggers: the plugin types (``WalRows``, ``Schedule``, ``Request``) a new
        trigger may have (``--restrict-plugin-triggers-to``); None: every type.
    :param plugin_dir_only: ``--plugin-dir-only``: triggers and plugin tests take plugins from
        the plugin dir only, and plugin file uploads are refused (upstream's 403).
    """

    engine: ProcessingEngine
    manager: PluginManager
    plugin_dir: Path | None
    env: PluginEnv | None
    install_options: InstallOptions
    tokens: TokenStore | None
    authz_disabled: frozenset[str] = frozenset()
    request_timeout: float | None = None
    version: str = field(default_factory=_package_version)
    max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES
    node_id: str | None = None
    query_timeout: float | None = DEFAULT_QUERY_TIMEOUT
    queries: QueryRegistry = field(default_factory=QueryRegistry)
    query_result_bytes: int | None = DEFAULT_QUERY_RESULT_BYTES
    allowed_triggers: frozenset[str] | None = None
    plugin_dir_only: bool = False


async def health(request: Request) -> Response:
    """``GET /health``, ``GET /api/v1/health``: ``OK`` while the server serves.

    A client asking for JSON only (``Accept: application/json``, as influxdb-client's
    ``health()`` does) gets InfluxDB 2's health object instead, with ``"status": "pass"``.
    """
    if request.headers.get("accept", "").strip().lower() == "application/json":
        state: ServerState = request.app.state.server
        body = {
            "name": BUILD,
            "message": "ready for queries and writes",
            "status": "pass",
            "checks": [],
            "version": state.version,
            "commit": state.version,
        }
        return JSONResponse(body)
    return PlainTextResponse("OK")


async def ping(request: Request) -> Response:
    """``GET|POST|HEAD /ping``: the server's version, as InfluxDB 3 answers."""
    state: ServerState = request.app.state.server
    body = {
        "product_name": PRODUCT_NAME,
        "version": state.version,
        "revision": state.version,  # no separate source revision is recorded
        "process_id": request.app.state.process_id,
    }
    if state.node_id is not None:
        body["node_id"] = state.node_id
    request_id = str(uuid.uuid4())
    headers = {
        "Request-Id": request_id,
        "X-Request-Id": request_id,
        "X-Influxdb-Build": BUILD,
        "X-Influxdb-Version": state.version,
    }
    return JSONResponse(body, headers=headers)


async def not_found(request: Request, exc: Exception) -> Response:
    message = f"not found: {request.method} {request.url.path} is not an endpoint of this server"
    return JSONResponse({"error": message}, status_code=404)


async def method_not_allowed(request: Request, exc: Exception) -> Response:
    message = f"method {request.method} is not allowed on {request.url.path}"
    return JSONResponse({"error": message}, status_code=405)


def _without_engine(route: Route) -> Route:
    """``route``, or the same path and methods answering `engine_off` if it needs the engine."""
    if route.path not in _ENGINE_ROUTES:
        return route
    methods = _ENGINE_ROUTES[route.path]
    if methods is not None and not (route.methods or set()) <= methods:
        return route
    return Route(route.path, engine_off, methods=sorted(route.methods or ()))


def create_app(state: ServerState) -> Starlette:
    """The API over ``state``; run it with uvicorn (the engine is started by the caller).

    Each app has its own `ServerMetrics`; when the store reports its WAL flushes
    (``set_flush_observer``), they are timed into it.
    """
    routes = [
        Route("/health", health, methods=["GET", "HEAD"]),
        Route("/api/v1/health", health, methods=["GET", "HEAD"]),
        Route("/ping", ping, methods=["GET", "HEAD", "POST"]),
        Route(METRICS_PATH, metrics_endpoint, methods=["GET"]),
        *routes_data.routes,
        *routes_retention.routes,
        *routes_v1.routes,
        *routes_tables.routes,
        *routes_caches.routes,
        *routes_tokens.routes,
        *routes_engine.routes,
        *trigger_update_routes,
        *routes_plugins.routes,
        *routes_plugin_delete.routes,
    ]
    if state.plugin_dir is None:
        routes = [_without_engine(route) for route in routes]
    if state.plugin_dir_only:
        routes = plugin_dir_only(routes)
    metrics = ServerMetrics(state.engine, version=state.version)
    paths = [route.path for route in routes if "{" not in route.path]
    middleware = [Middleware(MetricsMiddleware, metrics=metrics, paths=paths)]
    if state.tokens is not None:
        exempt = state.authz_disabled
        bootstrap = (routes_tokens.ADMIN_TOKEN_PATH,)
        auth = Middleware(AuthMiddleware, tokens=state.tokens, exempt=exempt, bootstrap=bootstrap)
        middleware.append(auth)
    middleware.append(Middleware(AllowMiddleware, routes=routes))
    publish_token_table(state.engine, state.tokens)
    app = Starlette(
        routes=routes,
        middleware=middleware,
        exception_handlers={404: not_found, 405: method_not_allowed},
    )
    # built now, not at the first request: the auth closures are taken before any plugin runs
    app.middleware_stack = app.build_middleware_stack()
    app.state.server = state
    app.state.metrics = metrics
    app.state.process_id = str(uuid.uuid4())
    observe = getattr(state.engine.store, "set_flush_observer", None)
    if observe is not None:
        observe(metrics.observe_wal_flush)
    return app


def cancel_queries_on_exit(server: uvicorn.Server, state: ServerState) -> None:
    """Make ``server``'s SIGINT/SIGTERM stop running queries too, not only new connections.

    uvicorn drains requests before it returns, and a query runs in a worker thread that no
    signal reaches: without this, a runaway query would hold the shutdown until it ends.
    """
    exit_handler = server.handle_exit

    def handle_exit(sig: int, frame: object) -> None:
        state.queries.cancel_all()
        exit_handler(sig, frame)  # type: ignore[arg-type]  # uvicorn types frame narrowly

    server.handle_exit = handle_exit  # type: ignore[method-assign]
