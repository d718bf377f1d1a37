"""HTTP(S) repositories through httpx: timeouts, a total deadline per file (`Deadline`), a size
cap, at most 5 redirects, TLS verification (with an optional CA bundle), and bounded retries with
exponential back-off on connection errors, timeouts and 5xx answers. httpx exceptions are
translated here, once, into ours.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from ...errors import NETWORK_MESSAGE, NetworkError
from ...settings import DEFAULT_FETCH_DEADLINE
from ._deadline import Deadline
from .base import FetchRequest, FetchResponse, Transport, reason_phrase, too_large_error

if TYPE_CHECKING:
    import ssl

    import httpx  # imported when the first request is made: ~90 ms a local run never pays

__all__ = ["HTTPTransport"]

_LOGGER = logging.getLogger(__name__)
_USER_AGENT = "pluginmgr/0.1 (+https://github.com/influxdata/influxdb3_plugins)"


@contextmanager
def _map_httpx_errors(url: str, read_timeout: float) -> Iterator[None]:
    """Turn each httpx exception into the most specific `NetworkError`, chained ``from`` it."""
    import httpx

    try:
        yield
    except httpx.TooManyRedirects as exc:
        message = f"{NETWORK_MESSAGE}: too many redirects (more than 5) {url}"
        raise NetworkError(message, url=url, hint="the server redirects in a loop") from exc
    except httpx.TimeoutException as exc:
        kind = type(exc).__name__.replace("Timeout", "").lower() or "request"
        message = f"{NETWORK_MESSAGE}: {kind} timed out {url}"
        hint = f"the server is slow or unreachable; raise --read-timeout (now {read_timeout:g}s)"
        raise NetworkError(message, url=url, hint=hint) from exc
    except httpx.ConnectError as exc:
        detail = str(exc) or "connection failed"
        hint = "check the URL and the network"
        if "CERTIFICATE_VERIFY_FAILED" in detail:
            hint = "the certificate is not trusted: pass --ca-bundle with your CA's PEM file"
        message = f"{NETWORK_MESSAGE}: {detail} {url}"
        raise NetworkError(message, url=url, hint=hint) from exc
    except (httpx.UnsupportedProtocol, httpx.InvalidURL) as exc:
        message = f"{NETWORK_MESSAGE}: invalid URL ({exc}) {url}"
        raise NetworkError(message, url=url, hint="check --plugin-repo") from exc
    except httpx.TransportError as exc:  # read errors, dropped connections, protocol errors
        message = f"{NETWORK_MESSAGE}: {type(exc).__name__}: {exc} {url}"
        raise NetworkError(message, url=url, hint="retry, or check the server") from exc


def _bytes_past_body(resp: httpx.Response) -> int:
    """How many bytes the server sent beyond the body's declared end (0 when unknown).

    HTTP/1.1 ends a body where Content-Length says, so a server declaring less than it sends
    gets its body cut short without any error from httpx; what it sent past the end waits,
    unread, in h11's buffer. Reaching it goes through httpcore's private attributes, so this
    is best effort (0 when they move); `check_plugin_source` still refuses a cut ``.py``.
    """
    stream: object = resp.stream
    for _ in range(8):  # httpx's stream -> httpcore's pool stream -> the connection's stream
        connection = getattr(stream, "_connection", None)
        state = getattr(connection, "_h11_state", None)
        trailing = getattr(state, "trailing_data", None)
        if isinstance(trailing, tuple) and trailing and isinstance(trailing[0], bytes | bytearray):
            return len(trailing[0])
        stream = getattr(stream, "_stream", None) or getattr(stream, "_httpcore_stream", None)
        if stream is None:
            break
    return 0


def _check_length(url: str, resp: httpx.Response, received: int) -> None:
    """Refuse a body that is not as long as its Content-Length says.

    Shorter: httpx raises already (the connection closed early), mapped in `_map_httpx_errors`.
    Longer: httpx stops at the declared length; the rest is found in h11's buffer. Only for an
    uncompressed body, whose Content-Length counts the bytes received.
    """
    declared = resp.headers.get("content-length", "")
    if not 200 <= resp.status_code < 300 or resp.status_code == 204:
        return  # a 304's Content-Length may describe the representation it has no body of
    if not declared.isdigit() or resp.headers.get("content-encoding", "identity") != "identity":
        return
    extra = _bytes_past_body(resp)
    if received == int(declared) and not extra:
        return
    sent = f"{received + extra} bytes" if extra else f"{received} bytes"
    message = (
        f"{NETWORK_MESSAGE}: the body of {url} is not the {declared} bytes its Content-Length "
        f"declares ({sent} arrived); nothing was stored"
    )
    raise NetworkError(message, url=url, hint="the server or a proxy in between is broken; retry")


def _retryable(exc: NetworkError) -> bool:
    import httpx

    cause = exc.__cause__
    return not isinstance(
        cause, httpx.TooManyRedirects | httpx.UnsupportedProtocol | httpx.InvalidURL
    )


class HTTPTransport(Transport):
    """GETs over one shared, thread-safe `httpx.Client`, created at the first request.

    The CA bundle (~90 ms to load) is read at the first https request (`TLSOnDemand`): a warm
    start served from the lock file, or a mirror of a plain-http server, never pays for it.
    """

    def __init__(
        self,
        *,
        connect_timeout: float,
        read_timeout: float,
        retries: int,
        retry_backoff: float = 0.25,
        ca_bundle: Path | None = None,
        max_redirects: int = 5,
        fetch_deadline: float = DEFAULT_FETCH_DEADLINE,
    ) -> None:
        self._connect_timeout = connect_timeout
        self._ca_bundle = ca_bundle
        self._max_redirects = max_redirects
        self._client: httpx.Client | None = None
        self._client_lock = threading.Lock()
        self._read_timeout = read_timeout
        self._retries = retries
        self._backoff = retry_backoff
        self._fetch_deadline = fetch_deadline

    def handle(self, request: FetchRequest) -> FetchResponse:
        seconds = self._fetch_deadline if request.deadline is None else request.deadline
        deadline = Deadline(request.url, seconds)
        attempt = 0
        while True:
            try:
                response = self._once(request, deadline)
            except NetworkError as exc:
                if attempt >= self._retries or not _retryable(exc) or deadline.expired:
                    raise
                _LOGGER.info("retrying %s after %s", request.url, exc.message)
            else:
                if response.status < 500 or attempt >= self._retries:
                    return response
                _LOGGER.info("retrying %s after HTTP %d", request.url, response.status)
            backoff = self._backoff * (2**attempt)
            if backoff >= deadline.remaining():
                raise deadline.error()
            time.sleep(backoff)
            attempt += 1

    def _verify(self) -> ssl.SSLContext | bool:
        import ssl  # only a --ca-bundle needs a context of its own

        if self._ca_bundle is not None:
            return ssl.create_default_context(cafile=str(self._ca_bundle))
        return True

    def _get_client(self) -> httpx.Client:
        import httpx

        from ._tls_on_demand import make_client

        with self._client_lock:
            if self._client is None:
                self._client = make_client(
                    timeout=httpx.Timeout(self._read_timeout, connect=self._connect_timeout),
                    max_redirects=self._max_redirects,
                    verify=self._verify,
                    headers={"User-Agent": _USER_AGENT},
                )
            return self._client

    def _once(self, request: FetchRequest, deadline: Deadline) -> FetchResponse:
        import httpx

        client = self._get_client()
        left = deadline.remaining()
        # no single wait may outlast the deadline, even on a pooled socket the watchdog misses
        timeout = httpx.Timeout(
            min(self._read_timeout, left), connect=min(self._connect_timeout, left)
        )
        deadline.watch()
        try:
            with _map_httpx_errors(request.url, self._read_timeout):
                with client.stream(
                    "GET",
                    request.url,
                    headers=dict(request.headers),
                    timeout=timeout,
                    extensions={"trace": deadline.trace},
                ) as resp:
                    deadline.adopt(resp.extensions.get("network_stream"))
                    headers = {k.lower(): v for k, v in resp.headers.items()}
                    # read every body (capped), even a 304's empty one: httpx closes a connection
                    # whose response was not consumed, and a new TCP connection per request is
                    # slow
                    body = self._read_capped(resp, request, deadline)
                    _check_length(request.url, resp, len(body))
                    deadline.release()  # before the connection goes back to the pool
                    deadline.check()
                    if not 200 <= resp.status_code < 300:
                        body = b""
                    reason = resp.reason_phrase or reason_phrase(resp.status_code)
                    return FetchResponse(str(resp.url), resp.status_code, reason, headers, body)
        except Exception as exc:
            # whatever a shut-down socket made httpx (or ssl) raise, the cause is the deadline
            if deadline.expired and exc is not deadline.error():
                raise deadline.error() from exc
            raise
        finally:
            deadline.release()

    @staticmethod
    def _read_capped(resp: httpx.Response, request: FetchRequest, deadline: Deadline) -> bytes:
        declared = resp.headers.get("content-length")
        total = int(declared) if declared and declared.isdigit() else None
        if total is not None and total > request.max_bytes:
            raise too_large_error(request)
        buffer = bytearray()
        for chunk in resp.iter_bytes():
            deadline.check()
            buffer += chunk
            # checked on decoded bytes, so a compressed bomb stops at the cap too
            if len(buffer) > request.max_bytes:
                raise too_large_error(request)
            if request.progress is not None:
                request.progress(len(buffer), total)
        return bytes(buffer)

    def close(self) -> None:
        with self._client_lock:
            if self._client is not None:
                self._client.close()
                self._client = None
