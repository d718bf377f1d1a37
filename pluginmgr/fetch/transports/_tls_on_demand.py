"""An httpx transport that builds its TLS context on the first https request, not before.

A verified `ssl.SSLContext` loads the whole CA bundle (~90 ms on this machine); a mirror or fetch
that only talks plain http to a loopback or LAN server should not pay for it. Routing is by URL
scheme (httpx mounts), so a redirect from http to https still lands here and is verified.
Imported only when the first request is made, like httpx itself.
"""

from __future__ import annotations

import ssl
import threading
from collections.abc import Callable

import httpx

__all__ = ["TLSOnDemand", "make_client"]


class TLSOnDemand(httpx.BaseTransport):
    """Delegates to an `httpx.HTTPTransport` created (with ``verify()``) at the first request."""

    def __init__(self, verify: Callable[[], ssl.SSLContext | bool]) -> None:
        self._verify = verify
        self._inner: httpx.HTTPTransport | None = None
        self._lock = threading.Lock()

    def _transport(self) -> httpx.HTTPTransport:
        with self._lock:
            if self._inner is None:
                self._inner = httpx.HTTPTransport(verify=self._verify())
            return self._inner

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        return self._transport().handle_request(request)

    def close(self) -> None:
        with self._lock:
            if self._inner is not None:
                self._inner.close()
                self._inner = None


def make_client(
    *,
    timeout: httpx.Timeout,
    max_redirects: int,
    verify: Callable[[], ssl.SSLContext | bool],
    headers: dict[str, str],
) -> httpx.Client:
    """A redirect-following client: plain http needs no TLS context, https builds one once."""
    return httpx.Client(
        timeout=timeout,
        follow_redirects=True,
        max_redirects=max_redirects,
        transport=TLSOnDemand(verify),
        # verify=False only skips building a context: a plain-http connection never uses one
        mounts={"http://": httpx.HTTPTransport(verify=False)},
        headers=headers,
    )
