"""What every route shares: JSON errors, body and parameter parsing, the thread pool.

Every failure answers ``{"error": "<what is wrong and what to do>"}``. `ApiError` carries the
status for problems found here (a missing field, a bad value); errors of the runtime and of the
plugin manager are mapped once, in `error_status`: not found 404, already exists 409, a request
that cannot be satisfied 400, a refused install 403, anything else 500. `engine_off` answers
what needs the Processing Engine on a server started without a plugin directory: 500 with
upstream's ``Node not configured with plugin directory`` (its status for ``PluginError``).

Bodies (`read_body`) are read as a stream with ``Content-Encoding`` decoded: InfluxDB clients
compress writes (the node v3 client gzips every body over 1 KB; Telegraf's ``influxdb_v2``
output and influxdb-client's batching writer gzip by default). Inflating runs with a bounded
output per step, so a gzip bomb costs at most the cap in memory before it is refused with 413,
and nothing of a refused body reaches the store. ``identity`` (or no header) is the bytes as
sent; ``gzip``/``x-gzip`` is inflated, concatenated members included (``gzip -c a b``); anything
else answers 415. The cap (``--max-http-request-size``, 10 MiB by default as InfluxDB 3) applies
to the body as sent and to what it inflates to.
"""

from __future__ import annotations

import errno
import functools
import json
import logging
import zlib
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any, Final, TypeVar

from starlette.concurrency import run_in_threadpool
from starlette.responses import JSONResponse, Response

from engine_runtime.errors import (
    AlreadyExistsError,
    CatalogFileError,
    DatabaseNotFoundError,
    EngineError,
    NotFoundError,
)
from engine_runtime.store import BufferFullError, DurabilityError, StoreCorruptionError

from ..errors import (
    NO_PLUGIN_DIR_MESSAGE,
    DependencyConflictError,
    FetchError,
    InstallDisabledError,
    InstallError,
    InvalidReferenceError,
    PackageNotFoundError,
    PluginManagerError,
    PluginNotFoundError,
    StaleLockError,
)

if TYPE_CHECKING:
    from starlette.requests import Request

    from .app import ServerState

__all__ = [
    "DEFAULT_MAX_REQUEST_BYTES",
    "ENGINE_OFF_MESSAGE",
    "NESTED_TOO_DEEPLY",
    "ApiError",
    "blocking",
    "endpoint",
    "engine_off",
    "error_answer",
    "error_response",
    "error_status",
    "get_bool",
    "get_str",
    "merged_params",
    "read_body",
    "read_json",
    "server_state",
]

_LOGGER: Final = logging.getLogger(__name__)
_T = TypeVar("_T")
_Endpoint = Callable[["Request"], Awaitable[Response]]
_TRUE: Final = frozenset({"true", "1", "yes", "on"})
_FALSE: Final = frozenset({"false", "0", "no", "off"})
#: InfluxDB 3's default ``--max-http-request-size``
DEFAULT_MAX_REQUEST_BYTES: Final = 10 * 1024 * 1024
#: the answer for JSON nested deeper than Python's recursion limit; ``what`` names the input
NESTED_TOO_DEEPLY: Final = "{what} is nested too deeply: send JSON with fewer nested levels"
_GZIP: Final = frozenset({"gzip", "x-gzip"})
_IDENTITY: Final = frozenset({"", "identity"})
_GZIP_WBITS: Final = 16 + zlib.MAX_WBITS  # gzip header and trailer, not raw deflate or zlib
#: the answer of `engine_off`: upstream's `PluginError::NoPluginDir`, then how to turn it on
ENGINE_OFF_MESSAGE: Final = str(
    PluginManagerError(
        NO_PLUGIN_DIR_MESSAGE,
        hint="the Processing Engine is off: start `pluginmgr serve` with --plugin-dir DIR",
    )
)


class ApiError(Exception):
    """A request the server refuses, with its HTTP status and a one-line message."""

    def __init__(self, status: int, message: str, *, data: Any = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.data = data


def error_response(status: int, message: str, *, data: Any = None) -> JSONResponse:
    """``{"error": message}`` (plus ``"data"`` when given) with ``status``."""
    body: dict[str, Any] = {"error": message}
    if data is not None:
        body["data"] = data
    return JSONResponse(body, status_code=status)


def error_status(exc: Exception) -> int:
    """The HTTP status of a runtime or plugin-manager error (engine-behavior.md §4.6)."""
    if isinstance(
        exc, NotFoundError | DatabaseNotFoundError | PluginNotFoundError | PackageNotFoundError
    ):
        return 404
    if isinstance(exc, AlreadyExistsError | DependencyConflictError | StaleLockError):
        return 409  # conflicts with what the node has: other triggers, other plugins' packages
    if isinstance(exc, InstallDisabledError):
        return 403
    if isinstance(exc, DurabilityError):  # the disk refused the write: nothing was kept
        return 507 if exc.errno == errno.ENOSPC else 500
    if isinstance(exc, BufferFullError):  # rows wait for their persist: try again shortly
        return 503
    if isinstance(exc, StoreCorruptionError):  # the server's files, not the request
        return 500
    if isinstance(exc, CatalogFileError | InstallError):
        return 500
    if isinstance(exc, FetchError):
        return 502
    if isinstance(exc, EngineError | InvalidReferenceError | PluginManagerError):
        # upstream answers 500 for most of these; they are the client's to fix, so 400
        return 400
    return 500


def error_answer(exc: Exception) -> tuple[int, str, Any]:
    """The status, message and ``"data"`` an exception of a route answers with."""
    if isinstance(exc, ApiError):
        return exc.status, exc.message, exc.data
    if isinstance(exc, EngineError | PluginManagerError):
        return error_status(exc), str(exc), None
    return 500, f"internal server error: {type(exc).__name__}: {exc}", None


def endpoint(func: _Endpoint) -> _Endpoint:
    """Turn every exception of ``func`` into a JSON error response."""

    @functools.wraps(func)
    async def wrapper(request: Request) -> Response:
        try:
            return await func(request)
        except Exception as exc:  # a bug here must not take the server down, nor hide
            if not isinstance(exc, ApiError | EngineError | PluginManagerError):
                _LOGGER.exception("%s %s failed", request.method, request.url.path)
            status, message, data = error_answer(exc)
            return error_response(status, message, data=data)

    return wrapper


async def blocking(func: Callable[..., _T], *args: Any, **kwargs: Any) -> _T:
    """Run a blocking engine or manager call on the thread pool."""
    return await run_in_threadpool(func, *args, **kwargs)


async def engine_off(request: Request) -> Response:
    """What needs the Processing Engine, on a server without a plugin directory: 500."""
    return error_response(500, ENGINE_OFF_MESSAGE)


def server_state(request: Request) -> ServerState:
    state: ServerState = request.app.state.server
    return state


def _too_large(limit: int, what: str) -> ApiError:
    message = (
        f"the request body {what} more than {limit} bytes (--max-http-request-size): "
        "send smaller batches or raise the limit"
    )
    return ApiError(413, message)


def _encodings(request: Request) -> list[str]:
    header = request.headers.get("content-encoding", "")
    codings = [part.strip().lower() for part in header.split(",")]
    unknown = [c for c in codings if c not in _GZIP | _IDENTITY]
    if unknown:
        message = (
            f"unsupported Content-Encoding {unknown[0]!r}: send the body as gzip or identity "
            "(uncompressed)"
        )
        raise ApiError(415, message)
    return [c for c in codings if c in _GZIP]


class _Inflater:
    """Inflates gzip members fed in chunks, never holding more than ``limit`` output bytes."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._size = 0
        self._out: list[bytes] = []
        self._inflate = zlib.decompressobj(_GZIP_WBITS)
        self._started = False

    def feed(self, data: bytes) -> None:
        while data:
            self._started = True
            try:
                chunk = self._inflate.decompress(data, self._limit - self._size + 1)
            except zlib.error as exc:
                raise ApiError(400, f"the request body is not valid gzip data: {exc}") from None
            self._append(chunk)
            data = self._inflate.unconsumed_tail
            if self._inflate.eof:  # another member may follow
                rest = self._inflate.unused_data + data
                self._inflate = zlib.decompressobj(_GZIP_WBITS)
                self._started = False
                data = rest

    def finish(self) -> bytes:
        if self._started and not self._inflate.eof:
            raise ApiError(400, "the request body is not valid gzip data: it ends mid-stream")
        self._append(self._inflate.flush())
        return b"".join(self._out)

    def _append(self, chunk: bytes) -> None:
        self._size += len(chunk)
        if self._size > self._limit:
            raise _too_large(self._limit, "inflates to")
        self._out.append(chunk)


async def read_body(request: Request) -> bytes:
    """The decoded body of ``request``, at most the server's ``max_request_bytes``.

    413 when the body or its decoded form is larger, 415 for an encoding other than gzip or
    identity, 400 for a corrupt gzip stream.
    """
    limit = server_state(request).max_request_bytes
    gzipped = _encodings(request)
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise _too_large(limit, "is")
    inflater = _Inflater(limit) if gzipped else None
    raw: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _too_large(limit, "is")
        if inflater is None:
            raw.append(chunk)
        else:
            inflater.feed(chunk)
    body = b"".join(raw) if inflater is None else inflater.finish()
    for _ in gzipped[1:]:  # "gzip, gzip": compressed twice
        inflater = _Inflater(limit)
        inflater.feed(body)
        body = inflater.finish()
    return body


async def read_json(request: Request, *, required: bool = True) -> dict[str, Any]:
    """The body as a JSON object; ``{}`` for an empty body unless ``required``."""
    raw = await read_body(request)
    if not raw.strip():
        if required:
            raise ApiError(400, "the request body is empty: send a JSON object")
        return {}
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        message = f"the request body is not valid JSON: {exc}"
        raise ApiError(400, message) from None
    except RecursionError:  # the parser recurses per level: 100,000 "[" exhaust the stack
        raise ApiError(400, NESTED_TOO_DEEPLY.format(what="the request body")) from None
    if not isinstance(data, dict):
        message = f"the request body must be a JSON object, got {type(data).__name__}"
        raise ApiError(400, message)
    return data


async def merged_params(request: Request) -> dict[str, Any]:
    """Query-string parameters, overridden by the JSON body's fields (configure endpoints)."""
    params: dict[str, Any] = dict(request.query_params.multi_items())
    params.update(await read_json(request, required=False))
    return params


def get_str(
    data: Mapping[str, Any], name: str, *, default: str | None = None, required: bool = True
) -> str:
    """``data[name]`` as a non-empty string; 400 naming the field otherwise."""
    value = data.get(name)
    if value is None:
        if default is not None or not required:
            return default or ""
        raise ApiError(400, f"missing field '{name}'")
    if not isinstance(value, str):
        raise ApiError(400, f"field '{name}' must be a string, got {json.dumps(value)}")
    if required and not value.strip():
        raise ApiError(400, f"field '{name}' is empty")
    return value


def get_bool(data: Mapping[str, Any], name: str, *, default: bool) -> bool:
    """``data[name]`` as a bool (JSON true/false or a query-string ``true``/``false``)."""
    value = data.get(name)
    if value is None or value == "":
        return default
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    raise ApiError(400, f"field '{name}' must be true or false, got {json.dumps(value)}")
