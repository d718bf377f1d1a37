"""Internal: retention periods in the store: what queries see, and what is dropped.

**Queries.** A table of a database with a retention period is registered as it is while none
of its rows is older than *now minus the period* (its oldest time is known per version), so
queries pay nothing. Once a row has expired, the table is registered as a view over the same
provider: ``SELECT * FROM t WHERE time >= now() - INTERVAL '<period>'``. DataFusion folds
``now()`` into each query's start time, so the cutoff moves with the clock without registering
anything again, and pushes the bound into the scan: persisted files wholly before it are
skipped by their time range without being opened.

**Storage.** `DurableStore` drops expired rows at each persist: buffered rows are not written,
and files whose newest row is older than the cutoff leave the catalog (saved atomically), then
the disk (`_persist`), as upstream's retention handler removes whole files. `MemoryStore` drops
them in `MemoryStore.drop_expired`, which the engine calls periodically.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, Final

import pyarrow as pa  # type: ignore[import-untyped]  # pyarrow ships no stubs
import pyarrow.compute as pc  # type: ignore[import-untyped]  # pyarrow ships no stubs
from datafusion import SessionContext
from datafusion.catalog import Table

if TYPE_CHECKING:
    from engine_runtime.store._database import Database
    from engine_runtime.store._files import PersistedFile
    from engine_runtime.store._table import TableData

__all__ = [
    "RetentionPeriods",
    "any_expired_file",
    "cutoff",
    "cutoffs",
    "drop_expired",
    "drop_rows",
    "expired_view",
    "keep_files",
    "min_time",
    "needs_view",
]

#: database -> its retention period in nanoseconds; None: rows are kept forever
RetentionPeriods = Callable[[str], int | None]
#: how much earlier than DataFusion's ``now()`` the raw table stops being exact: covers the
#: time between this check and the query's start
_MARGIN_NS: Final = 1_000_000_000
_TIME_TYPE: Final = pa.timestamp("ns")
_VIEW_NAME: Final = "retained"
_STAGING = SessionContext()
_STAGING_LOCK = threading.Lock()


def cutoff(period_ns: int | None, now_ns: int | None = None) -> int | None:
    """The oldest time kept now; None when nothing expires."""
    if period_ns is None:
        return None
    return (time.time_ns() if now_ns is None else now_ns) - period_ns


def cutoffs(periods: RetentionPeriods | None, databases: Iterable[str]) -> dict[str, int]:
    """Each database's cutoff now, for those with a retention period."""
    if periods is None:
        return {}
    now = time.time_ns()
    found = {name: cutoff(periods(name), now) for name in databases}
    return {name: value for name, value in found.items() if value is not None}


def min_time(data: TableData) -> int | None:
    """The table's oldest time (its files', its rows being persisted and its buffer's)."""
    times: list[int] = []
    disk = data.disk
    if disk is not None:
        times += [persisted.min_time for persisted in disk.files]
        persisting = disk.persisting_rows(data.schema())  # under its lock, converted once
        if persisting is not None:
            times.append(_min(persisting))
    times.append(_min(data.arrow()))
    found = [value for value in times if value is not None]
    return min(found) if found else None


def _min(table: pa.Table) -> Any:
    if table.num_rows == 0:
        return None
    return pc.min(table.column("time")).cast(pa.int64()).as_py()


def needs_view(oldest: int | None, period_ns: int | None) -> bool:
    """Whether a table whose oldest time is ``oldest`` may hold an expired row now."""
    if period_ns is None or oldest is None:
        return False
    return oldest < time.time_ns() + _MARGIN_NS - period_ns


def expired_view(provider: Any, period_ns: int) -> Table:
    """``provider`` without the rows older than now minus ``period_ns`` (evaluated per query)."""
    seconds = max(1, period_ns // 1_000_000_000)
    where = f"\"time\" >= now() - INTERVAL '{seconds} seconds'"
    sql = f"SELECT * FROM {_VIEW_NAME} WHERE {where}"  # noqa: S608  # our own integers only
    with _STAGING_LOCK:  # one staging context: the view keeps the provider, not the name
        _STAGING.register_table(_VIEW_NAME, provider)
        try:
            return _STAGING.sql(sql).into_view()
        finally:
            _STAGING.deregister_table(_VIEW_NAME)


def drop_rows(table: pa.Table, oldest_kept: int) -> pa.Table:
    """``table`` without its rows older than ``oldest_kept`` (ns)."""
    if table.num_rows == 0:
        return table
    keep = pc.greater_equal(table.column("time"), pa.scalar(oldest_kept, type=_TIME_TYPE))
    return table.filter(keep)


def keep_files(
    files: Iterable[PersistedFile], oldest_kept: int | None
) -> tuple[PersistedFile, ...]:
    """The files with a row at or after ``oldest_kept`` (all of them when it is None)."""
    if oldest_kept is None:
        return tuple(files)
    return tuple(persisted for persisted in files if persisted.max_time >= oldest_kept)


def any_expired_file(tables: Mapping[str, Mapping[str, Any]], cutoff_of: Mapping[str, int]) -> bool:
    """Whether some file of ``tables`` (database -> table -> `TableFiles`) has expired."""
    for database, oldest_kept in cutoff_of.items():
        for entry in tables.get(database, {}).values():
            if any(persisted.max_time < oldest_kept for persisted in entry.files):
                return True
    return False


def drop_expired(states: Iterable[tuple[str, Database]], cutoff_of: Mapping[str, int]) -> int:
    """Drop the expired rows of the tables kept only in memory (a `DurableStore` drops its own
    at persist); how many rows went."""
    dropped = 0
    for name, db in states:
        oldest_kept = cutoff_of.get(name)
        if oldest_kept is None:
            continue
        with db.lock:
            for data in db.tables.values():
                if data.disk is None:
                    dropped += data.drop_before(oldest_kept)
    return dropped
