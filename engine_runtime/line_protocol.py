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

Two APIs with the same grammar, values and errors: `parse_lines` returns one `ParsedLine` per
line (simple, and the reference), `parse_blocks` returns column-wise `LineBlock`s, one per line
shape, and is what the store uses. It converts whole batches column by column with ``str``
methods, one regular expression check per column and ``map(float, ...)``: a batch whose lines
all share one shape is split in one go; otherwise lines are grouped by series head and each
group is converted in bulk; any line the bulk paths cannot vouch for goes through the per-line
parser, so odd input is exactly as slow (and as correct) as with `parse_lines`.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from operator import itemgetter
from typing import Final, NamedTuple

__all__ = [
    "PRECISIONS",
    "FieldType",
    "FieldValue",
    "LineBlock",
    "LineError",
    "ParsedLine",
    "SeriesSpan",
    "Tags",
    "parse_blocks",
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


Tags = tuple[tuple[str, str], ...]
SeriesSpan = tuple[Tags, int, int, bool]


@dataclass(slots=True)
class LineBlock:
    """Good lines of one shape (measurement, tag keys, field keys and types), column-wise.

    Every row has every column of the shape; rows are in input order.
    """

    measurement: str
    tag_keys: tuple[str, ...]
    field_keys: tuple[str, ...]
    field_kinds: tuple[FieldType, ...]
    #: 1-based line number of each row, ascending
    line_numbers: list[int]
    #: one list per tag key / field key, one value per row
    tag_columns: list[list[str]]
    field_columns: list[list[FieldValue]]
    times: list[int]
    #: ``(tags, lowest time, highest time, times distinct)`` for rows of one tag set (series);
    #: lets the store prove a write free of duplicate (series, time) keys
    series: list[SeriesSpan]


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


# --- columnar parsing -------------------------------------------------------------------------

_FIELD_PATTERNS: Final[dict[FieldType, str]] = {
    "f64": r"(-?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?)",
    "i64": r"(-?[0-9]{1,18})i",  # <= 18 digits always fits in i64
    "u64": r"([0-9]{1,19})u",  # <= 19 digits always fits in u64
    "bool": "(" + "|".join(_BOOLS) + ")",
    "string": r'"([^"\n]*)"',  # the bulk paths only see lines without backslashes
}
_LAYOUT_CACHE_SIZE: Final = 512
_layouts: dict[tuple[tuple[str, ...], tuple[FieldType, ...]], re.Pattern[str]] = {}
_ShapeKey = tuple[str, tuple[str, ...], tuple[str, ...], tuple[FieldType, ...]]


def _layout(keys: tuple[str, ...], kinds: tuple[FieldType, ...]) -> re.Pattern[str]:
    """A multiline pattern for whole lines ``head key=value,... [timestamp]`` of one layout.

    It only matches lines the bulk path may convert without further checks: the values have
    the layout's types, the timestamp is a plain integer.
    """
    cache_key = (keys, kinds)
    try:
        return _layouts[cache_key]
    except KeyError:
        pass
    fields = ",".join(
        f"{re.escape(key)}={_FIELD_PATTERNS[kind]}" for key, kind in zip(keys, kinds, strict=True)
    )
    pattern = re.compile(rf"^[^ \n]+ {fields}(?: ([0-9]{{1,19}}))?$", re.MULTILINE)
    if len(_layouts) >= _LAYOUT_CACHE_SIZE:
        _layouts.clear()
    _layouts[cache_key] = pattern
    return pattern


def _convert(kind: FieldType, values: tuple[str, ...]) -> list[FieldValue]:
    """Convert matched field value texts (already validated by the layout pattern)."""
    if kind == "f64":
        return list(map(float, values))
    if kind == "bool":
        return list(map(_BOOLS.__getitem__, values))
    if kind == "string":
        return list(values)
    return list(map(int, values))


class _Part(NamedTuple):
    """Rows of one shape from one source (a bulk group, or the exact per-line path)."""

    numbers: list[int]
    tag_columns: list[list[str]]
    field_columns: list[list[FieldValue]]
    times: list[int]
    series: list[SeriesSpan]


def parse_blocks(
    text: str, *, precision: str = "ns", default_time_ns: int | None = None
) -> tuple[list[LineBlock], list[LineError]]:
    """Parse line protocol ``text`` into column-wise blocks, one per line shape.

    Same grammar, values and errors as `parse_lines`. When every line has the first line's
    shape, the text is split and converted column by column in one go (`_parse_uniform`).
    Otherwise lines are grouped by series head (``measurement,tags``); each group's lines that
    share its first line's field layout are converted column-wise (`_bulk`), and any other
    line (escapes, odd spacing, errors, a different layout) goes through the per-line parser.

    :returns: the blocks in order of their first line, and one `LineError` per bad line in
        input order.
    """
    factor = precision_factor(precision)
    default = time.time_ns() if default_time_ns is None else default_time_ns
    lines = text.split("\n")
    groups: dict[str, list[int]] = {}
    exact: list[int] = []
    special = "\\" in text or "\r" in text
    if not special and '"' not in text:
        block = _parse_uniform(text, factor, default)
        if block is not None:
            return [block], []
    for index, line in enumerate(lines):
        if not line or line[0] in "# \t" or (special and _is_special(line)):
            exact.append(index)
            continue
        head = line.partition(" ")[0]
        group = groups.get(head)
        if group is None:
            groups[head] = [index]
        else:
            group.append(index)
    parts: dict[_ShapeKey, list[_Part]] = {}
    for indexes in groups.values():
        shape, part, rest = _bulk(lines, indexes, factor, default)
        if part is not None and shape is not None:
            parts.setdefault(shape, []).append(part)
        exact.extend(rest)
    errors: list[LineError] = []
    if exact:
        _parse_exact(lines, sorted(exact), factor, default, parts, errors)
    blocks = [_block(shape, shape_parts) for shape, shape_parts in parts.items()]
    blocks.sort(key=lambda block: block.line_numbers[0])
    return blocks, errors


def _parse_uniform(text: str, factor: int, default: int) -> LineBlock | None:
    """The whole of ``text`` as one block, when every line has the first line's shape.

    Covers the common batch (one measurement, one tag key set, one field layout, timestamps)
    without a Python loop over lines. None when anything differs.
    """
    body = text.rstrip("\n")
    if (
        not body
        or body[0] in "# \t"
        or "\n\n" in body
        or "\n#" in body
        or "\n " in body
        or "\n\t" in body
    ):
        return None
    count = body.count("\n") + 1
    parts = body.replace("\n", " \n").split(" ")
    if len(parts) != 3 * count:
        return None
    try:
        parsed = _parse_fast(" ".join(parts[:3]), 1, factor, default)
    except _LineSyntaxError:
        return None
    keys = tuple(parsed.fields)
    kinds = tuple(kind for kind, _ in parsed.fields.values())
    split = _split_parts(parts, count, keys, kinds, factor)
    if split is None:
        return None
    fields, times = split
    tag_keys = tuple(key for key, _ in parsed.tags)
    heads = parts[0::3]
    by_head: dict[str, Tags] = dict.fromkeys(heads, ())
    rest = f" {parts[1]} {parts[2]}"
    for head in by_head:
        try:
            other = _parse_fast(head.lstrip("\n") + rest, 1, factor, default)
        except _LineSyntaxError:
            return None
        if other.measurement != parsed.measurement or len(other.tags) != len(tag_keys):
            return None
        if any(key != tag_key for (key, _), tag_key in zip(other.tags, tag_keys, strict=True)):
            return None
        by_head[head] = other.tags
    tag_columns = []
    for index in range(len(tag_keys)):
        values = {head: tags[index][1] for head, tags in by_head.items()}
        tag_columns.append(list(map(values.__getitem__, heads)))
    low = min(times)
    high = max(times)
    distinct = len(set(times)) == count
    return LineBlock(
        parsed.measurement,
        tag_keys,
        keys,
        kinds,
        list(range(1, count + 1)),
        tag_columns,
        fields,
        times,
        [(tags, low, high, distinct) for tags in dict.fromkeys(by_head.values())],
    )


def _is_special(line: str) -> bool:
    return "\\" in line or line[-1] == "\r"


def _bulk(
    lines: list[str], indexes: list[int], factor: int, default: int
) -> tuple[_ShapeKey | None, _Part | None, list[int]]:
    """Convert the lines of one head that match the first line's layout.

    :returns: the shape, its rows (None when no line matched), the indexes left to the
        per-line parser.
    """
    first = indexes[0]
    line = lines[first]
    try:
        if '"' in line:
            parsed = _parse_quoted(line, first + 1, factor, default)
        else:
            parsed = _parse_fast(line, first + 1, factor, default)
    except _LineSyntaxError:
        return None, None, indexes
    keys = tuple(parsed.fields)
    kinds = tuple(kind for kind, _ in parsed.fields.values())
    pattern = _layout(keys, kinds)
    group = [lines[first]] if len(indexes) == 1 else list(itemgetter(*indexes)(lines))
    tags = parsed.tags
    shape = (parsed.measurement, tuple(key for key, _ in tags), keys, kinds)
    split = None
    if "string" not in kinds:
        split = _split_parts(" \n".join(group).split(" "), len(group), keys, kinds, factor)
    if split is not None:
        fields, times = split
        return shape, _part(indexes, tags, fields, times), []
    matches = pattern.findall("\n".join(group))
    rest: list[int] = []
    if len(matches) != len(indexes):
        matches = []
        taken: list[int] = []
        for index in indexes:
            match = pattern.match(lines[index])
            if match is None:
                rest.append(index)
            else:
                matches.append(match.groups(""))
                taken.append(index)
        indexes = taken
        if not indexes:
            return None, None, rest
    columns = list(zip(*matches, strict=True))
    stamps = columns.pop()
    if "" in stamps:
        times = [int(stamp) * factor if stamp else default for stamp in stamps]
    else:
        times = list(map(int, stamps))
        if factor != 1:
            times = [stamp * factor for stamp in times]
    if max(times) > _I64_MAX:
        return None, None, sorted(indexes + rest)
    fields = [_convert(kind, values) for kind, values in zip(kinds, columns, strict=True)]
    return shape, _part(indexes, tags, fields, times), rest


def _part(
    indexes: list[int], tags: Tags, fields: list[list[FieldValue]], times: list[int]
) -> _Part:
    count = len(indexes)
    return _Part(
        [index + 1 for index in indexes],
        [[value] * count for _, value in tags],
        fields,
        times,
        [(tags, min(times), max(times), len(set(times)) == count)],
    )


_NOT_FLOAT: Final = re.compile(r"[^0-9.eE+\-\n]")
_NOT_INT: Final = re.compile(r"[^0-9\-\n]")
_NOT_UINT: Final = re.compile(r"[^0-9\n]")


def _split_parts(
    parts: list[str],
    count: int,
    keys: tuple[str, ...],
    kinds: tuple[FieldType, ...],
    factor: int,
) -> tuple[list[list[FieldValue]], list[int]] | None:
    """Convert ``count`` lines ``head key=value,... timestamp`` of one layout, column-wise.

    ``parts`` is the lines joined with ``" \\n"`` and split on spaces, so every line but the
    first starts a part with a newline. The fastest path: all lines must have exactly the
    layout's keys in order, values of the layout's types and a timestamp. None when any line
    differs (the caller falls back).
    """
    # Exactly 3 parts per line: the count-1 newlines all start heads (parts 0, 3, 6, ...),
    # so no line has 2 parts and another 4 that would shift the columns.
    if len(parts) != 3 * count or "".join(parts[0::3]).count("\n") != count - 1:
        return None
    width = len(keys)
    pairs = ",".join(parts[1::3]).replace("=", ",").split(",")
    if len(pairs) != 2 * width * count or pairs[0::2] != list(keys) * count:
        return None
    values = pairs[1::2]
    try:
        fields = [
            _split_column(kind, values[index::width], count) for index, kind in enumerate(kinds)
        ]
        stamps = parts[2::3]
        joined = "".join(stamps)
        if not (joined.isdigit() and joined.isascii()):
            return None
        times = list(map(int, stamps))
    except ValueError:
        return None
    if factor != 1:
        times = [stamp * factor for stamp in times]
    if max(times) > _I64_MAX:
        return None
    return fields, times


def _split_column(kind: FieldType, texts: list[str], count: int) -> list[FieldValue]:
    """Values of one column; ValueError when any text is not a value of ``kind``."""
    joined = "\n".join(texts)
    if kind == "f64":
        # float() also takes nan, inf, _, whitespace and a leading +
        if _NOT_FLOAT.search(joined) or joined.startswith("+") or "\n+" in joined:
            raise ValueError(kind)
        return list(map(float, texts))
    if kind == "bool":
        flags = list(map(_BOOLS.get, texts))
        if None in flags:
            raise ValueError(kind)
        return flags  # type: ignore[return-value]
    suffix = "i" if kind == "i64" else "u"
    joined += "\n"
    if joined.count(suffix + "\n") != count:
        raise ValueError(kind)
    digits = joined.replace(suffix + "\n", "\n")[:-1]
    if (_NOT_INT if kind == "i64" else _NOT_UINT).search(digits):
        raise ValueError(kind)
    numbers = list(map(int, digits.split("\n")))
    if kind == "i64":
        if max(numbers) > _I64_MAX or min(numbers) < _I64_MIN:
            raise ValueError(kind)
    elif max(numbers) > _U64_MAX:
        raise ValueError(kind)
    return numbers  # type: ignore[return-value]


def _parse_exact(
    lines: list[str],
    indexes: list[int],
    factor: int,
    default: int,
    parts: dict[_ShapeKey, list[_Part]],
    errors: list[LineError],
) -> None:
    """Parse lines one by one into ``parts`` (one part per shape) and ``errors``."""
    mine: dict[_ShapeKey, _Part] = {}
    for index in indexes:
        number = index + 1
        raw = lines[index]
        line = raw[:-1] if raw.endswith("\r") else raw
        if not line or line[0] in "# \t":
            line = line.lstrip(" \t")
            if not line or line[0] == "#":
                continue
        try:
            if "\\" in line:
                parsed = _parse_slow(line, number, factor, default)
            elif '"' in line:
                parsed = _parse_quoted(line, number, factor, default)
            else:
                parsed = _parse_fast(line, number, factor, default)
        except _LineSyntaxError as exc:
            errors.append(LineError(number, line, f"{exc} on line {number}"))
            continue
        tags = parsed.tags
        fields = parsed.fields
        shape = (
            parsed.measurement,
            tuple(key for key, _ in tags),
            tuple(fields),
            tuple(kind for kind, _ in fields.values()),
        )
        part = mine.get(shape)
        if part is None:
            part = mine[shape] = _Part([], [[] for _ in tags], [[] for _ in fields], [], [])
            parts.setdefault(shape, []).append(part)
        part.numbers.append(number)
        for tag_column, (_, tag) in zip(part.tag_columns, tags, strict=True):
            tag_column.append(tag)
        for field_column, (_, value) in zip(part.field_columns, fields.values(), strict=True):
            field_column.append(value)
        part.times.append(parsed.time_ns)
        part.series.append((tags, parsed.time_ns, parsed.time_ns, True))


def _block(shape: _ShapeKey, parts: list[_Part]) -> LineBlock:
    """Merge the parts of one shape into a block in line order."""
    measurement, tag_keys, field_keys, field_kinds = shape
    if len(parts) == 1:
        part = parts[0]
        return LineBlock(
            measurement,
            tag_keys,
            field_keys,
            field_kinds,
            part.numbers,
            part.tag_columns,
            part.field_columns,
            part.times,
            part.series,
        )
    numbers: list[int] = []
    tag_columns: list[list[str]] = [[] for _ in tag_keys]
    field_columns: list[list[FieldValue]] = [[] for _ in field_keys]
    times: list[int] = []
    series: list[SeriesSpan] = []
    ordered = True
    for part in parts:
        if numbers and part.numbers[0] < numbers[-1]:
            ordered = False
        numbers += part.numbers
        for column, values in zip(tag_columns, part.tag_columns, strict=True):
            column += values
        for field_column, field_values in zip(field_columns, part.field_columns, strict=True):
            field_column += field_values
        times += part.times
        series += part.series
    if not ordered:
        take = itemgetter(*sorted(range(len(numbers)), key=numbers.__getitem__))
        numbers = list(take(numbers))
        tag_columns = [list(take(column)) for column in tag_columns]
        field_columns = [list(take(field_column)) for field_column in field_columns]
        times = list(take(times))
    return LineBlock(
        measurement,
        tag_keys,
        field_keys,
        field_kinds,
        numbers,
        tag_columns,
        field_columns,
        times,
        series,
    )
