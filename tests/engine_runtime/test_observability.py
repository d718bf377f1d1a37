"""The log ring, its logging mirror, per-trigger statistics and the system-table rows."""

from __future__ import annotations

import itertools
import logging
import threading

import pytest

from engine_runtime.observability import (
    DEFAULT_LOG_CAPACITY,
    LOGS_SCHEMA,
    LogRecord,
    LogRing,
    log_rows,
)
from engine_runtime.stats import (
    TRIGGER_STATS_SCHEMA,
    StatsRegistry,
    TriggerStats,
    TriggerStatsSnapshot,
)

MS = 1_000_000


def counting_clock(start: int = 1_000) -> itertools.count[int]:
    return itertools.count(start)


@pytest.fixture
def ring() -> LogRing:
    return LogRing(5, clock=counting_clock().__next__)


# --- LogRing ---------------------------------------------------------------------------------


def test_default_capacity_is_upstreams() -> None:
    assert LogRing().maxlen == DEFAULT_LOG_CAPACITY == 10_000


def test_add_returns_the_stamped_record(ring: LogRing) -> None:
    record = ring.add("db", "t1", "INFO", "starting execution of wal plugin.")
    assert record == LogRecord(1_000, "db", "t1", "INFO", "starting execution of wal plugin.")
    assert ring.records() == [record]


def test_ring_keeps_the_newest_oldest_first(ring: LogRing) -> None:
    for number in range(8):
        ring.add("db", "t1", "INFO", f"line {number}")
    texts = [record.text for record in ring.records()]
    assert texts == [f"line {number}" for number in range(3, 8)]
    assert len(ring) == ring.maxlen == 5
    times = [record.time_ns for record in ring.records()]
    assert times == sorted(times)


def test_records_filter_by_database_and_trigger(ring: LogRing) -> None:
    ring.add("a", "t1", "INFO", "1")
    ring.add("b", "t1", "WARN", "2")
    ring.add("a", "t2", "ERROR", "3")
    assert [r.text for r in ring.records("a")] == ["1", "3"]
    assert [r.text for r in ring.records(trigger="t1")] == ["1", "2"]
    assert [r.text for r in ring.records("a", "t2")] == ["3"]
    assert ring.records("c") == []


def test_unknown_level_is_refused(ring: LogRing) -> None:
    with pytest.raises(ValueError, match="unknown log level 'DEBUG'"):
        ring.add("db", "t", "DEBUG", "x")
    assert ring.records() == []


def test_bad_maxlen_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        LogRing(0)


def test_ring_is_thread_safe() -> None:
    ring = LogRing(100_000)
    errors: list[BaseException] = []

    def writer(name: str) -> None:
        for number in range(2_000):
            ring.add("db", name, "INFO", str(number))

    def reader() -> None:
        try:
            for _ in range(200):
                ring.records("db")
        except BaseException as exc:  # pragma: no cover - the failure being tested for
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(f"t{n}",)) for n in range(4)]
    threads += [threading.Thread(target=reader) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    records = ring.records()
    assert len(records) == 8_000
    for name in ("t0", "t1", "t2", "t3"):
        assert [r.text for r in ring.records(trigger=name)] == [str(n) for n in range(2_000)]
    times = [record.time_ns for record in records]
    assert times == sorted(times)


def test_records_are_mirrored_to_logging(ring: LogRing, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="engine_runtime.plugins")
    ring.add("db", "t1", "INFO", "hello")
    ring.add("db", "t1", "WARN", "careful")
    ring.add("db", "t2", "ERROR", "error executing wal plugin: ValueError: boom")
    got = [(r.name, r.levelno, r.getMessage()) for r in caplog.records]
    assert got == [
        ("engine_runtime.plugins", logging.INFO, "db/t1: hello"),
        ("engine_runtime.plugins", logging.WARNING, "db/t1: careful"),
        (
            "engine_runtime.plugins",
            logging.ERROR,
            "db/t2: error executing wal plugin: ValueError: boom",
        ),
    ]
    assert caplog.records[2].trigger_name == "t2"  # type: ignore[attr-defined]
    assert caplog.records[2].database == "db"  # type: ignore[attr-defined]


def test_disabled_levels_are_not_mirrored_but_still_kept(
    ring: LogRing, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="engine_runtime.plugins")
    ring.add("db", "t1", "INFO", "quiet")
    assert caplog.records == []
    assert [r.text for r in ring.records()] == ["quiet"]


def test_log_rows_are_the_databases_own(ring: LogRing) -> None:
    ring.add("a", "t1", "INFO", "mine")
    ring.add("b", "t9", "ERROR", "theirs")
    assert log_rows(ring, "a") == [
        {"event_time": 1_000, "trigger_name": "t1", "log_level": "INFO", "log_text": "mine"}
    ]
    assert log_rows(ring, "nowhere") == []
    assert set(log_rows(ring, "b")[0]) == set(LOGS_SCHEMA.names)


# --- TriggerStats / StatsRegistry ------------------------------------------------------------


def test_stats_percentiles_with_known_durations() -> None:
    stats = TriggerStats()
    for number in range(1, 101):  # 1..100 ms, shuffled order does not matter
        stats.record(number * 10, ((number * 37) % 100 + 1) * MS)
    snapshot = stats.snapshot("db", "t")
    assert snapshot.invocations == 100
    assert snapshot.p50_ns == 50 * MS
    assert snapshot.p99_ns == 99 * MS


def test_stats_single_run() -> None:
    stats = TriggerStats()
    stats.record(5, 7)
    snapshot = stats.snapshot("db", "t")
    assert (snapshot.p50_ns, snapshot.p99_ns) == (7, 7)
    assert (snapshot.last_run_ns, snapshot.last_duration_ns) == (5, 7)


def test_stats_window_keeps_only_recent_durations() -> None:
    stats = TriggerStats(window=4)
    for duration in (1000, 1000, 1000, 1, 2, 3, 4):
        stats.record(0, duration)
    assert stats.recent_durations() == [1, 2, 3, 4]
    snapshot = stats.snapshot("db", "t")
    assert snapshot.invocations == 7
    assert (snapshot.p50_ns, snapshot.p99_ns) == (2, 4)


def test_stats_partial_window_in_order() -> None:
    stats = TriggerStats(window=8)
    for duration in (3, 1, 2):
        stats.record(0, duration)
    assert stats.recent_durations() == [3, 1, 2]


def test_stats_bad_window_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        TriggerStats(window=0)
    with pytest.raises(ValueError, match="at least 1"):
        StatsRegistry(window=0)


def test_registry_counts_errors_and_last_run() -> None:
    registry = StatsRegistry()
    registry.record("db", "t", started_ns=100, duration_ns=10)
    registry.record("db", "t", started_ns=200, duration_ns=20, error="ValueError: boom")
    registry.record("db", "t", started_ns=300, duration_ns=30)
    snapshot = registry.get("db", "t")
    assert snapshot == TriggerStatsSnapshot(
        database="db",
        trigger_name="t",
        invocations=3,
        errors=1,
        last_error="ValueError: boom",
        last_error_time_ns=220,
        last_run_ns=300,
        last_duration_ns=30,
        p50_ns=20,
        p99_ns=30,
    )


def test_registry_unknown_trigger_is_empty() -> None:
    snapshot = StatsRegistry().get("db", "never")
    assert snapshot == TriggerStatsSnapshot("db", "never")
    assert snapshot.invocations == 0
    assert snapshot.p50_ns is None


def test_registry_drop_and_scoping() -> None:
    registry = StatsRegistry()
    registry.record("a", "t", started_ns=1, duration_ns=1)
    registry.record("b", "t", started_ns=1, duration_ns=1)
    registry.drop("a", "t")
    registry.drop("a", "missing")  # no-op
    assert registry.get("a", "t").invocations == 0
    assert registry.get("b", "t").invocations == 1


def test_registry_is_thread_safe() -> None:
    registry = StatsRegistry(window=16)

    def run() -> None:
        for number in range(5_000):
            registry.record("db", "t", started_ns=number, duration_ns=number)
            if number % 500 == 0:
                registry.rows("db")

    threads = [threading.Thread(target=run) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert registry.get("db", "t").invocations == 20_000


def test_stats_rows_shape() -> None:
    registry = StatsRegistry()
    registry.record("db", "zeta", started_ns=5_000, duration_ns=2 * MS, error="boom")
    registry.host_died("db", "zeta")
    registry.record("db", "alpha", started_ns=7_000, duration_ns=MS // 2)
    registry.record("other", "beta", started_ns=1, duration_ns=1)
    rows = registry.rows("db")
    assert rows == [
        {
            "trigger_name": "alpha",
            "invocations": 1,
            "errors": 0,
            "last_error": None,
            "last_run": 7_000,
            "p50_ms": 0.5,
            "p99_ms": 0.5,
            "host_deaths": 0,
        },
        {
            "trigger_name": "zeta",
            "invocations": 1,
            "errors": 1,
            "last_error": "boom",
            "last_run": 5_000,
            "p50_ms": 2.0,
            "p99_ms": 2.0,
            "host_deaths": 1,
        },
    ]
    assert list(rows[0]) == TRIGGER_STATS_SCHEMA.names
    assert registry.rows("empty") == []


def test_schemas_have_the_upstream_types() -> None:
    import pyarrow as pa  # type: ignore[import-untyped]

    assert LOGS_SCHEMA.field("event_time").type == pa.timestamp("ns")
    assert LOGS_SCHEMA.names == ["event_time", "trigger_name", "log_level", "log_text"]
    assert TRIGGER_STATS_SCHEMA.field("last_run").type == pa.timestamp("ns")
    assert TRIGGER_STATS_SCHEMA.field("p99_ms").nullable
