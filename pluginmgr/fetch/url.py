"""Fetch one URL into the store, revalidating what the store already has.

When the store holds the last content seen at a URL, the request carries ``If-None-Match`` /
``If-Modified-Since``; a 304 downloads nothing and the known blob is reused. A Last-Modified in
the same second as the answer is not kept (`trusted_last_modified`): an edit in that second
would get a 304. Any other non-2xx
answer raises `HTTPStatusError` with upstream's exact message. A 200 body is checked
(`content_checks`) before it is stored: a ``.py`` that is an HTML page, binary or not UTF-8 is
refused, so it can never be pinned (a body cut short of its Content-Length already failed in the
transport).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from ..errors import HTTPStatusError
from .content_checks import check_plugin_source
from .hashes import sha256_hex
from .store import Store, UrlMeta
from .transports import (
    FetchRequest,
    ProgressCallback,
    Transport,
    conditional_headers,
    trusted_last_modified,
)

__all__ = ["UrlFetch", "fetch_url"]


@dataclass(frozen=True, slots=True)
class UrlFetch:
    """The outcome of `fetch_url`: which blob the URL holds and whether bytes moved."""

    url: str
    sha256: str
    size: int
    not_modified: bool


def _conditional_headers(meta: UrlMeta | None, store: Store) -> dict[str, str]:
    # only worth asking "changed?" if we still hold the bytes a 304 would point at
    if meta is None or not store.has(meta.sha256):
        return {}
    return conditional_headers(meta.etag, meta.last_modified)


def fetch_url(
    url: str,
    *,
    transport: Transport,
    store: Store,
    max_bytes: int,
    token: str | None = None,
    revalidate: bool = True,
    progress: ProgressCallback | None = None,
    deadline: float | None = None,
    root: str | None = None,
    expect: Callable[[str], None] | None = None,
) -> UrlFetch:
    """GET ``url`` (conditionally when possible), store the body, return its hash.

    :param token: sent as ``Authorization: Bearer`` (httpx drops it on cross-origin redirects).
    :param revalidate: send conditional headers; off forces a full download.
    :param deadline: seconds the whole download may take (None: the transport's default).
    :param root: the repository base ``url`` must stay inside (``file://`` symlinks).
    :param expect: called with a downloaded body's sha256 before it is stored; it raises to
        refuse the content (a mirror's records, `RepoSums`).
    """
    meta = store.url_meta(url)
    headers = _conditional_headers(meta, store) if revalidate else {}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = FetchRequest(
        url=url,
        max_bytes=max_bytes,
        headers=headers,
        progress=progress,
        deadline=deadline,
        root=root,
    )
    response = transport.handle(request)
    conditional = "If-None-Match" in headers or "If-Modified-Since" in headers
    if response.status == 304 and meta is not None and conditional:
        # the bytes already held, which passed `expect` when they came: nothing new to check
        return UrlFetch(url, meta.sha256, meta.size, not_modified=True)
    if not response.ok:
        raise HTTPStatusError(response.status_message(url), status=response.status, url=url)
    check_plugin_source(url, response.body, response.headers)
    if expect is not None:
        expect(sha256_hex(response.body))
    digest = store.put(response.body)
    now = time.time()
    store.set_url_meta(
        url,
        UrlMeta(
            sha256=digest,
            size=len(response.body),
            fetched_at=now,
            etag=response.headers.get("etag"),
            last_modified=trusted_last_modified(response.headers, now),
        ),
    )
    return UrlFetch(url, digest, len(response.body), not_modified=False)
