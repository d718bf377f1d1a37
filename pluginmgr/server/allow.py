"""``Allow`` on every 405 answer: the methods the path serves (RFC 9110 §15.5.6).

Starlette answers a method a route does not take with 405 and the methods of the first route
matching the path; a path served by several routes (``GET`` in one module, ``DELETE`` in
another) would get only part of them, and a 405 raised by a handler (``cannot delete operator
token``) none at all. `AllowMiddleware` sets the header from every route whose path matches,
whatever answered the 405, unless the answer already has one. A request plugin's own answer
under ``/api/v3/engine/`` is passed as the plugin wrote it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Final

from starlette.routing import BaseRoute, Match, Route

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["AllowMiddleware", "allowed_methods"]

#: where a plugin writes the answer (its 405 is its own)
_PLUGIN_PREFIX: Final = "/api/v3/engine/"


def allowed_methods(routes: Sequence[BaseRoute], scope: Scope) -> list[str]:
    """The methods of every route matching ``scope``'s path, sorted (``HEAD`` with ``GET``)."""
    methods: set[str] = set()
    for route in routes:
        if not isinstance(route, Route) or route.methods is None:
            continue
        match, _child = route.matches(scope)
        if match is not Match.NONE:
            methods |= route.methods
    return sorted(methods)


class AllowMiddleware:
    """Adds ``Allow`` to a 405 answer that lacks it, computed from ``routes``."""

    def __init__(self, app: ASGIApp, *, routes: Sequence[BaseRoute]) -> None:
        self.app = app
        self.routes = routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(_PLUGIN_PREFIX):
            await self.app(scope, receive, send)
            return
        routes = self.routes

        async def send_with_allow(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] == 405:
                headers = list(message.get("headers", []))
                if not any(name.lower() == b"allow" for name, _ in headers):
                    allow = ", ".join(allowed_methods(routes, scope))
                    headers.append((b"allow", allow.encode("latin-1")))
                    message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_allow)
