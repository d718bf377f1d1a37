"""Transports: the only code that opens sockets or reads repository files."""

from __future__ import annotations

from urllib.parse import urlsplit

from ...errors import NetworkError
from .base import (
    FetchRequest,
    FetchResponse,
    ProgressCallback,
    Transport,
    conditional_headers,
    reason_phrase,
    trusted_last_modified,
)
from .file import FileTransport, file_url_to_path, local_path
from .http import HTTPTransport
from .mock import MockTransport

__all__ = [
    "FetchRequest",
    "FetchResponse",
    "FileTransport",
    "HTTPTransport",
    "MockTransport",
    "ProgressCallback",
    "RoutingTransport",
    "Transport",
    "conditional_headers",
    "file_url_to_path",
    "local_path",
    "reason_phrase",
    "trusted_last_modified",
]


class RoutingTransport(Transport):
    """Sends ``file://`` URLs to a `FileTransport` and http(s) to an `HTTPTransport`."""

    def __init__(self, http: Transport, file: Transport | None = None) -> None:
        self._http = http
        self._file = file or FileTransport()

    def handle(self, request: FetchRequest) -> FetchResponse:
        scheme = urlsplit(request.url).scheme.lower()
        if scheme == "file":
            return self._file.handle(request)
        if scheme in ("http", "https"):
            return self._http.handle(request)
        message = f"error getting plugin from repository: unsupported URL scheme {request.url}"
        raise NetworkError(message, url=request.url, hint="use http://, https:// or file://")

    def close(self) -> None:
        self._http.close()
        self._file.close()
