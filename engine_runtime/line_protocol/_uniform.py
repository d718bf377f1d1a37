"""The uniform path of the block parser: a batch whose lines share one shape, split at once.

A metrics agent's batch is one measurement (or a run of lines of one measurement), one tag
key set and one field layout, usually with a series per line. Its lines, tags and fields are
split for all lines together, without a Python loop over lines.
"""

from __future__ import annotations

import re
from itertools import repeat
from operator import lt
from typing import Final

from engine_runtime.line_protocol._scan import (
    _parse_fast,
)
from engine_runtime.line_protocol._types import (
    LineBlock,
    SeriesKey,
    SeriesSpan,
    _LineSyntaxError,
    series_key,
)

from ._blocks import _Part, _ShapeKey
from ._columns import _split_parts

__all__ = ["_parse_uniform", "_uniform_runs"]

#: runs of fewer consecutive lines of one measurement are left to the per-head path
_MIN_RUN: Final = 32
#: a line the uniform path leaves to the others: empty, a comment, or leading whitespace
_ODD_LINE: Final = re.compile(r"\n[\n# \t]")


def _parse_uniform(
    text: str, factor: int, default: int, *, lines_checked: bool = False
) -> LineBlock | None:
    """The whole of ``text`` as one block, when every line has the first line's shape.

    Covers the common batch (one measurement, one tag key set, one field layout, timestamps)
    without a Python loop over lines. None when anything differs. ``lines_checked``: no line
    is empty or starts with ``#``, a space or a tab (a run's lines all start with its
    measurement).
    """
    body = text.rstrip("\n")
    if not body or body[0] in "# \t" or (not lines_checked and _ODD_LINE.search(body)):
        return None
    first_head = body[: body.find(" ")]
    last_line = body[body.rfind("\n") + 1 :]
    if not last_line.startswith(first_head.partition(",")[0]):  # several measurements
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
    if list(tag_keys) == sorted(tag_keys):  # the head past "\nmeasurement," is the key
        start = len(parsed.measurement) + 2
        key_of = {head: head[start:] for head in unique}
    else:
        pairs = [zip(repeat(key), column) for key, column in zip(tag_keys, columns, strict=True)]
        key_of = {
            head: series_key(tags)
            for head, tags in zip(unique, zip(*pairs, strict=True), strict=True)
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
        _series_spans(heads, times, key_of),
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


def _series_spans(
    heads: list[str], times: list[int], key_of: dict[str, SeriesKey]
) -> list[SeriesSpan]:
    """Each series head's time range in a uniform block, and whether its times are distinct.

    Per series, not per batch: an agent writes every series of a batch at one timestamp, and
    that batch repeats no (series, time). Heads are compared as written, so a series written
    with its tags in two orders gets two spans; the store merges them by key.
    """
    if len(key_of) == len(heads):  # one line per series, the agent's batch: zipped in C
        keys = map(key_of.__getitem__, heads)
        return list(zip(keys, times, times, repeat(True)))
    if all(map(lt, times, times[1:])):  # rising times: a series' first line is its earliest
        first = dict(zip(reversed(heads), reversed(times), strict=True))
        last = dict(zip(heads, times, strict=True))
        return [(key, first[head], last[head], True) for head, key in key_of.items()]
    grouped: dict[str, list[int]] = {}
    for head, time in zip(heads, times, strict=True):
        grouped.setdefault(head, []).append(time)
    return [
        (key_of[head], min(stamps), max(stamps), len(set(stamps)) == len(stamps))
        for head, stamps in grouped.items()
    ]


def _uniform_runs(
    lines: list[str], factor: int, default: int, parts: dict[_ShapeKey, list[_Part]]
) -> list[bool] | None:
    """Convert each run of consecutive lines of one measurement (an agent writes its inputs one
    after another) with the uniform path, into ``parts``; the caller has tried the whole text.

    :returns: which lines were converted, or None when none was.
    """
    whole = len(lines) - (lines[-1] == "")
    covered: list[bool] | None = None
    for start, end in _runs(lines):
        if end - start >= _MIN_RUN and not (start == 0 and end >= whole):
            text = "\n".join(lines[start:end])
            block = _parse_uniform(text, factor, default, lines_checked=True)
            if block is not None:
                shape = (block.measurement, block.tag_keys, block.field_keys, block.field_kinds)
                numbers = list(range(start + 1, end + 1))
                part = _Part(
                    numbers, block.tag_columns, block.field_columns, block.times, block.series
                )
                parts.setdefault(shape, []).append(part)
                if covered is None:
                    covered = [False] * len(lines)
                covered[start:end] = [True] * (end - start)
    return covered


def _runs(lines: list[str]) -> list[tuple[int, int]]:
    """Where each run of lines starting with one ``measurement,`` (or ``measurement ``) begins
    and ends, found by galloping search: a few checks per run, not one per line.

    Assumes a run's lines are contiguous; a line of another measurement inside one makes its
    uniform parse fail, and its lines then take the per-head path, so the answer stays right.
    """
    runs = []
    start, count = 0, len(lines)
    while start < count:
        line = lines[start]
        cut = min([i for i in (line.find(","), line.find(" ")) if i >= 0], default=len(line))
        prefix = line[: cut + 1]
        if cut == 0 or len(prefix) <= cut:  # no measurement, or a line without a separator
            start += 1
            continue
        low, step = start, 1  # lines[low] starts with prefix; find the first that does not
        while low + step < count and lines[low + step].startswith(prefix):
            low += step
            step *= 2
        high = min(low + step, count)
        while high - low > 1:
            middle = (low + high) // 2
            if lines[middle].startswith(prefix):
                low = middle
            else:
                high = middle
        runs.append((start, high))
        start = high
    return runs
