"""The durable store's persisted files: time chunks written once, queries that prune by time,
late writes deduplicated in their chunk only, restarts from the catalog, the buffer's limit,
a failed persist, and kill -9 under four writers."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from engine_runtime.errors import DatabaseNotFoundError
from engine_runtime.store import BufferFullError, DurableStore, _persist
from tests.helpers import wait_for

ROOT = Path(__file__).resolve().parents[2]
MINUTE = 60 * 10**9
#: a 10-minute chunk, as upstream's default --gen1-duration
CHUNK = 10 * MINUTE


def agent_batch(minute: int, hosts: int = 50) -> str:
    """Every host at one timestamp, as an agent writes a batch."""
    return "\n".join(
        f"cpu,host=h{h:03d} usage={minute}.{h},idle={h}i {minute * MINUTE}" for h in range(hosts)
    )


def catalog(store: DurableStore) -> dict[str, Any]:
    content: dict[str, Any] = json.loads((store.data_dir / "files.json").read_text())
    return content


def table_files(store: DurableStore, table: str = "cpu") -> list[dict[str, Any]]:
    files: list[dict[str, Any]] = catalog(store)["databases"]["db"]["tables"][table]["files"]
    return files


def fragments(store: DurableStore, sql: str) -> int:
    """How many parts (files, in-memory parts) the plan of ``sql`` scans."""
    plan = store.query("db", f"EXPLAIN {sql}")
    physical = next(row["plan"] for row in plan if row["plan_type"] == "physical_plan")
    marker = "number_of_fragments="
    return int(physical.split(marker)[1].split(",")[0])


@pytest.fixture
def open_store(tmp_path: Path) -> Callable[..., DurableStore]:
    opened: list[DurableStore] = []

    def make(**options: Any) -> DurableStore:
        options.setdefault("flush_interval", 0.01)
        options.setdefault("persist_interval", 3600.0)
        store = DurableStore(tmp_path / "store", **options)
        opened.append(store)
        return store

    yield make  # type: ignore[misc]
    for store in opened:
        if not store._closed:
            store._abandon()


def test_a_persist_writes_one_file_per_time_chunk_and_frees_the_log(
    open_store: Callable[..., DurableStore],
) -> None:
    store = open_store()
    for minute in range(30):  # three 10-minute chunks
        store.write_lp("db", agent_batch(minute))
    assert store.persist()
    files = table_files(store)
    assert sorted(f["chunk"] for f in files) == [0, CHUNK, 2 * CHUNK]
    assert all(f["rows"] == 500 for f in files)  # 10 batches of 50 hosts in each chunk
    assert all(f["max_time"] - f["min_time"] == 9 * MINUTE for f in files)
    assert catalog(store)["wal_seq"] >= 1
    wal = sorted((store.data_dir / "wal").glob("*.wal"))
    assert all(segment.stat().st_size == 8 for segment in wal)  # covered segments deleted
    assert store.query("db", "SELECT count(*) AS n FROM cpu") == [{"n": 1500}]
    assert not store.persist()  # nothing changed since


def test_agent_batches_are_never_merged_and_every_file_is_written_once(
    open_store: Callable[..., DurableStore],
) -> None:
    store = open_store()
    names: set[str] = set()
    for minute in range(0, 10, 2):  # persists inside one chunk, batches sharing timestamps
        store.write_lp("db", agent_batch(minute))
        store.write_lp("db", agent_batch(minute + 1))
        store.persist()
        current = {f["path"] for f in table_files(store)}
        assert names <= current  # no file was replaced (rewritten)
        names = current
    assert len(names) == 5
    assert store.query("db", "SELECT count(*) AS n FROM cpu") == [{"n": 500}]


def check_recent_window_skips_older_files(store: DurableStore) -> None:
    """Six chunks persisted, one in memory: a recent-window query skips five files unopened."""
    for minute in range(60):  # six chunks
        store.write_lp("db", agent_batch(minute))
    store.persist()
    store.write_lp("db", agent_batch(60))  # in memory
    since = f"to_timestamp_nanos({55 * MINUTE})"
    recent = f"SELECT count(*) AS n FROM cpu WHERE time >= {since}"  # noqa: S608 (ours)
    everything = fragments(store, "SELECT count(*) AS n FROM cpu")
    assert fragments(store, recent) == everything - 5  # the five older chunks' files skipped
    assert store.query("db", recent) == [{"n": 6 * 50}]


def test_a_recent_window_query_reads_only_the_files_of_its_time(
    open_store: Callable[..., DurableStore],
) -> None:
    check_recent_window_skips_older_files(open_store())


def test_a_late_write_upserts_a_persisted_row_and_merges_only_its_chunk(
    open_store: Callable[..., DurableStore],
) -> None:
    store = open_store()
    for minute in range(30):
        store.write_lp("db", agent_batch(minute))
    store.persist()
    before = {f["chunk"]: f["path"] for f in table_files(store)}
    store.write_lp("db", f"cpu,host=h007 usage=99.5 {12 * MINUTE}")  # a row of chunk 1
    at = f"to_timestamp_nanos({12 * MINUTE})"
    row = f"SELECT usage, idle FROM cpu WHERE host = 'h007' AND time = {at}"  # noqa: S608
    assert store.query("db", row) == [{"usage": 99.5, "idle": 7}]  # idle kept from the file
    assert store.query("db", "SELECT count(*) AS n FROM cpu") == [{"n": 1500}]
    store.persist()
    after = {f["chunk"]: f["path"] for f in table_files(store)}
    assert after[0] == before[0] and after[2 * CHUNK] == before[2 * CHUNK]  # untouched
    assert after[CHUNK] != before[CHUNK]  # merged into one new file
    assert len(table_files(store)) == 3
    assert not (store.data_dir / "files" / before[CHUNK]).exists()
    store._abandon()
    reopened = open_store()
    assert reopened.query("db", row) == [{"usage": 99.5, "idle": 7}]
    assert reopened.query("db", "SELECT count(*) AS n FROM cpu") == [{"n": 1500}]


def test_a_restart_loads_the_catalog_and_replays_only_the_log_since_the_persist(
    open_store: Callable[..., DurableStore],
) -> None:
    store = open_store()
    for minute in range(20):
        store.write_lp("db", agent_batch(minute))
    store.persist()
    store.write_lp("db", agent_batch(20))
    store.create_table("db", "declared", tags=["a"], fields=[("v", "f64")])
    store._abandon()  # a crash: the last batch and the table are in the log only
    reopened = open_store()
    assert reopened.query("db", "SELECT count(*) AS n FROM cpu") == [{"n": 1050}]
    assert sorted(reopened.tables("db")) == ["cpu", "declared"]
    columns = reopened.query(
        "db",
        "SELECT column_name, data_type FROM information_schema.columns "
        "WHERE table_name = 'cpu' ORDER BY column_name",
    )
    assert columns == [
        {"column_name": "host", "data_type": "Dictionary(Int32, Utf8)"},
        {"column_name": "idle", "data_type": "Int64"},
        {"column_name": "time", "data_type": "Timestamp(ns)"},
        {"column_name": "usage", "data_type": "Float64"},
    ]


def test_a_column_added_after_a_persist_reads_null_from_the_older_files(
    open_store: Callable[..., DurableStore],
) -> None:
    store = open_store()
    store.write_lp("db", "m,h=a v=1 1")
    store.persist()
    store.write_lp("db", "m,h=a,z=new v=2,extra=true 2")
    rows = store.query("db", "SELECT h, z, v, extra FROM m ORDER BY time")
    assert rows == [
        {"h": "a", "z": None, "v": 1.0, "extra": None},
        {"h": "a", "z": "new", "v": 2.0, "extra": True},
    ]
    store.persist()
    assert store.query("db", "SELECT h, z, v, extra FROM m ORDER BY time") == rows


def test_a_deleted_table_loses_its_files_at_the_next_persist(
    open_store: Callable[..., DurableStore],
) -> None:
    store = open_store()
    store.write_lp("db", agent_batch(0))
    store.persist()
    (path,) = [f["path"] for f in table_files(store)]
    store.delete_table("db", "cpu")
    store.persist()
    assert catalog(store)["databases"]["db"]["tables"] == {}
    assert not (store.data_dir / "files" / path).exists()


def test_a_full_buffer_refuses_writes_until_its_persist_frees_it(
    open_store: Callable[..., DurableStore],
) -> None:
    batch = agent_batch(0)
    store = open_store(buffer_limit=4 * 2 * len(batch))  # room for about four batches
    with store._persist_lock:  # a persist that cannot start yet
        written = 0
        with pytest.raises(BufferFullError, match="the write buffer is full") as caught:
            for minute in range(10):
                store.write_lp("db", agent_batch(minute))
                written += 1
        assert caught.value.hint == "send the write again in a few seconds"
        assert 3 <= written <= 4
    deadline = 50  # the persister, woken by the refused write, frees the buffer
    for _ in range(deadline):
        try:
            store.write_lp("db", agent_batch(10))
            break
        except BufferFullError:
            threading.Event().wait(0.1)
    assert store.query("db", "SELECT count(*) AS n FROM cpu") == [{"n": (written + 1) * 50}]


def test_a_failed_persist_keeps_the_rows_queryable_and_the_next_one_writes_them(
    open_store: Callable[..., DurableStore], monkeypatch: pytest.MonkeyPatch
) -> None:
    store = open_store()
    for minute in range(25):
        store.write_lp("db", agent_batch(minute))
    real = _persist.write_file
    calls = 0

    def failing_second(*args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls == 2:  # the first file is written, the second fails: the disk is full
            raise OSError(28, "No space left on device")
        return real(*args, **kwargs)

    monkeypatch.setattr(_persist, "write_file", failing_second)
    with pytest.raises(OSError, match="No space left"):
        store.persist()
    monkeypatch.undo()
    assert not (store.data_dir / "files.json").exists()
    assert list((store.data_dir / "files").rglob("*.parquet")) == []  # no partial files
    assert store.query("db", "SELECT count(*) AS n FROM cpu") == [{"n": 1250}]
    store.write_lp("db", agent_batch(25))
    assert store.persist()
    assert sum(f["rows"] for f in table_files(store)) == 1300
    store._abandon()
    assert open_store().query("db", "SELECT count(*) AS n FROM cpu") == [{"n": 1300}]


WRITERS = """
import sys, threading
from engine_runtime.store import DurableStore
store = DurableStore(sys.argv[1], flush_interval=0.01, persist_every=400, gen1_duration=60)
start = int(sys.argv[2])
lock = threading.Lock()

def writer(worker):
    batch = start
    while True:
        lines = "\\n".join(
            f"w,worker=w{worker},host=h{h} n={batch}i {batch * 10**9 + h}" for h in range(20)
        )
        store.write_lp("db", lines)
        with lock:
            print(worker, batch, flush=True)
        batch += 1

for worker in range(4):
    threading.Thread(target=writer, args=(worker,), daemon=True).start()
threading.Event().wait()
"""


@pytest.mark.slow
def test_kill_9_ten_times_under_four_writers_loses_no_acknowledged_row(tmp_path: Path) -> None:
    data = tmp_path / "store"
    acked: set[tuple[int, int]] = set()
    start = 0
    for _ in range(10):
        child = subprocess.Popen(
            [sys.executable, "-c", textwrap.dedent(WRITERS), str(data), str(start)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert child.stdout is not None
        seen = 0
        try:
            for line in child.stdout:
                worker, batch = map(int, line.split())
                acked.add((worker, batch))
                seen += 1
                if seen >= 60:  # ~15 writes a writer, persists (and merges) under way
                    break
        finally:
            os.kill(child.pid, signal.SIGKILL)
            child.wait(timeout=30)
            child.stdout.close()
        start = max(batch for _, batch in acked) + 1000  # the next run writes new rows
        with DurableStore(data, flush_interval=0.01, gen1_duration=60) as store:
            rows = store.query("db", "SELECT worker, n, count(*) AS c FROM w GROUP BY worker, n")
            found = {(int(row["worker"][1:]), row["n"]): row["c"] for row in rows}
            missing = [key for key in acked if found.get(key) != 20]
            assert missing == []


def test_a_start_persists_what_it_replayed(open_store: Callable[..., DurableStore]) -> None:
    store = open_store()
    for minute in range(12):
        store.write_lp("db", agent_batch(minute))
    store._abandon()  # a crash: everything is in the log
    assert not (store.data_dir / "files.json").exists()
    reopened = open_store()
    wal_dir = reopened.data_dir / "wal"

    def persisted() -> bool:  # the catalog is saved, then the log it covers deleted
        if not (reopened.data_dir / "files.json").exists():
            return False
        sizes = []
        for segment in wal_dir.glob("*.wal"):
            with contextlib.suppress(FileNotFoundError):  # deleted meanwhile
                sizes.append(segment.stat().st_size)
        return all(size == 8 for size in sizes)

    wait_for(persisted, timeout=20)  # the replayed log is gone
    assert sum(f["rows"] for f in table_files(reopened)) == 600
    assert reopened.query("db", "SELECT count(*) AS n FROM cpu") == [{"n": 600}]


def test_a_deleted_database_stays_deleted_after_a_crash_and_its_files_go(
    open_store: Callable[..., DurableStore],
) -> None:
    store = open_store()
    store.write_lp("db", agent_batch(0))
    store.write_lp("other", agent_batch(0))
    store.persist()
    paths = [f["path"] for f in table_files(store)]
    store.delete_database("db")
    with pytest.raises(DatabaseNotFoundError):
        store.delete_database("db")
    store._abandon()  # a crash: the deletion is in the log only
    reopened = open_store()
    assert reopened.databases() == ["other"]
    assert reopened.persist()
    assert sorted(catalog(reopened)["databases"]) == ["other"]
    assert not any((reopened.data_dir / "files" / path).exists() for path in paths)
    assert reopened.query("other", "SELECT count(*) AS n FROM cpu") == [{"n": 50}]
