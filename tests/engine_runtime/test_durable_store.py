"""DurableStore on real files and threads: WAL, group commit, crash recovery, snapshots."""

from __future__ import annotations

import json
import logging
import os
import signal
import struct
import subprocess
import sys
import textwrap
import threading
import time
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from engine_runtime import Catalog, ProcessingEngine
from engine_runtime.errors import WriteError
from engine_runtime.store import DurableStore, MemoryStore, Store, StoreCorruptionError
from engine_runtime.store.durable import DurabilityError

ROOT = Path(__file__).resolve().parents[2]
ALL_TYPES = 'cpu,host=a,region=eu i=-3i,u=7u,f=1.5,b=true,s="hi \\"there\\"" {t}'
SCHEMA_SQL = (
    "SELECT table_name, column_name, data_type FROM information_schema.columns "
    "WHERE table_schema = 'iox' ORDER BY table_name, column_name"
)


def snapshot_of(store: DurableStore, database: str, table: str) -> list[dict[str, Any]]:
    return store.query(database, f'SELECT * FROM "{table}" ORDER BY time')  # noqa: S608  # test table names


def segments(store_dir: Path) -> list[Path]:
    return sorted((store_dir / "wal").glob("*.wal"))


def test_durable_store_is_a_store(open_store: Callable[..., DurableStore]) -> None:
    checked: Store = open_store()
    assert checked.databases() == []
    assert isinstance(checked.copy(), MemoryStore)


def test_acked_writes_survive_a_crash(open_store: Callable[..., DurableStore]) -> None:
    store = open_store()
    for batch in range(20):
        store.write_lp("db", ALL_TYPES.format(t=batch) + f"\nmem,batch={batch} v={batch}i {batch}")
    store.create_database("empty")
    before = (snapshot_of(store, "db", "cpu"), snapshot_of(store, "db", "mem"))
    schema = store.query("db", SCHEMA_SQL)
    store._abandon()  # no close: no final flush, no snapshot

    reopened = open_store()
    assert reopened.databases() == ["db", "empty"]
    assert (snapshot_of(reopened, "db", "cpu"), snapshot_of(reopened, "db", "mem")) == before
    assert reopened.query("db", SCHEMA_SQL) == schema
    assert len(before[1]) == 20


def test_concurrent_writers_all_survive(open_store: Callable[..., DurableStore]) -> None:
    store = open_store()

    def writer(worker: int) -> None:
        for batch in range(25):
            store.write_lp("db", f"load,worker={worker} n={batch}i {batch}")

    threads = [threading.Thread(target=writer, args=(worker,)) for worker in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    store._abandon()
    rows = open_store().query("db", "SELECT count(*) AS n FROM load")
    assert rows == [{"n": 100}]


def test_kill_9_keeps_every_acknowledged_batch(tmp_path: Path) -> None:
    data = tmp_path / "data"
    code = textwrap.dedent(
        f"""
        from engine_runtime.store import DurableStore
        store = DurableStore({str(data)!r}, flush_interval=0.01, persist_every=40)
        batch = 0
        while True:
            store.write_lp("db", f"k,batch={{batch}} n={{batch}}i,s=\\"x\\" {{batch}}")
            print(batch, flush=True)
            batch += 1
        """
    )
    child = subprocess.Popen(
        [sys.executable, "-c", code], cwd=ROOT, stdout=subprocess.PIPE, text=True
    )
    assert child.stdout is not None
    acked = -1
    try:
        for line in child.stdout:
            acked = int(line)
            if acked >= 120:
                break
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=10)
        child.stdout.close()
    assert acked >= 120
    store = DurableStore(data, flush_interval=0.01)
    try:
        found = {row["n"] for row in store.query("db", "SELECT n FROM k")}
        assert set(range(acked + 1)) <= found
        assert store.query(
            "db", "SELECT data_type FROM information_schema.columns WHERE column_name = 'batch'"
        ) == [{"data_type": "Dictionary(Int32, Utf8)"}]
    finally:
        store.close()


def test_a_synchronous_write_commits_at_once_and_no_sync_waits_for_the_interval(
    open_store: Callable[..., DurableStore],
) -> None:
    """Group commit without a timer: a write someone waits for is fsynced as soon as the
    previous commit ends (here, long before the 60 s interval); a ``no_sync`` write is
    acknowledged from memory and reaches the disk with the next commit."""
    store = open_store(flush_interval=60.0)
    started = time.monotonic()
    for value in range(20):
        store.write_lp("db", f"m v={value} {value}")
    assert time.monotonic() - started < 20  # not one 60 s interval per write, nor one at all
    store.write_lp("db", "m v=100 100", no_sync=True)
    assert store.query("db", "SELECT v FROM m WHERE v = 100") == [{"v": 100.0}]
    store._abandon()  # a crash before any commit after the no_sync write
    reopened = open_store(flush_interval=60.0)
    assert reopened.query("db", "SELECT count(*) AS n FROM m") == [{"n": 20}]
    reopened.write_lp("db", "m v=101 101", no_sync=True)
    reopened.write_lp("db", "m v=102 102")  # its commit takes the no_sync record along
    reopened._abandon()
    assert open_store().query("db", "SELECT count(*) AS n FROM m") == [{"n": 22}]


def test_rejected_write_raises_and_is_not_logged(open_store: Callable[..., DurableStore]) -> None:
    store = open_store()
    store.write_lp("db", "m v=1i 1")
    size = sum(path.stat().st_size for path in segments(store.data_dir))
    with pytest.raises(WriteError, match="rejected"):
        store.write_lp("db", "m v=1.5 2")
    with pytest.raises(WriteError, match="rejected"):
        store.write_lp("db", "m v=1i 3\nbad line", accept_partial=False)
    store.flush()
    assert sum(path.stat().st_size for path in segments(store.data_dir)) == size
    partial = store.write_lp("db", "m v=2i 4\nm v=oops 5")
    assert partial.lines_written == 1
    store._abandon()
    assert open_store().query("db", "SELECT v FROM m ORDER BY time") == [{"v": 1}, {"v": 2}]


@pytest.mark.parametrize(
    "tail",
    [b"\xde\xad", struct.pack("<II", 1000, 0) + b"partial", b"\0" * 64],
    ids=["short-header", "record-past-eof", "zero-fill"],
)
def test_torn_tail_is_truncated(
    open_store: Callable[..., DurableStore], tail: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    store = open_store()
    for batch in range(3):
        store.write_lp("db", f"m v={batch} {batch}")
    store._abandon()
    last = segments(store.data_dir)[-1]
    size = last.stat().st_size
    with last.open("ab") as handle:
        handle.write(tail)
    with caplog.at_level(logging.WARNING):
        reopened = open_store()
    assert "torn record" in caplog.text
    assert last.stat().st_size == size
    assert len(reopened.query("db", "SELECT v FROM m")) == 3
    reopened.write_lp("db", "m v=9 9")
    reopened._abandon()
    assert len(open_store().query("db", "SELECT v FROM m")) == 4


def test_corrupt_record_inside_the_log_is_an_error(
    open_store: Callable[..., DurableStore],
) -> None:
    store = open_store()
    for batch in range(3):
        store.write_lp("db", f"m v={batch} {batch}")
    store._abandon()
    path = segments(store.data_dir)[-1]
    data = bytearray(path.read_bytes())
    data[8 + 8 + 3] ^= 0xFF  # inside the first record's payload
    path.write_bytes(bytes(data))
    with pytest.raises(StoreCorruptionError, match=rf"{path.name} is corrupt at byte offset 8"):
        open_store()


def test_torn_tail_of_an_older_segment_is_an_error(
    open_store: Callable[..., DurableStore],
) -> None:
    store = open_store()
    store.write_lp("db", "m v=1 1")
    store._wal.rotate()  # writes go to a new segment (as a start does), nothing persisted
    store.write_lp("db", "m v=2 2")
    store._abandon()
    older = segments(store.data_dir)[0]
    with older.open("ab") as handle:
        handle.write(struct.pack("<II", 1000, 0))
    with pytest.raises(StoreCorruptionError, match=older.name):
        open_store()


def test_persist_then_replay(open_store: Callable[..., DurableStore]) -> None:
    store = open_store()
    odd = ["_system.model_checkpoints", "a/b", "sp ace", "..", "ünï"]
    for index, name in enumerate(odd):
        escaped = name.replace(" ", "\\ ")
        store.write_lp("db", f"{escaped},t=x v={index}i {index}")
    store.write_lp("db", ALL_TYPES.format(t=1))
    store.create_database("empty")
    assert store.persist()
    covered = json.loads((store.data_dir / "files.json").read_text())["wal_seq"]
    assert all(int(path.stem) > covered for path in segments(store.data_dir))
    store.write_lp("db", ALL_TYPES.format(t=2) + "\nlater v=1 1")
    store.write_lp("db", "cpu,host=a,region=eu f=9.5 1")  # upsert onto a persisted row
    expected = {name: snapshot_of(store, "db", name) for name in store.tables("db")}
    schema = store.query("db", SCHEMA_SQL)
    store._abandon()

    reopened = open_store()
    assert reopened.databases() == ["db", "empty"]
    assert sorted(reopened.tables("db")) == sorted([*odd, "cpu", "later"])
    assert {name: snapshot_of(reopened, "db", name) for name in reopened.tables("db")} == expected
    assert reopened.query("db", SCHEMA_SQL) == schema
    assert [row["f"] for row in expected["cpu"]] == [9.5, 1.5]
    with pytest.raises(WriteError, match="invalid column type"):
        reopened.write_lp("db", 'cpu,host=a u="text" 5')
    reopened.close()

    final = open_store()  # after the close persist: nothing left to replay
    assert not (final.data_dir / "snapshots").exists()
    assert all(segment.stat().st_size == 8 for segment in segments(final.data_dir))
    assert {name: snapshot_of(final, "db", name) for name in final.tables("db")} == expected
    with pytest.raises(WriteError, match="invalid column type"):
        final.write_lp("db", "cpu,host=a b=1i 5")


def test_persist_every_rows(open_store: Callable[..., DurableStore]) -> None:
    store = open_store(persist_every=10)
    for batch in range(12):
        store.write_lp("db", f"m v={batch} {batch}")
    deadline = time.monotonic() + 5
    while not (store.data_dir / "files.json").exists():
        assert time.monotonic() < deadline
        time.sleep(0.01)
    store._abandon()
    assert len(open_store().query("db", "SELECT v FROM m")) == 12


def test_default_time_is_fixed_at_write(open_store: Callable[..., DurableStore]) -> None:
    store = open_store(clock=lambda: 1_700_000_000_123_456_789)
    store.write_lp("db", "m v=1")
    store.write_lp("db", "n v=1", precision="s")
    store._abandon()
    reopened = open_store(clock=lambda: 42)  # replay must not take the time from the clock
    assert reopened.query("db", "SELECT CAST(time AS BIGINT) AS t FROM m") == [
        {"t": 1_700_000_000_123_456_789}
    ]
    assert reopened.query("db", "SELECT CAST(time AS BIGINT) AS t FROM n") == [
        {"t": 1_700_000_000_123_456_789}
    ]


def test_flush_failure_fails_the_waiting_writers(
    open_store: Callable[..., DurableStore], monkeypatch: pytest.MonkeyPatch
) -> None:
    store = open_store()
    real_fsync = os.fsync
    failures = [OSError(28, "No space left on device")]

    def flaky_fsync(fd: int) -> None:
        if failures:
            raise failures.pop()
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", flaky_fsync)
    with pytest.raises(DurabilityError, match=r"write not durable: .*No space left"):
        store.write_lp("db", "m v=1 1")
    assert store.databases() == []  # not applied, not even the database it created
    store.write_lp("db", "m v=2 2")
    store.write_lp("db", "m v=3 3")
    store._abandon()
    monkeypatch.undo()
    times = open_store().query("db", "SELECT CAST(time AS BIGINT) AS t FROM m ORDER BY time")
    assert times == [{"t": 2}, {"t": 3}]


def test_closed_store_refuses_writes(open_store: Callable[..., DurableStore]) -> None:
    store = open_store()
    store.close()
    store.close()
    with pytest.raises(WriteError, match="closed"):
        store.write_lp("db", "m v=1 1")


def test_torn_segment_header_is_repaired(open_store: Callable[..., DurableStore]) -> None:
    store = open_store()
    store.write_lp("db", "m v=1 1")
    store._abandon()
    newest = segments(store.data_dir)[-1]
    torn = newest.with_name(f"{int(newest.stem) + 1:020d}.wal")
    torn.write_bytes(b"PMW")  # a crash while creating the next segment
    open_store()._abandon()
    assert torn.read_bytes() == b"PMWAL002"
    assert open_store().query("db", "SELECT v FROM m") == [{"v": 1.0}]


def test_a_format_1_segment_of_json_records_is_still_replayed(tmp_path: Path) -> None:
    """Segments an older version wrote (every record JSON) replay as they did."""
    wal = tmp_path / "store" / "wal"
    wal.mkdir(parents=True)
    records = [
        {"k": "create", "d": "db"},
        {"k": "write", "d": "db", "lp": 'm,h=a v=1i,s="x y" 5', "p": "ns", "a": True, "t": 7},
        {"k": "write", "d": "db", "lp": "m,h=b v=2i", "p": "s", "a": False, "t": 9_000_000_000},
    ]
    content = b"PMWAL001"
    for record in records:
        payload = json.dumps(record, separators=(",", ":")).encode()
        content += struct.pack("<II", len(payload), zlib.crc32(payload)) + payload
    (wal / f"{1:020d}.wal").write_bytes(content)
    with DurableStore(tmp_path / "store", flush_interval=0.01) as store:
        rows = store.query("db", "SELECT h, v, s, CAST(time AS BIGINT) AS t FROM m ORDER BY h")
        assert rows == [
            {"h": "a", "v": 1, "s": "x y", "t": 5},
            {"h": "b", "v": 2, "s": None, "t": 9_000_000_000},
        ]
        store.write_lp("db", "m,h=c v=3i 10")  # new records go to a format 2 segment
    newest = sorted(wal.glob("*.wal"))[-1]
    assert newest.read_bytes()[:8] == b"PMWAL002"


def test_the_engine_passes_no_sync_through_to_the_store(
    open_store: Callable[..., DurableStore],
) -> None:
    # the HTTP API's no_sync=true goes through ProcessingEngine.write_lp; with a 60 s flush
    # interval a synchronous write would still be waiting when the join below gives up
    engine = ProcessingEngine(Catalog(None), store=open_store(flush_interval=60.0))
    engine.start()
    try:
        writer = threading.Thread(
            target=engine.write_lp, args=("db", "m v=1 1"), kwargs={"no_sync": True}
        )
        writer.start()
        writer.join(timeout=10)
        assert not writer.is_alive()
        assert engine.query("db", "SELECT v FROM m") == [{"v": 1.0}]
    finally:
        engine.shutdown()
