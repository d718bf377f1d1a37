"""A request plugin's return value -> an HTTP response (engine-behavior.md §5.5).

The conversion itself (upstream's ``process_flask_response``, in its order of checks) lives in
the plugin host's guest package, `to_response_parts`, so it runs where the plugin's value is;
`to_http_response` wraps it for in-process runs and raises the engine's `ResponseError`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Final

from engine_runtime.errors import ResponseError

from ..host.guest.pluginmgr_guest.responses import (
    CONTENT_TYPE,
    HEADER_ITEM_NOT_DICT_MESSAGE,
    UNSUPPORTED_RETURN_TYPE_MESSAGE,
    to_response_parts,
)
from ..host.guest.pluginmgr_guest.responses import ResponseError as GuestResponseError

__all__ = [
    "CONTENT_TYPE",
    "HEADER_ITEM_NOT_DICT_MESSAGE",
    "UNSUPPORTED_RETURN_TYPE_MESSAGE",
    "HttpResponse",
    "error_response",
    "request_headers",
    "request_parameters",
    "to_http_response",
]

_INTERNAL_SERVER_ERROR: Final = 500
#: query parameters that carry a token or a user (the v1 clients' ``?u=&p=``, ``?token=``)
TOKEN_PARAMETERS: Final = frozenset({"p", "u", "token"})


@dataclass(frozen=True)
class HttpResponse:
    """What the server sends back: status, ordered headers and body bytes."""

    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""


def error_response(message: str) -> HttpResponse:
    """Upstream's response for a failed request plugin: 500, ``{"error": message}``."""
    return HttpResponse(_INTERNAL_SERVER_ERROR, {}, json.dumps({"error": message}).encode())


def to_http_response(value: object) -> HttpResponse:
    """Turn what ``process_request`` returned into a response; raises `ResponseError`."""
    try:
        status, headers, body = to_response_parts(value)
    except GuestResponseError as exc:
        raise ResponseError(str(exc)) from exc.__cause__
    return HttpResponse(status, headers, body)


def request_headers(headers: Iterable[tuple[str, str]]) -> dict[str, str]:
    """What a request plugin sees: names lowercased, the last value wins, and no
    ``Authorization`` (the token never reaches plugin code)."""
    found: dict[str, str] = {}
    for name, value in headers:
        if name.lower() != "authorization":
            found[name.lower()] = value
    return found


def request_parameters(query: Mapping[str, str]) -> dict[str, str]:
    """What a request plugin sees of the query string: all but `TOKEN_PARAMETERS`, so no
    token sent as ``?p=`` or ``?token=`` reaches plugin code."""
    return {name: value for name, value in query.items() if name not in TOKEN_PARAMETERS}
