"""``fill()`` for ``GROUP BY time`` results: `fill_buckets`, pure.

Every bucket from the first to the last is emitted (``fill(none)``: only buckets with data).
Each column is filled on its own, as InfluxDB fills each function's series:

* ``null``: the value stays null, except that ``count()`` reports 0 for a bucket without data;
* a number: nulls become that number;
* ``previous``: the last non-null value before, in time order (null before the first);
* ``linear``: interpolated between the non-null values around, by bucket position (integer
  division for integer columns); null at the edges.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from typing import Any, Final

from engine_runtime.errors import InfluxQLError
from engine_runtime.influxql.nodes import Fill

__all__ = ["MAX_BUCKETS", "bucket_start", "check_bucket_count", "fill_buckets"]

#: the most buckets one series may fill (a guard against ``time(1ns)`` over a year)
MAX_BUCKETS: Final = 1_000_000


def bucket_start(at: int, interval: int, origin: int) -> int:
    """The start of the bucket that holds ``at`` (buckets are ``origin + k * interval``)."""
    return at - (at - origin) % interval


def check_bucket_count(first: int, last: int, interval: int) -> None:
    """Raise InfluxQLError when the buckets ``first`` to ``last`` are more than `MAX_BUCKETS`."""
    total = (last - first) // interval + 1 if last >= first else 0
    if total > MAX_BUCKETS:
        message = (
            f"InfluxQL: GROUP BY time() would fill {total} buckets (at most {MAX_BUCKETS}): "
            "narrow the time range, widen the interval or use fill(none)"
        )
        raise InfluxQLError(message)


def fill_buckets(
    rows: Mapping[int, Sequence[Any]],
    *,
    first: int,
    last: int,
    interval: int,
    fill: Fill,
    counts: Sequence[bool],
    kinds: Sequence[str] = (),
) -> list[tuple[int, list[Any]]]:
    """``(bucket start, values)`` in time order for the buckets ``first`` to ``last``.

    :param rows: bucket start -> the values the query computed there.
    :param counts: which columns are bare ``count()``.
    :param kinds: each column's InfluxQL type: a ``fill(N)`` value takes it (``fill(1.5)`` in
        an integer column is 1), as in InfluxDB.
    :raises InfluxQLError: when more than `MAX_BUCKETS` buckets would be filled.
    """
    if fill.mode == "none":
        return [(start, list(values)) for start, values in sorted(rows.items())]
    check_bucket_count(first, last, interval)
    width = len(counts)
    empty = [None] * width
    grid = [(start, list(rows.get(start, empty))) for start in range(first, last + 1, interval)]
    for index, count in enumerate(counts):
        column = [values[index] for _, values in grid]
        kind = kinds[index] if index < len(kinds) else ""
        filled = _fill_column(column, _typed(fill, kind), count=count)
        for (_, values), value in zip(grid, filled, strict=True):
            values[index] = value
    return grid


def _typed(fill: Fill, kind: str) -> Fill:
    if fill.mode != "value" or fill.value is None:
        return fill
    if kind in ("integer", "unsigned"):
        return Fill("value", int(fill.value))
    if kind == "float":
        return Fill("value", float(fill.value))
    return fill


def _fill_column(column: list[Any], fill: Fill, *, count: bool) -> list[Any]:
    if fill.mode == "null":
        return [0 if count and value is None else value for value in column]
    if fill.mode == "value":
        return [fill.value if value is None else value for value in column]
    if fill.mode == "previous":
        filled: list[Any] = []
        previous = None
        for value in column:
            previous = value if value is not None else previous
            filled.append(previous)
        return filled
    return _linear(column)


def _linear(column: list[Any]) -> list[Any]:
    known = [index for index, value in enumerate(column) if value is not None]
    filled = list(column)
    for before, after in itertools.pairwise(known):
        low, high = column[before], column[after]
        if not isinstance(low, int | float) or not isinstance(high, int | float):
            continue
        for index in range(before + 1, after):
            if isinstance(low, int) and isinstance(high, int) and not isinstance(low, bool):
                step = (high - low) * (index - before)
                whole = abs(step) // (after - before)  # toward zero, as InfluxDB divides
                filled[index] = low + (whole if step >= 0 else -whole)
            else:
                filled[index] = low + (high - low) * (index - before) / (after - before)
    return filled
