"""Catalog limits as InfluxDB 3 has them: columns per table, tables, databases; upstream's
words; a partial write keeps the lines that fit; a replayed log keeps what it accepted."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from engine_runtime.errors import LimitExceededError, WriteError
from engine_runtime.store import CatalogLimits, DurableStore, MemoryStore

COLUMNS = "Update to schema would exceed number of columns per table limit of 4 columns"


def _store(**limits: int) -> MemoryStore:
    store = MemoryStore()
    store.limits = CatalogLimits(**limits)
    return store


def test_a_line_past_the_column_limit_is_refused_and_the_others_written() -> None:
    store = _store(columns_per_table=4)  # time and three more
    text = "m,a=1 x=1i 1\nm,a=1,b=2,c=3 x=2i 2\nm,a=1 y=3i 3\nm,a=2 z=4i 4"
    result = store.write_lp("db", text)
    assert result.lines_written == 2  # lines 1 and 3; line 4 would make the fifth column
    assert [error.line_number for error in result.errors] == [2, 4]
    assert all(COLUMNS in error.message for error in result.errors)
    assert store.query("db", "SELECT a, x, y FROM m ORDER BY time") == [
        {"a": "1", "x": 1, "y": None},
        {"a": "1", "x": None, "y": 3},
    ]
    with pytest.raises(WriteError, match=COLUMNS):  # nothing fits: the whole write fails
        store.write_lp("db", "m,a=1,b=2,c=3 x=2i 2")


def test_a_declared_table_and_a_wide_new_table_meet_the_same_limit() -> None:
    store = _store(columns_per_table=4)
    with pytest.raises(LimitExceededError, match=COLUMNS):
        store.create_table("db", "wide", tags=["a", "b"], fields=[("x", "i64"), ("y", "f64")])
    store.create_table("db", "fits", tags=["a", "b"], fields=[("x", "i64")])
    tags = ",".join(f"t{i}=v" for i in range(3_000))
    with pytest.raises(WriteError, match=COLUMNS):
        store.write_lp("db", f"other,{tags} v=1 1")
    assert store.tables("db") == ["fits"]


def test_tables_across_databases_and_databases_have_limits() -> None:
    store = _store(tables=2, databases=2)
    store.write_lp("one", "a v=1 1\nb v=1 1")
    result = store.write_lp("one", "a v=2 2\nc v=1 1")
    assert result.lines_written == 1
    assert "already have 2 table(s) (limit: 2)" in result.errors[0].message
    store.create_database("two")
    with pytest.raises(LimitExceededError, match="would exceed limit of 2 databases"):
        store.write_lp("three", "a v=1 1")
    with pytest.raises(LimitExceededError, match="--num-database-limit"):
        store.create_database("three")
    assert store.databases() == ["one", "two"]


def test_the_log_replays_what_was_accepted_whatever_the_limits_now(tmp_path: Path) -> None:
    store = DurableStore(tmp_path / "store")
    store.limits = CatalogLimits(columns_per_table=3)
    result = store.write_lp("db", "m,a=1 x=1 1\nm,a=1,b=2 x=2 2\nm y=3 3")
    assert result.lines_written == 1
    store.close()
    for limits in (CatalogLimits(columns_per_table=100), CatalogLimits(columns_per_table=2)):
        reopened = DurableStore(tmp_path / "store")  # replayed without limits
        reopened.limits = limits
        assert reopened.query("db", "SELECT * FROM m") == [{"a": "1", "time": 1, "x": 1.0}]
        reopened.close()


def test_writes_of_3000_tag_lines_leave_other_tables_fast() -> None:
    """Each write's line of 3,000 new tags is refused (500 columns by default), so the
    database does not grow a table of 120,000 columns that slows every query of it."""
    store = _store()
    store.write_lp("db", "\n".join(f"small v={i} {i}" for i in range(1_000)))
    for write in range(40):
        tags = ",".join(f"t{write}_{i}=v" for i in range(3_000))
        with pytest.raises(WriteError, match="columns per table limit of 500 columns"):
            store.write_lp("db", f"wide,{tags} v=1 {write}")
    assert store.tables("db") == ["small"]
    started = time.monotonic()
    assert store.query("db", "SELECT count(*) AS n FROM small") == [{"n": 1_000}]
    assert time.monotonic() - started < 1.0
