"""`MemoryStore` locks per database: one database's long write or query does not hold up
another's, and a write body is parsed without any lock."""

from __future__ import annotations

import threading

import pytest

from engine_runtime.errors import QueryExecutionError
from engine_runtime.store import MemoryStore
from engine_runtime.store._writes import parse_write

_WIDE_TAGS = ",".join(f"t{j}=v{j}" for j in range(3000))


def _wide_body(lines: int) -> str:
    return "\n".join(f"wide,{_WIDE_TAGS} f={i}i {i}" for i in range(lines))


def test_write_to_one_database_proceeds_while_another_is_locked() -> None:
    store = MemoryStore()
    store.write_lp("a", "m v=1i 1")
    store.write_lp("b", "m v=1i 1")
    held = threading.Event()
    release = threading.Event()

    def long_write_on_b() -> None:  # stands for a write that checks and appends for long
        with store._databases["b"].lock:
            held.set()
            release.wait(30)

    holder = threading.Thread(target=long_write_on_b)
    holder.start()
    assert held.wait(10)
    blocked_done = threading.Event()

    def write_b() -> None:
        store.write_lp("b", "m v=2i 2")
        blocked_done.set()

    writer_b = threading.Thread(target=write_b)
    writer_b.start()
    try:
        store.write_lp("a", "m v=2i 2")  # not blocked by b's lock
        assert store.query("a", "SELECT count(*) AS n FROM m") == [{"n": 2}]
        assert store.tables("a") == ["m"]
        assert not blocked_done.wait(0.5)  # the write to b does wait for b's lock
    finally:
        release.set()
        holder.join(10)
        writer_b.join(10)
    assert blocked_done.is_set()
    assert store.query("b", "SELECT count(*) AS n FROM m") == [{"n": 2}]


def test_wide_write_on_one_database_does_not_delay_another() -> None:
    """A 3,000-tag, ~10 MB body on ``b`` (seconds to parse) runs while ``a`` keeps writing."""
    store = MemoryStore()
    store.write_lp("a", "m v=0i 0")
    body = _wide_body(300)
    started = threading.Event()
    finished = threading.Event()

    def wide_write() -> None:
        started.set()
        store.write_lp("b", body)
        finished.set()

    thread = threading.Thread(target=wide_write)
    thread.start()
    assert started.wait(10)
    small_writes = 0
    while not finished.is_set() and small_writes < 200:
        store.write_lp("a", f"m v={small_writes + 1}i {small_writes + 1}")
        small_writes += 1
    thread.join(60)
    assert finished.is_set()
    # the small writes went through while the wide one was parsed and applied
    assert small_writes > 1, small_writes
    count = store.query("a", "SELECT count(*) AS n FROM m")[0]["n"]
    assert count == small_writes + 1
    assert store.query("b", "SELECT count(*) AS n FROM wide") == [{"n": 300}]


def test_concurrent_first_writes_create_one_database() -> None:
    """Writes racing to create the same database all land in it (none is lost)."""
    store = MemoryStore()
    barrier = threading.Barrier(8)

    def write(index: int) -> None:
        barrier.wait(10)
        store.write_lp("db", f"m,w=w{index} v={index}i {index}")

    threads = [threading.Thread(target=write, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert store.databases() == ["db"]
    assert store.query("db", "SELECT count(*) AS n FROM m") == [{"n": 8}]


def test_query_of_one_database_while_another_is_locked() -> None:
    store = MemoryStore()
    store.write_lp("a", "m v=1i 1")
    store.write_lp("b", "m v=1i 1")
    with store._databases["b"].lock:
        answer: list[object] = []
        thread = threading.Thread(target=lambda: answer.append(store.query("a", "SELECT v FROM m")))
        thread.start()
        thread.join(10)
        assert answer == [[{"v": 1}]]
    assert store.query("b", "SELECT v FROM m") == [{"v": 1}]  # released: b answers again


def test_parsed_outside_any_lock_then_written() -> None:
    """`parse_write` (no lock) then `write_parsed`: what a WAL-serialised store does."""
    store = MemoryStore()
    with store._lock:  # the store-wide lock held: parsing does not need it
        parsed = parse_write("m,h=a v=1i 1\nbad line\n", precision="ns")
    result = store.write_parsed("db", parsed, accept_partial=True)
    assert result.lines_written == 1
    assert [error.line_number for error in result.errors] == [2]
    assert store.query("db", "SELECT h, v FROM m") == [{"h": "a", "v": 1}]


def test_query_memory_is_bounded_by_the_pool() -> None:
    """A join past the store's memory pool fails with DataFusion's "Resources exhausted"
    instead of growing the process; the default pool runs the same query."""
    rows = "\n".join(f'm,h=h{i % 5000} s="{"x" * 50}{i}" {i}' for i in range(100_000))
    sql = "SELECT a.s FROM m a JOIN m b ON a.s = b.s LIMIT 1"
    small = MemoryStore(query_memory_bytes=256 * 1024)
    small.write_lp("db", rows)
    with pytest.raises(QueryExecutionError, match="Resources exhausted"):
        small.query("db", sql)
    roomy = MemoryStore()
    roomy.write_lp("db", rows)
    assert len(roomy.query("db", sql)) == 1
