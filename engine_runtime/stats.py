"""What the engine counts: per-trigger run statistics and the data that reached it.

`StatsRegistry` counts runs per trigger: invocations, errors, the last error and run, duration
percentiles over a fixed window of recent runs, and how many plugin hosts died under its runs
(one death however many of its runs the host held). Recording is O(1) (one slot write in a
preallocated ring); percentiles are computed only when read. `StatsRegistry.rows` shapes them
for ``system.processing_engine_trigger_stats``, whose Arrow schema is `TRIGGER_STATS_SCHEMA`.

`DataStats` counts what reached the engine through `ProcessingEngine.write_lp` and its query
methods: writes (by origin: a client or a plugin writing back), lines written and rejected,
queries and failed queries; a metrics exporter reads `DataStats.snapshot`.
"""

from __future__ import annotations

import contextlib
import math
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Final, final

import pyarrow as pa  # type: ignore[import-untyped]  # pyarrow ships no stubs

__all__ = [
    "DEFAULT_STATS_WINDOW",
    "TRIGGER_STATS_SCHEMA",
    "WRITE_ORIGINS",
    "DataStats",
    "DataStatsSnapshot",
    "StatsRegistry",
    "TriggerStats",
    "TriggerStatsSnapshot",
]


#: how many recent run durations the percentiles are computed over
DEFAULT_STATS_WINDOW: Final = 1024


_NS_PER_MS: Final = 1_000_000


#: who wrote: a client (HTTP, any protocol) or a plugin (``write``/``write_sync``)
WRITE_ORIGINS: Final = ("client", "plugin")


#: ``system.processing_engine_trigger_stats`` (ours; upstream has no such table)
TRIGGER_STATS_SCHEMA: Final = pa.schema(
    [
        pa.field("trigger_name", pa.utf8(), nullable=False),
        pa.field("invocations", pa.int64(), nullable=False),
        pa.field("errors", pa.int64(), nullable=False),
        pa.field("last_error", pa.utf8()),
        pa.field("last_run", pa.timestamp("ns")),
        pa.field("p50_ms", pa.float64()),
        pa.field("p99_ms", pa.float64()),
        # ours: plugin hosts that died under its runs (a crash, a signal, the memory limit)
        pa.field("host_deaths", pa.int64(), nullable=False),
    ]
)


@dataclass(frozen=True, slots=True)
class TriggerStatsSnapshot:
    """A trigger's statistics at one moment; percentiles are ``None`` before the first run."""

    database: str
    trigger_name: str
    invocations: int = 0
    errors: int = 0
    last_error: str | None = None
    #: when the last failed run ended, ns since the epoch
    last_error_time_ns: int | None = None
    #: when the last run started, ns since the epoch
    last_run_ns: int | None = None
    last_duration_ns: int | None = None
    #: median duration over the recent window (nearest-rank)
    p50_ns: int | None = None
    #: 99th percentile duration over the recent window (nearest-rank)
    p99_ns: int | None = None
    #: plugin hosts that died under its runs
    host_deaths: int = 0


@final
class TriggerStats:
    """Mutable counters of one trigger; not locked itself (`StatsRegistry` holds the lock).

    Durations go into a preallocated ring of ``window`` slots, so `record` is O(1).
    """

    __slots__ = (
        "_durations",
        "_next",
        "errors",
        "host_deaths",
        "invocations",
        "last_duration_ns",
        "last_error",
        "last_error_time_ns",
        "last_run_ns",
        "window",
    )

    def __init__(self, window: int = DEFAULT_STATS_WINDOW) -> None:
        if window < 1:
            msg = f"TriggerStats window must be at least 1, got {window}"
            raise ValueError(msg)
        self.invocations = 0
        self.errors = 0
        self.last_error: str | None = None
        self.last_error_time_ns: int | None = None
        self.last_run_ns: int | None = None
        self.last_duration_ns: int | None = None
        #: plugin hosts that died under its runs
        self.host_deaths = 0
        #: how many recent durations the percentiles cover
        self.window = window
        self._durations = [0] * window
        self._next = 0

    def record(self, started_ns: int, duration_ns: int, error: str | None = None) -> None:
        """Count one run that started at ``started_ns``; ``error`` is its message if it failed."""
        self.invocations += 1
        self.last_run_ns = started_ns
        self.last_duration_ns = duration_ns
        slot = self._next
        self._durations[slot] = duration_ns
        self._next = 0 if slot + 1 == self.window else slot + 1
        if error is not None:
            self.errors += 1
            self.last_error = error
            self.last_error_time_ns = started_ns + duration_ns

    def recent_durations(self) -> list[int]:
        """The durations in the window, oldest first."""
        kept = min(self.invocations, self.window)
        if kept < self.window:
            return self._durations[:kept]
        return self._durations[self._next :] + self._durations[: self._next]

    def snapshot(self, database: str, trigger_name: str) -> TriggerStatsSnapshot:
        """Frozen counters plus p50/p99 computed now over the window."""
        ordered = sorted(self.recent_durations())
        return TriggerStatsSnapshot(
            database=database,
            trigger_name=trigger_name,
            invocations=self.invocations,
            errors=self.errors,
            last_error=self.last_error,
            last_error_time_ns=self.last_error_time_ns,
            last_run_ns=self.last_run_ns,
            last_duration_ns=self.last_duration_ns,
            p50_ns=_percentile(ordered, 50),
            p99_ns=_percentile(ordered, 99),
            host_deaths=self.host_deaths,
        )


def _percentile(ordered: list[int], percent: int) -> int | None:
    """Nearest-rank percentile of sorted values: the smallest value >= ``percent``% of them."""
    if not ordered:
        return None
    rank = max(1, math.ceil(percent * len(ordered) / 100))
    return ordered[rank - 1]


@final
class StatsRegistry:
    """Thread-safe `TriggerStats` per (database, trigger), created on first `record`."""

    __slots__ = ("_lock", "_stats", "_window")

    def __init__(self, *, window: int = DEFAULT_STATS_WINDOW) -> None:
        if window < 1:
            msg = f"StatsRegistry window must be at least 1, got {window}"
            raise ValueError(msg)
        self._lock = threading.Lock()
        self._stats: dict[tuple[str, str], TriggerStats] = {}
        self._window = window

    def record(
        self,
        database: str,
        trigger: str,
        *,
        started_ns: int,
        duration_ns: int,
        error: str | None = None,
    ) -> None:
        """Count one run of ``trigger``; O(1), on the engine's hot path."""
        with self._lock:
            self._of(database, trigger).record(started_ns, duration_ns, error)

    def host_died(self, database: str, trigger: str) -> None:
        """Count a plugin host that died under runs of ``trigger`` (the runs themselves are
        counted by `record`)."""
        with self._lock:
            self._of(database, trigger).host_deaths += 1

    def _of(self, database: str, trigger: str) -> TriggerStats:
        key = (database, trigger)
        stats = self._stats.get(key)
        if stats is None:
            stats = self._stats[key] = TriggerStats(self._window)
        return stats

    def get(self, database: str, trigger: str) -> TriggerStatsSnapshot:
        """The trigger's statistics; all zero / ``None`` for a trigger that never ran."""
        with self._lock:
            stats = self._stats.get((database, trigger))
            if stats is None:
                return TriggerStatsSnapshot(database, trigger)
            return stats.snapshot(database, trigger)

    def drop(self, database: str, trigger: str) -> None:
        """Forget a trigger (deleted); a no-op when it has no statistics."""
        with self._lock:
            self._stats.pop((database, trigger), None)

    def snapshots(self, database: str) -> list[TriggerStatsSnapshot]:
        """Snapshots of the database's triggers, sorted by trigger name."""
        with self._lock:
            return [
                stats.snapshot(db, trigger)
                for (db, trigger), stats in sorted(self._stats.items())
                if db == database
            ]

    def rows(self, database: str) -> list[dict[str, Any]]:
        """Rows of ``system.processing_engine_trigger_stats`` (see `TRIGGER_STATS_SCHEMA`)."""
        return [_stats_row(snapshot) for snapshot in self.snapshots(database)]


def _stats_row(snapshot: TriggerStatsSnapshot) -> dict[str, Any]:
    return {
        "trigger_name": snapshot.trigger_name,
        "invocations": snapshot.invocations,
        "errors": snapshot.errors,
        "last_error": snapshot.last_error,
        "last_run": snapshot.last_run_ns,
        "p50_ms": _to_ms(snapshot.p50_ns),
        "p99_ms": _to_ms(snapshot.p99_ns),
        "host_deaths": snapshot.host_deaths,
    }


def _to_ms(value_ns: int | None) -> float | None:
    return None if value_ns is None else value_ns / _NS_PER_MS


@dataclass(frozen=True, slots=True)
class DataStatsSnapshot:
    """`DataStats` at one moment; every mapping is keyed by write origin (`WRITE_ORIGINS`)."""

    #: writes whose every line was written
    writes: dict[str, int]
    #: writes that wrote some lines and rejected others (``accept_partial``)
    partial_writes: dict[str, int]
    #: writes that wrote nothing (every line rejected, strict mode, or a refused database)
    rejected_writes: dict[str, int]
    lines_written: dict[str, int]
    lines_rejected: dict[str, int]
    queries: int
    failed_queries: int


@final
class DataStats:
    """Thread-safe counters of writes and queries; O(1) per call, read by `snapshot`."""

    __slots__ = ("_counts", "_lock", "_queries")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        #: origin -> [ok, partial, rejected, lines written, lines rejected]
        self._counts = {origin: [0, 0, 0, 0, 0] for origin in WRITE_ORIGINS}
        #: [queries, failed queries]
        self._queries = [0, 0]

    def record_write(self, origin: str, *, written: int, rejected: int) -> None:
        """Count one write of ``origin`` that wrote ``written`` lines and rejected ``rejected``.

        :raises ValueError: for an origin outside `WRITE_ORIGINS`.
        """
        counts = self._counts.get(origin)
        if counts is None:
            msg = f"unknown write origin {origin!r}: use one of {', '.join(WRITE_ORIGINS)}"
            raise ValueError(msg)
        outcome = 2 if written == 0 else (1 if rejected else 0)
        with self._lock:
            counts[outcome] += 1
            counts[3] += written
            counts[4] += rejected

    def record_query(self, *, failed: bool) -> None:
        """Count one query (``failed``: it did not plan or run)."""
        with self._lock:
            self._queries[0] += 1
            if failed:
                self._queries[1] += 1

    @contextlib.contextmanager
    def counting_query(self) -> Iterator[None]:
        """Count the query run inside the block: failed when it raises."""
        try:
            yield
        except Exception:
            self.record_query(failed=True)
            raise
        self.record_query(failed=False)

    def snapshot(self) -> DataStatsSnapshot:
        """Every counter, copied under the lock."""
        with self._lock:
            counts = {origin: list(values) for origin, values in self._counts.items()}
            queries, failed = self._queries
        return DataStatsSnapshot(
            writes={origin: values[0] for origin, values in counts.items()},
            partial_writes={origin: values[1] for origin, values in counts.items()},
            rejected_writes={origin: values[2] for origin, values in counts.items()},
            lines_written={origin: values[3] for origin, values in counts.items()},
            lines_rejected={origin: values[4] for origin, values in counts.items()},
            queries=queries,
            failed_queries=failed,
        )
