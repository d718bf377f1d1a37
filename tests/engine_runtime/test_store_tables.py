"""Declared tables: `Store.create_table` and `delete_table` on both stores, and restarts."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from engine_runtime.errors import (
    AlreadyExistsError,
    DatabaseNotFoundError,
    InvalidDatabaseNameError,
    NotFoundError,
    QueryExecutionError,
    SchemaError,
    WriteError,
)
from engine_runtime.store import DurableStore, MemoryStore, Store

COLUMNS_SQL = (
    "SELECT column_name, data_type FROM information_schema.columns "
    "WHERE table_schema = 'iox' AND table_name = 'cpu' ORDER BY ordinal_position"
)
FIELDS = [("usage", "f64"), ("count", "i64"), ("big", "u64"), ("ok", "bool"), ("note", "string")]


@pytest.fixture
def open_durable(tmp_path: Path) -> Iterator[Callable[[], DurableStore]]:
    opened: list[DurableStore] = []

    def factory() -> DurableStore:
        store = DurableStore(tmp_path / "data", flush_interval=0.01, persist_interval=3600.0)
        opened.append(store)
        return store

    yield factory
    for store in opened:
        store.close()


@pytest.fixture(params=["memory", "durable"])
def store(request: pytest.FixtureRequest, open_durable: Callable[[], DurableStore]) -> Store:
    return MemoryStore() if request.param == "memory" else open_durable()


def columns(store: Store) -> list[tuple[Any, ...]]:
    return [tuple(row.values()) for row in store.query("db", COLUMNS_SQL)]


def test_a_declared_table_is_empty_with_its_columns_typed(store: Store) -> None:
    store.create_table("db", "cpu", tags=["host", "region"], fields=FIELDS)
    assert store.databases() == ["db"] and store.tables("db") == ["cpu"]
    assert store.query("db", "SELECT * FROM cpu") == []
    assert columns(store) == [
        ("host", "Dictionary(Int32, Utf8)"),
        ("region", "Dictionary(Int32, Utf8)"),
        ("big", "UInt64"),
        ("count", "Int64"),
        ("note", "Utf8"),
        ("ok", "Boolean"),
        ("usage", "Float64"),
        ("time", "Timestamp(ns)"),
    ]


def test_writes_must_match_the_declared_types(store: Store) -> None:
    store.create_table("db", "cpu", tags=["host"], fields=[("usage", "f64")])
    with pytest.raises(WriteError, match="expected Float64 field, got Int64 field"):
        store.write_lp("db", "cpu,host=a usage=1i 1")
    with pytest.raises(WriteError, match="expected tag, got Float64 field"):
        store.write_lp("db", "cpu host=1.5 1")
    store.write_lp("db", "cpu,host=a usage=1.5,extra=2i 1")  # new columns may still appear
    assert store.query("db", "SELECT host, usage, extra FROM cpu") == [
        {"host": "a", "usage": 1.5, "extra": 2}
    ]


def test_creating_an_existing_table_is_refused_and_changes_nothing(store: Store) -> None:
    store.write_lp("db", "cpu v=1 1")
    with pytest.raises(AlreadyExistsError, match="already exists: table cpu in database db"):
        store.create_table("db", "cpu", fields=[("v", "i64")])
    assert store.query("db", "SELECT v FROM cpu") == [{"v": 1.0}]


@pytest.mark.parametrize(
    ("table", "tags", "fields", "message"),
    [
        ("", [], [], "the table name is empty"),
        ("cpu", [""], [], "a column name is empty"),
        ("cpu", ["host"], [("host", "f64")], "'host' is declared twice"),
        ("cpu", [], [("v", "f64"), ("v", "i64")], "'v' is declared twice"),
        ("cpu", ["time"], [], "'time' is the time column"),
        ("cpu", [], [("v", "decimal")], "unknown kind 'decimal'"),
    ],
)
def test_bad_declarations_are_schema_errors(
    table: str, tags: list[str], fields: list[tuple[str, str]], message: str
) -> None:
    store = MemoryStore()
    with pytest.raises(SchemaError, match=message):
        store.create_table("db", table, tags=tags, fields=fields)
    assert store.databases() == []


def test_a_bad_database_name_is_refused() -> None:
    with pytest.raises(InvalidDatabaseNameError):
        MemoryStore().create_table("no spaces", "cpu")


def test_deleting_a_table_drops_its_rows_and_a_write_starts_it_afresh(store: Store) -> None:
    store.write_lp("db", "cpu,host=a v=1 1\nmem free=3i 1")
    assert store.query("db", "SELECT count(*) AS n FROM cpu") == [{"n": 1}]  # registered
    store.delete_table("db", "cpu")
    assert store.tables("db") == ["mem"]
    with pytest.raises(QueryExecutionError, match="cpu"):
        store.query("db", "SELECT * FROM cpu")
    store.write_lp("db", "cpu v=7i 2")  # the old type (f64) is forgotten too
    assert store.query("db", "SELECT * FROM cpu") == [{"v": 7, "time": 2}]


def test_deleting_a_missing_table_or_database_is_not_found(store: Store) -> None:
    store.write_lp("db", "cpu v=1 1")
    with pytest.raises(NotFoundError, match="not found: table nope in database db"):
        store.delete_table("db", "nope")
    with pytest.raises(DatabaseNotFoundError):
        store.delete_table("nowhere", "cpu")


def test_declared_and_deleted_tables_survive_a_restart(
    open_durable: Callable[[], DurableStore],
) -> None:
    store = open_durable()
    store.create_table("db", "cpu", tags=["host"], fields=FIELDS)
    store.create_table("db", "gone", fields=[("v", "f64")])
    store.write_lp("db", "gone v=1 1")
    store.delete_table("db", "gone")
    store._abandon()  # a crash: the WAL is all there is
    replayed = open_durable()
    assert replayed.tables("db") == ["cpu"]
    assert ("usage", "Float64") in columns(replayed)
    replayed.close()  # a snapshot now holds the empty table
    reopened = open_durable()
    assert reopened.tables("db") == ["cpu"] and columns(reopened) == columns(replayed)
    with pytest.raises(WriteError, match="expected Float64 field"):
        reopened.write_lp("db", "cpu usage=1i 1")


def test_a_failed_declaration_is_not_logged(open_durable: Callable[[], DurableStore]) -> None:
    store = open_durable()
    with pytest.raises(SchemaError):
        store.create_table("db", "cpu", fields=[("v", "nope")])
    store.write_lp("db", "cpu v=1 1")
    with pytest.raises(AlreadyExistsError):
        store.create_table("db", "cpu")
    store._abandon()
    assert open_durable().query("db", "SELECT v FROM cpu") == [{"v": 1.0}]


def test_the_flush_observer_sees_every_group_commit_that_wrote(
    open_durable: Callable[[], DurableStore],
) -> None:
    store = open_durable()
    seen: list[tuple[float, int, int, Exception | None]] = []
    store.set_flush_observer(lambda *flush: seen.append(flush))
    store.write_lp("db", "cpu v=1 1")
    store.create_table("db", "mem")
    assert sum(records for _, records, _, _ in seen) == 2
    assert all(seconds >= 0 and size > 0 and error is None for seconds, _, size, error in seen)
    store.set_flush_observer(None)
    store.write_lp("db", "cpu v=2 2")
    assert sum(records for _, records, _, _ in seen) == 2


def test_a_failing_flush_observer_does_not_fail_the_write(
    open_durable: Callable[[], DurableStore], caplog: pytest.LogCaptureFixture
) -> None:
    store = open_durable()

    def broken(*flush: object) -> None:
        raise RuntimeError("observer bug")

    store.set_flush_observer(broken)
    store.write_lp("db", "cpu v=1 1")
    assert store.query("db", "SELECT v FROM cpu") == [{"v": 1.0}]
    assert "WAL flush observer failed" in caplog.text
