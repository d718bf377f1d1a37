"""`RepoServer`: a real loopback HTTP server over a plugin repository directory.

It behaves like a static web server or raw.githubusercontent.com: GET returns file bytes with an
``ETag`` (sha256 of the body) and ``Last-Modified``, and answers ``If-None-Match`` /
``If-Modified-Since`` with 304. It counts requests and body bytes, can add latency to every
request, and lets a test replace the answer for one path (redirect loops, slow bodies, 5xx...).
Used by the tests, the benchmarks and the README demo; it never leaves 127.0.0.1.
"""

from __future__ import annotations

import contextlib
import hashlib
import socket
import ssl
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from email.utils import formatdate, parsedate_to_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import unquote, urlsplit

__all__ = ["RepoServer", "SeenRequest", "reply"]

#: a per-path override: receives the request handler and writes the whole response itself
Override = Callable[[BaseHTTPRequestHandler], None]


@dataclass(frozen=True, slots=True)
class SeenRequest:
    """One request the server received."""

    method: str
    path: str
    headers: dict[str, str]
    status: int
    body_bytes: int


def reply(
    handler: BaseHTTPRequestHandler,
    status: int,
    body: bytes = b"",
    headers: dict[str, str] | None = None,
) -> None:
    """Write a whole response from an override: status, headers, Content-Length, body."""
    handler.send_response(status)
    for name, value in (headers or {}).items():
        handler.send_header(name, value)
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:
        """Keep test output clean; requests are recorded in `RepoServer.requests` instead."""

    def do_GET(self) -> None:
        owner = self.server.owner
        if owner.latency:
            time.sleep(owner.latency)
        path = unquote(urlsplit(self.path).path)
        override = owner.overrides.get(path)
        if override is not None:
            # recorded before answering: a client that has its answer finds it counted
            owner.record(self, status=0, body_bytes=0)
            override(self)
            return
        self._serve_file(owner, path)

    def _serve_file(self, owner: RepoServer, path: str) -> None:
        if owner.token is not None and self.headers.get("Authorization") != f"Bearer {owner.token}":
            self._send(owner, 401, b"unauthorized\n", {})
            return
        target = (owner.root / path.lstrip("/")).resolve()
        if owner.root not in target.parents or not target.is_file():
            self._send(owner, 404, b"404: Not Found", {})
            return
        body = target.read_bytes()
        mtime = target.stat().st_mtime
        etag = f'"{hashlib.sha256(body).hexdigest()}"' if owner.etag else None
        headers = {"Last-Modified": formatdate(mtime, usegmt=True)}
        if etag is not None:
            headers["ETag"] = etag
        if self._not_modified(etag, mtime):
            self._send(owner, 304, b"", headers)
            return
        headers["Content-Type"] = "text/plain; charset=utf-8"
        self._send(owner, 200, body, headers)

    def _not_modified(self, etag: str | None, mtime: float) -> bool:
        if_none_match = self.headers.get("If-None-Match")
        if if_none_match is not None and etag is not None:
            return if_none_match == etag
        since = self.headers.get("If-Modified-Since")
        if since is None:
            return False
        try:
            return int(mtime) <= parsedate_to_datetime(since).timestamp()
        except (TypeError, ValueError):
            return False

    def _send(self, owner: RepoServer, status: int, body: bytes, headers: dict[str, str]) -> None:
        owner.record(self, status=status, body_bytes=len(body) if status != 304 else 0)
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        if status != 304:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if status != 304:
            self.wfile.write(body)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False  # stopping must not wait for a deliberately slow handler
    request_queue_size = 128  # clients connect in parallel; an overflow costs a 1 s SYN retry
    owner: RepoServer

    def __init__(self, address: tuple[str, int]) -> None:
        super().__init__(address, _Handler)
        self.open_sockets: set[socket.socket] = set()

    def process_request(self, request: Any, client_address: Any) -> None:
        self.open_sockets.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        self.open_sockets.discard(request)
        super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hung up (timeouts, size caps) is expected here; anything else is not."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)

    def drop_connections(self) -> None:
        """Close kept-alive client connections, as a real server going down does."""
        for sock in list(self.open_sockets):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


class RepoServer:
    """Serve ``root`` on ``127.0.0.1`` (port 0) in a background thread.

    :param latency: seconds to sleep before answering each request (simulates a WAN).
    :param token: if set, plain file requests need ``Authorization: Bearer <token>``.
    :param tls: ``(certfile, keyfile)`` to serve https instead of http.
    :param etag: send ETags; off, revalidation is by Last-Modified alone (whole seconds).
    """

    def __init__(
        self,
        root: Path,
        *,
        latency: float = 0.0,
        token: str | None = None,
        tls: tuple[Path, Path] | None = None,
        etag: bool = True,
    ) -> None:
        self.root = root.resolve()
        self.etag = etag
        self.tls = tls
        self.latency = latency
        self.token = token
        self.overrides: dict[str, Override] = {}
        self.requests: list[SeenRequest] = []
        self._lock = threading.Lock()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """Base URL with a trailing slash, e.g. ``http://127.0.0.1:40123/``."""
        if self._server is None:
            raise RuntimeError("RepoServer is not running")
        host, port = self._server.server_address[:2]
        scheme = "https" if self.tls else "http"
        return f"{scheme}://{host!s}:{port}/"

    @property
    def bytes_sent(self) -> int:
        """Total body bytes served (304s and overrides count 0)."""
        with self._lock:
            return sum(r.body_bytes for r in self.requests)

    def record(self, handler: BaseHTTPRequestHandler, *, status: int, body_bytes: int) -> None:
        seen = SeenRequest(handler.command, handler.path, dict(handler.headers), status, body_bytes)
        with self._lock:
            self.requests.append(seen)

    def reset(self) -> None:
        """Forget the requests seen so far."""
        with self._lock:
            self.requests.clear()

    def start(self) -> RepoServer:
        server = _Server(("127.0.0.1", 0))
        server.owner = self
        if self.tls is not None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(*map(str, self.tls))
            server.socket = context.wrap_socket(server.socket, server_side=True)
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server.drop_connections()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = None

    def __enter__(self) -> RepoServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
