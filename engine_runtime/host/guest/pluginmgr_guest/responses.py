"""A request plugin's return value -> (status, headers, body) (engine-behavior.md §5.5).

The pure part of the server's ``engine_runtime.responses``: it runs where the plugin ran (in the
plugin host, or in-process), so only data crosses the channel. `to_response_parts` follows
upstream's ``process_flask_response``, checking in this order:

1. an object whose ``__flask_response__()`` returns the bool ``True``: ``.status_code``,
   ``.get_data()`` (must be a ``str``) and ``.headers`` (a ``dict[str, str]``);
2. a tuple of length 1 to 3: ``(body[, status | headers][, headers])``;
3. ``str`` -> ``text/html``;
4. ``dict`` / ``list`` -> JSON, ``application/json``;
5. anything iterable (generators, sets, other tuples, bytes...) -> the ``str`` items and the
   UTF-8 ``bytes`` items concatenated, ``text/html``;
6. anything else -> `ResponseError` (`UNSUPPORTED_RETURN_TYPE_MESSAGE`).

Headers are a plain dict, so ``Content-Type`` and ``content-type`` can both be present (upstream
emits both). A status outside 100..999 becomes 500, like Rust's ``StatusCode::from_u16``.
"""

from __future__ import annotations

import json
from typing import Final

__all__ = [
    "CONTENT_TYPE",
    "HEADER_ITEM_NOT_DICT_MESSAGE",
    "UNSUPPORTED_RETURN_TYPE_MESSAGE",
    "ResponseError",
    "to_response_parts",
]

#: the header name upstream sets, spelled as upstream spells it
CONTENT_TYPE: Final = "Content-Type"
#: upstream's error for a value that is no response at all (``None``, numbers...)
UNSUPPORTED_RETURN_TYPE_MESSAGE: Final = "Unsupported return type from Python function"
#: upstream's error for a tuple whose third element is not a dict
HEADER_ITEM_NOT_DICT_MESSAGE: Final = "expected a dictionary in header item"

_TEXT_HTML: Final = "text/html"
_APPLICATION_JSON: Final = "application/json"
_TEXT_PLAIN: Final = "text/plain"
_INTERNAL_SERVER_ERROR: Final = 500

#: status, ordered headers, body
_Parts = tuple[int, dict[str, str], bytes]


class ResponseError(Exception):
    """The return value cannot become an HTTP response (the server re-raises its own type)."""


def to_response_parts(value: object) -> _Parts:
    """Turn what ``process_request`` returned into (status, headers, body)."""
    if _is_flask_response(value):
        return _from_flask_response(value)
    if isinstance(value, tuple) and 1 <= len(value) <= 3:
        return _from_tuple(value)
    if isinstance(value, str | dict | list):
        body, content_type = _response_part(value)
        return 200, {CONTENT_TYPE: content_type}, body.encode()
    if hasattr(value, "__iter__"):
        return 200, {CONTENT_TYPE: _TEXT_HTML}, _concatenate(value).encode()
    raise ResponseError(UNSUPPORTED_RETURN_TYPE_MESSAGE)


def _status(code: object) -> int:
    # StatusCode::from_u16 accepts 100..=999 only; anything else becomes 500.
    if isinstance(code, int) and 100 <= code <= 999:
        return code
    return _INTERNAL_SERVER_ERROR


def _header_value(value: str) -> str:
    # An invalid header value (control characters other than tab, DEL) is sent empty.
    if any((ord(c) < 32 and c != "\t") or ord(c) == 127 for c in value):
        return ""
    return value


def _headers(obj: object, what: str) -> dict[str, str]:
    if not isinstance(obj, dict):
        raise ResponseError(f"{what}: '{type(obj).__name__}' object cannot be converted to 'dict'")
    headers: dict[str, str] = {}
    for key, value in obj.items():
        if not isinstance(key, str) or not isinstance(value, str):
            message = f"{what}: header names and values must be str, got {key!r}: {value!r}"
            raise ResponseError(message)
        headers[key] = _header_value(value)
    return headers


def _is_flask_response(value: object) -> bool:
    method = getattr(value, "__flask_response__", None)
    if not callable(method):
        return False
    try:
        return method() is True
    except Exception:  # a broken marker means "not a flask response", as upstream
        return False


def _from_flask_response(value: object) -> _Parts:
    status = getattr(value, "status_code", None)
    if not isinstance(status, int):
        message = f"status_code: '{type(status).__name__}' object cannot be converted to 'int'"
        raise ResponseError(message)
    get_data = getattr(value, "get_data", None)
    data = get_data() if callable(get_data) else None
    if not isinstance(data, str):
        message = f"get_data(): '{type(data).__name__}' object cannot be converted to 'PyString'"
        raise ResponseError(message)
    headers = _headers(getattr(value, "headers", None), "headers")
    return _status(status), headers, data.encode()


def _from_tuple(value: tuple[object, ...]) -> _Parts:
    body, content_type = _response_part(value[0])
    headers = {CONTENT_TYPE: content_type}
    status = 200
    if len(value) >= 2:
        second = value[1]
        if isinstance(second, int):
            status = _status(second)
        elif isinstance(second, dict):
            headers.update(_headers(second, "headers"))
    if len(value) == 3:
        if not isinstance(value[2], dict):
            raise ResponseError(HEADER_ITEM_NOT_DICT_MESSAGE)
        headers.update(_headers(value[2], "headers"))
    return status, headers, body.encode()


def _response_part(obj: object) -> tuple[str, str]:
    """``process_response_part``: the body text and its content type."""
    if isinstance(obj, str):
        return obj, _TEXT_HTML
    if isinstance(obj, dict | list):
        try:
            return json.dumps(obj), _APPLICATION_JSON
        except (TypeError, ValueError) as exc:
            raise ResponseError(f"{type(exc).__name__}: {exc}") from exc
    return str(obj), _TEXT_PLAIN


def _concatenate(value: object) -> str:
    parts: list[str] = []
    try:
        for item in iter(value):  # type: ignore[call-overload]
            if isinstance(item, str):
                parts.append(item)
            elif isinstance(item, bytes):
                try:
                    parts.append(item.decode("utf-8"))
                except UnicodeDecodeError:
                    continue  # upstream skips items it cannot read as text
    except Exception as exc:  # an iterator that fails is the plugin's error, reported as such
        raise ResponseError(f"{type(exc).__name__}: {exc}") from exc
    return "".join(parts)
