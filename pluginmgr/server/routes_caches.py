"""Caches: ``POST``/``DELETE /api/v3/configure/last_cache`` and ``.../distinct_cache``.

Bodies are upstream's (``influxdb3_types::http``). ``POST last_cache``: ``{"db", "table",
"name"?, "key_columns"?, "value_columns"?, "count"? (1), "ttl"? (seconds, 14400)}``;
``POST distinct_cache``: ``{"db", "table", "name"?, "columns", "max_cardinality"? (100000),
"max_age"? (seconds, 86400)}``. Both answer 201 with the catalog change as upstream shapes it
(an ``OrderedCatalogBatch``: ``{"catalog_batch": {"Database": {..., "ops":
[{"CreateLastCache": {...}}]}}, "sequence_number"}``; ids are ordinals here), 409 when the
table has a cache of that name, 404 for a missing database or table, 400 for a bad column,
type, count or cardinality. ``DELETE`` takes ``db``, ``table`` and ``name`` (query string or
JSON body): 200 with an empty body, 404 when there is no such cache.
"""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any, Final

from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from engine_runtime.value_caches.definitions import (
    DEFAULT_COUNT,
    DEFAULT_MAX_AGE,
    DEFAULT_MAX_CARDINALITY,
    DEFAULT_TTL,
    CacheDefinition,
    LastCacheDefinition,
)
from engine_runtime.value_caches.tables import table_kinds

from .routes_common import (
    ApiError,
    blocking,
    endpoint,
    get_str,
    merged_params,
    read_json,
    server_state,
)

if TYPE_CHECKING:
    from starlette.requests import Request

    from engine_runtime import ProcessingEngine

__all__ = ["DISTINCT_CACHE_PATH", "LAST_CACHE_PATH", "routes"]

LAST_CACHE_PATH: Final = "/api/v3/configure/last_cache"
DISTINCT_CACHE_PATH: Final = "/api/v3/configure/distinct_cache"


def _names(body: dict[str, Any], field: str, *, required: bool = False) -> list[str] | None:
    value = body.get(field)
    if value is None:
        if required:
            raise ApiError(400, f"missing field '{field}'")
        return None
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ApiError(
            400, f"field '{field}' must be a list of column names, got {json.dumps(value)}"
        )
    return value


def _whole(body: dict[str, Any], field: str, default: int) -> int:
    value = body.get(field)
    if value is None:
        return default
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        message = f"field '{field}' must be a whole number of 0 or more, got {json.dumps(value)}"
        raise ApiError(400, message)
    return value


def _column_id(kinds: dict[str, str], name: str) -> Any:
    if name == "time":
        return "timestamp"
    position = list(kinds).index(name) if name in kinds else -1
    return {"tag": position} if kinds.get(name) == "tag" else {"field": [0, position]}


def _operation(engine: ProcessingEngine, definition: CacheDefinition) -> dict[str, Any]:
    """The ``CreateLastCache``/``CreateDistinctCache`` op upstream answers with."""
    db, table = definition.database, definition.table
    kinds = table_kinds(engine.store, db, table) or {}
    tables = engine.store.tables(db)
    table_id = tables.index(table) if table in tables else 0
    same = [c for c in engine.catalog.caches(db, table) if c.kind == definition.kind]
    cache_id = same.index(definition) if definition in same else 0
    if isinstance(definition, LastCacheDefinition):
        values = definition.value_columns
        return {
            "CreateLastCache": {
                "table_id": table_id,
                "table": table,
                "id": cache_id,
                "node_spec": "all",
                "name": definition.name,
                "key_columns": [_column_id(kinds, c) for c in definition.key_columns],
                "value_columns": "all_non_key_columns"
                if values is None
                else {"explicit": {"columns": [_column_id(kinds, c) for c in values]}},
                "count": definition.count,
                "ttl": definition.ttl,
            }
        }
    return {
        "CreateDistinctCache": {
            "table_id": table_id,
            "table_name": table,
            "node_spec": "all",
            "cache_id": cache_id,
            "cache_name": definition.name,
            "column_ids": [_column_id(kinds, c) for c in definition.columns],
            "max_cardinality": definition.max_cardinality,
            "max_age_seconds": definition.max_age,
            "source": {"type": "User"},
        }
    }


def _created(engine: ProcessingEngine, definition: CacheDefinition) -> Response:
    databases = engine.catalog.databases()
    batch = {
        "catalog_batch": {
            "Database": {
                "time_ns": time.time_ns(),
                "database_id": databases.index(definition.database) + 1,  # 0 is _internal
                "database_name": definition.database,
                "ops": [_operation(engine, definition)],
            }
        },
        "sequence_number": len(engine.catalog.caches()),
    }
    return JSONResponse(batch, status_code=201)


@endpoint
async def create_last_cache(request: Request) -> Response:
    """``POST /api/v3/configure/last_cache``: 201 with the definition; 400, 404, 409."""
    body = await read_json(request)
    database, table = get_str(body, "db"), get_str(body, "table")
    name = get_str(body, "name", required=False) or None
    engine = server_state(request).engine
    definition = await blocking(
        engine.value_caches.create_last_cache,
        database,
        table,
        name=name,
        key_columns=_names(body, "key_columns"),
        value_columns=_names(body, "value_columns"),
        count=_whole(body, "count", DEFAULT_COUNT),
        ttl=_whole(body, "ttl", DEFAULT_TTL),
    )
    return await blocking(_created, engine, definition)


@endpoint
async def create_distinct_cache(request: Request) -> Response:
    """``POST /api/v3/configure/distinct_cache``: 201 with the definition; 400, 404, 409."""
    body = await read_json(request)
    database, table = get_str(body, "db"), get_str(body, "table")
    name = get_str(body, "name", required=False) or None
    columns = _names(body, "columns", required=True) or []
    engine = server_state(request).engine
    definition = await blocking(
        engine.value_caches.create_distinct_cache,
        database,
        table,
        columns,
        name=name,
        max_cardinality=_whole(body, "max_cardinality", DEFAULT_MAX_CARDINALITY),
        max_age=_whole(body, "max_age", DEFAULT_MAX_AGE),
    )
    return await blocking(_created, engine, definition)


async def _delete(request: Request, kind: str) -> Response:
    params = await merged_params(request)
    where = (get_str(params, "db"), get_str(params, "table"))
    name = get_str(params, "name")
    await blocking(server_state(request).engine.value_caches.delete_cache, *where, kind, name)
    return Response(status_code=200)


@endpoint
async def delete_last_cache(request: Request) -> Response:
    """``DELETE /api/v3/configure/last_cache?db=&table=&name=``: 200; 404 when unknown."""
    return await _delete(request, "last")


@endpoint
async def delete_distinct_cache(request: Request) -> Response:
    """``DELETE /api/v3/configure/distinct_cache?db=&table=&name=``: 200; 404 when unknown."""
    return await _delete(request, "distinct")


routes: Final = [
    Route(LAST_CACHE_PATH, create_last_cache, methods=["POST"]),
    Route(LAST_CACHE_PATH, delete_last_cache, methods=["DELETE"]),
    Route(DISTINCT_CACHE_PATH, create_distinct_cache, methods=["POST"]),
    Route(DISTINCT_CACHE_PATH, delete_distinct_cache, methods=["DELETE"]),
]
