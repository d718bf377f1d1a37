"""The engine's data path around the store: ``_internal``, declared tables, write and query
counters, and ``write_sync(..., no_sync=True)`` not waiting for the WAL flush."""

from __future__ import annotations

import json
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from engine_runtime import Catalog, DurableStore, ProcessingEngine
from engine_runtime.engine_catalog import INTERNAL_WRITE_MESSAGE
from engine_runtime.errors import (
    DatabaseNotFoundError,
    InvalidDatabaseNameError,
    QueryExecutionError,
    WriteError,
)
from engine_runtime.stats import DataStats
from tests.helpers import wait_for

#: a long group-commit interval: a synchronous write waits for a flush that never comes on its own
SLOW_FLUSH = 30.0

WRITE_SYNC = """
import time

def process_request(influxdb3_local, query_parameters, request_headers, request_body, args=None):
    no_sync = query_parameters["no_sync"] == "true"
    line = LineBuilder("m").tag("mode", query_parameters["no_sync"]).int64_field("v", 1)
    started = time.monotonic()
    influxdb3_local.write_sync(line, no_sync=no_sync)
    elapsed = time.monotonic() - started
    rows = influxdb3_local.query(
        "SELECT count(*) AS n FROM m WHERE mode = $mode", {"mode": query_parameters["no_sync"]}
    )
    return {"elapsed": elapsed, "rows": rows[0]["n"]}
"""

WRITE_BACK = """
def process_writes(influxdb3_local, table_batches, args=None):
    for batch in table_batches:
        if batch["table_name"] != "copies":
            influxdb3_local.write(LineBuilder("copies").int64_field("n", len(batch["rows"])))
"""


@pytest.fixture
def engine(plugin_dir: Path) -> Iterator[ProcessingEngine]:
    started = ProcessingEngine(Catalog(None), plugin_dir=plugin_dir)
    started.start()
    yield started
    started.shutdown()


@pytest.fixture
def slow_engine(
    tmp_path: Path, plugin_dir: Path
) -> Iterator[tuple[ProcessingEngine, DurableStore]]:
    store = DurableStore(tmp_path / "store", flush_interval=SLOW_FLUSH)
    started = ProcessingEngine(Catalog(None), store=store, plugin_dir=plugin_dir)
    started.start()  # does not wait for a flush (``_internal`` is created no_sync)
    yield started, store
    started.shutdown()
    store.close()


def write_plugin(plugin_dir: Path, name: str, code: str) -> str:
    (plugin_dir / name).write_text(textwrap.dedent(code), encoding="utf-8")
    return name


def request(engine: ProcessingEngine, no_sync: str) -> dict[str, Any]:
    answer = engine.handle_request(
        "sync", query_params={"no_sync": no_sync}, headers={}, body=b"", timeout=60
    )
    assert answer.status == 200, answer.body
    result: dict[str, Any] = json.loads(answer.body)
    return result


def test_write_sync_no_sync_acknowledges_before_the_flush(
    slow_engine: tuple[ProcessingEngine, DurableStore], plugin_dir: Path
) -> None:
    engine, store = slow_engine
    store.create_database("db", no_sync=True)  # engine.create_database would wait for a flush
    engine.catalog.create_database("db")
    engine.create_trigger(
        "db", "sync", write_plugin(plugin_dir, "sync.py", WRITE_SYNC), "request:sync"
    )
    fast = request(engine, "true")
    assert fast["rows"] == 1  # queryable at once, from the plugin itself
    assert fast["elapsed"] < SLOW_FLUSH / 6  # well under the flush interval
    # acknowledged before any commit: a crash now loses it (a synchronous write would not)
    store._abandon()
    with DurableStore(store.data_dir) as reopened:
        assert "db" not in reopened.databases()  # created no_sync too, lost alike


def test_write_sync_waits_for_its_commit(
    slow_engine: tuple[ProcessingEngine, DurableStore], plugin_dir: Path
) -> None:
    engine, store = slow_engine
    store.create_database("db", no_sync=True)
    engine.catalog.create_database("db")
    engine.create_trigger(
        "db", "sync", write_plugin(plugin_dir, "sync.py", WRITE_SYNC), "request:sync"
    )
    durable = request(engine, "false")
    assert durable["rows"] == 1
    assert durable["elapsed"] < SLOW_FLUSH / 6  # committed at once, not at the 30 s interval
    store._abandon()  # a crash right after the plugin's write_sync returned
    with DurableStore(store.data_dir) as reopened:
        assert reopened.query("db", "SELECT mode FROM m") == [{"mode": "false"}]


def test_internal_exists_is_listed_and_queryable_but_not_writable(
    engine: ProcessingEngine,
) -> None:
    engine.create_database("db")
    assert engine.databases() == ["_internal", "db"]
    assert engine.catalog.databases() == ["db"]  # the catalog stores only user databases
    tables = engine.query("_internal", "SELECT table_name FROM information_schema.tables")
    assert {"table_name": "tables"} in tables
    with pytest.raises(InvalidDatabaseNameError, match="internal database"):
        engine.write_lp("_internal", "m v=1 1")
    assert engine.store.tables("_internal") == []  # nothing reached the store
    with pytest.raises(InvalidDatabaseNameError) as refused:
        engine.create_table("_internal", "t")
    assert str(refused.value) == INTERNAL_WRITE_MESSAGE


def test_create_table_makes_the_database_and_delete_table_needs_it(
    engine: ProcessingEngine,
) -> None:
    engine.create_table("fresh", "cpu", tags=["host"], fields=[("v", "f64")])
    assert "fresh" in engine.databases() and engine.catalog.has_database("fresh")
    assert engine.query("fresh", "SELECT * FROM cpu") == []
    engine.delete_table("fresh", "cpu")
    assert engine.store.tables("fresh") == []
    with pytest.raises(DatabaseNotFoundError, match="Database not found nowhere"):
        engine.delete_table("nowhere", "cpu")


def test_writes_and_queries_are_counted_by_origin_and_outcome(
    engine: ProcessingEngine, plugin_dir: Path
) -> None:
    engine.create_database("db")
    engine.create_trigger(
        "db", "copy", write_plugin(plugin_dir, "copy.py", WRITE_BACK), "all_tables"
    )
    engine.write_lp("db", "cpu v=1 1\ncpu v=2 2")  # ok: 2 lines
    engine.write_lp("db", "cpu v=3 3\nbroken")  # partial: 1 written, 1 rejected
    with pytest.raises(WriteError):
        engine.write_lp("db", "broken\nalso broken")  # rejected: 2 lines
    with pytest.raises(InvalidDatabaseNameError):
        engine.write_lp("_internal", "cpu v=1 1")  # rejected, no line counted
    wait_for(lambda: engine.data_stats.snapshot().writes["plugin"] == 2, timeout=10)
    stats = engine.data_stats.snapshot()
    assert (stats.writes["client"], stats.partial_writes["client"]) == (1, 1)
    assert stats.rejected_writes["client"] == 2
    assert (stats.lines_written["client"], stats.lines_rejected["client"]) == (3, 3)
    assert stats.lines_written["plugin"] == 2  # one "copies" line per write event
    engine.query("db", "SELECT * FROM cpu")
    engine.query_for_http("db", "SELECT * FROM cpu")
    with pytest.raises(QueryExecutionError):
        engine.query("db", "SELECT nope FROM cpu")
    stats = engine.data_stats.snapshot()
    assert (stats.queries, stats.failed_queries) == (3, 1)


def test_data_stats_refuse_an_unknown_origin() -> None:
    with pytest.raises(ValueError, match="unknown write origin 'robot'"):
        DataStats().record_write("robot", written=1, rejected=0)
