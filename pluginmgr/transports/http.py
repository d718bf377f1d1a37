"""HTTP(S) repositories through httpx: timeouts, a size cap, at most 5 redirects, TLS verification
(with an optional CA bundle), and bounded retries with exponential back-off on connection errors,
timeouts and 5xx answers. httpx exceptions are translated here, once, into ours.
"""

from __future__ import annotations

import logging
import ssl
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from ..errors import NETWORK_MESSAGE, NetworkError
from .base import FetchRequest, FetchResponse, Transport, reason_phrase, too_large_error

__all__ = ["HTTPTransport"]

_LOGGER = logging.getLogger(__name__)
_USER_AGENT = "pluginmgr/0.1 (+https://github.com/influxdata/influxdb3_plugins)"


@contextmanager
def _map_httpx_errors(url: str, read_timeout: float) -> Iterator[None]:
    """Turn each httpx exception into the most specific `NetworkError`, chained ``from`` it."""
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


def _retryable(exc: NetworkError) -> bool:
    cause = exc.__cause__
    return not isinstance(
        cause, httpx.TooManyRedirects | httpx.UnsupportedProtocol | httpx.InvalidURL
    )


class HTTPTransport(Transport):
    """GETs over one shared, thread-safe `httpx.Client`."""

    def __init__(
        self,
        *,
        connect_timeout: float,
        read_timeout: float,
        retries: int,
        retry_backoff: float = 0.25,
        ca_bundle: Path | None = None,
        max_redirects: int = 5,
    ) -> None:
        verify: ssl.SSLContext | bool = True
        if ca_bundle is not None:
            verify = ssl.create_default_context(cafile=str(ca_bundle))
        timeout = httpx.Timeout(read_timeout, connect=connect_timeout)
        self._client = httpx.Client(
            timeout=timeout,
            follow_redirects=True,
            max_redirects=max_redirects,
            verify=verify,
            headers={"User-Agent": _USER_AGENT},
        )
        self._read_timeout = read_timeout
        self._retries = retries
        self._backoff = retry_backoff

    def handle(self, request: FetchRequest) -> FetchResponse:
        attempt = 0
        while True:
            try:
                response = self._once(request)
            except NetworkError as exc:
                if attempt >= self._retries or not _retryable(exc):
                    raise
                _LOGGER.info("retrying %s after %s", request.url, exc.message)
            else:
                if response.status < 500 or attempt >= self._retries:
                    return response
                _LOGGER.info("retrying %s after HTTP %d", request.url, response.status)
            time.sleep(self._backoff * (2**attempt))
            attempt += 1

    def _once(self, request: FetchRequest) -> FetchResponse:
        with _map_httpx_errors(request.url, self._read_timeout):
            with self._client.stream("GET", request.url, headers=dict(request.headers)) as resp:
                headers = {k.lower(): v for k, v in resp.headers.items()}
                body = b""
                if 200 <= resp.status_code < 300:
                    body = self._read_capped(resp, request)
                reason = resp.reason_phrase or reason_phrase(resp.status_code)
                return FetchResponse(str(resp.url), resp.status_code, reason, headers, body)

    @staticmethod
    def _read_capped(resp: httpx.Response, request: FetchRequest) -> bytes:
        declared = resp.headers.get("content-length")
        total = int(declared) if declared and declared.isdigit() else None
        if total is not None and total > request.max_bytes:
            raise too_large_error(request)
        buffer = bytearray()
        for chunk in resp.iter_bytes():
            buffer += chunk
            # checked on decoded bytes, so a compressed bomb stops at the cap too
            if len(buffer) > request.max_bytes:
                raise too_large_error(request)
            if request.progress is not None:
                request.progress(len(buffer), total)
        return bytes(buffer)

    def close(self) -> None:
        self._client.close()
