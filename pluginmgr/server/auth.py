"""API tokens checked on every request (engine-behavior.md §4.6); the store is `token_store`.

`AuthMiddleware` is plain ASGI: every HTTP request needs a token, sent as InfluxDB 3 takes it:
``Authorization: Bearer <token>`` or ``Token <token>``, ``Basic base64(<any user>:<token>)``
(the v1 clients' username and password), or, on the v1 endpoints ``/write`` and ``/query``
only, the query parameter ``?p=<token>`` (``u=`` is ignored; the header wins when both are
sent; elsewhere the query string may reach a plugin, which must never see a token). Tokens are
compared in constant time; an expired token is refused like an unknown one, with its expiry
named. Exempt are the paths ``serve --disable-authz`` names (``/health``, ``/ping``,
``/metrics``, ...: none by default, as InfluxDB 3 Core) and the bootstrap paths (``POST
/api/v3/configure/token/admin``), which need none only while the store holds no admin token;
refusals are 401 ``{"error": ...}``; a valid non-admin token gets 403 where the route table
(`permissions.ROUTE_PERMISSIONS`) asks for an admin token.

Code in the server's process (a plugin) can reach these objects through ``gc``; both classes
refuse assigned attributes, and the request path uses closures made at start, so patching
``TokenStore.lookup`` or ``AuthMiddleware.__call__`` does not let a bad token in.
"""

from __future__ import annotations

import base64
import binascii
import json
import urllib.parse
from collections.abc import Callable, Collection
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Final, final

from engine_runtime.plugins.sealed import SealedType

from .permissions import Permission, permission_for
from .token_store import TOKEN_PREFIX, AuthError, TokenChecks, TokenRecord, TokenStore

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Receive, Scope, Send

__all__ = [
    "TOKEN_PREFIX",
    "AuthError",
    "AuthMiddleware",
    "TokenChecks",
    "TokenRecord",
    "TokenStore",
]

#: the v1 endpoints, the only ones that take the token as ``?p=``
V1_PATHS: Final = ("/write", "/query")
_SCHEMES: Final = "'Bearer <token>', 'Token <token>' or 'Basic <base64 of user:token>'"
_HINT: Final = (
    "pass Authorization: Bearer <token> (or Token, or Basic with the token as the password, or "
    "the v1 query parameter ?p=<token>); create one with `pluginmgr create token --admin`"
)


# -- the middleware ---------------------------------------------------------------------------


def _basic_password(credentials: str) -> str | None:
    """The password of ``Basic base64(user:password)`` credentials; None when malformed."""
    try:
        decoded = base64.b64decode(credentials, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    _, colon, password = decoded.partition(":")
    return password if colon and password else None


def _query_password(scope: Scope) -> str | None:
    """The v1 ``?p=<token>`` query parameter (``u=`` is ignored), if given."""
    raw: bytes = scope.get("query_string", b"")
    query = raw.decode("latin-1")
    for name, value in urllib.parse.parse_qsl(query, keep_blank_values=True):
        if name == "p" and value:
            return value
    return None


def _token_from(header: str | None, password: str | None = None) -> tuple[str | None, str | None]:
    """(token, None) or (None, why it is refused); the header wins over ``?p=``."""
    if header is None:
        return (password, None) if password else (None, "missing Authorization header")
    scheme, _, token = header.strip().partition(" ")
    token = token.strip()
    if scheme.lower() == "basic" and token and " " not in token:
        secret = _basic_password(token)
        if secret is not None:
            return secret, None
    elif scheme.lower() in ("bearer", "token") and token and " " not in token:
        return token, None
    return None, f"malformed Authorization header: expected {_SCHEMES}"


@final
class AuthMiddleware(metaclass=SealedType):
    """Refuses HTTP requests without a valid token (401) or admin rights where needed (403).

    The request path is a closure made here over ``tokens.checks``: it calls no method of
    `TokenStore` or of this class that a plugin could patch.
    """

    __slots__ = ("_handle", "app")

    def __init__(
        self,
        app: ASGIApp,
        *,
        tokens: TokenStore,
        exempt: Collection[str] = (),
        bootstrap: Collection[str] = (),
    ) -> None:
        self.app = app
        #: POST paths in ``bootstrap`` are open while no admin token exists (the first one)
        self._handle = _guarded(app, tokens.checks, frozenset(exempt), frozenset(bootstrap))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._handle(scope, receive, send)


def _guarded(
    app: ASGIApp, checks: TokenChecks, exempt: frozenset[str], bootstrap: frozenset[str]
) -> ASGIApp:
    """``app`` behind the token check."""
    lookup, has_admin, expired_at = checks
    token_from, query_password, refuse = _token_from, _query_password, _refuse
    needs, admin_only = permission_for, Permission.ADMIN

    def bootstrapping(scope: Scope) -> bool:
        if scope["path"] not in bootstrap or scope["method"] != "POST":
            return False
        try:
            return not has_admin()
        except AuthError:  # an unreadable token file: the normal path reports it
            return False

    async def handle(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in exempt or bootstrapping(scope):
            await app(scope, receive, send)
            return
        header = None
        for name, value in scope["headers"]:
            if name == b"authorization":
                header = value.decode("latin-1")
        # ?p= only where v1 clients send it: elsewhere (a plugin's /api/v3/engine/<path>) the
        # query string reaches code that must never see a token
        password = query_password(scope) if scope["path"] in V1_PATHS else None
        token, problem = token_from(header, password)
        status = 401
        if token is not None:
            try:
                record = lookup(token)
            except AuthError as exc:
                record, problem, status = None, f"cannot check tokens: {exc}", 500
            if record is None and problem is None:
                problem = _unknown(token, expired_at)
            elif (
                record is not None
                and not record.admin
                and needs(scope["method"], scope["path"]) is admin_only
            ):
                problem, status = "this endpoint needs an admin token", 403
        if problem is None:
            await app(scope, receive, send)
            return
        await refuse(send, status, f"{problem} ({_HINT})" if status == 401 else problem)

    return handle


def _unknown(token: str, expired_at: Callable[[str], float | None]) -> str:
    """Why a token that matched no working record is refused: expired (when), else unknown."""
    try:
        expiry = expired_at(token)
    except AuthError:
        expiry = None
    if expiry is None:
        return "invalid or revoked token"
    when = datetime.fromtimestamp(expiry, tz=UTC).isoformat(timespec="seconds")
    return f"token has expired {when.replace('+00:00', 'Z')}"


async def _refuse(send: Send, status: int, message: str) -> None:
    body = json.dumps({"error": message}).encode("utf-8")
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if status == 401:
        headers.append((b"www-authenticate", b'Bearer realm="pluginmgr"'))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
