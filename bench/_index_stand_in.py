"""TEMPORARY stand-in for ``tests.pypi_index.PackageIndex`` until that fixture is merged:
`bench/deps.py` imports the real one when it exists and this otherwise (one import to drop).

A loopback PEP 503 simple index over a folder of wheels: ``/simple/<name>/`` pages with
``#sha256=`` links and PEP 658/714 metadata attributes, the files and their ``.metadata``.
Nothing else of what PyPI serves (no JSON API, yanks, ranges, sdists): the benchmark needs only
an index that uv resolves from over HTTP and that offers each wheel's metadata.
"""

from __future__ import annotations

import hashlib
import html
import threading
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any

from packaging.utils import canonicalize_name, parse_wheel_filename

__all__ = ["PackageIndex"]


def _metadata(wheel: Path) -> bytes:
    with zipfile.ZipFile(wheel) as archive:
        name = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
        return archive.read(name)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # uv opens many connections at once; 5 costs 1 s SYN retries


class PackageIndex:
    """Serve the wheels in ``files`` on 127.0.0.1 as a simple index (`url`)."""

    def __init__(self, files: Path, **_ignored: Any) -> None:
        self.files = files
        self.requests: list[str] = []
        self._server: _Server | None = None
        self._pages: dict[str, bytes] = {}
        self._blobs: dict[str, bytes] = {}

    @property
    def url(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/simple/"

    def _build(self) -> None:
        projects: dict[str, list[str]] = {}
        for wheel in sorted(self.files.glob("*.whl")):
            data, metadata = wheel.read_bytes(), _metadata(wheel)
            self._blobs[wheel.name] = data
            self._blobs[wheel.name + ".metadata"] = metadata
            digest = hashlib.sha256(data).hexdigest()
            meta = f"sha256={hashlib.sha256(metadata).hexdigest()}"
            link = (
                f'<a href="/packages/{html.escape(wheel.name)}#sha256={digest}" '
                f'data-core-metadata="{meta}" data-dist-info-metadata="{meta}">'
                f"{html.escape(wheel.name)}</a><br>"
            )
            name = canonicalize_name(parse_wheel_filename(wheel.name)[0])
            projects.setdefault(name, []).append(link)
        for name, links in projects.items():
            body = "<!DOCTYPE html><html><body>" + "".join(links) + "</body></html>"
            self._pages[name] = body.encode()

    def __enter__(self) -> PackageIndex:
        self._build()
        index = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as uv expects

            def do_GET(self) -> None:
                index.requests.append(self.path)
                parts = self.path.split("?")[0].strip("/").split("/")
                if parts[0] == "simple" and len(parts) == 2:
                    body = index._pages.get(canonicalize_name(parts[1]))
                    kind = "text/html"
                elif parts[0] == "packages" and len(parts) == 2:
                    body, kind = index._blobs.get(parts[1]), "application/octet-stream"
                else:
                    body = None
                if body is None:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                if parts[0] == "packages":  # files never change, as on files.pythonhosted.org
                    self.send_header("Cache-Control", "max-age=365000000, immutable, public")
                else:  # pypi.org's pages: installers revalidate them after 10 minutes
                    self.send_header("Cache-Control", "max-age=600, public")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_args: Any) -> None:
                pass

        self._server = _Server(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
