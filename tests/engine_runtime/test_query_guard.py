"""A `QueryGuard` stops even a query that produces no batch for minutes (an aggregate over a
cross join) and its CPU is free within a second; guarded queries still answer in full."""

from __future__ import annotations

import threading
import time

import pytest

from engine_runtime.store import MemoryStore
from engine_runtime.store._guard import QueryCancelledError, QueryGuard, guarding

#: an aggregate (nothing streams until the whole input is read) over 2.7e10 joined rows
_AGGREGATE = "SELECT count(*) FROM cpu a CROSS JOIN cpu b CROSS JOIN cpu c WHERE a.v + b.v > c.v"
_ROWS = 3_000


@pytest.fixture
def store() -> MemoryStore:
    memory = MemoryStore()
    memory.write_lp("db", "\n".join(f"cpu v={i}i {i}" for i in range(_ROWS)))
    return memory


def _cpu_over(window: float) -> float:
    start = time.process_time()
    time.sleep(window)
    return time.process_time() - start


def _assert_cpu_free_within_a_second() -> None:
    # a join still running burns a core per partition; stopped, the process only sleeps
    time.sleep(0.5)
    assert _cpu_over(0.5) < 0.1


def test_a_timed_out_aggregate_stops_and_frees_its_cpu(store: MemoryStore) -> None:
    guard = QueryGuard(0.5)
    started = time.monotonic()
    with guarding(guard), pytest.raises(QueryCancelledError, match=r"query timeout of 0\.5s"):
        store.query_batches("db", _AGGREGATE)
    assert time.monotonic() - started < 1.5
    _assert_cpu_free_within_a_second()


def test_a_cancelled_aggregate_stops_within_a_second(store: MemoryStore) -> None:
    guard = QueryGuard(None)
    stopped: list[float] = []

    def cancel_soon() -> None:
        time.sleep(0.3)
        stopped.append(time.monotonic())
        guard.cancel("query cancelled: the client disconnected")

    canceller = threading.Thread(target=cancel_soon)
    canceller.start()
    with guarding(guard), pytest.raises(QueryCancelledError, match="client disconnected"):
        store.query_batches("db", _AGGREGATE)
    assert time.monotonic() - stopped[0] < 1.0
    canceller.join()
    _assert_cpu_free_within_a_second()


def test_a_guarded_query_answers_every_batch(store: MemoryStore) -> None:
    with guarding(QueryGuard(30.0)):
        rows = store.query("db", "SELECT v FROM cpu ORDER BY v")
        total = store.query("db", "SELECT count(*) AS n FROM cpu a CROSS JOIN cpu b")
    assert [row["v"] for row in rows] == list(range(_ROWS))
    assert total == [{"n": _ROWS * _ROWS}]
