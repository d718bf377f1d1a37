"""`MemoryStore.set_system_tables`: engine tables queryable as ``system.<name>``."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

import pyarrow as pa  # type: ignore[import-untyped]
import pytest

from engine_runtime.errors import DatabaseNotFoundError, QueryExecutionError
from engine_runtime.observability import LOGS_SCHEMA, LogRing, log_rows
from engine_runtime.stats import TRIGGER_STATS_SCHEMA as STATS_SCHEMA
from engine_runtime.stats import StatsRegistry
from engine_runtime.store.base import SystemTable
from engine_runtime.store.memory import MemoryStore, system_table

T0 = 1_700_000_000_000_000_000


class Engine:
    """The engine side of the seam: a log ring, stats and a call counter."""

    def __init__(self) -> None:
        times = iter(range(T0, T0 + 10**6))
        self.ring = LogRing(clock=times.__next__)
        self.stats = StatsRegistry()
        self.calls: list[str] = []

    def tables(self, database: str) -> Mapping[str, SystemTable]:
        self.calls.append(database)
        return {
            "processing_engine_logs": (LOGS_SCHEMA, log_rows(self.ring, database)),
            "processing_engine_trigger_stats": (STATS_SCHEMA, self.stats.rows(database)),
        }


@pytest.fixture
def engine() -> Engine:
    return Engine()


@pytest.fixture
def store(engine: Engine) -> MemoryStore:
    store = MemoryStore()
    store.write_lp("db", "cpu,host=a usage_system=1.5 10\ncpu,host=b usage_system=2.5 20")
    store.set_system_tables(engine.tables)
    return store


def test_logs_table_is_queryable(store: MemoryStore, engine: Engine) -> None:
    engine.ring.add("db", "t1", "INFO", "starting execution of wal plugin.")
    engine.ring.add("db", "t1", "ERROR", "error executing wal plugin: ValueError: boom")
    engine.ring.add("other", "t9", "INFO", "not ours")
    rows = store.query("db", "SELECT * FROM system.processing_engine_logs ORDER BY event_time")
    assert [(r["trigger_name"], r["log_level"], r["log_text"]) for r in rows] == [
        ("t1", "INFO", "starting execution of wal plugin."),
        ("t1", "ERROR", "error executing wal plugin: ValueError: boom"),
    ]
    assert list(rows[0]) == ["event_time", "trigger_name", "log_level", "log_text"]


def test_filters_count_and_order(store: MemoryStore, engine: Engine) -> None:
    for number in range(5):
        engine.ring.add("db", f"t{number % 2}", "WARN" if number % 2 else "INFO", str(number))
    count = store.query(
        "db", "SELECT count(*) AS n FROM system.processing_engine_logs WHERE log_level = 'WARN'"
    )
    assert count == [{"n": 2}]
    rows = store.query(
        "db",
        "SELECT log_text FROM system.processing_engine_logs "
        "WHERE trigger_name = $t ORDER BY event_time DESC",
        {"t": "t0"},
    )
    assert [r["log_text"] for r in rows] == ["4", "2", "0"]


def test_tables_are_fresh_on_every_query(store: MemoryStore, engine: Engine) -> None:
    sql = "SELECT count(*) AS n FROM system.processing_engine_logs"
    assert store.query("db", sql) == [{"n": 0}]
    engine.ring.add("db", "t", "INFO", "x")
    assert store.query("db", sql) == [{"n": 1}]
    assert engine.calls == ["db", "db"]


def test_empty_tables_keep_their_schema(store: MemoryStore) -> None:
    batches = store.query_batches("db", "SELECT * FROM system.processing_engine_logs")
    assert sum(batch.num_rows for batch in batches) == 0
    assert batches[0].schema.field("event_time").type == pa.timestamp("ns")
    columns = store.query(
        "db",
        "SELECT column_name, data_type FROM information_schema.columns "
        "WHERE table_schema = 'system' AND table_name = 'processing_engine_trigger_stats' "
        "ORDER BY ordinal_position",
    )
    assert [(c["column_name"], c["data_type"]) for c in columns] == [
        ("trigger_name", "Utf8"),
        ("invocations", "Int64"),
        ("errors", "Int64"),
        ("last_error", "Utf8"),
        ("last_run", "Timestamp(ns)"),
        ("p50_ms", "Float64"),
        ("p99_ms", "Float64"),
        ("host_deaths", "Int64"),
    ]


def test_stats_table_types(store: MemoryStore, engine: Engine) -> None:
    engine.stats.record("db", "t", started_ns=T0, duration_ns=3_000_000, error="boom")
    batches = store.query_batches("db", "SELECT * FROM system.processing_engine_trigger_stats")
    table = pa.Table.from_batches(batches)
    assert table.schema.field("last_run").type == pa.timestamp("ns")
    row = table.to_pylist()[0]
    assert (row["trigger_name"], row["invocations"], row["errors"]) == ("t", 1, 1)
    assert (row["last_error"], row["p50_ms"]) == ("boom", 3.0)


def test_information_schema_lists_system_tables(store: MemoryStore) -> None:
    rows = store.query(
        "db",
        "SELECT table_name, table_type FROM information_schema.tables "
        "WHERE table_schema = 'system' ORDER BY table_name",
    )
    assert rows == [
        {"table_name": "processing_engine_logs", "table_type": "BASE TABLE"},
        {"table_name": "processing_engine_trigger_stats", "table_type": "BASE TABLE"},
    ]


def test_user_queries_do_not_call_the_provider(store: MemoryStore, engine: Engine) -> None:
    rows = store.query("db", "SELECT host, usage_system FROM cpu ORDER BY time")
    assert rows == [{"host": "a", "usage_system": 1.5}, {"host": "b", "usage_system": 2.5}]
    assert engine.calls == []


def test_show_tables_lists_only_user_tables(store: MemoryStore) -> None:
    store.query("db", "SELECT * FROM system.processing_engine_logs")  # system context exists
    shown = store.query("db", "SHOW TABLES")
    base = [(r["table_schema"], r["table_name"]) for r in shown if r["table_type"] == "BASE TABLE"]
    assert base == [("iox", "cpu")]


def test_system_and_user_tables_join(store: MemoryStore, engine: Engine) -> None:
    engine.ring.add("db", "a", "INFO", "x")
    rows = store.query(
        "db",
        "SELECT cpu.host, l.log_text FROM cpu "
        "JOIN system.processing_engine_logs l ON cpu.host = l.trigger_name",
    )
    assert rows == [{"host": "a", "log_text": "x"}]


def test_new_user_tables_are_seen_from_the_system_context(store: MemoryStore) -> None:
    store.query("db", "SELECT * FROM system.processing_engine_logs")
    store.write_lp("db", "mem,host=a used=1i 30")
    rows = store.query(
        "db", "SELECT m.used FROM mem m CROSS JOIN system.processing_engine_trigger_stats"
    )
    assert rows == []
    assert store.query("db", "SELECT used FROM mem WHERE 'system' <> ''") == [{"used": 1}]


def test_without_provider_system_tables_are_unknown(engine: Engine) -> None:
    store = MemoryStore()
    store.write_lp("db", "cpu v=1 1")
    with pytest.raises(QueryExecutionError) as info:
        store.query("db", "SELECT * FROM system.processing_engine_logs")
    assert str(info.value) == (
        "error while planning query: Error during planning: "
        "table 'public.system.processing_engine_logs' not found"
    )


def test_removing_the_provider(store: MemoryStore) -> None:
    store.query("db", "SELECT * FROM system.processing_engine_logs")
    store.set_system_tables(None)
    with pytest.raises(QueryExecutionError, match="not found"):
        store.query("db", "SELECT * FROM system.processing_engine_logs")


def test_unknown_system_table(store: MemoryStore) -> None:
    with pytest.raises(QueryExecutionError, match=r"table 'public\.system\.nope' not found"):
        store.query("db", "SELECT * FROM system.nope")


@pytest.mark.parametrize("with_provider", [True, False])
def test_dotted_user_table_still_works(
    store: MemoryStore, engine: Engine, *, with_provider: bool
) -> None:
    if not with_provider:
        store.set_system_tables(None)
    store.write_lp("db", "system.foo,host=a v=1i 5")
    assert store.tables("db") == ["cpu", "system.foo"]
    assert store.query("db", 'SELECT host, v FROM "system.foo"') == [{"host": "a", "v": 1}]


def test_provider_exception_is_a_query_error(store: MemoryStore) -> None:
    def broken(database: str) -> Mapping[str, SystemTable]:
        msg = f"engine for {database} is gone"
        raise RuntimeError(msg)

    store.set_system_tables(broken)
    with pytest.raises(QueryExecutionError) as info:
        store.query("db", "SELECT * FROM system.processing_engine_logs")
    assert str(info.value) == (
        "error while planning query: the system tables of database db could not be produced: "
        "RuntimeError: engine for db is gone"
    )
    assert isinstance(info.value.__cause__, RuntimeError)
    # ordinary queries still work
    assert store.query("db", "SELECT count(*) AS n FROM cpu") == [{"n": 2}]


def test_bad_provider_value_is_a_query_error(store: MemoryStore) -> None:
    store.set_system_tables(lambda database: {"x": [1, 2]})
    with pytest.raises(QueryExecutionError, match=r"TypeError: a system table must be"):
        store.query("db", "SELECT * FROM system.x")


def test_rows_not_matching_the_schema_are_a_query_error(store: MemoryStore) -> None:
    schema = pa.schema([pa.field("n", pa.int64())])
    store.set_system_tables(lambda database: {"x": (schema, [{"n": "not a number"}])})
    with pytest.raises(QueryExecutionError, match="could not be produced"):
        store.query("db", "SELECT * FROM system.x")


def test_pyarrow_table_values(store: MemoryStore) -> None:
    store.set_system_tables(lambda database: {"dbs": pa.table({"name": [database]})})
    assert store.query("db", "SELECT name FROM system.dbs") == [{"name": "db"}]
    assert store.query("db", 'SELECT name FROM "system".dbs') == [{"name": "db"}]
    assert store.query("db", "SELECT name FROM SYSTEM.DBS") == [{"name": "db"}]


def test_unknown_database_does_not_call_the_provider(store: MemoryStore, engine: Engine) -> None:
    with pytest.raises(DatabaseNotFoundError):
        store.query("nowhere", "SELECT * FROM system.processing_engine_logs")
    assert engine.calls == []


def test_copy_keeps_the_provider(store: MemoryStore, engine: Engine) -> None:
    engine.ring.add("db", "t", "INFO", "x")
    clone = store.copy()
    rows = clone.query("db", "SELECT log_text FROM system.processing_engine_logs")
    assert rows == [{"log_text": "x"}]


def test_concurrent_system_queries(store: MemoryStore, engine: Engine) -> None:
    failures: list[BaseException] = []

    def run() -> None:
        try:
            for _ in range(20):
                engine.ring.add("db", "t", "INFO", "x")
                store.query("db", "SELECT count(*) AS n FROM system.processing_engine_logs")
                store.query("db", "SELECT count(*) AS n FROM cpu")
        except BaseException as exc:  # pragma: no cover - the failure being tested for
            failures.append(exc)

    threads = [threading.Thread(target=run) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    final = store.query("db", "SELECT count(*) AS n FROM system.processing_engine_logs")
    assert final == [{"n": 80}]


def test_system_table_helper() -> None:
    schema = pa.schema([pa.field("t", pa.timestamp("ns")), pa.field("s", pa.utf8())])
    empty = system_table(schema, [])
    assert empty.num_rows == 0
    assert empty.schema == schema
    rows: list[dict[str, Any]] = [{"t": 5, "extra": 1}, {"s": "x"}]
    table = system_table(schema, rows)
    assert table.column("t").cast(pa.int64()).to_pylist() == [5, None]
    assert table.column("s").to_pylist() == [None, "x"]
