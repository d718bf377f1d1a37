"""``POST /api/v3/configure/token/admin``: the first admin token, created over HTTP.

As upstream, the request needs no token while the server has no admin token (the auth
middleware lets this one path through, `ADMIN_TOKEN_PATH`); it answers 201 with upstream's
``CreateTokenWithPermissionsResponse``: ``{"id", "name": "_admin", "token": "apiv3_...",
"hash", "created_at", "expiry": null}``. The token is shown once and stored hashed. Once any
admin token exists the request needs a token again (401 without one) and is refused with 409
and upstream's words (`ADMIN_TOKEN_EXISTS_MESSAGE`); more admin tokens come from
``pluginmgr create token --admin``. A server started ``--without-auth`` answers 405, as
upstream (`WITHOUT_AUTH_MESSAGE`).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Final

from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .routes_common import ApiError, blocking, endpoint, server_state

if TYPE_CHECKING:
    from starlette.requests import Request

__all__ = [
    "ADMIN_TOKEN_EXISTS_MESSAGE",
    "ADMIN_TOKEN_NAME",
    "ADMIN_TOKEN_PATH",
    "WITHOUT_AUTH_MESSAGE",
    "routes",
]

ADMIN_TOKEN_PATH: Final = "/api/v3/configure/token/admin"  # noqa: S105 - a path, not a secret
#: the name upstream gives the first admin token
ADMIN_TOKEN_NAME: Final = "_admin"  # noqa: S105 - a name, not a secret
#: upstream's answer to a second admin token (``test_create_admin_token_allowed_once``)
ADMIN_TOKEN_EXISTS_MESSAGE: Final = "token name already exists, _admin"  # noqa: S105 - a message
#: upstream's answer on a server started without auth
WITHOUT_AUTH_MESSAGE: Final = "endpoint disabled, started without auth"


@endpoint
async def create_admin_token(request: Request) -> Response:
    """``POST /api/v3/configure/token/admin``: 201 with the token; 409 once one exists."""
    tokens = server_state(request).tokens
    if tokens is None:
        raise ApiError(405, WITHOUT_AUTH_MESSAGE)
    created = await blocking(tokens.create_first_admin, ADMIN_TOKEN_NAME)
    if created is None:
        message = (
            f"{ADMIN_TOKEN_EXISTS_MESSAGE}: this server already has an admin token; create "
            "more with `pluginmgr create token --admin --data-dir DATA_DIR` (the server's data dir)"
        )
        raise ApiError(409, message)
    token, record, index = created
    created_at = datetime.fromtimestamp(record.created, tz=UTC)
    body = {
        "id": index,
        "name": record.name,
        "token": token,
        "hash": record.sha256,
        "created_at": created_at.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "expiry": None,
    }
    return JSONResponse(body, status_code=201)


routes: Final = [Route(ADMIN_TOKEN_PATH, create_admin_token, methods=["POST"])]
