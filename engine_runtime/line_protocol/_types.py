"""The line protocol's shared types (points, errors, blocks): internal, import from `parse`.

Apart from `_scan` because every part uses them: the per-line scanner builds `ParsedLine`s and
raises `_LineSyntaxError`, the block parser (`_blocks`) fills `LineBlock`s, and `parse` hands
them out.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

__all__ = [
    "FieldType",
    "FieldValue",
    "LineBlock",
    "LineError",
    "ParsedLine",
    "SeriesKey",
    "SeriesSpan",
    "Tags",
    "_LineSyntaxError",
    "series_key",
]

FieldType = str  # one of "string", "i64", "u64", "f64", "bool"
FieldValue = str | int | float | bool


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
#: a series' key in its table: its tags sorted by key, as ``key=value`` joined with ``,``
#: (escaped values could make two series share a key; the store then only checks more rows)
SeriesKey = str
#: a series' (key, earliest, latest time, whether its times are distinct) in one block
SeriesSpan = tuple[SeriesKey, int, int, bool]


def series_key(tags: Tags) -> SeriesKey:
    """The series key of ``tags`` (in any order)."""
    return ",".join(f"{key}={value}" for key, value in sorted(tags))


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
