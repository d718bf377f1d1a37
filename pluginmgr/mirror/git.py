"""Mirroring from a git repository: ``git+URL@REV`` served as if it were a static web server.

`GitTreeTransport` answers ``git:///PATH`` requests from one commit (the revision is resolved,
with one shallow fetch, on the first request; later requests read the pinned commit from the
local bare cache with no network). A missing path is a 404 and the ETag is the content's sha256,
so the mirror's discovery, conditional re-syncs and 404-means-absent rules work unchanged.
"""

from __future__ import annotations

import hashlib
import os
import threading
from pathlib import Path
from typing import Final
from urllib.parse import urlsplit

from ..errors import MirrorError
from ..fetch.git_source import GitPathNotFoundError, fetch_git
from ..fetch.transports import FetchRequest, FetchResponse, Transport, reason_phrase

__all__ = ["GIT_BASE", "GitTreeTransport", "default_git_cache", "parse_git_source"]

#: the base URL mirror jobs use for a git source; `GitTreeTransport` serves it
GIT_BASE: Final = "git:///"


def parse_git_source(source: str) -> tuple[str, str | None]:
    """``git+URL@REV`` -> (URL, REV); REV is None when absent (the remote's HEAD)."""
    rest = source.removeprefix("git+")
    url, sep, rev = rest.rpartition("@")
    # an '@' before the path is ssh/https user info, not a revision
    if not sep or not rev or not urlsplit(url).path.strip("/"):
        url, rev = rest, ""
    if "://" not in url:
        message = f"unsupported git mirror source {source!r}"
        raise MirrorError(message, hint="use git+https://HOST/REPO@REV or git+file:///PATH@REV")
    return url, rev or None


def default_git_cache() -> Path:
    """Where bare repositories are cached: ``$XDG_CACHE_HOME/pluginmgr/git``."""
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "pluginmgr" / "git"


def _response(url: str, status: int, headers: dict[str, str], body: bytes = b"") -> FetchResponse:
    return FetchResponse(url, status, reason_phrase(status), headers, body)


class GitTreeTransport(Transport):
    """Serves ``git:///PATH`` from one commit of ``url`` at ``rev``."""

    def __init__(
        self,
        url: str,
        rev: str | None,
        *,
        repos_dir: Path,
        fallback: Transport,
        timeout: float = 60.0,
    ) -> None:
        self.url = url
        self.rev = rev
        self.commit: str | None = None  #: the full sha `rev` resolved to, after the first request
        self._repos_dir = repos_dir
        self._timeout = timeout
        self._fallback = fallback  # for what the repository points outside itself (artifacts)
        self._lock = threading.Lock()

    def handle(self, request: FetchRequest) -> FetchResponse:
        if not request.url.startswith(GIT_BASE):
            return self._fallback.handle(request)
        path = request.url.removeprefix(GIT_BASE)
        try:
            with self._lock:  # the first request resolves the revision; the rest reuse the sha
                content = fetch_git(
                    self.url,
                    self.commit or self.rev,
                    path,
                    repos_dir=self._repos_dir,
                    max_bytes=request.max_bytes,
                    timeout=self._timeout,
                )
                self.commit = content.commit
        except GitPathNotFoundError:
            return _response(request.url, 404, {})
        if content.kind != "file":
            return _response(request.url, 404, {})
        body = next(iter(content.files.values()))
        etag = f'"{hashlib.sha256(body).hexdigest()}"'
        if request.headers.get("If-None-Match") == etag:
            return _response(request.url, 304, {"etag": etag})
        return _response(request.url, 200, {"etag": etag}, body)

    def close(self) -> None:
        self._fallback.close()
