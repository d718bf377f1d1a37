"""Column-wise block parser for `engine_runtime.line_protocol.parse`: internal, import from there.

Holds the machinery behind ``parse_blocks``: the uniform path (a batch of one shape split at
once), the bulk path (a series head's lines converted column-wise against a cached layout
pattern), the exact per-line path, and the merge of parts into blocks.
"""

from __future__ import annotations

import re
from operator import itemgetter
from typing import Final, NamedTuple

from engine_runtime.line_protocol._scan import (
    _BOOLS,
    _I64_MAX,
    _I64_MIN,
    _U64_MAX,
    _parse_fast,
    _parse_quoted,
    _parse_slow,
    _scaled,
    _scaled_all,
)
from engine_runtime.line_protocol._types import (
    FieldType,
    FieldValue,
    LineBlock,
    LineError,
    SeriesSpan,
    Tags,
    _LineSyntaxError,
)

__all__ = ["_Part", "_ShapeKey", "_block", "_bulk", "_parse_exact", "_parse_uniform"]

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
    heads[0] = "\n" + heads[0]  # as every other line's head, so a series has one key
    unique = list(dict.fromkeys(heads))
    columns = _tag_columns(unique, parsed.measurement, tag_keys)
    if columns is None:
        return None
    if len(unique) == count:  # one line per series, the agent's batch
        tag_columns = columns
    else:
        tag_columns = [
            list(map(dict(zip(unique, column, strict=True)).__getitem__, heads))
            for column in columns
        ]
    rows = zip(*columns, strict=True) if columns else ([] for _ in unique)
    by_head = {
        head: tuple(zip(tag_keys, row, strict=True)) for head, row in zip(unique, rows, strict=True)
    }
    return LineBlock(
        parsed.measurement,
        tag_keys,
        keys,
        kinds,
        list(range(1, count + 1)),
        tag_columns,
        fields,
        times,
        _series_spans(heads, times, by_head),
    )


def _tag_columns(
    heads: list[str], measurement: str, tag_keys: tuple[str, ...]
) -> list[list[str]] | None:
    """The tag values of distinct series heads (each ``"\\nmeasurement,key=value,..."``), one
    list per tag key, split for all heads at once.

    None unless every head has ``measurement`` and exactly ``tag_keys`` in order, each with a
    value without ``=``: the per-line parser would refuse or read those otherwise.
    """
    width = len(tag_keys) + 1
    flat = "".join(heads)[1:].replace("\n", ",").split(",")
    if len(flat) != width * len(heads) or flat[0::width] != [measurement] * len(heads):
        return None
    columns = []
    for index, key in enumerate(tag_keys, start=1):
        pairs = "=".join(flat[index::width]).split("=")
        if len(pairs) != 2 * len(heads) or pairs[0::2] != [key] * len(heads):
            return None
        values = pairs[1::2]
        if "" in values:
            return None
        columns.append(values)
    return columns


def _series_spans(heads: list[str], times: list[int], tags_of: dict[str, Tags]) -> list[SeriesSpan]:
    """Each series head's time range in a uniform block, and whether its times are distinct.

    Per series, not per batch: an agent writes every series of a batch at one timestamp, and
    that batch repeats no (series, time). Heads are compared as written, so a series written
    with its tags in two orders gets two spans; the store merges them by tags.
    """
    if len(tags_of) == len(heads):  # one line per series, the agent's batch
        return [(tags_of[head], time, time, True) for head, time in zip(heads, times, strict=True)]
    grouped: dict[str, list[int]] = {}
    for head, time in zip(heads, times, strict=True):
        grouped.setdefault(head, []).append(time)
    return [
        (tags_of[head], min(stamps), max(stamps), len(set(stamps)) == len(stamps))
        for head, stamps in grouped.items()
    ]


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
    group = [lines[first]] if len(indexes) == 1 else list(itemgetter(*indexes)(lines))
    tags = parsed.tags
    shape = (parsed.measurement, tuple(key for key, _ in tags), keys, kinds)
    split = None
    if "string" not in kinds:
        split = _split_parts(" \n".join(group).split(" "), len(group), keys, kinds, factor)
    if split is not None:
        fields, times = split
        return shape, _part(indexes, tags, fields, times), []
    pattern = _layout(keys, kinds)
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
        times = [_scaled(int(stamp), factor) if stamp else default for stamp in stamps]
    else:
        times = _scaled_all(list(map(int, stamps)), factor)
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
    times = _scaled_all(times, factor)
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
