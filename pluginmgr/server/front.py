"""One port for HTTP and Arrow Flight: `FlightFront`.

The v3 clients dial Flight on the host and port they write to, as gRPC over cleartext HTTP/2
with prior knowledge (h2c) for ``http://`` hosts. Every gRPC connection therefore starts with
the HTTP/2 client preface, ``PRI * HTTP/2.0\\r\\n\\r\\nSM\\r\\n\\r\\n``, and no HTTP/1.1 request can
(no method is called ``PRI``). So uvicorn accepts every connection on ``--http-bind`` with
`FlightFront.protocol`, which reads the first bytes (a decision needs one byte for ``GET``, two
for ``POST``, at most 24):

* the preface: the connection becomes a byte pipe to the `FlightService`, which listens on a
  unix socket in a private (0700) temporary directory, so no second TCP port is open (the
  directory is removed at shutdown; a process killed with SIGKILL leaves it, and its dead
  socket, in the temporary directory);
* anything else: the connection, with the bytes read so far, is handed to uvicorn's own
  HTTP/1.1 protocol, exactly as if uvicorn had accepted it (uvicorn's ``AutoZttpProtocol``
  dispatches HTTP/1.1 and HTTP/2 the same way).

The pipe keeps both directions' flow control (a slow reader pauses the other side) and
half-closes. Pipes count as uvicorn connections, so shutdown waits for them: on SIGTERM the
first pipe asks the Flight server to shut down, which refuses new calls and lets running ones
finish; then every pipe closes (gRPC would leave idle connections open). A pipe still open
`_GRACE_SECONDS` later is closed, which cancels its calls.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import shutil
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Final, final

from uvicorn.protocols.http.auto import AutoHTTPProtocol

from ..errors import PluginManagerError
from .flight import FlightService
from .routes_v1 import influxql_table

if TYPE_CHECKING:
    from uvicorn.config import Config
    from uvicorn.server import ServerState as UvicornState

    from .app import ServerState

__all__ = ["HTTP2_PREFACE", "FlightFront", "FlightStartError"]

_LOGGER: Final = logging.getLogger(__name__)
#: what every HTTP/2 client, so every gRPC client, sends first (RFC 9113 §3.4)
HTTP2_PREFACE: Final = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
#: how long shutdown waits for running Flight calls before it cuts their connections
_GRACE_SECONDS: Final = 10.0
#: the longest unix socket path (``sun_path`` is 108 bytes with its NUL)
_MAX_SOCKET_PATH: Final = 107


@final
class FlightFront:
    """The `FlightService` on a private unix socket, and the protocol that puts it on the HTTP
    port: pass `protocol` as uvicorn's ``http=``; `close` once uvicorn has returned.

    :param state: the HTTP API's state: Flight queries run on its engine, InfluxQL as
        ``/api/v3/query_influxql`` runs it, and its tokens (None: no auth) are checked.
    """

    __slots__ = (
        "_directory",
        "_drained",
        "_on_drained",
        "_stopped",
        "_stopping",
        "protocol",
        "service",
        "socket_path",
    )

    def __init__(self, state: ServerState) -> None:
        self._directory = _private_directory()
        self.socket_path = self._directory / "flight.sock"
        location = f"grpc+unix://{self.socket_path}"
        try:
            self.service = FlightService(
                location,
                engine=state.engine,
                tokens=state.tokens,
                influxql=functools.partial(influxql_table, state),
                query_timeout=state.query_timeout,
                queries=state.queries,
                version=state.version,
            )
        except Exception as exc:
            shutil.rmtree(self._directory, ignore_errors=True)
            message = f"the Flight server could not listen on {self.socket_path}: {exc}"
            raise FlightStartError(message, hint="set TMPDIR to a writable directory") from exc
        self._stopping = threading.Lock()
        self._stopped: threading.Thread | None = None
        self._drained = False
        self._on_drained: list[Callable[[], None]] = []
        self.protocol: type[asyncio.Protocol] = type(
            "FlightFrontProtocol", (_FrontProtocol,), {"front": self}
        )

    def begin_shutdown(self) -> None:
        """Start the Flight server's graceful shutdown (once) without waiting for it."""
        with self._stopping:
            if self._stopped is None:
                self._stopped = threading.Thread(
                    target=self._shut_down, name="flight-shutdown", daemon=True
                )
                self._stopped.start()

    def when_drained(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` (on any thread) once no Flight call runs any more."""
        with self._stopping:
            if not self._drained:
                self._on_drained.append(callback)
                return
        callback()

    def _shut_down(self) -> None:
        # gRPC lets running calls finish and refuses new ones, but leaves idle client
        # connections open: the pipes close them once it returns (`when_drained`)
        self.service.shutdown()
        with self._stopping:
            self._drained = True
            callbacks, self._on_drained = self._on_drained, []
        for callback in callbacks:
            callback()

    def close(self) -> None:
        """Shut the Flight server down (running calls finish) and remove its socket."""
        self.begin_shutdown()
        assert self._stopped is not None  # noqa: S101 - begin_shutdown just set it
        self._stopped.join()
        shutil.rmtree(self._directory, ignore_errors=True)


class FlightStartError(PluginManagerError):
    """The Flight server could not start (its private unix socket could not be made)."""


def _private_directory() -> Path:
    """A new 0700 directory whose ``flight.sock`` fits in a unix socket address."""
    for parent in (None, "/tmp"):  # noqa: S108 - the fallback when TMPDIR is too long
        directory = Path(tempfile.mkdtemp(prefix="pluginmgr-flight-", dir=parent))
        if len(str(directory / "flight.sock").encode()) <= _MAX_SOCKET_PATH:
            return directory
        directory.rmdir()
    message = f"no directory for the Flight socket: {tempfile.gettempdir()} is too long a path"
    raise FlightStartError(message, hint="set TMPDIR to a shorter directory, e.g. /tmp")


class _FrontProtocol(asyncio.Protocol):
    """Reads a new connection's first bytes, then hands it to HTTP/1.1 or the Flight pipe.

    Built by uvicorn like its own protocols (same arguments); it counts as a connection of
    the server until it has decided.
    """

    front: ClassVar[FlightFront]

    def __init__(
        self,
        config: Config,
        server_state: UvicornState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        if not config.loaded:
            config.load()
        self.config = config
        self.server_state = server_state
        self.app_state = app_state
        self.loop = _loop or asyncio.get_event_loop()
        self.transport: asyncio.Transport | None = None
        self.idle: asyncio.TimerHandle | None = None
        self.buffer = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)  # noqa: S101 - a stream server's
        self.transport = transport
        self.server_state.connections.add(self)  # type: ignore[arg-type]  # shutdown() is all
        self.idle = self.loop.call_later(self.config.timeout_keep_alive, transport.close)

    def connection_lost(self, exc: Exception | None) -> None:
        self._forget()

    def eof_received(self) -> bool | None:
        return None  # nothing was asked: close

    def shutdown(self) -> None:
        if self.transport is not None:
            self.transport.close()

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if len(self.buffer) < len(HTTP2_PREFACE) and HTTP2_PREFACE.startswith(self.buffer):
            return  # still undecided
        self._forget()
        transport = self.transport
        assert transport is not None  # noqa: S101 - data comes after connection_made
        if self.buffer.startswith(HTTP2_PREFACE):
            _Pipe(self.front, self.server_state, self.loop).start(transport, self.buffer)
            return
        protocol = AutoHTTPProtocol(  # type: ignore[call-arg]  # uvicorn's own arguments
            config=self.config,
            server_state=self.server_state,
            app_state=self.app_state,
            _loop=self.loop,
        )
        transport.set_protocol(protocol)
        protocol.connection_made(transport)
        protocol.data_received(self.buffer)

    def _forget(self) -> None:
        self.server_state.connections.discard(self)
        if self.idle is not None:
            self.idle.cancel()
            self.idle = None


class _Half(asyncio.Protocol):
    """One side of a pipe: what it reads is written to the other side."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.other: _Half | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)  # noqa: S101 - a stream transport
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        if self.other is not None and self.other.transport is not None:
            self.other.transport.write(data)

    def eof_received(self) -> bool | None:
        peer = None if self.other is None else self.other.transport
        if peer is None or not peer.can_write_eof():
            return None
        peer.write_eof()
        return True  # keep the other direction open

    def pause_writing(self) -> None:  # the other side reads faster than this one is read
        if self.other is not None and self.other.transport is not None:
            self.other.transport.pause_reading()

    def resume_writing(self) -> None:
        if self.other is not None and self.other.transport is not None:
            self.other.transport.resume_reading()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.other is not None and self.other.transport is not None:
            self.other.transport.close()


class _Pipe(_Half):
    """The client's side of a Flight connection: a uvicorn connection until it closes."""

    def __init__(
        self, front: FlightFront, server_state: UvicornState, loop: asyncio.AbstractEventLoop
    ) -> None:
        super().__init__()
        self.front = front
        self.server_state = server_state
        self.loop = loop
        self.connecting: asyncio.Task[None] | None = None

    def start(self, transport: asyncio.Transport, initial: bytes) -> None:
        transport.set_protocol(self)
        self.connection_made(transport)
        self.server_state.connections.add(self)  # type: ignore[arg-type]  # shutdown() is all
        transport.pause_reading()  # until the Flight server is connected
        self.connecting = self.loop.create_task(self._connect(initial))

    async def _connect(self, initial: bytes) -> None:
        upstream = _Half()
        upstream.other = self  # the server speaks first (SETTINGS): it may not wait for us
        try:
            await self.loop.create_unix_connection(lambda: upstream, str(self.front.socket_path))
        except OSError as exc:
            _LOGGER.warning("cannot reach the Flight server at %s: %s", self.front.socket_path, exc)
            if self.transport is not None:
                self.transport.close()
            return
        assert upstream.transport is not None  # noqa: S101 - connected
        if self.transport is None or self.transport.is_closing():
            upstream.transport.close()
            return
        self.other = upstream
        upstream.transport.write(initial)
        self.transport.resume_reading()

    def connection_lost(self, exc: Exception | None) -> None:
        self.server_state.connections.discard(self)
        super().connection_lost(exc)

    def shutdown(self) -> None:
        """uvicorn is stopping: running Flight calls may finish, then the connection closes."""
        transport = self.transport
        if transport is None:
            return
        self.front.begin_shutdown()
        self.loop.call_later(_GRACE_SECONDS, transport.close)

        def close() -> None:
            with contextlib.suppress(RuntimeError):  # the loop is already gone: so is the pipe
                self.loop.call_soon_threadsafe(transport.close)

        self.front.when_drained(close)
