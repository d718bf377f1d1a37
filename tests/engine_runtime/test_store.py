"""MemoryStore on real DataFusion: writes, schema rules, upserts and the corpus's SQL."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from engine_runtime.errors import (
    DatabaseNotFoundError,
    InvalidDatabaseNameError,
    QueryExecutionError,
    WriteError,
)
from engine_runtime.store import (
    DurableStore,
    MemoryStore,
    Store,
    WriteResult,
    validate_database_name,
)

MINUTE = 60 * 10**9


def ns(text: str) -> int:
    """RFC3339 (UTC) -> ns since the epoch."""
    moment = datetime.fromisoformat(text).replace(tzinfo=UTC)
    return int(moment.timestamp()) * 10**9


T0 = ns("2026-08-20T10:00:00")


@pytest.fixture
def store() -> MemoryStore:
    return MemoryStore()


def test_memory_store_is_a_store(store: MemoryStore) -> None:
    checked: Store = store
    assert checked.databases() == []


def test_table_batches_format(store: MemoryStore) -> None:
    result = store.write_lp(
        "foo", "cpu,host=A,region=west usage=1i,system=23.2 100\nmem,host=B f=1u 5\ncpu f=t 7"
    )
    assert result == WriteResult(
        3,
        (),
        [
            {
                "table_name": "cpu",
                "rows": [
                    {"host": "A", "region": "west", "usage": 1, "system": 23.2, "time": 100},
                    {"f": True, "time": 7},
                ],
            },
            {"table_name": "mem", "rows": [{"host": "B", "f": 1, "time": 5}]},
        ],
    )
    assert list(result.table_batches[0]["rows"][0]) == ["host", "region", "usage", "system", "time"]


def test_type_conflict_is_rejected_with_line_and_column(store: MemoryStore) -> None:
    store.write_lp("db", "t,a=1 f1=1.5 1")
    result = store.write_lp("db", "t,a=2 f1=2.5 2\nt,a=3 f1=3i 3\nt,a=4 f1=4.5 4")
    assert result.lines_written == 2
    (err,) = result.errors
    assert err.line_number == 2
    assert "f1" in str(err)
    assert "line 2" in str(err)
    assert [row["f1"] for row in store.query("db", "SELECT f1 FROM t ORDER BY time")] == [
        1.5,
        2.5,
        4.5,
    ]


def test_conflict_within_one_write_and_tag_vs_field(store: MemoryStore) -> None:
    result = store.write_lp("db", "t f=1i 1\nt f=1 2\nt,f=x g=1 3\nt g=1u 4")
    assert result.lines_written == 2
    assert [e.line_number for e in result.errors] == [2, 3]
    assert "column 'f'" in result.errors[1].message


def test_accept_partial_false_rejects_everything(store: MemoryStore) -> None:
    store.write_lp("db", "t f=1 1")
    with pytest.raises(WriteError) as info:
        store.write_lp("db", "t f=2 2\nt f=x 3\nt f=3i 4", accept_partial=False)
    assert len(info.value.errors) == 2
    assert "line 2" in info.value.errors[0]
    assert "f" in str(info.value)
    assert store.query("db", "SELECT count(*) FROM t") == [{"count(*)": 1}]


def test_all_lines_bad_raises_and_creates_nothing(store: MemoryStore) -> None:
    with pytest.raises(WriteError, match="missing fields"):
        store.write_lp("new", "cpu\nmem")
    assert store.databases() == []


def test_upsert_keeps_omitted_fields(store: MemoryStore) -> None:
    store.write_lp("db", "t,h=a x=1,y=2 10\nt,h=b x=5 10")
    store.write_lp("db", "t,h=a y=3,z=4 10\nt,h=a x=9 11")
    rows = store.query("db", "SELECT * FROM t ORDER BY h, time")
    assert rows == [
        {"h": "a", "x": 1.0, "y": 3.0, "z": 4.0, "time": 10},
        {"h": "a", "x": 9.0, "y": None, "z": None, "time": 11},
        {"h": "b", "x": 5.0, "y": None, "z": None, "time": 10},
    ]
    store.write_lp("db", "t,h=a x=7 10")  # a table already materialised deduplicates again
    assert store.query(
        "db", "SELECT x, y FROM t WHERE h = 'a' AND time = to_timestamp_nanos(10)"
    ) == [{"x": 7.0, "y": 3.0}]


def test_query_with_sparse_fields(store: MemoryStore) -> None:
    store.write_lp("db", 'm,t=a f1=1i 1\nm,u=b f2="s" 2')
    assert store.query("db", "SELECT * FROM m ORDER BY time") == [
        {"t": "a", "u": None, "f1": 1, "f2": None, "time": 1},
        {"t": None, "u": "b", "f1": None, "f2": "s", "time": 2},
    ]


def test_information_schema_types(store: MemoryStore) -> None:
    store.write_lp("db", 'w,tag=x i=1i,u=1u,f=1.5,b=true,s="x" 1')
    rows = store.query(
        "db",
        "SELECT column_name, data_type FROM information_schema.columns "
        "WHERE table_name = 'w' ORDER BY ordinal_position",
    )
    assert [(r["column_name"], r["data_type"]) for r in rows] == [
        ("tag", "Dictionary(Int32, Utf8)"),
        ("b", "Boolean"),
        ("f", "Float64"),
        ("i", "Int64"),
        ("s", "Utf8"),
        ("u", "UInt64"),
        ("time", "Timestamp(ns)"),
    ]
    fields = store.query(
        "db",
        "SELECT column_name FROM information_schema.columns WHERE table_name = $m "
        "AND data_type IN ('Int64','Float64','UInt64') ORDER BY column_name",
        {"m": "w"},
    )
    assert fields == [{"column_name": "f"}, {"column_name": "i"}, {"column_name": "u"}]


def test_show_tables_and_dotted_names(store: MemoryStore) -> None:
    store.write_lp("db", "cpu f=1 1\n_system.model_checkpoints,plugin=p chunk_index=0i 2")
    rows = store.query("db", "SHOW TABLES")
    user = [r["table_name"] for r in rows if r["table_type"] == "BASE TABLE"]
    assert sorted(user) == ["_system.model_checkpoints", "cpu"]
    assert {r["table_schema"] for r in rows if r["table_type"] == "BASE TABLE"} == {"iox"}
    assert store.tables("db") == ["_system.model_checkpoints", "cpu"]
    assert store.query("db", 'SELECT plugin FROM "_system.model_checkpoints"') == [{"plugin": "p"}]
    assert store.query("db", "SELECT f FROM 'cpu'") == [{"f": 1.0}]


def _home(store: MemoryStore) -> None:
    lines = [
        f"home,room=Kitchen temp=20.0,hum=40.0 {T0}",
        f"home,room=Kitchen temp=22.0,hum=41.0 {T0 + 5 * MINUTE}",
        f"home,room=Kitchen temp=23.0,hum=42.0 {T0 + 12 * MINUTE}",
        f"home,room=Living temp=19.0,hum=50.0 {T0 + 1 * MINUTE}",
        f"home,room=Kitchen temp=99.0,hum=99.0 {T0 + 65 * MINUTE}",
    ]
    store.write_lp("home_db", "\n".join(lines))


def test_downsampler_query(store: MemoryStore) -> None:
    _home(store)
    sql = """SELECT DATE_BIN(INTERVAL '10 minutes', time, '1970-01-01T00:00:00Z') AS _time,
       count(*) AS record_count, MIN(time) AS time_from, MAX(time) AS time_to,
       avg("temp") as "temp_avg", first_value("hum" ORDER BY time) as "hum_first_value", "room"
FROM 'home' WHERE time >= '2026-08-20T10:00:00Z' AND time < '2026-08-20T11:00:00Z'
AND "room" = $tag_val_0
GROUP BY _time, "room" ORDER BY _time"""
    rows = store.query("home_db", sql, {"tag_val_0": "Kitchen"})
    assert rows == [
        {
            "_time": T0,
            "record_count": 2,
            "time_from": T0,
            "time_to": T0 + 5 * MINUTE,
            "temp_avg": 21.0,
            "hum_first_value": 40.0,
            "room": "Kitchen",
        },
        {
            "_time": T0 + 10 * MINUTE,
            "record_count": 1,
            "time_from": T0 + 12 * MINUTE,
            "time_to": T0 + 12 * MINUTE,
            "temp_avg": 23.0,
            "hum_first_value": 42.0,
            "room": "Kitchen",
        },
    ]


def test_date_bin_two_args_and_aggregates(store: MemoryStore) -> None:
    _home(store)
    rows = store.query(
        "home_db",
        "SELECT date_bin(INTERVAL '1 hour', time) AS h, approx_median(temp) AS med, "
        "last_value(hum ORDER BY time) AS last_hum, count(*) FROM home GROUP BY h ORDER BY h",
    )
    assert [r["h"] for r in rows] == [T0, T0 + 60 * MINUTE]
    assert rows[0]["last_hum"] == 42.0
    assert rows[0]["count(*)"] == 4
    assert isinstance(rows[0]["med"], float)


def test_get_tag_names_query(store: MemoryStore) -> None:
    _home(store)
    sql = (
        "SELECT column_name FROM information_schema.columns "
        "WHERE table_name = $table AND data_type = $data_type"
    )
    params = {"table": "home", "data_type": "Dictionary(Int32, Utf8)"}
    assert store.query("home_db", sql, params) == [{"column_name": "room"}]


def test_valuecounter_query(store: MemoryStore) -> None:
    lines = [
        f"http_requests,host=h{i % 2},status={200 if i < 3 else 500} n=1i {i}" for i in range(6)
    ]
    store.write_lp("db", "\n".join(lines))
    sql = """SELECT "host", "status", COUNT(*) AS cnt FROM "http_requests"
WHERE time >= to_timestamp_nanos(arrow_cast($start_ns, 'Int64'))
AND time < to_timestamp_nanos(arrow_cast($end_ns, 'Int64'))
GROUP BY "host", "status" ORDER BY "host", "status" """
    rows = store.query("db", sql, {"start_ns": "1", "end_ns": "5"})
    assert rows == [
        {"host": "h0", "status": "200", "cnt": 1},
        {"host": "h0", "status": "500", "cnt": 1},
        {"host": "h1", "status": "200", "cnt": 1},
        {"host": "h1", "status": "500", "cnt": 1},
    ]


def test_river_checkpoint_query(store: MemoryStore) -> None:
    now = time.time_ns()
    lines = [
        f"_system.model_checkpoints,plugin=river_anomaly_detector,series_key=s "
        f'model_data="old",chunk_index=0i,chunk_total=1i {now - 48 * 60 * MINUTE}',
        f"_system.model_checkpoints,plugin=river_anomaly_detector,series_key=s "
        f'model_data="a",chunk_index=0i,chunk_total=2i {now - MINUTE}',
        f"_system.model_checkpoints,plugin=river_anomaly_detector,series_key=s "
        f'model_data="b",chunk_index=1i,chunk_total=2i {now - 2 * MINUTE}',
        f"_system.model_checkpoints,plugin=other,series_key=s "
        f'model_data="c",chunk_index=0i,chunk_total=1i {now}',
    ]
    store.write_lp("db", "\n".join(lines))
    sql = """SELECT time, series_key, model_data, chunk_index, chunk_total
FROM "_system.model_checkpoints"
WHERE plugin = 'river_anomaly_detector' AND time > now() - interval '24 hours'
ORDER BY time DESC"""
    assert store.query("db", sql) == [
        {"time": now - MINUTE, "series_key": "s", "model_data": "a", "chunk_index": 0,
         "chunk_total": 2},
        {"time": now - 2 * MINUTE, "series_key": "s", "model_data": "b", "chunk_index": 1,
         "chunk_total": 2},
    ]  # fmt: skip


def test_kafka_dedup_query(store: MemoryStore) -> None:
    base = ns("2026-08-20T10:00:00")
    lines = [f'events msg_id="m{i}" {base + i}' for i in range(4)]
    lines.append(f'events msg_id="m0" {base - 10**9}')
    store.write_lp("db", "\n".join(lines))
    sql = """SELECT DISTINCT "msg_id" FROM "events" WHERE time >= '2026-08-20T10:00:00Z'
AND "msg_id" IN ($dedup_id_0, $dedup_id_1) ORDER BY "msg_id" """
    rows = store.query("db", sql, {"dedup_id_0": "m1", "dedup_id_1": "m3"})
    assert rows == [{"msg_id": "m1"}, {"msg_id": "m3"}]


@pytest.mark.parametrize(
    ("where", "params", "expected"),
    [
        ("f > $v", {"v": "1.5"}, [2, 3]),
        ("i = $v", {"v": "2"}, [2]),
        ("i IN ($a, $b)", {"a": "1", "b": "3"}, [1, 3]),
        ("time >= $t", {"t": "2026-08-20T10:00:02Z"}, [2, 3]),
        ("time < $t", {"t": "2026-08-20T10:00:02+00:00"}, [1]),
        ("time >= $t", {"t": "2026-08-20T10:00:02.000000"}, [2, 3]),
        ("time >= to_timestamp_nanos(arrow_cast($t, 'Int64'))", {"t": str(T0 + 3 * 10**9)}, [3]),
        ("time >= now() - INTERVAL '1 hour'", {}, []),
        ("s = $s", {"s": "x2"}, [2]),
    ],
)
def test_string_params_are_coerced(
    store: MemoryStore, where: str, params: dict[str, str], expected: list[int]
) -> None:
    lines = [f'p,tag=a f={i}.0,i={i}i,s="x{i}" {T0 + i * 10**9}' for i in (1, 2, 3)]
    store.write_lp("db", "\n".join(lines))
    sql = f"SELECT i FROM p WHERE {where} ORDER BY i"  # noqa: S608 - test-authored predicates
    rows = store.query("db", sql, params)
    assert [r["i"] for r in rows] == expected


def test_missing_table_message(store: MemoryStore) -> None:
    store.create_database("foo")
    with pytest.raises(QueryExecutionError) as info:
        store.query("foo", "SELECT foo FROM not_here")
    assert str(info.value) == (
        "error while planning query: Error during planning: table 'public.iox.not_here' not found"
    )


def test_sql_errors_are_query_errors(store: MemoryStore) -> None:
    store.write_lp("db", "t f=1 1")
    with pytest.raises(QueryExecutionError, match=r"^error while planning query: SQL error"):
        store.query("db", "SELEC 1")
    with pytest.raises(QueryExecutionError, match="DDL not supported"):
        store.query("db", "CREATE TABLE x AS SELECT 1")
    with pytest.raises(QueryExecutionError, match="Placeholder"):
        store.query("db", "SELECT f FROM t WHERE f = $missing")
    with pytest.raises(QueryExecutionError, match=r"^error while planning query: type_coercion"):
        store.query("db", "SELECT f FROM t WHERE time = 10")


def test_unsupported_result_type(store: MemoryStore) -> None:
    store.create_database("db")
    with pytest.raises(ValueError, match=r"^Unsupported data type: Float32$"):
        store.query("db", "SELECT arrow_cast(1, 'Float32') AS x")


def test_timestamp_units_and_empty_results(store: MemoryStore) -> None:
    store.create_database("db")
    rows = store.query("db", "SELECT arrow_cast(5, 'Timestamp(Millisecond, None)') AS t")
    assert rows == [{"t": 5_000_000}]
    assert store.query("db", "SELECT 1 AS x WHERE false") == []


def test_missing_and_invalid_databases(store: MemoryStore) -> None:
    with pytest.raises(DatabaseNotFoundError, match=r"^database not found: nope$"):
        store.query("nope", "SELECT 1")
    with pytest.raises(DatabaseNotFoundError):
        store.tables("nope")
    for bad in ("bad db", "", "x" * 512, "a.b"):
        with pytest.raises(InvalidDatabaseNameError):
            store.write_lp(bad, "t f=1")
    with pytest.raises(InvalidDatabaseNameError) as info:
        store.query("bad db", "SELECT 1")
    assert "bad db" in str(info.value)
    assert "contains invalid character" in str(info.value)
    validate_database_name("ok_name-1/x")


def test_create_database_and_databases(store: MemoryStore) -> None:
    store.create_database("b")
    store.create_database("b")
    store.write_lp("a", "t f=1")
    assert store.databases() == ["a", "b"]
    assert store.tables("b") == []
    assert store.query("b", "SELECT 1 AS one") == [{"one": 1}]


def test_validate_lp_does_not_write(store: MemoryStore) -> None:
    store.write_lp("db", "t f1=1 1")
    errors = store.validate_lp("db", "t f1=2 2\nt f1=2i 3\nbad")
    assert [e.line_number for e in errors] == [2, 3]
    assert "f1" in str(errors[0])
    assert store.validate_lp("other", "t f1=1i") == []
    assert store.query("db", "SELECT count(*) AS n FROM t") == [{"n": 1}]
    assert store.databases() == ["db"]


def test_precision_and_default_time(store: MemoryStore) -> None:
    store.write_lp("db", "t f=1 2", precision="s")
    store.write_lp("db", "t f=2", default_time_ns=7)
    assert [r["time"] for r in store.query("db", "SELECT time FROM t ORDER BY time")] == [
        7,
        2 * 10**9,
    ]


def test_copy_is_independent(store: MemoryStore) -> None:
    store.write_lp("db", "t f=1 1")
    assert store.query("db", "SELECT count(*) AS n FROM t") == [{"n": 1}]
    clone = store.copy()
    clone.write_lp("db", "t f=2 2\nt g=1i 3")
    clone.write_lp("other", "x f=1 1")
    store.write_lp("db", "t g=true 4")  # the clone's schema change is not the original's
    assert store.query("db", "SELECT count(*) AS n FROM t") == [{"n": 2}]
    assert clone.query("db", "SELECT count(*) AS n FROM t") == [{"n": 3}]
    assert store.databases() == ["db"]
    assert clone.databases() == ["db", "other"]


def test_concurrent_writes_and_queries(store: MemoryStore) -> None:
    store.write_lp("db", "t,w=init f=0i 0")
    failures: list[BaseException] = []

    def writer(worker: int) -> None:
        try:
            for i in range(20):
                store.write_lp("db", f"t,w=w{worker} f={i}i {i + 1}")
                store.query("db", "SELECT count(*) FROM t")
        except BaseException as exc:  # reported by the main thread
            failures.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    assert store.query("db", "SELECT count(*) AS n FROM t") == [{"n": 81}]


def test_many_small_writes_compact(store: MemoryStore) -> None:
    for i in range(100):
        store.write_lp("db", f"t,h=h{i % 3} f={i}i {i}")
        if i % 10 == 0:
            store.query("db", "SELECT count(*) FROM t")
    rows = store.query("db", "SELECT h, count(*) AS n, sum(f) AS s FROM t GROUP BY h ORDER BY h")
    assert [r["n"] for r in rows] == [34, 33, 33]
    assert sum(r["s"] for r in rows) == sum(range(100))


def _batch(host_count: int, start: int, count: int, value: str) -> str:
    return "\n".join(
        f"t,h=h{i % host_count},r=x f={value},n={i}i {i}" for i in range(start, start + count)
    )


def test_upsert_after_duplicate_free_writes(store: MemoryStore) -> None:
    """Writes proven free of duplicates skip the dedup; a later duplicate still upserts."""
    store.write_lp("db", _batch(3, 0, 30, "1"))
    store.write_lp("db", _batch(3, 30, 30, "2"))
    assert store.query("db", "SELECT count(*) AS n FROM t") == [{"n": 60}]
    store.write_lp("db", "t,r=x,h=h2 f=9 5")  # same series as h=h2,r=x (tag order differs)
    rows = store.query("db", "SELECT h, f, n, time FROM t WHERE time = to_timestamp_nanos(5)")
    assert rows == [{"h": "h2", "f": 9.0, "n": 5, "time": 5}]
    assert store.query("db", "SELECT count(*) AS n FROM t") == [{"n": 60}]
    store.write_lp("db", "t,h=h0,r=x f=3 60")  # out of order for h0 vs nothing written: new
    store.write_lp("db", "t,h=h0,r=x f=4 3")  # older than h0's latest: checked, and a duplicate
    assert store.query("db", "SELECT count(*) AS n FROM t") == [{"n": 61}]
    assert store.query("db", "SELECT f FROM t WHERE time = to_timestamp_nanos(3)") == [{"f": 4.0}]


def test_agent_batches_sharing_timestamps_keep_every_row(store: MemoryStore) -> None:
    """Batches whose series share one timestamp each (as Telegraf writes them) are not
    duplicates; a real repeat of (series, time) in a later batch still upserts."""
    for second in range(3):
        batch = "\n".join(f"cpu,host=h{i} usage={second}.5 {second}" for i in range(100))
        store.write_lp("db", batch)
    assert store.query("db", "SELECT count(*) AS n FROM cpu") == [{"n": 300}]
    store.write_lp("db", "cpu,host=h3 usage=9.5 1")
    assert store.query("db", "SELECT count(*) AS n FROM cpu") == [{"n": 300}]
    rows = store.query("db", "SELECT usage FROM cpu WHERE host = 'h3' ORDER BY time")
    assert rows == [{"usage": 0.5}, {"usage": 9.5}, {"usage": 2.5}]


def test_duplicates_within_one_write(store: MemoryStore) -> None:
    store.write_lp(
        "db", "t,h=a f=1,g=1 1\nt,h=b f=2 1\nt,h=a f=3 1\nt,a=1,b=2 f=5 2\nt,b=2,a=1 f=6 2"
    )
    rows = store.query("db", "SELECT h, a, f, g FROM t ORDER BY time, h")
    assert rows == [
        {"h": "a", "a": None, "f": 3.0, "g": 1.0},
        {"h": "b", "a": None, "f": 2.0, "g": None},
        {"h": None, "a": "1", "f": 6.0, "g": None},
    ]


def test_write_order_is_kept_across_series_and_shapes(store: MemoryStore) -> None:
    text = "t,h=a f=1 5\nt,h=b f=2 4\nt,h=a g=1i 3\nt,h=b f=3 2\nt,h=a f=4 1"
    result = store.write_lp("db", text)
    assert [row["time"] for row in result.table_batches[0]["rows"]] == [5, 4, 3, 2, 1]
    assert [row["time"] for row in store.query("db", "SELECT time FROM t")] == [5, 4, 3, 2, 1]


def test_copy_keeps_duplicate_tracking_apart(store: MemoryStore) -> None:
    store.write_lp("db", "t,h=a f=1 1\nt,h=a f=2 2")
    assert store.query("db", "SELECT count(*) AS n FROM t") == [{"n": 2}]
    clone = store.copy()
    clone.write_lp("db", "t,h=a f=9 2")
    store.write_lp("db", "t,h=a f=3 3")
    assert clone.query("db", "SELECT f FROM t ORDER BY time") == [{"f": 1.0}, {"f": 9.0}]
    assert store.query("db", "SELECT f FROM t ORDER BY time") == [
        {"f": 1.0},
        {"f": 2.0},
        {"f": 3.0},
    ]


def test_duplicate_tracking_continues_while_a_dedup_is_due(store: MemoryStore) -> None:
    store.write_lp("db", "t,h=a f=1 1\nt,h=a f=2 10")
    store.write_lp("db", "t,h=a f=3 5")  # a duplicate-check is due from here on
    store.write_lp("db", "t,h=a f=4 20")  # still recorded as h=a's latest time
    assert store.query("db", "SELECT count(*) AS n FROM t") == [{"n": 4}]
    store.write_lp("db", "t,h=a f=5 20")  # a duplicate of the row at 20, not "after 10"
    assert store.query("db", "SELECT f FROM t ORDER BY time") == [
        {"f": 1.0},
        {"f": 3.0},
        {"f": 2.0},
        {"f": 5.0},
    ]


def test_line_column_name_cannot_clash(store: MemoryStore) -> None:
    store.write_lp("db", "t,h=a _line=1i 2\nt,h=b f=2 1\nt,h=a _line=3i 0")
    store.write_lp("db", "t,h=a _line_=1i 3\nt,h=b f=2 4")
    assert store.query("db", "SELECT * FROM t ORDER BY time") == [
        {"h": "a", "_line": 3, "_line_": None, "f": None, "time": 0},
        {"h": "b", "_line": None, "_line_": None, "f": 2.0, "time": 1},
        {"h": "a", "_line": 1, "_line_": None, "f": None, "time": 2},
        {"h": "a", "_line": None, "_line_": 1, "f": None, "time": 3},
        {"h": "b", "_line": None, "_line_": None, "f": 2.0, "time": 4},
    ]


def test_http_rows_carry_iso_timestamps_like_influxdb3() -> None:
    from engine_runtime.store import batches_to_rows

    store = MemoryStore()
    store.write_lp("db", "m v=1i 5000000000\nm v=2i 5500000000\nm v=3i 5000000123")
    batches = store.query_batches("db", "SELECT time FROM m ORDER BY time")
    assert [r["time"] for r in batches_to_rows(batches, iso_timestamps=True)] == [
        "1970-01-01T00:00:05",
        "1970-01-01T00:00:05.000000123",
        "1970-01-01T00:00:05.500",
    ]


def test_query_schema_plans_without_running(store: MemoryStore, tmp_path: Path) -> None:
    """What Flight SQL's ``GetFlightInfo`` sends: the schema `query_stream` would give."""
    query = "SELECT host, v FROM m WHERE v >= $k"
    durable = DurableStore(tmp_path / "data")
    try:
        for each in (store, durable):
            each.write_lp("db", "m,host=a v=1i 5000000000")
            schema, _ = each.query_stream("db", query, {"k": "2"})
            assert each.query_schema("db", query, {"k": "2"}).equals(schema)
            with pytest.raises(DatabaseNotFoundError):
                each.query_schema("nope", query)
    finally:
        durable.close()
