"""The token endpoints of InfluxDB 3 Core: create, name, regenerate and delete admin tokens.

* ``POST /api/v3/configure/token/admin``: the operator token ``_admin``. As upstream, it needs
  no token while the server has no admin token (the auth middleware lets this one path through,
  `ADMIN_TOKEN_PATH`); once one exists it needs a token again (401 without one) and is refused
  with 409 and upstream's words (`ADMIN_TOKEN_EXISTS_MESSAGE`).
* ``POST /api/v3/configure/token/named_admin`` ``{"token_name", "expiry_secs"}``: another admin
  token, 201; 409 ``token name already exists, NAME``; 400 for a missing name or a bad expiry.
* ``POST /api/v3/configure/token/admin/regenerate``: a new secret for ``_admin`` (the old one
  stops working at once), 201; 500 ``missing admin token, cannot update`` without one.
* ``DELETE /api/v3/configure/token?token_name=NAME``: 200 with no body; 404 for an unknown name,
  405 ``cannot delete operator token`` for ``_admin``, 400 without ``token_name``.

The three creations answer 201 with upstream's ``CreateTokenWithPermissionsResponse``:
``{"id", "name", "token": "apiv3_...", "hash", "created_at", "expiry"}`` (times in RFC 3339
UTC, ``expiry`` null for a token that never expires); the token is shown once. A server started
``--without-auth`` answers 405 ``endpoint disabled, started without auth`` on each of these
four, as upstream, with an empty ``Allow`` (no method is served there).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final

from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .routes_common import ApiError, blocking, endpoint, error_response, read_json, server_state
from .token_store import (
    OPERATOR_TOKEN_NAME,
    OperatorTokenError,
    TokenExistsError,
    TokenNotFoundError,
    TokenRecord,
    TokenStore,
)

if TYPE_CHECKING:
    from starlette.requests import Request

__all__ = [
    "ADMIN_TOKEN_EXISTS_MESSAGE",
    "ADMIN_TOKEN_NAME",
    "ADMIN_TOKEN_PATH",
    "NAMED_ADMIN_TOKEN_PATH",
    "REGENERATE_PATH",
    "TOKEN_PATH",
    "WITHOUT_AUTH_MESSAGE",
    "regenerate_operator_token",
    "routes",
    "token_body",
]

TOKEN_PATH: Final = "/api/v3/configure/token"  # noqa: S105 - a path, not a secret
ADMIN_TOKEN_PATH: Final = "/api/v3/configure/token/admin"  # noqa: S105 - a path, not a secret
REGENERATE_PATH: Final = "/api/v3/configure/token/admin/regenerate"
NAMED_ADMIN_TOKEN_PATH: Final = "/api/v3/configure/token/named_admin"  # noqa: S105 - a path
#: the name upstream gives the first admin token
ADMIN_TOKEN_NAME: Final = OPERATOR_TOKEN_NAME
#: upstream's answer to a second admin token (``test_create_admin_token_allowed_once``)
ADMIN_TOKEN_EXISTS_MESSAGE: Final = "token name already exists, _admin"  # noqa: S105 - a message
#: upstream's answer on a server started without auth
WITHOUT_AUTH_MESSAGE: Final = "endpoint disabled, started without auth"
_Endpoint = Callable[["Request"], Awaitable[Response]]
#: the longest expiry accepted: what a Unix time in milliseconds can still hold, in seconds
_MAX_EXPIRY_SECS: Final = 9_000_000_000_000


def _rfc3339(seconds: float) -> str:
    moment = datetime.fromtimestamp(seconds, tz=UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def token_body(token: str, record: TokenRecord) -> dict[str, Any]:
    """Upstream's ``CreateTokenWithPermissionsResponse`` for a new or regenerated token."""
    return {
        "id": record.id,
        "name": record.name,
        "token": token,
        "hash": record.sha256,
        "created_at": _rfc3339(record.created),
        "expiry": None if record.expiry is None else _rfc3339(record.expiry),
    }


def _tokens(request: Request) -> TokenStore:
    tokens = server_state(request).tokens
    assert tokens is not None  # noqa: S101 - `_with_auth` answered already
    return tokens


def _with_auth(func: Callable[[Request], Awaitable[Response]]) -> _Endpoint:
    """``func``, or 405 with an empty ``Allow`` (no method is served) on a server started
    without auth, as upstream refuses every token path there."""

    async def handle(request: Request) -> Response:
        if server_state(request).tokens is None:
            response = error_response(405, WITHOUT_AUTH_MESSAGE)
            response.headers["Allow"] = ""
            return response
        return await func(request)

    return handle


def _created(token: str, record: TokenRecord) -> Response:
    return JSONResponse(token_body(token, record), status_code=201)


@endpoint
async def create_admin_token(request: Request) -> Response:
    """``POST /api/v3/configure/token/admin``: 201 with the token; 409 once one exists."""
    created = await blocking(_tokens(request).create_first_admin, ADMIN_TOKEN_NAME)
    if created is None:
        message = (
            f"{ADMIN_TOKEN_EXISTS_MESSAGE}: this server already has an admin token; create "
            "more with `pluginmgr create token --admin --name NAME`, or regenerate it with "
            "`pluginmgr create token --admin --regenerate`"
        )
        raise ApiError(409, message)
    return _created(*created)


def _expiry_secs(body: dict[str, Any]) -> int | None:
    value = body.get("expiry_secs")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        message = f"field 'expiry_secs' must be a whole number of seconds >= 0, got {value!r}"
        raise ApiError(400, message)
    if value > _MAX_EXPIRY_SECS:
        raise ApiError(400, f"field 'expiry_secs' is too large: {value}")
    return value


@endpoint
async def create_named_admin_token(request: Request) -> Response:
    """``POST /api/v3/configure/token/named_admin``: 201 with the token; 409 for a taken name."""
    tokens = _tokens(request)
    body = await read_json(request)
    name = body.get("token_name")
    if not isinstance(name, str) or not name.strip():
        message = "field 'token_name' must be a non-empty string: the name of the new token"
        raise ApiError(400, message)
    expiry = _expiry_secs(body)
    try:
        created = await blocking(tokens.create_record, name, admin=True, expiry_secs=expiry)
    except TokenExistsError as exc:
        raise ApiError(409, exc.message) from None
    return _created(*created)


async def regenerate_operator_token(tokens: TokenStore) -> Response:
    """The answer to a regeneration (here and on the recovery endpoint): 201 with the new
    token, 500 with upstream's words when there is no operator token."""
    try:
        created = await blocking(tokens.regenerate, OPERATOR_TOKEN_NAME)
    except TokenNotFoundError as exc:
        raise ApiError(500, exc.message) from None
    return _created(*created)


@endpoint
async def regenerate_admin_token(request: Request) -> Response:
    """``POST /api/v3/configure/token/admin/regenerate``: a new operator token, 201."""
    return await regenerate_operator_token(_tokens(request))


@endpoint
async def delete_token(request: Request) -> Response:
    """``DELETE /api/v3/configure/token?token_name=NAME``: 200; 404 unknown; 405 ``_admin``."""
    tokens = _tokens(request)
    name = request.query_params.get("token_name")
    if name is None:
        raise ApiError(400, "missing query parameter 'token_name': the name of the token")
    try:
        await blocking(tokens.delete, name)
    except OperatorTokenError as exc:
        raise ApiError(405, exc.message) from None
    except TokenNotFoundError as exc:
        raise ApiError(404, exc.message) from None
    return Response(status_code=200)


routes: Final = [
    Route(TOKEN_PATH, _with_auth(delete_token), methods=["DELETE"]),
    Route(ADMIN_TOKEN_PATH, _with_auth(create_admin_token), methods=["POST"]),
    Route(REGENERATE_PATH, _with_auth(regenerate_admin_token), methods=["POST"]),
    Route(NAMED_ADMIN_TOKEN_PATH, _with_auth(create_named_admin_token), methods=["POST"]),
]
