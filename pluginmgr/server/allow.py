"""``Allow`` on every 405 answer: the methods the path serves (RFC 9110 §15.5.6).

Starlette answers a method a route does not take with 405 and the methods of the first route
matching the path; a path served by several routes (``GET`` in one module, ``DELETE`` in
another) would get only part of them, and a 405 raised by a handler (``cannot delete operator
token``) none at all. `AllowMiddleware` sets the header from every route whose path matches,
whatever answered the 405, unless the answer names methods of its own (or none, on purpose).
A request plugin's own answer under ``/api/v3/engine/`` is passed as the plugin wrote it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Final

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
                message = {**message, "headers": _with_allow(message, routes, scope)}
            await send(message)

        await self.app(scope, receive, send_with_allow)


def _with_allow(message: Message, routes: Sequence[BaseRoute], scope: Scope) -> list[Any]:
    """The answer's headers with ``Allow`` set to the path's methods, unless it names others
    (a handler's own choice); Starlette's, which names only the first matching route's, is
    replaced."""
    methods = allowed_methods(routes, scope)
    headers = list(message.get("headers", []))
    given = [value for name, value in headers if name.lower() == b"allow"]
    if given:
        named = {m.strip().upper() for v in given for m in v.decode("latin-1").split(",")}
        if not named <= set(methods):
            return headers  # empty on purpose (nothing served), or the handler's own list
        headers = [(name, value) for name, value in headers if name.lower() != b"allow"]
    headers.append((b"allow", ", ".join(methods).encode("latin-1")))
    return headers
