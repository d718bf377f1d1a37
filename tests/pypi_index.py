"""`PackageIndex`: a loopback package index that answers as PyPI does, over a folder of files.

A real HTTP server on 127.0.0.1 (port 0, a thread per request) that uv and pip use through
``--index-url``, so the tests install, lock, sync and mirror from an index and not only from
``--find-links`` folders, whose entries lack what PyPI adds (``upload-time``, ``size``, yanks,
metadata files). What it serves (pages: `tests.index_pages`):

* ``/simple/`` and ``/simple/<normalized>/`` in both serializations, chosen from ``Accept`` as
  Warehouse does: ``text/html`` (the default, also when nothing offered is acceptable),
  ``application/vnd.pypi.simple.v1+html`` or ``application/vnd.pypi.simple.v1+json`` (PEP 691;
  the ``latest`` aliases count as v1; ``json_pages=False`` makes an HTML-only index), with
  ``Vary: Accept`` and ``X-PyPI-Last-Serial``. A name that is not normalized is redirected
  (301) to its normalized page, a page URL without its trailing slash too (308), as pypi.org
  does.
* API version 1.1 (PEP 700): ``versions``, ``size`` and ``upload-time`` (the file's modification
  time, ``yyyy-mm-ddThh:mm:ss.ffffffZ``) in JSON; ``<meta name="pypi:repository-version">``.
* Per file: its URL with ``#sha256=`` (JSON ``hashes``), ``data-requires-python`` (HTML-escaped;
  JSON ``requires-python``) from the file's own metadata, ``data-yanked`` / ``yanked`` with the
  reason (``""`` / ``true`` without one), and for wheels (``metadata=True``) PEP 658/714
  ``data-core-metadata`` and ``data-dist-info-metadata`` (JSON ``core-metadata``,
  ``dist-info-metadata`` and Warehouse's ``data-dist-info-metadata``), ``sha256=`` of the
  ``<file URL>.metadata`` it serves.
* Files under ``/packages/xx/yy/<rest of the sha256>/<filename>`` as files.pythonhosted.org lays
  them out, with ``Content-Length``, ``Accept-Ranges: bytes`` and single byte ranges (206: uv
  reads a wheel's metadata that way when no metadata file is offered); HEAD everywhere; 404 for
  anything else.

The folder is re-read at each page request (hashes cached by name, size and time), so a test
publishes a release by copying a file in. Every requested path, query included, is appended to
`PackageIndex.requests`. `index_files` builds the fixture files; `FIXTURE_YANKED` is what the
session's index (the ``package_index`` fixture in tests/conftest.py) yanks.
"""

from __future__ import annotations

import re
import sys
import threading
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Final
from urllib.parse import unquote, urlsplit

from packaging.utils import canonicalize_name

from tests.index_files import FIXTURE_YANKED, index_files
from tests.index_pages import (
    DIST_SUFFIXES,
    TEXT_HTML,
    V1_JSON,
    IndexFile,
    project_page,
    read_index_file,
    root_page,
    select_content_type,
)

__all__ = ["FIXTURE_YANKED", "PackageIndex", "index_files"]

_RANGE: Final = re.compile(r"bytes=(\d*)-(\d*)")
_METADATA: Final = ".metadata"


class PackageIndex:
    """Serve the wheels and sdists in ``files`` as a PyPI-like simple index on 127.0.0.1.

    :param files: a folder of wheels and sdists (any names), re-read at each page request.
    :param yanked: filename -> the reason it is yanked, or True (yanked, no reason).
    :param metadata: serve PEP 658/714 ``.metadata`` files for wheels; off, installers read
        the wheel itself (uv through range requests).
    :param json_pages: serve the PEP 691 JSON pages; off, every page is ``text/html``
        whatever is asked, as a static PEP 503 index answers (no ``upload-time`` then).
    """

    def __init__(
        self,
        files: Path,
        *,
        yanked: Mapping[str, str | bool] = {},
        metadata: bool = True,
        json_pages: bool = True,
    ) -> None:
        self.files = files
        self.requests: list[str] = []
        self._yanked = {name: reason for name, reason in yanked.items() if reason}
        self._metadata = metadata
        self._json_pages = json_pages
        self._cache: dict[tuple[str, int, int], IndexFile] = {}
        self._lock = threading.Lock()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """The simple index URL, e.g. ``http://127.0.0.1:PORT/simple/``."""
        return self.base_url + "simple/"

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT/``."""
        if self._server is None:
            raise RuntimeError("PackageIndex is not running: use it as a context manager")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/"

    def scan(self) -> list[IndexFile]:
        """Every wheel and sdist in the folder, each read once per (name, size, mtime)."""
        found = []
        for path in sorted(self.files.iterdir()):
            if not path.is_file() or not path.name.endswith(DIST_SUFFIXES):
                continue
            stat = path.stat()
            key = (path.name, stat.st_size, stat.st_mtime_ns)
            with self._lock:
                known = self._cache.get(key)
            if known is None:
                known = read_index_file(path)
                with self._lock:
                    self._cache[key] = known
            found.append(known)
        return found

    def yank_of(self, filename: str) -> str | bool:
        """The file's yank: its reason, True (no reason) or False."""
        return self._yanked.get(filename, False)

    def content_type(self, accept: str | None) -> str:
        """The page type answered to ``Accept``."""
        return select_content_type(accept) if self._json_pages else TEXT_HTML

    def metadata_for(self, item: IndexFile) -> bool:
        """Whether the pages offer ``item``'s PEP 658 metadata file."""
        return self._metadata and item.metadata is not None

    def __enter__(self) -> PackageIndex:
        present = {item.path.name for item in self.scan()}
        unknown = sorted(set(self._yanked) - present)
        if unknown:
            raise ValueError(f"yanked names files that {self.files} lacks: {', '.join(unknown)}")
        server = _Server(("127.0.0.1", 0), _Handler)
        server.owner = self
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = None


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    request_queue_size = 128  # uv opens many connections at once
    owner: PackageIndex

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hung up mid-answer is no error of the index."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: `PackageIndex.requests` records what was asked."""

    def do_GET(self) -> None:
        self._answer(head=False)

    def do_HEAD(self) -> None:
        self._answer(head=True)

    def _answer(self, *, head: bool) -> None:
        owner = self.server.owner
        owner.requests.append(self.path)
        split = urlsplit(self.path)
        path, query = unquote(split.path), f"?{split.query}" if split.query else ""
        if path == "/simple":
            self._redirect(308, "/simple/" + query)
        elif path == "/simple/":
            files = owner.scan()
            kind = owner.content_type(self.headers.get("Accept"))
            self._page(root_page(files, kind, len(files)), kind, len(files), head=head)
        elif path.startswith("/simple/") and "/" not in path[8:].rstrip("/"):
            self._project(owner, path[8:], query, head=head)
        elif path.startswith("/packages/"):
            self._file(owner, path, head=head)
        else:
            self._send(404, b"404 Not Found\n", {"Content-Type": "text/plain"}, head=head)

    def _project(self, owner: PackageIndex, name: str, query: str, *, head: bool) -> None:
        bare = name.rstrip("/")
        normalized = canonicalize_name(bare)
        if bare != normalized:
            self._redirect(301, f"/simple/{normalized}/{query}")
            return
        if not name.endswith("/"):
            self._redirect(308, f"/simple/{normalized}/{query}")
            return
        files = owner.scan()
        mine = [item for item in files if item.project == normalized]
        if not mine:
            self._send(404, b"404 Not Found\n", {"Content-Type": "text/plain"}, head=head)
            return
        kind = owner.content_type(self.headers.get("Accept"))
        body = project_page(
            normalized,
            mine,
            kind,
            base_url=owner.base_url,
            serial=len(files),
            yank_of=owner.yank_of,
            metadata_for=owner.metadata_for,
        )
        self._page(body, kind, len(files), head=head)

    def _page(self, body: bytes, kind: str, serial: int, *, head: bool) -> None:
        content_type = kind if kind == V1_JSON else f"{kind}; charset=utf-8"
        headers = {"Content-Type": content_type, "Vary": "Accept"}
        self._send(200, body, headers | {"X-PyPI-Last-Serial": str(serial)}, head=head)

    def _file(self, owner: PackageIndex, path: str, *, head: bool) -> None:
        wanted = path.removesuffix(_METADATA)
        for item in owner.scan():
            if item.url_path != wanted and unquote(item.url_path) != wanted:
                continue
            if wanted != path:  # the PEP 658 metadata file
                if owner.metadata_for(item):
                    self._bytes(item.metadata or b"", f'"{item.sha256}-metadata"', head=head)
                    return
                break
            self._bytes(item.path.read_bytes(), f'"{item.sha256}"', head=head)
            return
        self._send(404, b"404 Not Found\n", {"Content-Type": "text/plain"}, head=head)

    def _bytes(self, data: bytes, etag: str, *, head: bool) -> None:
        headers = {
            "Content-Type": "application/octet-stream",
            "Accept-Ranges": "bytes",
            "ETag": etag,
            "Cache-Control": "max-age=365000000, immutable, public",
        }
        wanted = _RANGE.fullmatch(self.headers.get("Range", "").strip())
        if wanted is None or not any(wanted.groups()):
            self._send(200, data, headers, head=head)
            return
        first, last = wanted.groups()
        if not first:  # a suffix: the last N bytes
            start, end = max(len(data) - int(last), 0), len(data) - 1
        else:
            start, end = int(first), min(int(last) if last else len(data) - 1, len(data) - 1)
        if start >= len(data) or start > end:
            headers["Content-Range"] = f"bytes */{len(data)}"
            self._send(416, b"", headers, head=head)
            return
        headers["Content-Range"] = f"bytes {start}-{end}/{len(data)}"
        self._send(206, data[start : end + 1], headers, head=head)

    def _redirect(self, status: int, location: str) -> None:
        self._send(status, b"", {"Location": location}, head=True)

    def _send(self, status: int, body: bytes, headers: dict[str, str], *, head: bool) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if not head:
            self.wfile.write(body)
