"""Column-wise block parser for `engine_runtime.line_protocol.parse`: internal, import from there.

Holds the machinery behind ``parse_blocks`` but the uniform path (`_uniform`): the bulk path
(a series head's lines converted column-wise against a cached layout pattern), the exact
per-line path, and the merge of parts into blocks.
"""

from __future__ import annotations

import re
from operator import itemgetter
from typing import Final, NamedTuple

from engine_runtime.line_protocol._scan import (
    _BOOLS,
    _I64_MAX,
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
    series_key,
)

from ._columns import _split_parts

__all__ = ["_Part", "_ShapeKey", "_block", "_bulk", "_parse_exact"]

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
        [(series_key(tags), min(times), max(times), len(set(times)) == count)],
    )


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
        part.series.append((series_key(tags), parsed.time_ns, parsed.time_ns, True))


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
