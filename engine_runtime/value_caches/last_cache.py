"""`LastCache`: the newest ``count`` rows of each combination of key column values.

Upstream's rules (``influxdb3_cache`` ``last_cache``): rows are taken in write order; a row
without every key column is ignored; a row enters its key's rows only if its time is later
than the newest time that key has seen (so late or equal-time rows never replace newer ones;
a key starts at time 0, so rows at or before the epoch are never cached); each key keeps
``count`` rows, newest first; a row expires ``ttl`` seconds after it entered the cache (wall
time, not the row's time), and a key whose rows all expired starts afresh.

A write is pushed column-wise (`push`): one pass over the keys and times picks the rows that
enter, and only the last ``count`` of each key are copied, so a batch of many rows per key
costs little more than a dict lookup per row.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from itertools import count as counter
from itertools import repeat
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    import pyarrow as pa  # type: ignore[import-untyped]  # pyarrow ships no stubs

    from .definitions import LastCacheDefinition

__all__ = ["LastCache"]

_NEVER: Final = 1 << 127  # a key with a null value: no row of it is ever later than this


class _Series:
    """One key's rows, newest first: ``(entered (monotonic s), time ns, values)``."""

    __slots__ = ("last_time", "rows")

    def __init__(self) -> None:
        self.last_time = 0
        self.rows: deque[tuple[float, int, dict[str, Any]]] = deque()


class LastCache:
    """The runtime state of one `LastCacheDefinition` (not thread-safe: the caller locks)."""

    __slots__ = ("_monotonic", "_series", "definition")

    def __init__(
        self, definition: LastCacheDefinition, *, monotonic: Callable[[], float] = time.monotonic
    ) -> None:
        self.definition = definition
        self._series: dict[tuple[Any, ...], _Series] = {}
        self._monotonic = monotonic

    def push(
        self, columns: Mapping[str, Sequence[Any]], times: Sequence[int], *, nulls: bool = False
    ) -> None:
        """Take the rows of one write to this cache's table, in row order.

        :param columns: column name -> one value per row (``time`` not among them).
        :param nulls: whether values may be None (rows merged from several shapes, or read
            back from the store); a None key value means the row lacks that column.
        """
        definition = self.definition
        keys = definition.key_columns
        try:
            key_lists = [columns[name] for name in keys]
        except KeyError:
            return  # rows of this shape lack a key column: ignored, as upstream
        key_rows = zip(*key_lists, strict=True) if keys else repeat((), len(times))
        # key -> [newest time seen, indexes of the rows that entered, oldest first]
        state: dict[tuple[Any, ...], list[int]] = {}
        series = self._series
        for index, key, when in zip(counter(), key_rows, times, strict=False):
            entry = state.get(key)
            if entry is None:
                if nulls and None in key:
                    state[key] = [_NEVER]
                    continue
                found = series.get(key)
                entry = state[key] = [0 if found is None else found.last_time]
            if when > entry[0]:
                entry[0] = when
                entry.append(index)
        entered = {key: entry for key, entry in state.items() if len(entry) > 1}
        if entered:
            self._store(entered, self._value_lists(columns), times)

    def _value_lists(self, columns: Mapping[str, Sequence[Any]]) -> list[tuple[str, Sequence[Any]]]:
        keys = self.definition.key_columns
        wanted = self.definition.value_columns
        if wanted is None:
            return [(name, values) for name, values in columns.items() if name not in keys]
        return [(name, columns[name]) for name in wanted if name in columns]

    def _store(
        self,
        entered: dict[tuple[Any, ...], list[int]],
        values: list[tuple[str, Sequence[Any]]],
        times: Sequence[int],
    ) -> None:
        """Keep the last ``count`` rows that entered each key (``entered`` as `push` builds it)."""
        size = self.definition.count
        now = self._monotonic()
        for key, entry in entered.items():
            indexes = entry[1:]
            found = self._series.get(key)
            if found is None:
                found = self._series[key] = _Series()
            rows = found.rows
            for index in indexes[-size:]:
                rows.appendleft((now, times[index], {name: col[index] for name, col in values}))
            while len(rows) > size:
                rows.pop()
            found.last_time = entry[0]

    def prune(self) -> None:
        """Drop rows past the ttl, and keys left without rows (they start afresh)."""
        cutoff = self._monotonic() - self.definition.ttl
        empty = []
        for key, found in self._series.items():
            rows = found.rows
            while rows and rows[-1][0] <= cutoff:
                rows.pop()
            if not rows:
                empty.append(key)
        for key in empty:
            del self._series[key]

    def columns(self, kinds: Mapping[str, str]) -> list[str]:
        """The value columns, in output order: ``time`` last. ``kinds`` are the table's
        columns (name -> kind, ``time`` aside) in the table's order."""
        wanted = self.definition.value_columns
        if wanted is not None:
            return list(wanted)
        keys = self.definition.key_columns
        return [name for name in kinds if name not in keys] + ["time"]

    def to_arrow(self, kinds: Mapping[str, str], types: Mapping[str, pa.DataType]) -> pa.Table:
        """The cache as a table: key columns (tags as strings), then the value columns; keys
        in sorted order, each key's rows newest first.

        :param types: column kind -> Arrow type (tags are dictionary-encoded as values).
        """
        import pyarrow as pa

        self.prune()
        keys = self.definition.key_columns
        values = self.columns(kinds)
        out: dict[str, list[Any]] = {name: [] for name in (*keys, *values)}
        for key in sorted(self._series):
            rows = self._series[key].rows
            for name, value in zip(keys, key, strict=True):
                out[name].extend(repeat(value, len(rows)))
            for _entered, when, row in rows:
                for name in values:
                    out[name].append(when if name == "time" else row.get(name))
        fields = []
        for name in keys:
            kind = kinds.get(name, "string")
            fields.append(pa.field(name, pa.string() if kind == "tag" else types[kind], False))
        for name in values:
            kind = "time" if name == "time" else kinds.get(name, "string")
            fields.append(pa.field(name, types[kind], name != "time"))
        schema = pa.schema(fields)
        return pa.table([pa.array(out[f.name], f.type) for f in schema], schema=schema)

    def __len__(self) -> int:
        """Rows held (expired ones included until pruned)."""
        return sum(len(found.rows) for found in self._series.values())
