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

import time
from typing import Final

from engine_runtime.line_protocol._blocks import (
    _block,
    _bulk,
    _parse_exact,
    _Part,
    _ShapeKey,
)
from engine_runtime.line_protocol._scan import (
    _AUTO,
    _parse_fast,
    _parse_slow,
)
from engine_runtime.line_protocol._types import (
    FieldType,
    FieldValue,
    LineBlock,
    LineError,
    ParsedLine,
    SeriesKey,
    SeriesSpan,
    Tags,
    _LineSyntaxError,
    series_key,
)
from engine_runtime.line_protocol._uniform import _parse_uniform, _uniform_runs

__all__ = [
    "PRECISIONS",
    "V1_ONLY_PRECISIONS",
    "FieldType",
    "FieldValue",
    "LineBlock",
    "LineError",
    "ParsedLine",
    "SeriesKey",
    "SeriesSpan",
    "Tags",
    "parse_blocks",
    "parse_lines",
    "precision_factor",
    "series_key",
]

#: precision name -> nanoseconds per unit: InfluxDB 3's names, short forms and v1 aliases
#: (``u``, ``n``); ``auto`` (0) guesses each timestamp's unit from its magnitude as InfluxDB 3
#: does: below 5e9 seconds, below 5e12 milliseconds, below 5e15 microseconds, else nanoseconds.
PRECISIONS: Final[dict[str, int]] = {
    "auto": _AUTO,
    "ns": 1,
    "n": 1,
    "nanosecond": 1,
    "us": 1_000,
    "u": 1_000,
    "microsecond": 1_000,
    "ms": 1_000_000,
    "millisecond": 1_000_000,
    "s": 1_000_000_000,
    "second": 1_000_000_000,
}
#: precisions only InfluxDB 1.x's ``/write`` takes (its ``m`` and ``h``). They are kept out of
#: `PRECISIONS`, so the v2 and v3 write endpoints go on refusing them; `precision_factor`
#: (and so the store and its WAL replay) knows them.
V1_ONLY_PRECISIONS: Final[dict[str, int]] = {
    "minute": 60_000_000_000,
    "hour": 3_600_000_000_000,
}

# The public types are defined in the private modules; keep them reported (repr, pickle) as
# this module's, where they have always been imported from.
for _public in (LineBlock, LineError, ParsedLine):
    _public.__module__ = __name__
del _public


def precision_factor(precision: str) -> int:
    """Nanoseconds per unit of ``precision`` (0 for ``auto``); ValueError for an unknown name."""
    if precision in PRECISIONS:
        return PRECISIONS[precision]
    if precision in V1_ONLY_PRECISIONS:
        return V1_ONLY_PRECISIONS[precision]
    msg = f"invalid precision {precision!r}: expected one of {', '.join(PRECISIONS)}"
    raise ValueError(msg)


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


def parse_blocks(
    text: str, *, precision: str = "ns", default_time_ns: int | None = None
) -> tuple[list[LineBlock], list[LineError]]:
    """Parse line protocol ``text`` into column-wise blocks, one per line shape.

    Same grammar, values and errors as `parse_lines`. When every line has the first line's
    shape, the text is split and converted column by column in one go (`_parse_uniform`);
    otherwise, so is each run of at least 32 consecutive lines of one measurement that share a
    shape, as an agent writes its inputs (`_uniform_runs`). Other lines are grouped by series
    head (``measurement,tags``); each group's lines that share its first line's field layout
    are converted column-wise (`_bulk`), and any other line (escapes, odd spacing, errors, a
    different layout) goes through the per-line parser.

    :returns: the blocks in order of their first line, and one `LineError` per bad line in
        input order.
    """
    factor = precision_factor(precision)
    default = time.time_ns() if default_time_ns is None else default_time_ns
    special = "\\" in text or "\r" in text
    lines = text.split("\n")
    parts: dict[_ShapeKey, list[_Part]] = {}
    covered = None
    if not special and '"' not in text:
        block = _parse_uniform(text, factor, default)
        if block is not None:
            return [block], []
        covered = _uniform_runs(lines, factor, default, parts)
    groups: dict[str, list[int]] = {}
    exact: list[int] = []
    for index, line in enumerate(lines):
        if covered is not None and covered[index]:
            continue
        if not line or line[0] in "# \t" or (special and _is_special(line)):
            exact.append(index)
            continue
        head = line.partition(" ")[0]
        group = groups.get(head)
        if group is None:
            groups[head] = [index]
        else:
            group.append(index)
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


def _is_special(line: str) -> bool:
    return "\\" in line or line[-1] == "\r"
