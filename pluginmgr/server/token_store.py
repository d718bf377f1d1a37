"""The token file: hashed API tokens with names, ids and expiry, as InfluxDB 3's catalog keeps them.

`TokenStore` keeps one JSON file (mode 0600, written atomically under a file lock, so the server
and ``pluginmgr create token --data-dir`` in another process never lose each other's change)
holding, per token, its id, name, the sha256 of the token, when it was created, updated and
expires, and whether it is an admin token. The token itself is shown once and never stored. The
file is re-read when it changes, so a token created, regenerated or deleted by another process
takes effect without a restart.

Names and rules follow upstream's catalog (``influxdb3_catalog``): ids count up and are never
reused; ``_admin`` is the operator token (`OPERATOR_TOKEN_NAME`), the only one that can be
regenerated and the one that cannot be deleted; a token past its expiry is refused like an
unknown one. Messages that upstream's clients and tests show are module constants.

Format history: 1 had no ids, expiry or update time (ids are then the positions, in order);
2 adds them and ``next_id``. Since then the file carries its own ``checksum``
(`engine_runtime.file_checksum`), checked at every read: a file that does not match is refused
(no token works from it) rather than read as other tokens. A file written before checksums is
read as before; `TokenStore.check_file` (the server, at start) rewrites it with one.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Final, final

from engine_runtime.file_checksum import check_checksum, with_checksum
from engine_runtime.plugins.sealed import SealedType

from ..atomic import atomic_write, file_lock, private_dir
from ..errors import PluginManagerError

__all__ = [
    "CANNOT_DELETE_OPERATOR_MESSAGE",
    "MISSING_ADMIN_MESSAGE",
    "NAME_EXISTS_MESSAGE",
    "NOT_FOUND_MESSAGE",
    "OPERATOR_TOKEN_NAME",
    "TOKEN_PREFIX",
    "AuthError",
    "OperatorTokenError",
    "TokenChecks",
    "TokenExistsError",
    "TokenNotFoundError",
    "TokenRecord",
    "TokenStore",
]

#: what every token starts with (recognizable in logs and secret scanners)
TOKEN_PREFIX: Final = "apiv3_"  # noqa: S105 - a public prefix, not a secret
#: upstream's operator token: made by the first-token request, regenerated, never deleted
OPERATOR_TOKEN_NAME: Final = "_admin"  # noqa: S105 - a name, not a secret
#: upstream's words (`CatalogError`), followed by the name
NAME_EXISTS_MESSAGE: Final = "token name already exists, {name}"
NOT_FOUND_MESSAGE: Final = "the requested resource was not found: {name}"
MISSING_ADMIN_MESSAGE: Final = "missing admin token, cannot update"
CANNOT_DELETE_OPERATOR_MESSAGE: Final = "cannot delete operator token"
_FORMAT_VERSION: Final = 2
_CHANGED_HINT: Final = (
    "restore it from a backup of the data dir, or move it aside and, with the server stopped, "
    "make a new admin token: pluginmgr create token --admin --data-dir DATA_DIR"
)


class AuthError(PluginManagerError):
    """The token file cannot be used, or a token name is taken or unknown."""


class TokenExistsError(AuthError):
    """A token of that name exists already."""


class TokenNotFoundError(AuthError):
    """No token has that name (for regeneration: there is no operator token)."""


class OperatorTokenError(AuthError):
    """The operator token ``_admin`` cannot be deleted."""


@dataclass(frozen=True, slots=True)
class TokenRecord:
    """What is stored about one token (never the token itself); times are Unix seconds.

    :param expiry: when the token stops working; None: never.
    :param updated: when it was last regenerated; None: never.
    """

    name: str
    sha256: str
    created: float
    admin: bool
    id: int = 0
    expiry: float | None = None
    updated: float | None = None

    def expired(self, now: float) -> bool:
        """Whether the token no longer works at ``now`` (upstream: expiry must be later)."""
        return self.expiry is not None and self.expiry <= now


#: (lookup, has_admin, expired_at): the checks the request path calls, closures made with the
#: store; lookup refuses expired tokens, expired_at says when a refused token expired
TokenChecks = tuple[
    Callable[[str], TokenRecord | None],
    Callable[[], bool],
    Callable[[str], float | None],
]
_State = tuple[tuple[TokenRecord, ...], int]  # the records and the next id
_Refresh = Callable[[], _State]
_Save = Callable[[_State], None]
_Checked = Callable[[], bool]  # whether the file last read carried a checksum


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(64)  # 64 random bytes, as upstream


@final
class TokenStore(metaclass=SealedType):
    """Hashed API tokens in ``path`` (created on the first change).

    The cached records live in closures made here, not in attributes, and `checks` holds the
    functions the auth middleware and Flight call: code running in the server (a plugin) that
    patches this class's methods does not change which tokens are accepted.

    :param path: the JSON file, e.g. ``<data-dir>/tokens.json``.
    """

    __slots__ = ("_checked", "_lock", "_refresh", "_save", "checks", "path")

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._refresh, self._save, self._checked = _token_file(path)
        #: (lookup, has_admin, expired_at), taken by `AuthMiddleware` when it is made
        self.checks: TokenChecks = _checks(self._lock, self._refresh)

    # -- reading ------------------------------------------------------------------------------

    def records(self) -> tuple[TokenRecord, ...]:
        """Every stored token, oldest first (re-read if the file changed)."""
        with self._lock:
            return self._refresh()[0]

    def lookup(self, token: str) -> TokenRecord | None:
        """The record of ``token``, or None when it is unknown, deleted or expired."""
        return self.checks[0](token)

    def verify(self, token: str) -> bool:
        """Whether ``token`` works now (created, not deleted, not expired)."""
        return self.checks[0](token) is not None

    def has_admin(self) -> bool:
        """Whether any admin token exists, expired or not (re-read if the file changed)."""
        return self.checks[1]()

    def check_file(self) -> None:
        """Read the file now, so a damaged one refuses the start (`AuthError`); rewrite one
        written before checksums with one (the caller owns the data dir).
        """
        with self._changing() as state:
            if not self._checked():
                self._save(state)

    # -- changing -----------------------------------------------------------------------------

    def create(self, name: str, *, admin: bool = True, expiry_secs: float | None = None) -> str:
        """Store a new token called ``name`` and return it; it is not shown again.

        :raises AuthError: when ``name`` is empty; `TokenExistsError` when it is taken.
        """
        return self.create_record(name, admin=admin, expiry_secs=expiry_secs)[0]

    def create_record(
        self, name: str, *, admin: bool = True, expiry_secs: float | None = None
    ) -> tuple[str, TokenRecord]:
        """`create`, returning the token and its record (id, times) too."""
        if not name.strip():
            raise AuthError("the token name is empty", hint="pass a name, e.g. `--name ops`")
        token = _new_token()
        with self._changing() as (records, next_id):
            _refuse_taken(records, name)
            now = time.time()
            expiry = None if expiry_secs is None else now + expiry_secs
            record = TokenRecord(name, _digest(token), now, admin, next_id, expiry)
            self._save(((*records, record), next_id + 1))
        return token, record

    def create_first_admin(self, name: str) -> tuple[str, TokenRecord] | None:
        """Create the operator token ``name``, atomically: None when a token of that name
        exists (upstream's 409). Who may ask (anyone while no admin token exists) is the auth
        middleware's business."""
        token = _new_token()
        with self._changing() as (records, next_id):
            if any(r.name == name for r in records):
                return None
            record = TokenRecord(name, _digest(token), time.time(), True, next_id)
            self._save(((*records, record), next_id + 1))
        return token, record

    def regenerate(self, name: str = OPERATOR_TOKEN_NAME) -> tuple[str, TokenRecord]:
        """A new secret for the token ``name`` (the operator token); the old one stops working.

        :raises TokenNotFoundError: with upstream's words when there is no such token.
        """
        token = _new_token()
        with self._changing() as (records, next_id):
            found = [r for r in records if r.name == name]
            if not found:
                hint = "create it first: `pluginmgr create token --admin`"
                raise TokenNotFoundError(MISSING_ADMIN_MESSAGE, hint=hint)
            record = replace(found[0], sha256=_digest(token), updated=time.time())
            self._save((tuple(record if r.name == name else r for r in records), next_id))
        return token, record

    def delete(self, name: str) -> TokenRecord:
        """Delete the token called ``name`` and return what was stored about it.

        :raises OperatorTokenError: for ``_admin``; `TokenNotFoundError` for an unknown name.
        """
        if name == OPERATOR_TOKEN_NAME:
            hint = "regenerate it instead: `pluginmgr create token --admin --regenerate`"
            raise OperatorTokenError(CANNOT_DELETE_OPERATOR_MESSAGE, hint=hint)
        with self._changing() as (records, next_id):
            found = [r for r in records if r.name == name]
            if not found:
                message = NOT_FOUND_MESSAGE.format(name=name)
                raise TokenNotFoundError(message, hint="list the tokens with `show tokens`")
            self._save((tuple(r for r in records if r.name != name), next_id))
        return found[0]

    def revoke(self, name: str) -> bool:
        """Remove the token called ``name``, whatever it is; False when there is none."""
        with self._changing() as (records, next_id):
            kept = tuple(r for r in records if r.name != name)
            if len(kept) == len(records):
                return False
            self._save((kept, next_id))
            return True

    def _changing(self) -> _Changing:
        return _Changing(self._lock, self.path, self._refresh)


class _Changing:
    """The store's lock and the file's lock held, the current state read under them."""

    def __init__(self, lock: threading.Lock, path: Path, refresh: _Refresh) -> None:
        self._lock, self._refresh, self._dir = lock, refresh, path.parent
        self._file = file_lock(path.with_name(path.name + ".lock"))

    def __enter__(self) -> _State:
        self._lock.acquire()
        try:
            private_dir(self._dir)  # a data dir made for the first token is private
            self._file.__enter__()
        except BaseException:
            self._lock.release()
            raise
        return self._refresh()

    def __exit__(self, *exc: object) -> None:
        try:
            self._file.__exit__(None, None, None)
        finally:
            self._lock.release()


def _refuse_taken(records: tuple[TokenRecord, ...], name: str) -> None:
    if any(r.name == name for r in records):
        message = NAME_EXISTS_MESSAGE.format(name=name)
        raise TokenExistsError(message, hint="choose another name or delete that token first")


def _token_file(path: Path) -> tuple[_Refresh, _Save, _Checked]:
    """(refresh, save, checked) over the cached state of ``path``; the caller holds the
    store's lock."""
    cached: _State = ((), 0)
    stamp: tuple[int, int, int] | None = None
    checksummed = True  # no file yet: nothing to rewrite
    read, write, stat = _read, atomic_write, os.stat  # bound now: later patches do not reach here

    def refresh() -> _State:
        nonlocal cached, stamp, checksummed
        try:
            info = stat(path)
        except FileNotFoundError:
            cached, stamp, checksummed = ((), 0), None, True
            return cached
        now = (info.st_mtime_ns, info.st_size, info.st_ino)
        if now != stamp:
            (cached, checksummed), stamp = read(path), now
        return cached

    def checked() -> bool:
        return checksummed

    def save(state: _State) -> None:
        nonlocal cached, stamp, checksummed
        records, next_id = state
        payload = with_checksum(
            {
                "format_version": _FORMAT_VERSION,
                "next_id": next_id,
                "tokens": [asdict(r) for r in records],
            }
        )
        # readable by the owner only: it holds the token hashes
        write(path, (json.dumps(payload, indent=2) + "\n").encode(), mode=0o600)
        info = stat(path)
        cached, stamp = state, (info.st_mtime_ns, info.st_size, info.st_ino)
        checksummed = True

    return refresh, save, checked


def _checks(lock: threading.Lock, refresh: _Refresh) -> TokenChecks:
    sha256, compare, clock = hashlib.sha256, hmac.compare_digest, time.time

    def matching(token: str) -> TokenRecord | None:
        digest = sha256(token.encode("utf-8")).hexdigest()
        with lock:
            records = refresh()[0]
        found = None
        for record in records:
            # compare every record, so timing does not tell how many tokens exist or which matched
            if compare(record.sha256, digest):
                found = record
        return found

    def lookup(token: str) -> TokenRecord | None:
        found = matching(token)
        return None if found is None or found.expired(clock()) else found

    def has_admin() -> bool:
        with lock:
            records = refresh()[0]
        return any(record.admin for record in records)

    def expired_at(token: str) -> float | None:
        found = matching(token)
        return found.expiry if found is not None and found.expired(clock()) else None

    return lookup, has_admin, expired_at


def _read(path: Path) -> tuple[_State, bool]:
    """The file's state, and whether it carried a checksum (False: written before them)."""
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
    checked = check_checksum(raw)
    if checked is False:
        message = f"the token file {path} does not match its checksum: it was changed or damaged"
        raise AuthError(message, hint=_CHANGED_HINT)
    try:
        records = tuple(_record(entry, position) for position, entry in enumerate(raw["tokens"]))
        next_id = max([int(raw.get("next_id", 0)), *(r.id + 1 for r in records)])
    except (KeyError, TypeError, ValueError) as exc:
        message = f"the token file {path} has a malformed entry: {exc!r}"
        raise AuthError(message, hint="delete it and create tokens") from exc
    return (records, next_id), checked is True


def _record(entry: dict[str, Any], position: int) -> TokenRecord:
    """One entry of either format (format 1: the id is the position)."""
    expiry, updated = entry.get("expiry"), entry.get("updated")
    return TokenRecord(
        str(entry["name"]),
        str(entry["sha256"]),
        float(entry["created"]),
        bool(entry["admin"]),
        int(entry.get("id", position)),
        None if expiry is None else float(expiry),
        None if updated is None else float(updated),
    )
