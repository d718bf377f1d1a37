"""InfluxDB 1.x's HTTP API and InfluxQL: ``/write``, ``/query``, ``/api/v3/query_influxql``.

* ``POST /write?db=&rp=&precision=``: line protocol, through the same write path as
  ``/api/v2/write`` (partial writes, gzip bodies, the size cap). ``precision`` is ``n``/``ns``
  (the default), ``u``/``us``, ``ms``, ``s``, ``m`` (minutes) or ``h`` (hours). A named ``rp``
  writes to the database ``<db>/<rp>``, as InfluxDB 3 maps v1 retention policies.
* ``GET|POST /query?db=&rp=&q=&epoch=&chunked=&chunk_size=&pretty=&params=``: InfluxQL
  answered in 1.x's JSON. ``q`` may also come in an ``application/x-www-form-urlencoded`` body
  (the v1 clients and the ``influx`` CLI) or as the whole body with ``Content-Type:
  application/vnd.influxql``. A query that does not parse answers 400; a statement that fails
  answers 200 with that statement's ``"error"``.
* ``GET|POST /api/v3/query_influxql?db=&q=&format=&params=``: one InfluxQL statement
  answered as ``/api/v3/query_sql`` answers SQL (every format of `formats`, ``format=`` or the
  ``Accept`` header), with InfluxDB 3's columns (``iox::measurement``, ``time``, tags, fields).

Errors answer ``{"error": "..."}``.
"""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any, Final

from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from engine_runtime.influxql import (
    EPOCHS,
    EngineBackend,
    database_for,
    query_table,
    run_query,
    v1_chunks,
    v1_json,
)
from engine_runtime.store import batches_to_rows

from .formats import choose_format, parquet_bytes, parquet_response, render_rows
from .queries import run_query as run_guarded
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
from .routes_data import write_body

if TYPE_CHECKING:
    import pyarrow as pa  # type: ignore[import-untyped]  # pyarrow ships no stubs
    from starlette.requests import Request

    from .app import ServerState

__all__ = [
    "DEFAULT_CHUNK_SIZE",
    "MISSING_DATABASE_MESSAGE",
    "MISSING_QUERY_MESSAGE",
    "V1_PRECISIONS",
    "influxql_table",
    "routes",
]

#: v1 ``precision`` -> the store's precision name
V1_PRECISIONS: Final[dict[str, str]] = {
    "n": "ns",
    "ns": "ns",
    "u": "us",
    "us": "us",
    "µ": "us",
    "ms": "ms",
    "s": "s",
    "m": "minute",
    "h": "hour",
}
#: rows per chunk of a ``chunked=true`` answer unless ``chunk_size`` says otherwise
DEFAULT_CHUNK_SIZE: Final = 10_000
#: InfluxDB 1.x's words
MISSING_QUERY_MESSAGE: Final = 'missing required parameter "q"'
MISSING_DATABASE_MESSAGE: Final = "database is required"
_FORM: Final = "application/x-www-form-urlencoded"
_INFLUXQL_BODY: Final = "application/vnd.influxql"


def influxql_table(
    state: ServerState, database: str | None, query: str, *, params: Mapping[str, Any] | None = None
) -> pa.Table:
    """Run one InfluxQL statement on ``database`` of the server; blocking (call it off the loop).

    The answer is InfluxDB 3's shape, as Arrow Flight and ``/api/v3/query_influxql`` return it:
    ``iox::measurement``, then ``time`` (``timestamp[ns]``), the ``GROUP BY`` tags (strings)
    and the selected columns. ``functools.partial(influxql_table, state)`` is a Flight
    ``InfluxQLRunner``.

    :param params: values for ``$name`` placeholders.
    :raises EngineError: InfluxQLSyntaxError when ``query`` does not parse or holds several
        statements, InfluxQLError (or DatabaseNotFoundError, QueryExecutionError) when it fails.
    """
    return query_table(EngineBackend(state.engine), database, query, params=params)


# -- /write -----------------------------------------------------------------------------------


@endpoint
async def write_v1(request: Request) -> Response:
    """``POST /write?db=&rp=&precision=``: 204 once written."""
    params = dict(request.query_params.multi_items())
    database = params.get("db", "")
    if not database.strip():
        raise ApiError(400, f"{MISSING_DATABASE_MESSAGE}: pass ?db=<database>")
    target = database_for(database, params.get("rp"))
    given = params.get("precision") or "ns"
    precision = V1_PRECISIONS.get(given)
    if precision is None:
        message = f"invalid precision {given!r}: use one of {', '.join(V1_PRECISIONS)}"
        raise ApiError(400, message)
    return await write_body(request, target, precision, accept_partial=True, no_sync=False)


# -- /query -----------------------------------------------------------------------------------


async def _v1_params(request: Request) -> dict[str, str]:
    """Query-string parameters, overridden by a form body's; ``q`` from an InfluxQL body."""
    params: dict[str, str] = dict(request.query_params.multi_items())
    if request.method != "POST":
        return params
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    body = await read_body(request)
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ApiError(400, f"the request body is not valid UTF-8: {exc}") from None
    if kind == _FORM:
        params.update(urllib.parse.parse_qsl(text, keep_blank_values=True))
    elif kind == _INFLUXQL_BODY and text.strip():
        params["q"] = text
    return params


def _bind_params(value: str | None) -> dict[str, Any] | None:
    if not value:
        return None
    try:
        bound = json.loads(value)
    except ValueError as exc:
        raise ApiError(400, f"params: not valid JSON ({exc}): send a JSON object") from None
    except RecursionError:
        raise ApiError(400, NESTED_TOO_DEEPLY.format(what="params")) from None
    if not isinstance(bound, dict):
        raise ApiError(400, 'params: send a JSON object such as {"host": "a"}')
    return bound


def _chunk_size(params: Mapping[str, str]) -> int:
    text = params.get("chunk_size") or str(DEFAULT_CHUNK_SIZE)
    if not text.isdigit() or int(text) <= 0:
        raise ApiError(400, f"chunk_size: {text!r} is not a positive integer")
    return int(text)


def _epoch(params: Mapping[str, str]) -> str | None:
    epoch = params.get("epoch") or None
    if epoch is not None and epoch not in EPOCHS:
        message = f"invalid epoch {epoch!r}: use one of {', '.join(EPOCHS)} or leave it out"
        raise ApiError(400, message)
    return epoch


@endpoint
async def query_v1(request: Request) -> Response:
    """``GET|POST /query``: InfluxQL, answered as InfluxDB 1.x answers it."""
    params = await _v1_params(request)
    text = params.get("q", "")
    if not text.strip():
        raise ApiError(400, MISSING_QUERY_MESSAGE)
    database = params.get("db") or None
    if database is not None:
        database = database_for(database, params.get("rp"))
    epoch = _epoch(params)
    chunked = get_bool(params, "chunked", default=False)
    size = _chunk_size(params) if chunked else DEFAULT_CHUNK_SIZE
    pretty = get_bool(params, "pretty", default=False)
    backend = EngineBackend(server_state(request).engine)
    bound = _bind_params(params.get("params"))
    results = await run_guarded(request, run_query, backend, database, text, params=bound)
    if chunked:
        chunks = v1_chunks(results, epoch=epoch, chunk_size=size)
        return StreamingResponse(_lines(chunks), media_type="application/json")
    body = v1_json(results, epoch=epoch)
    if pretty:
        return Response(json.dumps(body, indent=4) + "\n", media_type="application/json")
    return JSONResponse(body)


def _lines(chunks: Iterator[dict[str, Any]]) -> Iterator[str]:
    for chunk in chunks:
        yield json.dumps(chunk) + "\n"


# -- /api/v3/query_influxql -------------------------------------------------------------------


@endpoint
async def query_influxql(request: Request) -> Response:
    """``GET|POST /api/v3/query_influxql``: ``db``, ``q``, ``format``, ``params``."""
    params = await merged_params(request)
    database = get_str(params, "db", required=False) or None
    text = get_str(params, "q")
    output = choose_format(params, request.headers)
    bound = params.get("params")
    if isinstance(bound, str):
        bound = _bind_params(bound)
    if bound is not None and not isinstance(bound, dict):
        raise ApiError(400, "field 'params' must be a JSON object of $name -> value")
    state = server_state(request)
    table = await run_guarded(request, influxql_table, state, database, text, params=bound)
    if output == "parquet":
        return parquet_response(await blocking(parquet_bytes, table))
    return render_rows(batches_to_rows(table.to_batches(), iso_timestamps=True), output)


routes: Final = [
    Route("/write", write_v1, methods=["POST"]),
    Route("/query", query_v1, methods=["GET", "POST"]),
    Route("/api/v3/query_influxql", query_influxql, methods=["GET", "POST"]),
]
