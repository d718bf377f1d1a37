"""Retention periods: parsing, the catalog, database names as Core checks them, and the stores
hiding expired rows from queries and dropping them from memory and disk."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pyarrow.parquet as pq  # type: ignore[import-untyped]  # pyarrow ships no stubs
import pytest

from engine_runtime import Catalog, ProcessingEngine
from engine_runtime.errors import (
    CatalogError,
    CatalogFileError,
    InvalidDatabaseNameError,
    NotFoundError,
)
from engine_runtime.retention import (
    InvalidRetentionPeriodError,
    format_retention_period,
    format_v1_duration,
    parse_retention_period,
)
from engine_runtime.store import (
    DB_NAME_MESSAGES,
    DurableStore,
    MemoryStore,
    check_database_name,
    validate_database_name,
)
from engine_runtime.store._files import load_catalog, save_catalog
from engine_runtime.store._location import FileLocation
from tests.helpers import wait_for

HOUR = 3600 * 10**9


def _lines(now: int, hours_ago: list[float], table: str = "cpu") -> str:
    return "\n".join(f"{table},host=a v={i} {now - int(h * HOUR)}" for i, h in enumerate(hours_ago))


def _count(store: MemoryStore | DurableStore, database: str = "db") -> int:
    rows = store.query(database, "SELECT count(*) AS n FROM cpu")
    return int(rows[0]["n"])


# -- periods ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("30d", 2_592_000), ("24h", 86_400), ("1h30m", 5_400), ("2 weeks", 1_209_600), ("90s", 90)],
)
def test_periods_parse_to_whole_seconds(text: str, seconds: int) -> None:
    assert parse_retention_period(text) == seconds


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("garbage", 'invalid value: string "garbage", expected a duration'),
        ("", "expected a duration"),
        ("30x", "unknown time unit"),
        ("500ms", "shorter than one second"),
        ("0s", "shorter than one second"),
        ("1000years", "longer than 292 years"),
    ],
)
def test_bad_periods_are_refused_with_one_line(text: str, words: str) -> None:
    with pytest.raises(InvalidRetentionPeriodError) as info:
        parse_retention_period(text)
    assert words in str(info.value)
    assert "\n" not in str(info.value) and "30d" in str(info.value)  # what to write instead


def test_periods_are_shown_as_upstream_shows_them() -> None:
    assert [format_retention_period(s) for s in (None, 2_592_000, 7_200, 5_400, 61)] == [
        "infinite",
        "30d",
        "2h",
        "90m",
        "61s",
    ]
    assert [format_v1_duration(s) for s in (None, 604_800, 90, 5)] == [
        "0s",
        "168h0m0s",
        "1m30s",
        "5s",
    ]


# -- database names -----------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["foo/bar", "foo-bar", "foo_bar", "f", "1/2", "1/-", "_internal"])
def test_core_accepts_these_database_names(name: str) -> None:
    validate_database_name(name)
    validate_database_name("1" * 511)


@pytest.mark.parametrize(
    ("name", "key"),
    [
        ("_foo", "start"),
        ("-foo", "start"),
        ("/", "start"),
        ("foo/bar/baz", "rp"),
        ("foo/", "rp"),
        ("foo?bar", "char"),
        ("foo@bar/baz", "char"),
        ("", "empty"),
        ("1" * 512, "long"),
    ],
)
def test_core_refuses_these_database_names(name: str, key: str) -> None:
    with pytest.raises(InvalidDatabaseNameError) as info:
        validate_database_name(name)
    assert DB_NAME_MESSAGES[key] in str(info.value)


def test_database_name_messages_are_upstreams() -> None:
    assert DB_NAME_MESSAGES == {
        "char": "invalid character in database or rp name: must be ASCII, containing only "
        "letters, numbers, underscores, or hyphens",
        "start": "db name did not start with a number or letter",
        "rp": "db name with invalid retention policy, if providing a retention policy name, "
        "must be of form '<db_name>/<rp_name>'",
        "empty": "db name cannot be empty",
        "long": "db name too long: max 511",
    }


def test_the_store_still_holds_names_an_older_version_accepted() -> None:
    check_database_name("_lead")
    check_database_name("a/b/c")
    with pytest.raises(InvalidDatabaseNameError, match="contains invalid character"):
        check_database_name("bad db")


def test_engine_refuses_writes_and_creation_with_names_core_refuses() -> None:
    engine = ProcessingEngine(Catalog(None))
    for bad in ("_lead", "a/b/c"):
        with pytest.raises(InvalidDatabaseNameError):
            engine.write_lp(bad, "cpu v=1")
        with pytest.raises(InvalidDatabaseNameError):
            engine.create_database(bad)
        with pytest.raises(InvalidDatabaseNameError):
            engine.create_table(bad, "cpu", tags=["host"])
    assert engine.store.databases() == []  # nothing was half-created
    engine.write_lp("a/b", "cpu v=1")
    engine._plugin_write("_lead", "cpu v=1", False)  # Core's write buffer takes it from plugins
    assert "_lead" in engine.databases()


# -- the catalog --------------------------------------------------------------------------------


def test_catalog_keeps_periods_across_reloads(tmp_path: Path) -> None:
    path = tmp_path / "catalog.json"
    catalog = Catalog(path)
    assert catalog.create_database("logs", retention_seconds=3600)
    catalog.create_database("plain")
    catalog.set_retention_period("plain", 60)
    catalog.set_retention_period("logs", None)
    reloaded = Catalog(path)
    assert reloaded.retention_seconds("logs") is None
    assert reloaded.retention_seconds("plain") == 60
    assert reloaded.retention_ns("plain") == 60 * 10**9
    reloaded.delete_database("plain")
    assert "plain" not in json.loads(path.read_text()).get("retention_periods", {})


def test_trigger_changes_keep_the_periods(tmp_path: Path) -> None:
    catalog = Catalog(tmp_path / "catalog.json")
    catalog.create_database("logs", retention_seconds=60)
    catalog.create_trigger("logs", "t", "p.py", "every:1h")
    catalog.disable_trigger("logs", "t")
    catalog.delete_trigger("logs", "t")
    assert Catalog(tmp_path / "catalog.json").retention_seconds("logs") == 60


def test_catalog_files_without_periods_still_load(tmp_path: Path) -> None:
    path = tmp_path / "catalog.json"
    old = {"format_version": 1, "next_trigger_id": 1, "databases": ["a"], "triggers": []}
    path.write_text(json.dumps(old))
    catalog = Catalog(path)
    assert catalog.databases() == ["a"] and catalog.retention_seconds("a") is None
    path.write_text(json.dumps({**old, "format_version": 2, "retention_periods": {"a": 1}}))
    with pytest.raises(CatalogFileError, match="newer version"):
        Catalog(path)


def test_catalog_refuses_unknown_and_internal_databases(tmp_path: Path) -> None:
    catalog = Catalog(tmp_path / "catalog.json")
    with pytest.raises(NotFoundError, match="the requested resource was not found: nope"):
        catalog.set_retention_period("nope", 60)
    with pytest.raises(CatalogError, match="cannot modify internal db"):
        catalog.set_retention_period("_internal", 60)
    assert not (tmp_path / "catalog.json").exists()  # nothing written for a refusal


# -- the memory store ---------------------------------------------------------------------------


def test_queries_hide_expired_rows_and_the_cutoff_moves_with_the_clock() -> None:
    store = MemoryStore()
    now = time.time_ns()
    store.write_lp("db", _lines(now, [0, 0.5, 2, 3]))
    store.write_lp("other", _lines(now, [5]))
    periods = {"db": HOUR}
    store.set_retention(periods.get)
    assert _count(store) == 2
    assert _count(store, "other") == 1  # no period: every row
    periods["db"] = 4 * HOUR  # a change of period takes effect at once
    assert _count(store) == 4
    store.write_lp("db", f"cpu,host=b v=1 {time.time_ns() - HOUR + 700_000_000}")
    periods["db"] = HOUR
    assert _count(store) == 3
    time.sleep(0.8)  # the row written 0.7 s inside the period has expired by now
    assert _count(store) == 2


def test_drop_expired_removes_rows_from_memory() -> None:
    store = MemoryStore()
    now = time.time_ns()
    store.write_lp("db", _lines(now, [0, 2, 3]))
    store.set_retention({"db": HOUR}.get)
    kinds = "SELECT table_type FROM information_schema.tables WHERE table_name = 'cpu'"
    assert store.query("db", kinds) == [{"table_type": "VIEW"}]  # hides what is still there
    assert store.drop_expired() == 2
    assert store.drop_expired() == 0
    store.set_retention(None)
    assert _count(store) == 1  # gone from memory, not only hidden
    assert store.query("db", kinds) == [{"table_type": "BASE TABLE"}]


def test_the_engine_drops_expired_rows_from_a_memory_store_periodically() -> None:
    engine = ProcessingEngine(Catalog(None), cache_save_interval=0.05)
    engine.create_database("db", retention_seconds=3600)
    engine.write_lp("db", _lines(time.time_ns(), [0, 2, 3]))
    store = engine.store
    assert isinstance(store, MemoryStore)
    engine.start()
    try:
        wait_for(lambda: store.export_tables()["db"]["cpu"].num_rows == 1, timeout=10)
    finally:
        engine.shutdown()
    assert _count(store) == 1


def test_dry_run_copies_keep_the_periods() -> None:
    store = MemoryStore()
    store.write_lp("db", _lines(time.time_ns(), [0, 2]))
    store.set_retention({"db": HOUR}.get)
    assert _count(store.copy()) == 1


# -- the durable store --------------------------------------------------------------------------


def _files(data_dir: Path) -> list[Path]:
    return sorted((data_dir / "files").rglob("*.parquet"))


def test_persist_drops_expired_files_and_buffered_rows(tmp_path: Path) -> None:
    now = time.time_ns()
    with DurableStore(tmp_path, gen1_duration=600) as store:
        store.write_lp("db", _lines(now, [0, 3, 4]))
        store.persist()
        assert len(_files(tmp_path)) == 3  # one file per ten-minute chunk
        store.set_retention({"db": 2 * HOUR}.get)
        store.write_lp("db", _lines(now, [5]))  # expired already: never written to a file
        assert _count(store) == 1
        assert store.persist()
        assert len(_files(tmp_path)) == 1
        assert not store.persist()  # nothing changed, nothing expired
    listed = load_catalog(FileLocation.on_disk(tmp_path))
    assert listed is not None
    files = listed.databases["db"]["cpu"].files
    assert [f.path for f in files] == [
        p.relative_to(tmp_path / "files").as_posix() for p in _files(tmp_path)
    ]
    rows = pq.read_table(_files(tmp_path)[0])
    assert rows.num_rows == 1
    with DurableStore(tmp_path) as reopened:  # no period set: what is left is all there is
        assert _count(reopened) == 1


def test_persist_runs_for_expired_files_alone(tmp_path: Path) -> None:
    now = time.time_ns()
    with DurableStore(tmp_path, gen1_duration=600) as store:
        store.write_lp("db", _lines(now, [0, 3]))
        store.persist()
        store.set_retention({"db": HOUR}.get)
        assert store.persist()  # no write since the last persist, but a file expired
        assert len(_files(tmp_path)) == 1


def test_a_crash_between_catalog_and_deletion_loses_nothing_kept(tmp_path: Path) -> None:
    now = time.time_ns()
    with DurableStore(tmp_path, gen1_duration=600) as store:
        store.write_lp("db", _lines(now, [0, 3]))
        store.persist()
    location = FileLocation.on_disk(tmp_path)
    catalog = load_catalog(location)
    assert catalog is not None
    entry = catalog.databases["db"]["cpu"]
    entry.files = tuple(f for f in entry.files if f.max_time >= now - HOUR)
    save_catalog(location, catalog)  # the new catalog is saved; the old file is still there
    assert len(_files(tmp_path)) == 2
    with DurableStore(tmp_path) as reopened:  # a start deletes files the catalog does not name
        assert len(_files(tmp_path)) == 1
        assert _count(reopened) == 1
