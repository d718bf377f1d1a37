"""Listening sockets ``serve`` binds before anything else starts: its HTTP port and the admin
token recovery endpoint, with one error shape (``cannot listen on HOST:PORT``) for both."""

from __future__ import annotations

import socket

from ._serve_options import ServeError

__all__ = ["address_text", "listen_on"]


def address_text(host: str, port: int) -> str:
    """``HOST:PORT``, an IPv6 host in brackets."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def listen_on(host: str, port: int, *, backlog: int, what: str = "", hint: str) -> socket.socket:
    """A socket bound to ``host``:``port`` and listening (``SO_REUSEADDR``, as uvicorn sets);
    a `ServeError` naming the address (and ``what`` it is for) when it cannot be."""
    sock = None
    try:
        family, kind, proto, _name, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
        sock = socket.socket(family, kind, proto)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(backlog)
    except OSError as exc:
        if sock is not None:
            sock.close()
        label = f" ({what})" if what else ""
        message = f"cannot listen on {address_text(host, port)}{label}: {exc.strerror or exc}"
        raise ServeError(message, hint=hint) from None
    return sock
