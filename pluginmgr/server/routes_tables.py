"""Tables: ``POST /api/v3/configure/table`` declares one, ``DELETE`` removes it with its rows.

The create body is upstream's ``CreateTableRequest``: ``{"db", "table", "tags": [name, ...],
"fields": [{"name", "type"}, ...]}``, ``type`` one of `FIELD_TYPES`; the database is created
if it does not exist, as upstream. 200 with an empty body; 409 when the table exists. Delete
takes ``db`` and ``table`` (query string or JSON body): 200; 404 for a missing database or
table. Declared types are fixed: a later write with another type for a column is rejected.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, Final

from starlette.responses import Response
from starlette.routing import Route

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

__all__ = ["FIELD_TYPES", "TABLE_PATH", "routes"]

TABLE_PATH: Final = "/api/v3/configure/table"
#: upstream's field ``type`` names -> the store's column kinds
FIELD_TYPES: Final = {
    "utf8": "string",
    "int64": "i64",
    "uint64": "u64",
    "float64": "f64",
    "bool": "bool",
}


def _list(body: dict[str, Any], name: str) -> list[Any]:
    value = body.get(name)
    if value is None:
        raise ApiError(400, f"missing field '{name}' (send [] for none)")
    if not isinstance(value, list):
        raise ApiError(400, f"field '{name}' must be a list, got {json.dumps(value)}")
    return value


def _tags(body: dict[str, Any]) -> list[str]:
    tags = _list(body, "tags")
    for tag in tags:
        if not isinstance(tag, str):
            raise ApiError(400, f"field 'tags': every tag must be a string, got {json.dumps(tag)}")
    return tags


def _fields(body: dict[str, Any]) -> list[tuple[str, str]]:
    fields: list[tuple[str, str]] = []
    for item in _list(body, "fields"):
        if not isinstance(item, dict):
            message = (
                f"field 'fields': every field must be an object with name and type, got {item!r}"
            )
            raise ApiError(400, message)
        name = get_str(item, "name")
        kind = get_str(item, "type")
        if kind not in FIELD_TYPES:
            message = (
                f"field 'fields': {name!r} has unknown type {kind!r}: use one of "
                f"{', '.join(FIELD_TYPES)}"
            )
            raise ApiError(400, message)
        fields.append((name, FIELD_TYPES[kind]))
    return fields


@endpoint
async def create_table(request: Request) -> Response:
    """``POST /api/v3/configure/table``: 200; 400 for a bad body, 409 when it exists."""
    body = await read_json(request)
    database, table = get_str(body, "db"), get_str(body, "table")
    tags, fields = _tags(body), _fields(body)
    engine = server_state(request).engine
    await blocking(engine.create_table, database, table, tags=tags, fields=fields)
    return Response(status_code=200)


@endpoint
async def delete_table(request: Request) -> Response:
    """``DELETE /api/v3/configure/table?db=&table=``: 200; 404 when there is no such table."""
    params = await merged_params(request)
    database, table = get_str(params, "db"), get_str(params, "table")
    await blocking(server_state(request).engine.delete_table, database, table)
    return Response(status_code=200)


routes: Final = [
    Route(TABLE_PATH, create_table, methods=["POST"]),
    Route(TABLE_PATH, delete_table, methods=["DELETE"]),
]
