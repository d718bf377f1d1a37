"""A minimal loopback PEP 503 index (HTML simple API over `http.server`) serving wheels from a
folder: enough for uv to resolve from "the package registry" and to answer 404 for the rest."""

from __future__ import annotations

import functools
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

__all__ = ["simple_index"]


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass


def _tree(wheelhouse: Path, root: Path) -> None:
    """``root/simple/<project>/index.html`` linking to ``root/files/<wheel>``."""
    projects: dict[str, list[str]] = {}
    (root / "files").mkdir(parents=True)
    for wheel in sorted(wheelhouse.glob("*.whl")):
        (root / "files" / wheel.name).write_bytes(wheel.read_bytes())
        project = wheel.name.split("-")[0].replace("_", "-").lower()
        projects.setdefault(project, []).append(wheel.name)
    for project, wheels in projects.items():
        page = root / "simple" / project / "index.html"
        page.parent.mkdir(parents=True)
        links = "".join(f'<a href="../../files/{w}">{w}</a>\n' for w in wheels)
        page.write_text(f"<!DOCTYPE html><html><body>\n{links}</body></html>\n")


@contextmanager
def simple_index(wheelhouse: Path, root: Path) -> Iterator[str]:
    """Serve the wheels of ``wheelhouse`` (copied under ``root``); yields the index URL."""
    _tree(wheelhouse, root)
    handler = functools.partial(_Quiet, directory=str(root))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/simple"
    finally:
        server.shutdown()
        server.server_close()
