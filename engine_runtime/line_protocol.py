"""InfluxDB line protocol parser (pure Python).

Grammar, one point per line::

    measurement[,tag_key=tag_value...] field_key=field_value[,field_key=field_value...] [timestamp]

* measurement: ``\\,`` and ``\\ `` are escapes; any other backslash is literal.
* tag keys, tag values and field keys: ``\\,`` ``\\=`` ``\\ `` and ``\\\\`` are escapes.
* field values: ``"string"`` (``\\"`` and ``\\\\`` escaped), ``12i`` (i64), ``12u`` (u64),
  ``t T true True TRUE f F false False FALSE`` (bool), anything else must be a float
  (``1``, ``-1.5``, ``1.``, ``.5``, ``1e3``).
* timestamp: an integer in the write's precision; missing means ``default_time_ns``.

Blank lines and ``#`` comments are skipped and a trailing ``\\r`` is stripped. Lines without a
backslash or a double quote take a fast path built on ``str.split``; the rest go through a
character scanner.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import Final, NamedTuple

__all__ = [
    "PRECISIONS",
    "FieldType",
    "FieldValue",
    "LineError",
    "ParsedLine",
    "parse_lines",
    "precision_factor",
]

FieldType = str  # one of "string", "i64", "u64", "f64", "bool"
FieldValue = str | int | float | bool

#: precision name -> nanoseconds per unit (upstream's long names and ``auto`` included)
PRECISIONS: Final[dict[str, int]] = {
    "ns": 1,
    "nanosecond": 1,
    "auto": 1,
    "us": 1_000,
    "microsecond": 1_000,
    "ms": 1_000_000,
    "millisecond": 1_000_000,
    "s": 1_000_000_000,
    "second": 1_000_000_000,
}

_I64_MIN: Final = -(2**63)
_I64_MAX: Final = 2**63 - 1
_U64_MAX: Final = 2**64 - 1
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


class ParsedLine(NamedTuple):
    """One parsed point.

    A NamedTuple rather than a frozen dataclass: it is built once per line on the hot path and
    tuple construction is several times cheaper than a frozen dataclass ``__init__``.

    ``tags`` keeps the line's order; ``fields`` maps a field key to ``(type, value)`` where type
    is ``"string"``, ``"i64"``, ``"u64"``, ``"f64"`` or ``"bool"``.
    """

    measurement: str
    tags: tuple[tuple[str, str], ...]
    fields: dict[str, tuple[FieldType, FieldValue]]
    time_ns: int
    line_number: int


@dataclass(frozen=True, slots=True)
class LineError:
    """A rejected line: its 1-based number, its text, and what is wrong with it."""

    line_number: int
    line: str
    message: str

    def __str__(self) -> str:
        return f"error parsing line {self.line_number} (1-based): {self.message}"


class _LineSyntaxError(Exception):
    """Internal: raised by the scanners, turned into a `LineError`."""


def precision_factor(precision: str) -> int:
    """Nanoseconds per unit of ``precision``; raises ValueError for an unknown name."""
    try:
        return PRECISIONS[precision]
    except KeyError:
        msg = f"invalid precision {precision!r}: expected one of {', '.join(PRECISIONS)}"
        raise ValueError(msg) from None


def parse_lines(
    text: str, *, precision: str = "ns", default_time_ns: int | None = None
) -> tuple[list[ParsedLine], list[LineError]]:
    """Parse line protocol ``text``.

    :param precision: unit of the timestamps in ``text`` (see `PRECISIONS`).
    :param default_time_ns: time of lines without a timestamp; now when None.
    :returns: the good lines and one `LineError` per bad line, both in input order.
    """
    factor = precision_factor(precision)
    default = time.time_ns() if default_time_ns is None else default_time_ns
    parsed: list[ParsedLine] = []
    errors: list[LineError] = []
    append = parsed.append
    for number, raw in enumerate(text.split("\n"), 1):
        line = raw[:-1] if raw.endswith("\r") else raw
        if not line or line[0] in "# \t":
            line = line.lstrip(" \t")
            if not line or line[0] == "#":
                continue
        try:
            if "\\" in line or '"' in line:
                append(_parse_slow(line, number, factor, default))
            else:
                append(_parse_fast(line, number, factor, default))
        except _LineSyntaxError as exc:
            errors.append(LineError(number, line, f"{exc} on line {number}"))
    return parsed, errors


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
            ts = int(text) * factor
            if factor != 1 and ts > _I64_MAX:
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
    ts = int(text) * factor
    if not _I64_MIN <= ts <= _I64_MAX:
        raise _LineSyntaxError(f"invalid timestamp {text!r}: out of range")
    return ts


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
