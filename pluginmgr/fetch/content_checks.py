"""Checks on downloaded bytes before anything is pinned: a 200 answer is not proof of a plugin.

A proxy, captive portal or CDN can answer 200 with an HTML error page (a "soft 404"), and a
repository can hold a file that is not Python source at all. (A body cut short of its
Content-Length never gets here: httpx raises, and the transport reports it as a network error.)
Pinning any of these would make every node load garbage until someone re-fetches. Upstream
InfluxDB 3 reads plugin files as UTF-8 text, so a ``.py`` file must be UTF-8 without NUL bytes.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Final
from urllib.parse import urlsplit

from ..errors import FetchError

__all__ = ["check_plugin_source"]

#: an HTML document, after optional whitespace and BOM: what error pages start with
_HTML_START: Final = re.compile(rb"[\s\xef\xbb\xbf]*<(!doctype|html)", re.IGNORECASE)
_HINT: Final = "check --plugin-repo and any proxy in between; nothing was pinned"


def check_plugin_source(url: str, body: bytes, headers: Mapping[str, str]) -> None:
    """Refuse a ``.py`` file that is an HTML page, binary, or not UTF-8; other files pass.

    :param headers: response headers with lower-case keys.
    """
    if not urlsplit(url).path.endswith(".py"):
        return
    content_type = headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "text/html" or _HTML_START.match(body):
        problem = "is an HTML page, not Python source (an error page from a proxy or CDN?)"
    elif b"\x00" in body:
        problem = "is binary (it has NUL bytes), not Python source"
    else:
        try:
            body.decode("utf-8")
        except UnicodeDecodeError as exc:
            problem = f"is not UTF-8 (byte {exc.start}), and plugins must be UTF-8 Python source"
        else:
            return
    raise FetchError(f"plugin file {url} {problem}", url=url, hint=_HINT)
