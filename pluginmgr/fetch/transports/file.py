"""``file://`` repositories: what air-gapped nodes point ``--plugin-repo`` at.

The transport behaves like a static web server over the directory: a missing file is a 404, an
unreadable one a 403, and a synthetic ETag (inode, size, mtime) lets revalidation skip reading a
file that has not changed, exactly as a 304 would over HTTP.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlsplit

from ...errors import NetworkError, PathTraversalError
from .base import FetchRequest, FetchResponse, Transport, reason_phrase, too_large_error

__all__ = ["FileTransport", "file_url_to_path", "local_path"]


def file_url_to_path(url: str) -> Path:
    """``file:///srv/mirror/x.py`` -> ``/srv/mirror/x.py``; only local hosts are accepted."""
    parts = urlsplit(url)
    if parts.netloc not in ("", "localhost"):
        message = f"error getting plugin from repository: file URL with a remote host {url}"
        raise NetworkError(message, url=url, hint="use file:///absolute/path")
    from urllib.request import url2pathname  # loads http.client and ssl: only when used

    return Path(url2pathname(unquote(parts.path)))


def local_path(location: str) -> Path | None:
    """A plain path or a local ``file://`` URL as a `Path`; None for anything else (an http(s)
    URL, a ``file://`` URL naming another host)."""
    scheme = urlsplit(location).scheme
    if scheme == "file":
        try:
            return file_url_to_path(location)
        except NetworkError:
            return None
    return Path(location) if scheme == "" else None


def _status(url: str, status: int) -> FetchResponse:
    return FetchResponse(url=url, status=status, reason=reason_phrase(status), headers={}, body=b"")


def _check_inside(request: FetchRequest, path: Path) -> None:
    """Refuse a file whose real path leaves ``request.root``: a symlink in a repository must
    not publish the host's other files (``/etc/passwd``, another plugin dir) as a plugin."""
    base = None if request.root is None else local_path(request.root)
    if base is None:
        return
    root = base.resolve()
    real = path.resolve()
    if not real.is_relative_to(root):
        message = (
            f"Path traversal detected: {request.url} resolves to {real}, outside the "
            f"repository {root}"
        )
        hint = "a symlink in the repository points outside it: replace it with the file"
        raise PathTraversalError(message, hint=hint)


class FileTransport(Transport):
    """Reads files from the local filesystem through ``file://`` URLs."""

    def handle(self, request: FetchRequest) -> FetchResponse:
        path = file_url_to_path(request.url)
        try:
            stat = path.stat()
            _check_inside(request, path)
        except FileNotFoundError:
            return _status(request.url, 404)
        except PermissionError:
            return _status(request.url, 403)
        except (ValueError, RuntimeError, OSError) as exc:  # a NUL in the path, a symlink loop
            message = f"error reading plugin from repository: {exc} {request.url}"
            raise NetworkError(message, url=request.url, hint="check the path") from exc
        if not path.is_file():
            return _status(request.url, 404)
        etag = f'"{stat.st_ino:x}-{stat.st_size:x}-{stat.st_mtime_ns:x}"'
        if request.headers.get("If-None-Match") == etag:
            return FetchResponse(request.url, 304, reason_phrase(304), {"etag": etag}, b"")
        if stat.st_size > request.max_bytes:
            raise too_large_error(request)
        try:
            with path.open("rb") as handle:
                body = handle.read(request.max_bytes + 1)
        except PermissionError:
            return _status(request.url, 403)
        except OSError as exc:
            message = f"error reading plugin from repository: {exc.strerror} {request.url}"
            raise NetworkError(message, url=request.url) from exc
        if len(body) > request.max_bytes:
            raise too_large_error(request)
        if request.progress is not None:
            request.progress(len(body), len(body))
        headers = {"etag": etag, "content-length": str(len(body))}
        return FetchResponse(request.url, 200, reason_phrase(200), headers, body)
