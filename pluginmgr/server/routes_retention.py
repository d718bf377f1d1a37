"""Database retention periods over HTTP, as InfluxDB 3 Core routes them.

* ``POST /api/v3/configure/database {"db", "retention_period"}``: the period at creation
  (`retention_field`, used by `routes_data.create_database`);
* ``PUT /api/v3/configure/database {"db", "retention_period"}``: set it, or clear it when
  ``retention_period`` is absent or null (upstream's ``update_database``): 200;
* ``POST /api/v3/configure/database/retention_period?db=&duration=``: set it, 204;
* ``DELETE /api/v3/configure/database/retention_period?db=``: clear it, 204.

A period is a duration (``30d``, ``24h``, ``1h30m``); a bad one answers 400 with serde's words
(``invalid value: string "garbage", expected a duration``), an unknown database 404 (``the
requested resource was not found: <db>``), a missing parameter 400.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

from starlette.responses import Response
from starlette.routing import Route

from engine_runtime.retention import (
    DURATION_EXAMPLES,
    invalid_value_message,
    parse_retention_period,
)

from .routes_common import ApiError, blocking, endpoint, get_str, merged_params, server_state

if TYPE_CHECKING:
    from starlette.requests import Request

__all__ = ["RETENTION_PERIOD_PATH", "retention_field", "routes"]

RETENTION_PERIOD_PATH: Final = "/api/v3/configure/database/retention_period"
_FIELD: Final = "retention_period"


def retention_field(params: dict[str, Any]) -> int | None:
    """The request's ``retention_period`` in seconds; None when absent or null.

    :raises InvalidRetentionPeriodError: a string that is not a duration, or out of range.
    :raises ApiError: a value that is not a string (400, serde's words).
    """
    value = params.get(_FIELD)
    if value is None:
        return None
    if not isinstance(value, str):
        message = f"{invalid_value_message(value)} (field '{_FIELD}'; {DURATION_EXAMPLES})"
        raise ApiError(400, message)
    return parse_retention_period(value)


@endpoint
async def update_database(request: Request) -> Response:
    """``PUT /api/v3/configure/database``: set the period, or clear it without one; 200."""
    params = await merged_params(request)
    database = get_str(params, "db")
    seconds = retention_field(params)
    await blocking(server_state(request).engine.set_retention_period, database, seconds)
    return Response(status_code=200)


@endpoint
async def set_retention_period(request: Request) -> Response:
    """``POST .../retention_period?db=&duration=``: 204."""
    params = dict(request.query_params.multi_items())
    database = get_str(params, "db")
    seconds = parse_retention_period(get_str(params, "duration"))
    await blocking(server_state(request).engine.set_retention_period, database, seconds)
    return Response(status_code=204)


@endpoint
async def clear_retention_period(request: Request) -> Response:
    """``DELETE .../retention_period?db=``: 204."""
    database = get_str(dict(request.query_params.multi_items()), "db")
    await blocking(server_state(request).engine.set_retention_period, database, None)
    return Response(status_code=204)


routes: Final = [
    Route("/api/v3/configure/database", update_database, methods=["PUT"]),
    Route(RETENTION_PERIOD_PATH, set_retention_period, methods=["POST"]),
    Route(RETENTION_PERIOD_PATH, clear_retention_period, methods=["DELETE"]),
]
