"""`DistinctCache`: every combination of its columns' values seen in the table's rows.

Upstream's rules (``influxdb3_cache`` ``distinct_cache``): each row adds the combination of
its values (a column the row lacks counts as null) and stamps it with the row's own time
(the last row written wins, even an older one); a combination whose stamp is ``max_age``
seconds or more before now is not returned and is pruned; past ``max_cardinality``
combinations the oldest go. Output is sorted level by level, nulls first, as upstream's
``BTreeMap`` tree is.

Combinations are one flat dict (values tuple -> time): a write is a single C-level
``dict.update`` over zipped columns. Upstream prunes on a timer, so a cache may briefly hold
more than ``max_cardinality``; here the prune runs in the write that passes it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from itertools import repeat
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pyarrow as pa  # type: ignore[import-untyped]  # pyarrow ships no stubs

    from .definitions import DistinctCacheDefinition

__all__ = ["DistinctCache"]


def _order(combination: tuple[str | None, ...]) -> tuple[tuple[bool, str], ...]:
    return tuple((value is not None, value or "") for value in combination)


class DistinctCache:
    """The runtime state of one `DistinctCacheDefinition` (the caller locks)."""

    __slots__ = ("_clock", "_combinations", "definition")

    def __init__(
        self, definition: DistinctCacheDefinition, *, clock: Callable[[], int] = time.time_ns
    ) -> None:
        self.definition = definition
        self._combinations: dict[tuple[str | None, ...], int] = {}
        self._clock = clock

    def push(
        self, columns: Mapping[str, Sequence[Any]], times: Sequence[int], *, nulls: bool = False
    ) -> None:
        """Take the rows of one write to this cache's table (``nulls`` as `LastCache.push`;
        here a missing column is null either way)."""
        del nulls
        values = [columns.get(name) for name in self.definition.columns]
        lists = [repeat(None) if column is None else column for column in values]
        self._combinations.update(zip(zip(*lists, strict=False), times, strict=False))
        if len(self._combinations) > self.definition.max_cardinality:
            self.prune()

    def _expired_before(self) -> int:
        return self._clock() - self.definition.max_age * 1_000_000_000

    def prune(self) -> None:
        """Drop combinations past ``max_age``, then the oldest past ``max_cardinality``."""
        cutoff = self._expired_before()
        combinations = {c: t for c, t in self._combinations.items() if t > cutoff}
        over = len(combinations) - self.definition.max_cardinality
        if over > 0:
            # as upstream: everything stamped at or before the over-th oldest stamp goes
            oldest = sorted(combinations.values())[over - 1]
            combinations = {c: t for c, t in combinations.items() if t > oldest}
        self._combinations = combinations

    def to_arrow(self) -> pa.Table:
        """The combinations not expired, one row each, sorted (nulls first)."""
        import pyarrow as pa

        cutoff = self._expired_before()
        rows = sorted((c for c, t in self._combinations.items() if t > cutoff), key=_order)
        names = self.definition.columns
        columns = list(zip(*rows, strict=True)) if rows else [() for _ in names]
        schema = pa.schema([pa.field(name, pa.string()) for name in names])
        return pa.table([pa.array(list(c), pa.string()) for c in columns], schema=schema)

    def __len__(self) -> int:
        """Combinations held (expired ones included until pruned)."""
        return len(self._combinations)
