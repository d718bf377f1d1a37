"""API tokens: stored hashed, checked on every request (engine-behavior.md §4.6).

`TokenStore` keeps one JSON file (mode 0600, written atomically) holding, per token, its name,
the sha256 of the token, when it was created and whether it is an admin token. The token itself
is shown once, by `TokenStore.create`, and never stored. The file is re-read when it changes,
so a token created or revoked by another process takes effect without a restart.

`AuthMiddleware` is plain ASGI: every HTTP request needs a token, sent as InfluxDB 3 takes it:
``Authorization: Bearer <token>`` or ``Token <token>``, ``Basic base64(<any user>:<token>)``
(the v1 clients' username and password), or, on the v1 endpoints ``/write`` and ``/query``
only, the query parameter ``?p=<token>`` (``u=`` is ignored; the header wins when both are
sent; elsewhere the query string may reach a plugin, which must never see a token). Tokens are
compared in constant time. Exempt are the exempt paths (``/health``, ``/ping`` when
configured) and the bootstrap paths (``POST /api/v3/configure/token/admin``), which need none
only while the store holds no admin token; refusals are 401 ``{"error": ...}``; a valid
non-admin token gets 403 on admin-only paths.

Code in the server's process (a plugin) can reach these objects through ``gc``; both classes
refuse assigned attributes, and the request path uses closures made at start, so patching
``TokenStore.lookup`` or ``AuthMiddleware.__call__`` does not let a bad token in.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
import secrets
import threading
import time
import urllib.parse
from collections.abc import Callable, Collection
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, final

from engine_runtime.plugins.sealed import SealedType

from ..atomic import atomic_write
from ..errors import PluginManagerError

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Receive, Scope, Send

__all__ = [
    "ADMIN_PREFIXES",
    "TOKEN_PREFIX",
    "AuthError",
    "AuthMiddleware",
    "TokenChecks",
    "TokenRecord",
    "TokenStore",
]

#: what every token starts with (recognizable in logs and secret scanners)
TOKEN_PREFIX: Final = "apiv3_"  # noqa: S105 - a public prefix, not a secret
#: paths only an admin token may use (upstream's ``authorize_admin`` endpoints and configure)
ADMIN_PREFIXES: Final = ("/api/v3/configure/", "/api/v3/plugins/")
#: the v1 endpoints, the only ones that take the token as ``?p=``
V1_PATHS: Final = ("/write", "/query")
_FORMAT_VERSION: Final = 1
_SCHEMES: Final = "'Bearer <token>', 'Token <token>' or 'Basic <base64 of user:token>'"
_HINT: Final = (
    "pass Authorization: Bearer <token> (or Token, or Basic with the token as the password, or "
    "the v1 query parameter ?p=<token>); create one with `pluginmgr create token --admin`"
)


class AuthError(PluginManagerError):
    """The token file cannot be used, or a token name is taken or unknown."""


@dataclass(frozen=True, slots=True)
class TokenRecord:
    """What is stored about one token (never the token itself)."""

    name: str
    sha256: str
    created: float
    admin: bool


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


#: (lookup, has_admin): the checks the request path calls, closures made with the store
TokenChecks = tuple[Callable[[str], TokenRecord | None], Callable[[], bool]]
_Refresh = Callable[[], tuple[TokenRecord, ...]]
_Save = Callable[[tuple[TokenRecord, ...]], None]


@final
class TokenStore(metaclass=SealedType):
    """Hashed API tokens in ``path`` (created on the first `create`).

    The cached records live in closures made here, not in attributes, and `checks` holds the
    two functions the auth middleware calls: code running in the server (a plugin) that
    patches this class's methods does not change which tokens are accepted.

    :param path: the JSON file, e.g. ``<data-dir>/tokens.json``.
    """

    __slots__ = ("_lock", "_refresh", "_save", "checks", "path")

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._refresh, self._save = _token_file(path)
        #: (lookup, has_admin), taken by `AuthMiddleware` when it is made
        self.checks: TokenChecks = _checks(self._lock, self._refresh)

    # -- reading ------------------------------------------------------------------------------

    def records(self) -> tuple[TokenRecord, ...]:
        """Every stored token, oldest first (re-read if the file changed)."""
        with self._lock:
            return self._refresh()

    def lookup(self, token: str) -> TokenRecord | None:
        """The record of ``token``, or None when it is unknown or revoked."""
        return self.checks[0](token)

    def verify(self, token: str) -> bool:
        """Whether ``token`` is a valid (created and not revoked) token."""
        return self.checks[0](token) is not None

    # -- changing -----------------------------------------------------------------------------

    def create(self, name: str, *, admin: bool = True) -> str:
        """Store a new token called ``name`` and return it; it is not shown again.

        :raises AuthError: when ``name`` is empty or already used.
        """
        if not name.strip():
            raise AuthError("the token name is empty", hint="pass a name, e.g. `--name admin`")
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        with self._lock:
            records = self._refresh()
            if any(r.name == name for r in records):
                message = f"a token named {name!r} already exists"
                raise AuthError(message, hint="choose another name or revoke that token first")
            record = TokenRecord(name, _digest(token), time.time(), admin)
            self._save((*records, record))
        return token

    def has_admin(self) -> bool:
        """Whether any admin token exists (re-read if the file changed)."""
        return self.checks[1]()

    def create_first_admin(self, name: str) -> tuple[str, TokenRecord, int] | None:
        """Create the first admin token, atomically: None when an admin token already exists.

        :returns: the token (shown once), its record and its position in the store.
        :raises AuthError: when ``name`` is used by a non-admin token.
        """
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        with self._lock:
            records = self._refresh()
            if any(r.admin for r in records):
                return None
            if any(r.name == name for r in records):
                message = f"a token named {name!r} already exists"
                raise AuthError(message, hint="revoke that token first")
            record = TokenRecord(name, _digest(token), time.time(), True)
            self._save((*records, record))
            return token, record, len(records)

    def revoke(self, name: str) -> bool:
        """Remove the token called ``name``; False when there is none."""
        with self._lock:
            records = self._refresh()
            kept = tuple(r for r in records if r.name != name)
            if len(kept) == len(records):
                return False
            self._save(kept)
            return True


def _token_file(path: Path) -> tuple[_Refresh, _Save]:
    """(refresh, save) over the cached records of ``path``; the caller holds the store's lock."""
    cached: tuple[TokenRecord, ...] = ()
    stamp: tuple[int, int, int] | None = None
    read, write, stat = _read, atomic_write, os.stat  # bound now: later patches do not reach here

    def refresh() -> tuple[TokenRecord, ...]:
        nonlocal cached, stamp
        try:
            info = stat(path)
        except FileNotFoundError:
            cached, stamp = (), None
            return cached
        now = (info.st_mtime_ns, info.st_size, info.st_ino)
        if now != stamp:
            cached, stamp = read(path), now
        return cached

    def save(records: tuple[TokenRecord, ...]) -> None:
        nonlocal cached, stamp
        payload = {"format_version": _FORMAT_VERSION, "tokens": [asdict(r) for r in records]}
        # readable by the owner only: it holds the token hashes
        write(path, (json.dumps(payload, indent=2) + "\n").encode(), mode=0o600)
        info = stat(path)
        cached, stamp = records, (info.st_mtime_ns, info.st_size, info.st_ino)

    return refresh, save


def _checks(lock: threading.Lock, refresh: _Refresh) -> TokenChecks:
    sha256, compare = hashlib.sha256, hmac.compare_digest

    def lookup(token: str) -> TokenRecord | None:
        digest = sha256(token.encode("utf-8")).hexdigest()
        with lock:
            records = refresh()
        found = None
        for record in records:
            # compare every record, so timing does not tell how many tokens exist or which matched
            if compare(record.sha256, digest):
                found = record
        return found

    def has_admin() -> bool:
        with lock:
            records = refresh()
        return any(record.admin for record in records)

    return lookup, has_admin


def _read(path: Path) -> tuple[TokenRecord, ...]:
    try:
        raw: Any = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        message = f"cannot read the token file {path}: {exc}"
        raise AuthError(message, hint="restore it from a backup or delete it") from exc
    if not isinstance(raw, dict) or not isinstance(raw.get("tokens"), list):
        raise AuthError(f"the token file {path} is malformed", hint="delete it and create tokens")
    if int(raw.get("format_version", 0)) > _FORMAT_VERSION:
        message = f"the token file {path} was written by a newer version of pluginmgr"
        raise AuthError(message, hint="upgrade pluginmgr")
    try:
        return tuple(
            TokenRecord(str(t["name"]), str(t["sha256"]), float(t["created"]), bool(t["admin"]))
            for t in raw["tokens"]
        )
    except (KeyError, TypeError, ValueError) as exc:
        message = f"the token file {path} has a malformed entry: {exc!r}"
        raise AuthError(message, hint="delete it and create tokens") from exc


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
    lookup, has_admin = checks
    token_from, query_password, refuse = _token_from, _query_password, _refuse

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
                problem = "invalid or revoked token"
            elif (
                record is not None and not record.admin and scope["path"].startswith(ADMIN_PREFIXES)
            ):
                problem, status = "this endpoint needs an admin token", 403
        if problem is None:
            await app(scope, receive, send)
            return
        await refuse(send, status, f"{problem} ({_HINT})" if status == 401 else problem)

    return handle


async def _refuse(send: Send, status: int, message: str) -> None:
    body = json.dumps({"error": message}).encode("utf-8")
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if status == 401:
        headers.append((b"www-authenticate", b'Bearer realm="pluginmgr"'))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
