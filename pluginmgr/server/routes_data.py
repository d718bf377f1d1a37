"""Writes, queries and databases: ``/api/v3/write_lp``, ``/api/v2/write``, ``/api/v3/query_sql``,
``/api/v3/configure/database``.

Query results come in every format of `formats` (``format=`` or the ``Accept`` header).

A write answers 204 once the engine acknowledged it. Rejected lines answer 400 with upstream's
body: ``{"error": "partial write of line protocol occurred", "data": [{"original_line",
"line_number", "error_message"}]}`` when the other lines were written (``accept_partial``, the
default), ``"parsing failed for write_lp endpoint"`` when nothing was.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Final

from starlette.responses import Response
from starlette.routing import Route

from engine_runtime.errors import WriteError
from engine_runtime.line_protocol.parse import PRECISIONS

from .formats import QUERY_FORMATS, choose_format, parquet_bytes, parquet_response, render_rows
from .queries import run_query
from .routes_common import (
    NESTED_TOO_DEEPLY,
    ApiError,
    blocking,
    endpoint,
    get_bool,
    get_str,
    merged_params,
    read_body,
    server_state,
)
from .routes_retention import retention_field

if TYPE_CHECKING:
    from starlette.requests import Request

    from engine_runtime import ProcessingEngine
    from engine_runtime.line_protocol.parse import LineError

__all__ = [
    "PARTIAL_WRITE_MESSAGE",
    "QUERY_FORMATS",
    "WRITE_FAILED_MESSAGE",
    "render_rows",
    "routes",
    "write_body",
]

#: upstream's messages for rejected lines
PARTIAL_WRITE_MESSAGE: Final = "partial write of line protocol occurred"
WRITE_FAILED_MESSAGE: Final = "parsing failed for write_lp endpoint"


def _error_rows(errors: Sequence[LineError]) -> list[dict[str, Any]]:
    """Upstream's ``data`` for rejected lines."""
    return [
        {"original_line": e.line, "line_number": e.line_number, "error_message": e.message}
        for e in errors
    ]


async def write_body(
    request: Request, database: str, precision: str, *, accept_partial: bool, no_sync: bool
) -> Response:
    """Write the request's (decoded, capped) line protocol body: 204, or 400 with upstream's
    body naming the rejected lines. Shared by the v3, v2 and v1 write endpoints."""
    try:
        text = (await read_body(request)).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ApiError(400, f"the line protocol body is not valid UTF-8: {exc}") from None
    engine = server_state(request).engine
    try:
        result = await blocking(
            engine.write_lp,
            database,
            text,
            precision=precision,
            accept_partial=accept_partial,
            no_sync=no_sync,
        )
    except WriteError as exc:
        if not exc.line_errors:  # not about the lines (e.g. the WAL could not be written)
            raise ApiError(400, str(exc)) from None
        raise ApiError(400, WRITE_FAILED_MESSAGE, data=_error_rows(exc.line_errors)) from None
    if result.errors:
        raise ApiError(400, PARTIAL_WRITE_MESSAGE, data=_error_rows(result.errors))
    return Response(status_code=204)


def _precision(value: str) -> str:
    """Every precision name on every write endpoint (InfluxDB 3's long names, the v2 short
    forms and the v1 aliases ``n``/``u``); only the default differs per endpoint."""
    if value not in PRECISIONS:
        message = f"invalid precision {value!r}: use one of {', '.join(PRECISIONS)}"
        raise ApiError(400, message)
    return value


@endpoint
async def write_lp(request: Request) -> Response:
    """``POST /api/v3/write_lp?db=&precision=&accept_partial=&no_sync=``: 204 when written."""
    params = dict(request.query_params.multi_items())
    database = get_str(params, "db")
    precision = _precision(params.get("precision") or "auto")
    accept_partial = get_bool(params, "accept_partial", default=True)
    no_sync = get_bool(params, "no_sync", default=False)
    return await write_body(
        request, database, precision, accept_partial=accept_partial, no_sync=no_sync
    )


@endpoint
async def write_v2(request: Request) -> Response:
    """``POST /api/v2/write?bucket=&precision=`` (InfluxDB 2 clients): 204 when written."""
    params = dict(request.query_params.multi_items())
    database = get_str(params, "bucket")
    precision = _precision(params.get("precision") or "ns")
    return await write_body(request, database, precision, accept_partial=True, no_sync=False)


# -- queries ----------------------------------------------------------------------------------


def _query_params(value: Any) -> dict[str, str] | None:
    if value is None or value == "":
        return None
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError as exc:
            raise ApiError(400, f"field 'params' is not valid JSON: {exc}") from None
        except RecursionError:
            raise ApiError(400, NESTED_TOO_DEEPLY.format(what="field 'params'")) from None
    if not isinstance(value, dict):
        raise ApiError(400, "field 'params' must be a JSON object of $name -> value")
    params: dict[str, str] = {}
    for key, item in value.items():
        if isinstance(item, dict | list) or item is None:
            message = f"field 'params': the value of {key!r} must be a string or a number"
            raise ApiError(400, message)
        params[str(key)] = item if isinstance(item, str) else json.dumps(item)
    return params


@endpoint
async def query_sql(request: Request) -> Response:
    """``GET|POST /api/v3/query_sql``: ``db``, ``q``, ``params`` (JSON object), ``format``."""
    params = await merged_params(request)
    database, sql = get_str(params, "db"), get_str(params, "q")
    output = choose_format(params, request.headers)
    values = _query_params(params.get("params"))
    engine = server_state(request).engine
    if output == "parquet":
        parquet = await run_query(request, _query_parquet, engine, database, sql, values)
        return parquet_response(parquet)
    rows = await run_query(request, engine.query_for_http, database, sql, values)
    return render_rows(rows, output)


def _query_parquet(
    engine: ProcessingEngine, database: str, sql: str, values: dict[str, str] | None
) -> bytes:
    """The result as one Parquet file with the query's own Arrow types (timestamps stay)."""
    import pyarrow as pa  # type: ignore[import-untyped]  # pyarrow ships no stubs

    schema, batches = engine.query_stream(database, sql, values)
    return parquet_bytes(pa.Table.from_batches(list(batches), schema=schema))


# -- databases --------------------------------------------------------------------------------


@endpoint
async def list_databases(request: Request) -> Response:
    """``GET /api/v3/configure/database?format=json``: ``[{"iox::database": name}]``, with
    ``_internal``."""
    params = dict(request.query_params.multi_items())
    output = choose_format(params, request.headers)
    names = server_state(request).engine.databases()
    return render_rows([{"iox::database": name} for name in names], output)


@endpoint
async def create_database(request: Request) -> Response:
    """``POST /api/v3/configure/database {"db": name, "retention_period": "30d"}``: 200; 409
    when it exists."""
    params = await merged_params(request)
    database = get_str(params, "db")
    seconds = retention_field(params)
    create = server_state(request).engine.create_database
    created = await blocking(create, database, retention_seconds=seconds)
    if not created:
        message = f"attempted to create a resource that already exists: database {database}"
        raise ApiError(409, message)
    return Response(status_code=200)


@endpoint
async def delete_database(request: Request) -> Response:
    """``DELETE /api/v3/configure/database?db=``: 200; 404 when there is none."""
    params = await merged_params(request)
    database = get_str(params, "db")
    state = server_state(request)
    engine = state.engine

    def delete() -> None:
        from ..deps.isolated import forget_deleted  # the resolver's modules: only now

        gone = engine.catalog.triggers(database) if engine.catalog.has_database(database) else []
        engine.delete_database(database)
        plugin_dir = state.manager.settings.plugin_dir
        forget_deleted(plugin_dir, gone, engine.catalog.triggers())  # their own environments

    await blocking(delete)
    return Response(status_code=200)


routes: Final = [
    Route("/api/v3/write_lp", write_lp, methods=["POST"]),
    Route("/api/v2/write", write_v2, methods=["POST"]),
    Route("/api/v3/query_sql", query_sql, methods=["GET", "POST"]),
    Route("/api/v3/configure/database", list_databases, methods=["GET"]),
    Route("/api/v3/configure/database", create_database, methods=["POST"]),
    Route("/api/v3/configure/database", delete_database, methods=["DELETE"]),
]
