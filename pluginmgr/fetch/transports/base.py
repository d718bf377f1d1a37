"""The transport seam: one ``handle(request) -> response`` method, like httpx's transports.

Implementations: `HTTPTransport` (httpx), `FileTransport` (``file://``, the air-gapped path) and
`MockTransport` (a plain function, for unit tests). A transport returns every HTTP status as a
response (the caller decides what 304 or 404 mean) and raises `NetworkError` or `TooLargeError`
for failures that have no status.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http import HTTPStatus

from ...errors import FETCH_STATUS_MESSAGE, TooLargeError

__all__ = [
    "FetchRequest",
    "FetchResponse",
    "ProgressCallback",
    "Transport",
    "conditional_headers",
    "reason_phrase",
    "too_large_error",
    "trusted_last_modified",
]

#: called with (bytes received so far, total bytes or None) while a body streams in
ProgressCallback = Callable[[int, int | None], None]


@dataclass(frozen=True, slots=True)
class FetchRequest:
    """A GET of ``url`` with extra headers, a body size cap and an optional progress callback.

    :param deadline: seconds the whole fetch (every retry included) may take; None leaves it to
        the transport's default.
    :param root: the repository base URL ``url`` lies under; a ``file://`` file whose real path
        (symlinks resolved) is outside it is refused.
    """

    url: str
    max_bytes: int
    headers: Mapping[str, str] = field(default_factory=dict)
    progress: ProgressCallback | None = None
    deadline: float | None = None
    root: str | None = None


@dataclass(frozen=True, slots=True)
class FetchResponse:
    """What came back. ``headers`` keys are lower-case; ``url`` is the final URL after redirects."""

    url: str
    status: int
    reason: str
    headers: Mapping[str, str]
    body: bytes

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    def status_message(self, url: str) -> str:
        """Upstream's words for a non-2xx answer to a request for ``url``."""
        status = f"{self.status} {self.reason}".strip()
        return FETCH_STATUS_MESSAGE.format(status=status, url=url)


def reason_phrase(status: int) -> str:
    """The standard reason phrase for a status (``404`` -> ``Not Found``), as reqwest prints it."""
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""


class Transport(ABC):
    """Fetches one URL. Implementations must be safe to call from several threads."""

    @abstractmethod
    def handle(self, request: FetchRequest) -> FetchResponse:
        """Perform the GET and return the response, whatever its status."""

    def close(self) -> None:  # noqa: B027 - optional hook, most transports hold nothing
        """Release connections; the default holds nothing."""


def too_large_error(request: FetchRequest) -> TooLargeError:
    """The error for a body over ``request.max_bytes``, whatever the transport."""
    message = f"plugin file {request.url} is larger than the {request.max_bytes}-byte limit"
    return TooLargeError(message, url=request.url, hint="raise --max-file-size if it is legitimate")


def conditional_headers(etag: str | None, last_modified: str | None) -> dict[str, str]:
    """``If-None-Match`` / ``If-Modified-Since`` for the validators a server sent last time."""
    headers = {}
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified
    return headers


def trusted_last_modified(headers: Mapping[str, str], received_at: float) -> str | None:
    """The response's ``Last-Modified``, if it may be sent back as ``If-Modified-Since``.

    Last-Modified has one-second resolution: content fetched in the second it was last
    modified can change again within that second, and a server comparing dates would answer
    304 to the edit. Such a date (equal to or later than the response's ``Date``, or the
    clock's second when the server sends none) is not kept, so the next revalidation asks
    unconditionally (or by ETag) and the edit is seen by its hash.
    """
    last_modified = headers.get("last-modified")
    if not last_modified:
        return None
    from email.utils import parsedate_to_datetime  # the email package: only for a 200

    try:
        modified = parsedate_to_datetime(last_modified).timestamp()
        date = headers.get("date")
        answered = parsedate_to_datetime(date).timestamp() if date else float(int(received_at))
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    return last_modified if modified < answered else None
