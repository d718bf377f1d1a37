"""Last-value and distinct-value caches: upstream's rules, SQL functions, catalog and restart."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest

from engine_runtime import Catalog, DurableStore, ProcessingEngine
from engine_runtime.errors import (
    AlreadyExistsError,
    CatalogError,
    DatabaseNotFoundError,
    NotFoundError,
    QueryExecutionError,
)
from engine_runtime.value_caches.definitions import (
    DISTINCT_TYPE_MESSAGE,
    LAST_KEY_TYPE_MESSAGE,
    DistinctCacheDefinition,
    InvalidCacheError,
    LastCacheDefinition,
)
from engine_runtime.value_caches.distinct_cache import DistinctCache
from engine_runtime.value_caches.last_cache import LastCache

NOW = time.time_ns()
SEED = f'cpu,host=a,region=eu usage=1,count=1i,note="x" {NOW - 100}'


def _engine(make_engine: Callable[..., ProcessingEngine]) -> ProcessingEngine:
    engine = make_engine()
    engine.write_lp("db", SEED)
    return engine


def _lines(*rows: tuple[str, float, int]) -> str:
    return "\n".join(f"cpu,host={h},region=eu usage={u} {NOW + t}" for h, u, t in rows)


def test_last_cache_keeps_the_newest_rows_per_key(
    make_engine: Callable[..., ProcessingEngine],
) -> None:
    engine = _engine(make_engine)
    made = engine.value_caches.create_last_cache("db", "cpu", key_columns=["host"], count=2)
    assert made.name == "cpu_host_last_cache" and made.value_columns is None
    assert engine.query("db", "SELECT * FROM last_cache('cpu')") == []  # empty at creation
    engine.write_lp("db", _lines(("a", 1, 1), ("b", 5, 1), ("a", 2, 3), ("a", 0, 2), ("a", 3, 3)))
    rows = engine.query("db", "SELECT host, usage, time FROM last_cache('cpu')")
    # a's late row (t=2) and its equal-time row (t=3) never replace the newer one
    assert rows == [
        {"host": "a", "usage": 2.0, "time": NOW + 3},
        {"host": "a", "usage": 1.0, "time": NOW + 1},
        {"host": "b", "usage": 5.0, "time": NOW + 1},
    ]
    assert engine.query("db", "SELECT usage FROM last_cache('cpu') WHERE host = 'b'") == [
        {"usage": 5.0}
    ]
    columns = engine.query("db", "SELECT * FROM last_cache('cpu') LIMIT 1")[0]
    assert list(columns) == ["host", "region", "count", "note", "usage", "time"]


def test_last_cache_value_columns_rows_without_keys_and_several_shapes(
    make_engine: Callable[..., ProcessingEngine],
) -> None:
    engine = _engine(make_engine)
    engine.value_caches.create_last_cache(
        "db", "cpu", name="c", key_columns=["region", "host"], value_columns=["usage"]
    )
    text = "\n".join(
        [
            f"cpu,host=a,region=eu usage=1,count=7i {NOW + 1}",
            f"cpu,host=a usage=9 {NOW + 9}",  # no region: ignored
            f'cpu,host=b,region=us usage=2,note="n" {NOW + 2}',  # another shape, same write
        ]
    )
    engine.write_lp("db", text)
    assert engine.query("db", "SELECT * FROM last_cache('cpu', 'c')") == [
        {"region": "eu", "host": "a", "usage": 1.0, "time": NOW + 1},
        {"region": "us", "host": "b", "usage": 2.0, "time": NOW + 2},
    ]


def test_last_cache_ttl_counts_from_when_a_row_entered() -> None:
    clock = [100.0]
    definition = LastCacheDefinition("db", "cpu", "c", ("host",), None, 3, 10)
    cache = LastCache(definition, monotonic=lambda: clock[0])
    cache.push({"host": ["a", "a"], "v": [1, 2]}, [1, 2])
    clock[0] = 105.0
    cache.push({"host": ["b"], "v": [3]}, [1])
    assert len(cache) == 3
    clock[0] = 111.0
    cache.prune()
    assert len(cache) == 1  # a's rows expired; b's has 4 s left
    cache.push({"host": ["a"], "v": [4]}, [1])  # a starts afresh: an old time is taken again
    assert len(cache) == 2


def test_distinct_cache_sorted_nulls_first_max_age_and_cardinality() -> None:
    now = [10_000 * 10**9]
    definition = DistinctCacheDefinition("db", "cpu", "d", ("region", "host"), 3, 60)
    cache = DistinctCache(definition, clock=lambda: now[0])
    t = now[0]
    cache.push({"region": ["us", "eu", "eu"], "host": ["b", "a", "a"]}, [t - 2, t - 1, t])
    cache.push({"host": ["z"]}, [t - 10**12])  # no region (null), and older than max_age
    rows = cache.to_arrow().to_pylist()
    assert rows == [{"region": "eu", "host": "a"}, {"region": "us", "host": "b"}]
    cache.push({"region": ["ap", "ap"], "host": ["c", "d"]}, [t + 1, t + 2])
    assert len(cache) == 3  # past max_cardinality: the expired, then the oldest, went
    assert [r["host"] for r in cache.to_arrow().to_pylist()] == ["c", "d", "a"]


def test_distinct_cache_through_sql(make_engine: Callable[..., ProcessingEngine]) -> None:
    engine = _engine(make_engine)
    engine.value_caches.create_distinct_cache("db", "cpu", ["region", "host"])
    engine.write_lp("db", _lines(("b", 1, 1), ("a", 1, 2), ("a", 1, 3)))
    engine.write_lp("db", f"cpu,host=c,region=us usage=1 {NOW}")
    query = "SELECT * FROM distinct_cache('cpu') WHERE region = 'eu'"
    assert engine.query("db", query) == [
        {"region": "eu", "host": "a"},
        {"region": "eu", "host": "b"},
    ]
    named = "SELECT count(*) AS n FROM distinct_cache('cpu', 'cpu_region_host_distinct_cache')"
    assert engine.query("db", named) == [{"n": 3}]


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        ("SELECT * FROM last_cache('nope')", "provided table name is invalid"),
        ("SELECT * FROM distinct_cache('nope')", "provided table name (nope) is invalid"),
        ("SELECT * FROM last_cache(1)", "first argument must be the table name as a string"),
        ("SELECT * FROM last_cache('cpu', 2)", "second argument, if passed, must be the cache"),
        ("SELECT * FROM last_cache('cpu', 'x')", "could not find cache for the given arguments"),
        ("SELECT * FROM distinct_cache('cpu')", "could not find distinct value cache for the"),
    ],
)
def test_function_errors_are_planning_errors(
    make_engine: Callable[..., ProcessingEngine], sql: str, message: str
) -> None:
    engine = _engine(make_engine)
    engine.value_caches.create_last_cache("db", "cpu")
    with pytest.raises(QueryExecutionError) as caught:
        engine.query("db", sql)
    assert str(caught.value).startswith("error while planning query: Error during planning: ")
    assert message in str(caught.value)


def test_creation_errors_use_upstream_words(make_engine: Callable[..., ProcessingEngine]) -> None:
    engine = _engine(make_engine)
    caches = engine.value_caches
    with pytest.raises(DatabaseNotFoundError, match="Database not found nope"):
        caches.create_last_cache("nope", "cpu")
    with pytest.raises(NotFoundError, match="Table mem not in DB schema for db"):
        caches.create_distinct_cache("db", "mem", ["host"])
    with pytest.raises(CatalogError, match="cannot modify internal db"):
        caches.create_last_cache("_internal", "cpu")
    invalid = "invalid configuration provided: invalid key column provided: nope"
    with pytest.raises(InvalidCacheError, match=invalid):
        caches.create_last_cache("db", "cpu", key_columns=["nope"])
    with pytest.raises(InvalidCacheError, match=LAST_KEY_TYPE_MESSAGE):
        caches.create_last_cache("db", "cpu", key_columns=["usage"])
    with pytest.raises(InvalidCacheError, match="invalid value column provided: nope"):
        caches.create_last_cache("db", "cpu", value_columns=["nope"])
    with pytest.raises(InvalidCacheError, match="last cache size must be greater than 0"):
        caches.create_last_cache("db", "cpu", count=0)
    with pytest.raises(InvalidCacheError, match=DISTINCT_TYPE_MESSAGE):
        caches.create_distinct_cache("db", "cpu", ["count"])
    with pytest.raises(InvalidCacheError, match="no columns provided"):
        caches.create_distinct_cache("db", "cpu", [])
    caches.create_last_cache("db", "cpu", key_columns=["note", "count"])  # string, int keys
    with pytest.raises(AlreadyExistsError, match="already exists"):
        caches.create_last_cache("db", "cpu", name="cpu_note_count_last_cache")
    with pytest.raises(NotFoundError, match="the requested resource was not found: x"):
        caches.delete_cache("db", "cpu", "last", "x")


def test_system_tables_list_the_definitions(make_engine: Callable[..., ProcessingEngine]) -> None:
    engine = _engine(make_engine)
    engine.value_caches.create_last_cache("db", "cpu", value_columns=["usage"], ttl=60)
    engine.value_caches.create_distinct_cache("db", "cpu", ["host"], name="d", max_age=5)
    assert engine.query("db", "SELECT * FROM system.last_caches") == [
        {
            "table": "cpu",
            "name": "cpu_host_region_last_cache",
            "key_column_ids": [0, 1],
            "key_column_names": ["host", "region"],
            "value_column_ids": [4, 5],
            "value_column_names": ["usage", "time"],
            "count": 1,
            "ttl": 60,
        }
    ]
    assert engine.query("db", "SELECT name, column_names FROM system.distinct_caches") == [
        {"name": "d", "column_names": ["host"]}
    ]


def test_caches_go_with_their_table_and_database(
    make_engine: Callable[..., ProcessingEngine],
) -> None:
    engine = _engine(make_engine)
    engine.value_caches.create_last_cache("db", "cpu")
    engine.delete_table("db", "cpu")
    assert engine.catalog.caches() == []
    engine.write_lp("db", SEED)  # the table again: no cache comes back
    with pytest.raises(QueryExecutionError, match="could not find cache"):
        engine.query("db", "SELECT * FROM last_cache('cpu')")
    engine.value_caches.create_distinct_cache("db", "cpu", ["host"])
    engine.delete_database("db")
    assert engine.catalog.caches() == []


def test_caches_survive_a_restart_and_refill_from_recent_rows(tmp_path: Path) -> None:
    def start() -> tuple[ProcessingEngine, DurableStore]:
        store = DurableStore(tmp_path / "data", flush_interval=0.01)
        engine = ProcessingEngine(Catalog(tmp_path / "catalog.json"), store=store)
        engine.start()
        return engine, store

    engine, store = start()
    engine.write_lp("db", SEED)
    engine.value_caches.create_last_cache("db", "cpu", key_columns=["host"], count=2, ttl=600)
    engine.value_caches.create_distinct_cache("db", "cpu", ["host"], max_age=600)
    engine.write_lp("db", _lines(("a", 1, 1), ("a", 2, 2), ("a", 3, 3), ("b", 4, 1)))
    engine.write_lp("db", f"cpu,host=old usage=1 {NOW - 3600 * 10**9}")  # past the ttl
    before = engine.query("db", "SELECT * FROM last_cache('cpu')")
    engine.shutdown()
    store.close()
    engine, store = start()
    try:
        assert [c.name for c in engine.catalog.caches()] == [
            "cpu_host_last_cache",
            "cpu_host_distinct_cache",
        ]
        after = engine.query("db", "SELECT * FROM last_cache('cpu')")
        assert after == [row for row in before if row["host"] != "old"]
        hosts = engine.query("db", "SELECT host FROM distinct_cache('cpu')")
        assert hosts == [{"host": "a"}, {"host": "b"}]
    finally:
        engine.shutdown()
        store.close()


def test_a_damaged_table_leaves_its_cache_empty_and_the_node_up(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = DurableStore(tmp_path / "data", flush_interval=0.01)
    engine = ProcessingEngine(Catalog(tmp_path / "catalog.json"), store=store)
    engine.start()
    engine.write_lp("db", SEED)
    engine.value_caches.create_last_cache("db", "cpu")
    engine.shutdown()
    store.close()  # persists the rows as a Parquet file
    (parquet,) = (tmp_path / "data").rglob("*.parquet")
    damaged = bytearray(parquet.read_bytes())
    damaged[len(damaged) // 2] ^= 0xFF
    parquet.write_bytes(bytes(damaged))
    store = DurableStore(tmp_path / "data", flush_interval=0.01)
    engine = ProcessingEngine(Catalog(tmp_path / "catalog.json"), store=store)
    try:
        engine.start()  # the refill fails (logged); the node starts
        assert "cannot refill cache cpu_host_region_last_cache of cpu" in caplog.text
        assert engine.query("db", "SELECT * FROM last_cache('cpu')") == []
        engine.write_lp("db", f"cpu,host=b,region=us usage=2 {NOW}")
        rows = engine.query("db", "SELECT host, usage FROM last_cache('cpu')")
        assert rows == [{"host": "b", "usage": 2.0}]
    finally:
        engine.shutdown()
        store.close()
