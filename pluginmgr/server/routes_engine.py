"""Triggers and request triggers: ``/api/v3/configure/processing_engine_trigger[/enable|/disable]``
and ``/api/v3/engine/<path>`` (engine-behavior.md §4.5-§4.6, §5.4-§5.5).

Creating a trigger goes through `pluginmgr.node.triggers.create_trigger`: the plugin is resolved and
pinned, refused when it lacks its trigger type's entry point (400), and the dependencies it
declares are installed before the catalog changes. Upstream answers a create with an empty body;
ours is JSON, ``{"warnings": [...]}`` (empty when nothing looks wrong), each warning also logged;
with ``Accept: application/x-ndjson`` it streams the install's progress first (`streaming`).
Configure endpoints take a query string or a JSON body (the body wins);
``trigger_settings.execution_timeout`` (seconds) overrides the server's ``--execution-timeout``
for one trigger; ``trigger_settings.isolated`` gives the trigger an environment of its own
(`pluginmgr.deps.isolated`), removed again when the trigger is deleted. A request trigger's body
is read with the ``--max-http-request-size`` cap (413), its answer is passed through as the
plugin made it (or a 500 once the run exceeds its timeout); the ``Authorization`` header never
reaches the plugin.
"""

from __future__ import annotations

import json
import logging
import math
from typing import TYPE_CHECKING, Any, Final, cast

from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from engine_runtime import EngineError, TriggerSettings, parse_trigger_spec
from engine_runtime.trigger_definition import ErrorBehavior, trigger_specification_json

from ..node.plugin_policy import refuse_outside_plugin_dir
from ..node.triggers import create_trigger as pin_and_create
from .formats import QUERY_FORMATS, render_rows
from .routes_common import (
    ApiError,
    blocking,
    endpoint,
    get_bool,
    get_str,
    merged_params,
    read_body,
    server_state,
)
from .streaming import answer_with_progress

if TYPE_CHECKING:
    from collections.abc import Callable

    from starlette.requests import Request

    from engine_runtime import ProcessingEngine, TriggerDefinition

__all__ = ["PLUGINS_PATH", "error_behavior", "routes", "trigger_arguments"]

_LOGGER: Final = logging.getLogger(__name__)
_TRIGGER_PATH: Final = "/api/v3/configure/processing_engine_trigger"
PLUGINS_PATH: Final = "/api/v3/pluginmgr/plugins"
_NOT_FOUND_BODY: Final = b'{"error": "not found"}'
#: headers Starlette computes itself from the body it sends
_HOP_HEADERS: Final = frozenset({"content-length", "transfer-encoding", "connection"})


def _settings(raw: Any) -> TriggerSettings:
    if raw is None:
        return TriggerSettings()
    if not isinstance(raw, dict):
        message = 'field \'trigger_settings\' must be {"run_async": bool, "error_behavior": str}'
        raise ApiError(400, message)
    run_async = raw.get("run_async", False)
    if not isinstance(run_async, bool):
        raise ApiError(400, "field 'trigger_settings.run_async' must be true or false")
    isolated = raw.get("isolated", False)
    if not isinstance(isolated, bool):
        raise ApiError(400, "field 'trigger_settings.isolated' must be true or false")
    behavior = error_behavior(raw.get("error_behavior", "log"))
    timeout = raw.get("execution_timeout")
    valid = isinstance(timeout, int | float) and not isinstance(timeout, bool) and timeout > 0
    if timeout is not None and not (valid and math.isfinite(timeout)):
        message = (
            "field 'trigger_settings.execution_timeout' must be a number of seconds > 0, got "
            f"{json.dumps(timeout)}"
        )
        raise ApiError(400, message)
    return TriggerSettings(
        run_async=run_async,
        error_behavior=behavior,
        execution_timeout=None if timeout is None else float(timeout),
        isolated=isolated,
    )


def error_behavior(behavior: Any) -> ErrorBehavior:
    """``trigger_settings.error_behavior`` as given; 400 unless it is log, retry or disable."""
    if behavior not in ("log", "retry", "disable"):
        message = (
            f"field 'trigger_settings.error_behavior' must be log, retry or disable, "
            f"got {json.dumps(behavior)}"
        )
        raise ApiError(400, message)
    return cast("ErrorBehavior", behavior)


def trigger_arguments(raw: Any) -> dict[str, str] | None:
    """``trigger_arguments``: None, or an object of string values (400 otherwise)."""
    if raw is None:
        return None
    if not isinstance(raw, dict) or not all(isinstance(v, str) for v in raw.values()):
        raise ApiError(400, "field 'trigger_arguments' must be a JSON object of string values")
    return {str(k): v for k, v in raw.items()}


def _check_allowed(allowed: frozenset[str] | None, spec: str) -> None:
    """Refuse a trigger type ``--restrict-plugin-triggers-to`` leaves out, in upstream's words
    (checked first, as upstream does; a spec that does not parse is left to the create)."""
    if allowed is None:
        return
    try:
        plugin_type = parse_trigger_spec(spec).plugin_type
    except EngineError:
        return
    if plugin_type not in allowed:
        message = f"invalid request: server is configured to reject {plugin_type} plugin triggers"
        raise ApiError(400, message)


@endpoint
async def create_trigger(request: Request) -> Response:
    """``POST …/processing_engine_trigger``: pin and check the plugin, install its deps, add the
    trigger; answers ``{"warnings": [...]}``."""
    body = await merged_params(request)
    database = get_str(body, "db")
    name = get_str(body, "trigger_name")
    plugin_filename = get_str(body, "plugin_filename")
    spec = get_str(body, "trigger_specification")
    settings = _settings(body.get("trigger_settings"))
    arguments = trigger_arguments(body.get("trigger_arguments"))
    disabled = get_bool(body, "disabled", default=False)
    ignore_version = get_bool(body, "ignore_database_version", default=False)
    state = server_state(request)
    _check_allowed(state.allowed_triggers, spec)
    if state.plugin_dir_only:
        refuse_outside_plugin_dir(plugin_filename)

    def create(progress: Callable[[str], None] | None) -> dict[str, Any]:
        created = pin_and_create(
            state.engine,
            state.manager,
            database,
            name,
            plugin_filename,
            spec,
            settings=settings,
            arguments=arguments,
            disabled=disabled,
            env=state.env,
            install_options=state.install_options,
            progress=progress,
            ignore_database_version=ignore_version,
        )
        for warning in created.warnings:
            _LOGGER.warning("trigger %s/%s: %s", database, name, warning)
        return {"warnings": list(created.warnings)}

    return await answer_with_progress(request, create)


@endpoint
async def delete_trigger(request: Request) -> Response:
    """``DELETE …/processing_engine_trigger`` ``{"db", "trigger_name", "force"}``."""
    body = await merged_params(request)
    database, name = get_str(body, "db"), get_str(body, "trigger_name")
    force = get_bool(body, "force", default=False)
    state = server_state(request)
    engine = state.engine

    def delete() -> None:
        from ..deps.isolated import forget_deleted  # the resolver's modules: only now

        deleted = engine.catalog.get_trigger(database, name)
        engine.delete_trigger(database, name, force=force)
        plugin_dir = state.manager.settings.plugin_dir
        forget_deleted(plugin_dir, [deleted], engine.catalog.triggers())

    await blocking(delete)
    return Response(status_code=200)


@endpoint
async def enable_trigger(request: Request) -> Response:
    """``POST …/enable?db=&trigger_name=``: 200, also when it was enabled already."""
    body = await merged_params(request)
    database, name = get_str(body, "db"), get_str(body, "trigger_name")
    await blocking(server_state(request).engine.enable_trigger, database, name)
    return Response(status_code=200)


@endpoint
async def disable_trigger(request: Request) -> Response:
    """``POST …/disable?db=&trigger_name=``: stops it after the current run, drops its cache."""
    body = await merged_params(request)
    database, name = get_str(body, "db"), get_str(body, "trigger_name")
    await blocking(server_state(request).engine.disable_trigger, database, name)
    return Response(status_code=200)


def _trigger_row(engine: ProcessingEngine, trigger: TriggerDefinition) -> dict[str, Any]:
    return {
        "database_name": trigger.database,
        "trigger_name": trigger.trigger_name,
        "plugin_filename": trigger.plugin_filename,
        "trigger_specification": str(trigger.spec),
        "trigger_specification_json": trigger_specification_json(trigger.spec),
        "trigger_arguments": None if trigger.arguments is None else dict(trigger.arguments),
        "run_async": trigger.settings.run_async,
        "error_behavior": trigger.settings.error_behavior,
        "isolated": trigger.settings.isolated,
        "disabled": trigger.disabled,
        "state": engine.trigger_state(trigger.database, trigger.trigger_name),
    }


@endpoint
async def list_triggers(request: Request) -> Response:
    """``GET …/processing_engine_trigger?db=&format=json``: every trigger with its state."""
    params = dict(request.query_params.multi_items())
    database = params.get("db") or None
    output = params.get("format") or "json"
    engine = server_state(request).engine
    if database is not None and not engine.catalog.has_database(database):
        raise ApiError(404, f"Database not found {database}")
    rows = [_trigger_row(engine, t) for t in engine.catalog.triggers(database)]
    if output != "json":
        for row in rows:  # flat cells for tables and csv
            args = row["trigger_arguments"]
            row["trigger_arguments"] = "" if args is None else json.dumps(args)
    if output not in QUERY_FORMATS:
        raise ApiError(400, f"field 'format': unsupported format {output!r}")
    return render_rows(rows, output)


@endpoint
async def list_plugins(request: Request) -> Response:
    """``GET /api/v3/pluginmgr/plugins?db=``: every plugin the triggers use or the plugin dir
    holds, with its version, triggers, dependencies, argument schema and the triggers using it.

    A pluginmgr extension (upstream has only ``system.plugin_files``); always JSON.
    """
    from ..node.plugin_info import plugin_inventory

    database = request.query_params.get("db") or None
    state = server_state(request)
    if database is not None and not state.engine.catalog.has_database(database):
        raise ApiError(404, f"Database not found {database}")
    triggers = state.engine.catalog.triggers(database)
    infos = await blocking(plugin_inventory, state.manager, triggers)
    if database is not None:
        infos = [info for info in infos if info.used_by]
    return JSONResponse([info.to_dict() for info in infos])


@endpoint
async def engine_request(request: Request) -> Response:
    """``GET|POST /api/v3/engine/<path>``: run the request trigger at ``path`` (404 if none)."""
    if request.method not in ("GET", "POST"):
        return Response(_NOT_FOUND_BODY, status_code=404, media_type="application/json")
    state = server_state(request)
    path = request.path_params["path"]
    query = dict(request.query_params.multi_items())  # a repeated key keeps its last value
    body = await read_body(request)  # capped: --max-http-request-size (413)
    # awaited on the event loop: a caller of a hung plugin holds no worker thread
    answer = await state.engine.handle_request_async(
        path,
        query_params=query,
        headers=dict(request.headers.items()),  # the engine drops Authorization
        body=body,
        timeout=state.request_timeout,
    )
    kept = {k: v for k, v in answer.headers.items() if k.lower() not in _HOP_HEADERS}
    return Response(answer.body, status_code=answer.status, headers=kept)


routes: Final = [
    Route(_TRIGGER_PATH, list_triggers, methods=["GET"]),
    Route(_TRIGGER_PATH, create_trigger, methods=["POST"]),
    Route(_TRIGGER_PATH, delete_trigger, methods=["DELETE"]),
    Route(f"{_TRIGGER_PATH}/enable", enable_trigger, methods=["POST"]),
    Route(f"{_TRIGGER_PATH}/disable", disable_trigger, methods=["POST"]),
    Route(PLUGINS_PATH, list_plugins, methods=["GET"]),
    Route(
        "/api/v3/engine/{path:path}",
        engine_request,
        methods=["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"],
    ),
]
