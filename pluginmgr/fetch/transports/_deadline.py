"""A total time budget for one fetch: httpx's read timeout restarts with every byte received.

A server dripping one byte a second never trips a 30 s read timeout, so without a budget a fetch
can hang for as long as the server likes. `Deadline` is checked between body chunks and caps each
attempt's timeouts; its watchdog also shuts the socket down when time runs out, which ends a
read that is blocked (or a header that is dripping) at once. Only sockets the attempt opened are
shut down: a pooled connection the deadline never saw is bounded by the capped read timeout.
"""

from __future__ import annotations

import socket
import threading
import time
from typing import Any

from ...errors import NETWORK_MESSAGE, NetworkError

__all__ = ["Deadline"]


class Deadline:
    """``seconds`` from now for fetching ``url``; `watch` arms a watchdog for one attempt."""

    def __init__(self, url: str, seconds: float) -> None:
        self.url = url
        self.seconds = seconds
        self._end = time.monotonic() + seconds
        self._lock = threading.Lock()
        self._expired = False
        self._sockets: list[socket.socket] = []
        self._timer: threading.Timer | None = None
        self._error: NetworkError | None = None

    def remaining(self) -> float:
        """Seconds left, never below zero."""
        return max(0.0, self._end - time.monotonic())

    @property
    def expired(self) -> bool:
        with self._lock:
            return self._expired or time.monotonic() >= self._end

    def error(self) -> NetworkError:
        """The error for a fetch that ran out of time (one instance, so it is recognisable)."""
        if self._error is not None:
            return self._error
        message = (
            f"{NETWORK_MESSAGE}: {self.url} did not finish downloading within the "
            f"{self.seconds:g}s fetch deadline"
        )
        hint = "the server is too slow; raise --fetch-deadline if the file is legitimately slow"
        self._error = NetworkError(message, url=self.url, hint=hint)
        return self._error

    def check(self) -> None:
        """Raise `error` when the time is up."""
        if self.expired:
            raise self.error()

    def trace(self, event: str, info: dict[str, Any]) -> None:
        """httpcore's ``trace`` extension: remember each socket the attempt connects."""
        if event.endswith(("connect_tcp.complete", "start_tls.complete")):
            self.adopt(info.get("return_value"))

    def adopt(self, stream: Any) -> None:
        """Watch the socket of an httpcore network stream (None or a stream without one: no-op)."""
        get_extra_info = getattr(stream, "get_extra_info", None)
        sock = get_extra_info("socket") if get_extra_info is not None else None
        if isinstance(sock, socket.socket):
            with self._lock:
                self._sockets.append(sock)

    def watch(self) -> None:
        """Arm the watchdog for the time that is left."""
        self._timer = threading.Timer(self.remaining(), self._fire)
        self._timer.daemon = True
        self._timer.start()

    def release(self) -> None:
        """Disarm the watchdog before the connection goes back to the pool."""
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            self._sockets.clear()

    def _fire(self) -> None:
        with self._lock:
            if self._timer is None:
                return  # released in the meantime: the socket may already serve another fetch
            self._expired = True
            for sock in self._sockets:
                try:
                    # the plain socket's shutdown (not SSLSocket's): it only wakes the reader
                    socket.socket.shutdown(sock, socket.SHUT_RDWR)
                except OSError:
                    pass  # already closed
