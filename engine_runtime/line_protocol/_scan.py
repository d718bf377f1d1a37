"""Per-line scanner for `engine_runtime.line_protocol.parse`: internal, import from there instead.

Holds the grammar's constants and the per-line parsers (the ``str.split`` fast path, the
``str.find`` path for quoted strings and the character scanner for escapes), with field value
and timestamp parsing. The types they build are `_types`'.
"""

from __future__ import annotations

import re
from typing import Final

from engine_runtime.line_protocol._types import FieldType, FieldValue, ParsedLine, _LineSyntaxError

__all__ = [
    "_AUTO",
    "_BOOLS",
    "_I64_MAX",
    "_I64_MIN",
    "_U64_MAX",
    "_parse_fast",
    "_parse_quoted",
    "_parse_slow",
    "_scaled",
    "_scaled_all",
]


_I64_MIN: Final = -(2**63)
_I64_MAX: Final = 2**63 - 1
_U64_MAX: Final = 2**64 - 1
#: the ``factor`` of precision ``auto``: each timestamp's unit is guessed from its magnitude
_AUTO: Final = 0
_NS_PER_S: Final = 1_000_000_000
_BOOLS: Final[dict[str, bool]] = {
    "t": True,
    "T": True,
    "true": True,
    "True": True,
    "TRUE": True,
    "f": False,
    "F": False,
    "false": False,
    "False": False,
    "FALSE": False,
}
_FLOAT_RE: Final = re.compile(r"-?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_INT_RE: Final = re.compile(r"-?[0-9]+")
_DIGITS: Final = frozenset("0123456789.")
_FLOAT_START: Final = frozenset("0123456789.-")
_MEASUREMENT_ESCAPES: Final = frozenset(", ")
_KEY_ESCAPES: Final = frozenset(",= \\")


def _parse_fast(line: str, number: int, factor: int, default: int) -> ParsedLine:  # noqa: C901
    """Parse a line without escapes or quoted strings (inlined: this is the hot path)."""
    parts = line.split(" ")
    count = len(parts)
    if count == 1 or count > 3 or not all(parts):
        return _parse_slow(line, number, factor, default)
    head = parts[0].split(",")
    measurement = head[0]
    if not measurement:
        raise _LineSyntaxError("missing measurement")
    tags: tuple[tuple[str, str], ...] = ()
    if len(head) > 1:
        tag_list = []
        for item in head[1:]:
            key, _, value = item.partition("=")
            if not key or not value or "=" in value:
                raise _LineSyntaxError(f"invalid tag {item!r}: expected key=value")
            tag_list.append((key, value))
        tags = tuple(tag_list)
    fields: dict[str, tuple[FieldType, FieldValue]] = {}
    for item in parts[1].split(","):
        key, sep, value = item.partition("=")
        if not key or not sep:
            raise _LineSyntaxError(f"invalid field {item!r}: expected key=value")
        if key in fields:
            raise _LineSyntaxError(f"duplicate field '{key}'")
        last = value[-1:]
        if last in _DIGITS and value[0] in _FLOAT_START and value.isascii() and "_" not in value:
            try:  # the checks above leave float() only LP's float grammar (no nan/inf/_/+/ws)
                fields[key] = ("f64", float(value))
                continue
            except ValueError:
                pass
        elif last == "i" and value[:-1].isdigit() and value.isascii() and len(value) < 20:
            fields[key] = ("i64", int(value[:-1]))  # < 19 digits fits in i64
            continue
        fields[key] = _field_value(key, value)
    if count == 3:
        text = parts[2]
        if text.isdigit() and text.isascii() and len(text) < 19:  # < 19 digits fits in i64
            ts = int(text)
            if factor != 1:
                ts = _scaled(ts, factor)
                if ts > _I64_MAX:
                    ts = _timestamp(text, factor)
        else:
            ts = _timestamp(text, factor)
    else:
        ts = default
    if tags or "time" in fields:
        _checked_fields(tags, fields)
    return ParsedLine(measurement, tags, fields, ts, number)


def _check_duplicate_tags(tags: tuple[tuple[str, str], ...]) -> None:
    seen: set[str] = set()
    for key, _ in tags:
        if key in seen:
            raise _LineSyntaxError(f"duplicate tag '{key}'")
        seen.add(key)


def _checked_fields(
    tags: tuple[tuple[str, str], ...], fields: dict[str, tuple[FieldType, FieldValue]]
) -> dict[str, tuple[FieldType, FieldValue]]:
    if "time" in fields:
        raise _LineSyntaxError("'time' cannot be used as a field key")
    if len(tags) > 1:
        _check_duplicate_tags(tags)
    for key, _ in tags:
        if key in fields:
            raise _LineSyntaxError(f"column '{key}' is used as both a tag and a field")
        if key == "time":
            raise _LineSyntaxError("'time' cannot be used as a tag key")
    return fields


def _field_value(key: str, value: str) -> tuple[FieldType, FieldValue]:
    """Type and value of an unquoted field value."""
    last = value[-1:] if value else ""
    if last == "i":
        if _INT_RE.fullmatch(value, 0, len(value) - 1):
            number = int(value[:-1])
            if _I64_MIN <= number <= _I64_MAX:
                return "i64", number
    elif last == "u":
        digits = value[:-1]
        if digits.isdigit() and digits.isascii():
            number = int(digits)
            if number <= _U64_MAX:
                return "u64", number
    elif value in _BOOLS:
        return "bool", _BOOLS[value]
    elif _FLOAT_RE.fullmatch(value):
        return "f64", float(value)
    raise _LineSyntaxError(f"invalid field value in line protocol for field '{key}'")


def _timestamp(text: str, factor: int) -> int:
    if not _INT_RE.fullmatch(text):
        raise _LineSyntaxError(f"invalid timestamp {text!r}")
    ts = _scaled(int(text), factor)
    if not _I64_MIN <= ts <= _I64_MAX:
        raise _LineSyntaxError(f"invalid timestamp {text!r}: out of range")
    return ts


def _auto_factor(ts: int) -> int:
    """InfluxDB 3's guess for precision ``auto``: whole seconds in ``|ts|`` read as nanoseconds
    below 5 mean seconds, below 5,000 milliseconds, below 5,000,000 microseconds, else
    nanoseconds (so ``1700000000`` is seconds and ``1700000000000`` milliseconds)."""
    magnitude = abs(ts) // _NS_PER_S
    if magnitude < 5:
        return _NS_PER_S
    if magnitude < 5_000:
        return 1_000_000
    if magnitude < 5_000_000:
        return 1_000
    return 1


def _scaled(ts: int, factor: int) -> int:
    """``ts`` in nanoseconds, ``factor`` being nanoseconds per unit or `_AUTO`."""
    return ts * (_auto_factor(ts) if factor == _AUTO else factor)


def _scaled_all(times: list[int], factor: int) -> list[int]:
    """`_scaled` over a column of timestamps."""
    if factor == 1:
        return times
    if factor == _AUTO:
        return [stamp * _auto_factor(stamp) for stamp in times]
    return [stamp * factor for stamp in times]


def _scan(line: str, pos: int, stops: str, escapes: frozenset[str]) -> tuple[str, int]:
    """Read from ``pos`` up to the first unescaped char in ``stops``; return (text, stop pos)."""
    out: list[str] = []
    end = len(line)
    while pos < end:
        char = line[pos]
        if char == "\\" and pos + 1 < end and line[pos + 1] in escapes:
            out.append(line[pos + 1])
            pos += 2
            continue
        if char in stops:
            break
        out.append(char)
        pos += 1
    return "".join(out), pos


def _scan_string(line: str, pos: int, key: str) -> tuple[str, int]:
    """Read a quoted string starting after its opening quote; return (text, pos after quote)."""
    out: list[str] = []
    end = len(line)
    while pos < end:
        char = line[pos]
        if char == "\\" and pos + 1 < end and line[pos + 1] in '"\\':
            out.append(line[pos + 1])
            pos += 2
            continue
        if char == '"':
            return "".join(out), pos + 1
        out.append(char)
        pos += 1
    msg = f"unterminated string value in line protocol for field '{key}'"
    raise _LineSyntaxError(msg)


def _parse_slow(line: str, number: int, factor: int, default: int) -> ParsedLine:
    """Parse any line: escapes, quoted strings, odd spacing."""
    measurement, pos = _scan(line, 0, ", ", _MEASUREMENT_ESCAPES)
    if not measurement:
        raise _LineSyntaxError("missing measurement")
    tag_list: list[tuple[str, str]] = []
    while pos < len(line) and line[pos] == ",":
        key, pos = _scan(line, pos + 1, "=, ", _KEY_ESCAPES)
        if not key or pos >= len(line) or line[pos] != "=":
            raise _LineSyntaxError(f"invalid tag '{key}': expected key=value")
        value, pos = _scan(line, pos + 1, "=, ", _KEY_ESCAPES)
        if not value or (pos < len(line) and line[pos] == "="):
            raise _LineSyntaxError(f"invalid value for tag '{key}'")
        tag_list.append((key, value))
    tags = tuple(tag_list)
    pos = _skip_spaces(line, pos)
    if pos >= len(line):
        raise _LineSyntaxError(f"missing fields for measurement '{measurement}'")
    fields, pos = _scan_fields(line, pos)
    rest = line[pos:].strip(" \t")
    ts = _timestamp(rest, factor) if rest else default
    return ParsedLine(measurement, tags, _checked_fields(tags, fields), ts, number)


_VALUE_END: Final = re.compile(r"[, \t]")


def _parse_quoted(line: str, number: int, factor: int, default: int) -> ParsedLine:
    """`_parse_slow` for a line without backslashes, with ``str.find`` instead of a char loop.

    Handles well-formed lines only: on anything unusual (odd spacing, any error) it defers to
    `_parse_slow`, so results and messages are the scanner's.
    """
    try:
        parsed = _quoted(line, number, factor, default)
    except _LineSyntaxError:
        parsed = None
    return _parse_slow(line, number, factor, default) if parsed is None else parsed


def _quoted(line: str, number: int, factor: int, default: int) -> ParsedLine | None:
    space = line.find(" ")
    if space <= 0 or line[space + 1 : space + 2] in ("", " ", "\t"):
        return None
    head = line[:space].split(",")
    measurement = head[0]
    if not measurement:
        return None
    tag_list = []
    for item in head[1:]:
        key, _, value = item.partition("=")
        if not key or not value or "=" in value:
            return None
        tag_list.append((key, value))
    tags = tuple(tag_list)
    fields: dict[str, tuple[FieldType, FieldValue]] = {}
    pos = space + 1
    end = len(line)
    while True:
        equals = line.find("=", pos)
        if equals <= pos:
            return None
        key = line[pos:equals]
        if "," in key or " " in key or key in fields:
            return None
        if line[equals + 1 : equals + 2] == '"':
            close = line.find('"', equals + 2)
            if close < 0 or line[close + 1 : close + 2] not in ("", ",", " ", "\t"):
                return None
            fields[key] = ("string", line[equals + 2 : close])
            pos = close + 1
        else:
            found = _VALUE_END.search(line, equals + 1)
            stop = end if found is None else found.start()
            fields[key] = _field_value(key, line[equals + 1 : stop])
            pos = stop
        if pos >= end or line[pos] != ",":
            break
        pos += 1
    rest = line[pos:].strip(" \t")
    ts = _timestamp(rest, factor) if rest else default
    return ParsedLine(measurement, tags, _checked_fields(tags, fields), ts, number)


def _skip_spaces(line: str, pos: int) -> int:
    while pos < len(line) and line[pos] in " \t":
        pos += 1
    return pos


def _scan_fields(line: str, pos: int) -> tuple[dict[str, tuple[FieldType, FieldValue]], int]:
    fields: dict[str, tuple[FieldType, FieldValue]] = {}
    while True:
        key, pos = _scan(line, pos, "=, ", _KEY_ESCAPES)
        if not key or pos >= len(line) or line[pos] != "=":
            raise _LineSyntaxError(f"invalid field '{key}': expected key=value")
        if key in fields:
            raise _LineSyntaxError(f"duplicate field '{key}'")
        pos += 1
        if pos < len(line) and line[pos] == '"':
            text, pos = _scan_string(line, pos + 1, key)
            if pos < len(line) and line[pos] not in ", \t":
                msg = f"invalid field value in line protocol for field '{key}'"
                raise _LineSyntaxError(msg)
            fields[key] = ("string", text)
        else:
            end = pos
            while end < len(line) and line[end] not in ", \t":
                end += 1
            fields[key] = _field_value(key, line[pos:end])
            pos = end
        if pos >= len(line) or line[pos] != ",":
            return fields, pos
        pos += 1
