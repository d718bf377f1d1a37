"""InfluxQL run against a real `MemoryStore`: exact series for each kind of query."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from engine_runtime.errors import DatabaseNotFoundError, InfluxQLError
from engine_runtime.influxql import StoreBackend, query_table, run_query, v1_json
from engine_runtime.line_protocol.parse import precision_factor
from engine_runtime.store import DurableStore, MemoryStore

T0 = 1_704_067_200  # 2024-01-01T00:00:00Z
NS = 1_000_000_000
NOW = (T0 + 300) * NS  # 2024-01-01T00:05:00Z
LINES = f"""\
cpu,host=a,region=eu v=1.0,i=10i {T0}
cpu,host=a,region=eu v=3.0,i=20i {T0 + 60}
cpu,host=b,region=us v=2.0 {T0 + 30}
cpu,host=b,region=us v=6.0 {T0 + 90}
cpu,host=b,region=us v=4.0,s="x",up=true {T0 + 150}
cpu v=10.0 {T0 + 200}
mem,host=a free=5u {T0}
"""
FROM_T0 = "time >= '2024-01-01T00:00:00Z'"
TO_5M = "time < '2024-01-01T00:05:00Z'"


@pytest.fixture(scope="module")
def backend() -> StoreBackend:
    store = MemoryStore()
    store.write_lp("db", LINES, precision="s")
    store.write_lp("db/weekly", f"cpu v=1.0 {T0}", precision="s")
    return StoreBackend(store)


def results(backend: StoreBackend, query: str, **kwargs: Any) -> list[dict[str, Any]]:
    answer = v1_json(run_query(backend, "db", query, now=NOW), **kwargs)
    found: list[dict[str, Any]] = answer["results"]
    return found


def series(backend: StoreBackend, query: str, **kwargs: Any) -> list[dict[str, Any]]:
    (result,) = results(backend, query, **kwargs)
    assert "error" not in result, result
    found: list[dict[str, Any]] = result.get("series", [])
    return found


def values(backend: StoreBackend, query: str) -> list[list[Any]]:
    (only,) = series(backend, query)
    rows: list[list[Any]] = only["values"]
    return rows


# -- raw queries ------------------------------------------------------------------------------


def test_select_star_is_time_then_fields_and_tags_by_name(backend: StoreBackend) -> None:
    assert series(backend, "SELECT * FROM cpu WHERE region =~ /u/ OR i > 15") == [
        {
            "name": "cpu",
            "columns": ["time", "host", "i", "region", "s", "up", "v"],
            "values": [
                ["2024-01-01T00:00:00Z", "a", 10, "eu", None, None, 1.0],
                ["2024-01-01T00:00:30Z", "b", None, "us", None, None, 2.0],
                ["2024-01-01T00:01:00Z", "a", 20, "eu", None, None, 3.0],
                ["2024-01-01T00:01:30Z", "b", None, "us", None, None, 6.0],
                ["2024-01-01T00:02:30Z", "b", None, "us", "x", True, 4.0],
            ],
        }
    ]


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        ("host != 'a'", [2.0, 6.0, 4.0, 10.0]),  # a point without the tag has ''
        ("host = ''", [10.0]),
        ("host <> 'a' AND host !~ /^b/", [10.0]),
        ("host =~ /a|b/ AND (v > 2 OR i = 10)", [1.0, 3.0, 6.0, 4.0]),
        ("s = 'x' AND up = true", [4.0]),
        ("nosuch = 'x'", []),
        ("time >= 1704067260s AND time <= '2024-01-01T00:01:30Z'", [3.0, 6.0]),
        ("time > '2024-01-01T01:00:00+01:00' AND time < 1704067230000000000", []),
        ("time >= '2024-01-01T00:00:30.000Z' - 30s AND time <= now() - 4m30s", [1.0, 2.0]),
        ("nosuch = ''", [1.0, 2.0, 3.0, 6.0, 4.0, 10.0]),
    ],
)
def test_where_on_tags_fields_and_time(
    backend: StoreBackend, where: str, expected: list[float]
) -> None:
    found = series(backend, f"SELECT v FROM cpu WHERE {where}")
    assert [row[1] for s in found for row in s["values"]] == expected


def test_rows_without_any_selected_field_are_left_out(backend: StoreBackend) -> None:
    assert values(backend, "SELECT i, host FROM cpu") == [
        ["2024-01-01T00:00:00Z", 10, "a"],
        ["2024-01-01T00:01:00Z", 20, "a"],
    ]
    assert series(backend, "SELECT host FROM cpu") == []  # tags alone select nothing


def test_order_limit_offset_apply_per_series_and_slimit_to_series(backend: StoreBackend) -> None:
    assert values(backend, "SELECT v FROM cpu ORDER BY time DESC LIMIT 2 OFFSET 1") == [
        ["2024-01-01T00:02:30Z", 4.0],
        ["2024-01-01T00:01:30Z", 6.0],
    ]
    found = series(backend, "SELECT v FROM cpu GROUP BY host ORDER BY time DESC LIMIT 1 SLIMIT 2")
    # with DESC, InfluxDB lists the series in reverse too
    assert [(s["tags"], s["values"]) for s in found] == [
        ({"host": "b"}, [["2024-01-01T00:02:30Z", 4.0]]),
        ({"host": "a"}, [["2024-01-01T00:01:00Z", 3.0]]),
    ]
    found = series(backend, "SELECT v FROM cpu GROUP BY host SOFFSET 2")
    assert [s["tags"] for s in found] == [{"host": "b"}]


def test_arithmetic_and_generated_column_names(backend: StoreBackend) -> None:
    (only,) = series(backend, "SELECT v * 2, v + i, i / 4 AS quarter, v FROM cpu WHERE host = 'a'")
    assert only["columns"] == ["time", "v", "v_i", "quarter", "v_1"]
    assert only["values"] == [
        ["2024-01-01T00:00:00Z", 2.0, 11.0, 2.5, 1.0],
        ["2024-01-01T00:01:00Z", 6.0, 23.0, 5.0, 3.0],
    ]


# -- aggregates -------------------------------------------------------------------------------


def test_aggregates_take_the_range_start_as_time(backend: StoreBackend) -> None:
    query = (
        "SELECT mean(v), median(v), count(v), sum(i), spread(v), stddev(i), "
        f"percentile(v, 50), first(v), last(v), min(v), max(v) FROM cpu WHERE {FROM_T0}"
    )
    (only,) = series(backend, query)
    assert only["columns"] == [
        "time",
        "mean",
        "median",
        "count",
        "sum",
        "spread",
        "stddev",
        "percentile",
        "first",
        "last",
        "min",
        "max",
    ]
    assert only["values"] == [
        ["2024-01-01T00:00:00Z", 26 / 6, 3.5, 6, 30, 9.0, 50**0.5, 3.0, 1.0, 10.0, 1.0, 10.0]
    ]
    # no lower bound: the epoch; "time > t" starts one nanosecond after t
    assert values(backend, "SELECT count(v) FROM cpu") == [["1970-01-01T00:00:00Z", 6]]
    assert values(backend, f"SELECT count(v) FROM cpu WHERE time > {T0}s") == [
        ["2024-01-01T00:00:00.000000001Z", 5]
    ]


def test_a_lone_selector_takes_its_points_time_and_values(backend: StoreBackend) -> None:
    assert values(
        backend, "SELECT max(v), host, i FROM cpu WHERE time < '2024-01-01T00:03:00Z'"
    ) == [["2024-01-01T00:01:30Z", 6.0, "b", None]]
    assert values(backend, "SELECT first(i) FROM cpu") == [["2024-01-01T00:00:00Z", 10]]
    assert values(backend, "SELECT last(v) FROM cpu") == [["2024-01-01T00:03:20Z", 10.0]]
    assert values(backend, "SELECT percentile(v, 90) FROM cpu") == [["2024-01-01T00:01:30Z", 6.0]]


def test_wildcard_aggregates_and_group_by_star(backend: StoreBackend) -> None:
    assert series(backend, "SELECT count(*) FROM cpu") == [
        {
            "name": "cpu",
            "columns": ["time", "count_i", "count_s", "count_up", "count_v"],
            "values": [["1970-01-01T00:00:00Z", 2, 1, 1, 6]],
        }
    ]
    found = series(backend, "SELECT mean(*) FROM cpu GROUP BY *")
    assert [(s["tags"], s["columns"], s["values"][0][1:]) for s in found] == [
        ({"host": "", "region": ""}, ["time", "mean_i", "mean_v"], [None, 10.0]),
        ({"host": "a", "region": "eu"}, ["time", "mean_i", "mean_v"], [15.0, 2.0]),
        ({"host": "b", "region": "us"}, ["time", "mean_i", "mean_v"], [None, 4.0]),
    ]


# -- GROUP BY time and fill -------------------------------------------------------------------


def _buckets(backend: StoreBackend, select: str, rest: str = "") -> list[list[Any]]:
    query = f"SELECT {select} FROM cpu WHERE {FROM_T0} AND {TO_5M} GROUP BY time(1m) {rest}"
    return values(backend, query)


def test_buckets_with_each_fill(backend: StoreBackend) -> None:
    minutes = [f"2024-01-01T00:0{m}:00Z" for m in range(5)]
    assert _buckets(backend, "mean(v)") == [
        list(r) for r in zip(minutes, [1.5, 4.5, 4.0, 10.0, None], strict=True)
    ]
    assert _buckets(backend, "mean(v)", "fill(none)") == [
        [minutes[0], 1.5],
        [minutes[1], 4.5],
        [minutes[2], 4.0],
        [minutes[3], 10.0],
    ]
    assert _buckets(backend, "mean(i)", "fill(0)") == [
        [minutes[0], 10.0],
        [minutes[1], 20.0],
        [minutes[2], 0],
        [minutes[3], 0],
        [minutes[4], 0],
    ]
    typed = _buckets(backend, "max(i), count(v)", "fill(2.5)")  # fill(N) takes the column's type
    assert typed[4] == [minutes[4], 2, 2]
    assert isinstance(typed[4][1], int)
    assert _buckets(backend, "max(i)", "fill(previous)")[2:] == [
        [minutes[2], 20],
        [minutes[3], 20],
        [minutes[4], 20],
    ]
    assert _buckets(backend, "count(v), count(i)") == [
        [minutes[0], 2, 1],
        [minutes[1], 2, 1],
        [minutes[2], 1, 0],
        [minutes[3], 1, 0],
        [minutes[4], 0, 0],  # count() reports 0 where there is no data
    ]


def test_linear_fill_interpolates_between_buckets(backend: StoreBackend) -> None:
    query = (
        f"SELECT max(i), mean(v) FROM cpu WHERE {FROM_T0} AND time < '2024-01-01T00:01:30Z' "
        "AND host = 'a' GROUP BY time(15s) fill(linear)"
    )
    assert values(backend, query) == [
        ["2024-01-01T00:00:00Z", 10, 1.0],
        ["2024-01-01T00:00:15Z", 12, 1.5],
        ["2024-01-01T00:00:30Z", 15, 2.0],
        ["2024-01-01T00:00:45Z", 17, 2.5],
        ["2024-01-01T00:01:00Z", 20, 3.0],
        ["2024-01-01T00:01:15Z", None, None],
    ]


def test_group_by_time_and_tag_with_offset_and_descending(backend: StoreBackend) -> None:
    query = (
        f"SELECT sum(v) FROM cpu WHERE {FROM_T0} AND {TO_5M} AND host = 'b' "
        "GROUP BY time(2m, 1m), host fill(none) ORDER BY time DESC"
    )
    assert series(backend, query) == [
        {
            "name": "cpu",
            "tags": {"host": "b"},
            "columns": ["time", "sum"],
            "values": [["2024-01-01T00:01:00Z", 10.0], ["2023-12-31T23:59:00Z", 2.0]],
        }
    ]


def test_group_by_time_ends_at_now_without_an_upper_bound(backend: StoreBackend) -> None:
    rows = values(backend, "SELECT count(v) FROM cpu WHERE time > now() - 2m GROUP BY time(1m)")
    assert rows == [
        ["2024-01-01T00:03:00Z", 1],
        ["2024-01-01T00:04:00Z", 0],
        ["2024-01-01T00:05:00Z", 0],
    ]


def test_tz_aligns_days_and_prints_local_times(backend: StoreBackend) -> None:
    query = (
        "SELECT count(v) FROM cpu WHERE time >= '2023-12-31T00:00:00Z' "
        "AND time < '2024-01-02T00:00:00Z' GROUP BY time(1d) tz('Europe/Paris')"
    )
    assert values(backend, query) == [
        ["2023-12-31T00:00:00+01:00", 0],
        ["2024-01-01T00:00:00+01:00", 6],
        ["2024-01-02T00:00:00+01:00", 0],
    ]
    local = "SELECT v FROM cpu WHERE time = '2024-01-01 01:00:00' tz('Europe/Paris')"
    assert values(backend, local) == [["2024-01-01T01:00:00+01:00", 1.0]]


def test_epoch_gives_integer_times(backend: StoreBackend) -> None:
    query = "SELECT v FROM cpu WHERE host = 'a'"
    assert values_epoch(backend, query, "ms") == [[T0 * 1000, 1.0], [(T0 + 60) * 1000, 3.0]]
    assert values_epoch(backend, query, "h") == [[T0 // 3600, 1.0], [T0 // 3600, 3.0]]
    assert values_epoch(backend, query, "ns")[0][0] == T0 * NS


def values_epoch(backend: StoreBackend, query: str, epoch: str) -> list[list[Any]]:
    (only,) = series(backend, query, epoch=epoch)
    rows: list[list[Any]] = only["values"]
    return rows


# -- sources, errors, the v3 table ------------------------------------------------------------


def test_sources_regex_qualified_and_several(backend: StoreBackend) -> None:
    found = series(backend, "SELECT * FROM /^(cpu|mem)$/ WHERE host = 'a' AND time <= 1704067200s")
    # several measurements: each series has the union of their columns, as in InfluxDB
    assert found[0]["columns"] == ["time", "free", "host", "i", "region", "s", "up", "v"]
    assert [(s["name"], s["values"]) for s in found] == [
        ("cpu", [["2024-01-01T00:00:00Z", None, "a", 10, "eu", None, None, 1.0]]),
        ("mem", [["2024-01-01T00:00:00Z", 5, "a", None, None, None, None, None]]),
    ]
    assert values(backend, 'SELECT v FROM "db"."weekly"."cpu"') == [["2024-01-01T00:00:00Z", 1.0]]
    assert values(backend, "SELECT v FROM weekly.cpu") == [["2024-01-01T00:00:00Z", 1.0]]
    assert len(values(backend, "SELECT v FROM db.autogen.cpu")) == 6


def test_each_statement_answers_on_its_own(backend: StoreBackend) -> None:
    answer = results(
        backend,
        "SELECT mean(s) FROM cpu; SELECT mean(v), host FROM cpu; SELECT integral(v) FROM cpu; "
        "SELECT v FROM nope; SELECT v FROM other.autogen.cpu; SELECT count(v) FROM cpu",
    )
    assert answer == [
        {
            "statement_id": 0,
            "error": "InfluxQL: mean() needs a numeric field, and s is a string field",
        },
        {
            "statement_id": 1,
            "error": "InfluxQL: mixing aggregate and non-aggregate queries is not supported",
        },
        {
            "statement_id": 2,
            "error": "InfluxQL: the function integral() is not supported; use one of bottom(), "
            "count(), cumulative_sum(), derivative(), difference(), distinct(), first(), last(), "
            "max(), mean(), median(), min(), mode(), moving_average(), non_negative_derivative(), "
            "non_negative_difference(), percentile(), spread(), stddev(), sum(), top()",
        },
        {"statement_id": 3},
        {"statement_id": 4, "error": "database not found: other"},
        {
            "statement_id": 5,
            "series": [
                {
                    "name": "cpu",
                    "columns": ["time", "count"],
                    "values": [["1970-01-01T00:00:00Z", 6]],
                }
            ],
        },
    ]
    no_db = v1_json(run_query(backend, None, "SELECT v FROM cpu"))
    assert no_db == {"results": [{"statement_id": 0, "error": "database name required"}]}


def test_query_table_is_influxdb3s_shape(backend: StoreBackend) -> None:
    query = (
        f"SELECT mean(v), count(v) FROM cpu WHERE {FROM_T0} AND time < '2024-01-01T00:02:00Z' "
        "GROUP BY time(1m), host fill(none)"
    )
    table = query_table(backend, "db", query, now=NOW)
    assert table.schema.names == ["iox::measurement", "time", "host", "mean", "count"]
    assert table.schema.field("time").type == pa.timestamp("ns")
    assert table.schema.field("host").type == pa.string()
    assert table.schema.field("count").type == pa.int64()
    rows = [
        (r["host"], r["time"].value // NS - T0, r["mean"], r["count"]) for r in table.to_pylist()
    ]
    assert rows == [("a", 0, 1.0, 1), ("a", 60, 3.0, 1), ("b", 0, 2.0, 1), ("b", 60, 6.0, 1)]
    assert set(table.column("iox::measurement").to_pylist()) == {"cpu"}
    shown = query_table(backend, "db", "SHOW FIELD KEYS FROM mem")
    assert shown.to_pylist() == [
        {"iox::measurement": "mem", "fieldKey": "free", "fieldType": "unsigned"}
    ]
    with pytest.raises(DatabaseNotFoundError):
        query_table(backend, "nope", "SELECT v FROM cpu")
    with pytest.raises(InfluxQLError, match="INTO is not supported"):
        query_table(backend, "db", "SELECT v INTO x FROM cpu")


def test_v1_hour_and_minute_precisions_survive_a_wal_replay(tmp_path: Path) -> None:
    options = {"flush_interval": 0.01, "persist_on_close": False}
    store = DurableStore(tmp_path / "data", **options)
    store.write_lp("db", "m,p=h v=1 474000", precision="hour")
    store.write_lp("db", "m,p=m v=2 28440000", precision="minute")
    store.close()
    replayed = DurableStore(tmp_path / "data", **options)
    try:
        rows = run_query(StoreBackend(replayed), "db", "SELECT v FROM m GROUP BY p")
        found = v1_json(rows, epoch="s")["results"][0]["series"]
        assert [(s["tags"], s["values"]) for s in found] == [
            ({"p": "h"}, [[474000 * 3600, 1.0]]),
            ({"p": "m"}, [[28440000 * 60, 2.0]]),
        ]
    finally:
        replayed.close()
    with pytest.raises(ValueError, match="invalid precision 'h'"):
        precision_factor("h")  # only the v1 route's names, mapped to minute and hour


def test_transformations_picks_and_subqueries(backend: StoreBackend) -> None:
    """The differential test checks these against InfluxDB 1.x; here they run without it."""
    assert values(backend, "SELECT difference(v) FROM cpu WHERE host = 'b'") == [
        ["2024-01-01T00:01:30Z", 4.0],
        ["2024-01-01T00:02:30Z", -2.0],
    ]
    assert values(backend, "SELECT top(v, 2) FROM cpu") == [
        ["2024-01-01T00:01:30Z", 6.0],
        ["2024-01-01T00:03:20Z", 10.0],
    ]
    query = "SELECT max(m) FROM (SELECT mean(v) AS m FROM cpu GROUP BY host)"
    assert values(backend, query) == [["1970-01-01T00:00:00Z", 10.0]]
    (error,) = results(backend, "SELECT derivative(s) FROM cpu")
    assert error["error"] == "InfluxQL: derivative() needs a numeric field, not a string"


@pytest.mark.parametrize(
    ("query", "message"),
    [
        (
            "SELECT derivative(v) * 2 FROM cpu",
            "InfluxQL: derivative() inside another expression is not supported; "
            "select derivative() on its own",
        ),
        ("SELECT derivative(v), mean(v) FROM cpu", "derivative() must be the only field"),
        ("SELECT derivative(mean(v)) FROM cpu", "derivative() of an aggregate needs GROUP BY"),
        (
            "SELECT difference(v) FROM cpu GROUP BY time(1m)",
            "aggregate function required inside the call to difference()",
        ),
        ("SELECT moving_average(v, 1) FROM cpu", "a window of 2 or more"),
        ("SELECT top(v) FROM cpu", "top() takes a field, optional tags and N (1 or more)"),
        ("SELECT mode(v), mean(v) FROM cpu", "mode() must be the only function"),
        ("SELECT v FROM cpu, (SELECT v FROM cpu)", "cannot stand beside a measurement"),
    ],
)
def test_transformations_and_picks_refuse_what_influxql_refuses(
    backend: StoreBackend, query: str, message: str
) -> None:
    (result,) = results(backend, query)
    assert message in result["error"]
