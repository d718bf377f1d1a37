"""InfluxQL -> SQL and the pure pieces around it: time ranges, times, fill, wire shapes."""

from __future__ import annotations

from zoneinfo import ZoneInfo

import pytest

from engine_runtime.errors import InfluxQLError
from engine_runtime.influxql import Series, StatementResult, database_for, parse_statement
from engine_runtime.influxql.fill import MAX_BUCKETS, bucket_start, fill_buckets
from engine_runtime.influxql.nodes import Fill, SelectStatement
from engine_runtime.influxql.results import results_table, v1_chunks, v1_json
from engine_runtime.influxql.schema import MeasurementSchema, schemas_from_columns
from engine_runtime.influxql.timerange import TimeRange, format_time, parse_time, split_condition
from engine_runtime.influxql.translate import SelectPlan, plan_select

NS = 1_000_000_000
T0 = 1_704_067_200 * NS  # 2024-01-01T00:00:00Z
CPU = MeasurementSchema("cpu", ("host", "region"), (("s", "string"), ("v", "float")))


def plan(query: str, *, now: int = T0) -> SelectPlan:
    statement = parse_statement(query)
    assert isinstance(statement, SelectStatement)
    return plan_select(statement, CPU, now=now, zone=None)


def test_bucket_query_sql() -> None:
    found = plan(
        "SELECT mean(v) FROM cpu WHERE time >= '2024-01-01T00:00:00Z' AND host =~ /^a/ "
        "GROUP BY time(1m, 30s), host fill(none)"
    )
    assert found.sql == (
        "SELECT date_bin(INTERVAL '60000000000 nanoseconds', time, "
        "arrow_cast(30000000000, 'Timestamp(Nanosecond, None)')) AS _time, "
        'coalesce(CAST("host" AS VARCHAR), \'\') AS _g0, avg(CAST("v" AS DOUBLE)) AS _c0, '
        'count(*) AS _n FROM "cpu" '
        "WHERE time >= arrow_cast(1704067200000000000, 'Timestamp(Nanosecond, None)') "
        "AND time <= arrow_cast(1704067200000000000, 'Timestamp(Nanosecond, None)') "
        "AND (coalesce(CAST(\"host\" AS VARCHAR), '') ~ '^a') AND (\"v\" IS NOT NULL) "
        "GROUP BY 1, 2"
    )
    assert (found.mode, found.interval, found.origin, found.group_tags) == (
        "buckets",
        60 * NS,
        30 * NS,
        ("host",),
    )


def test_raw_query_sql_pushes_limits_down_without_tags() -> None:
    found = plan("SELECT v, host FROM cpu WHERE s = 'it\\'s' ORDER BY time DESC LIMIT 3 OFFSET 1")
    assert found.sql == (
        'SELECT time AS _time, "v" AS _c0, CAST("host" AS VARCHAR) AS _c1 FROM "cpu" '
        "WHERE (\"s\" = 'it''s') AND (\"v\" IS NOT NULL) ORDER BY _time DESC, "
        "concat_ws(',', 'host=' || CAST(\"host\" AS VARCHAR), "
        "'region=' || CAST(\"region\" AS VARCHAR)) DESC LIMIT 3 OFFSET 1"
    )
    assert found.limited
    assert not plan("SELECT v FROM cpu GROUP BY host LIMIT 3").limited


def test_selector_sql_carries_its_time() -> None:
    found = plan("SELECT percentile(v, 95) FROM cpu")
    assert found.selector_time
    assert found.sql is not None
    assert (
        'array_element(array_agg("v" ORDER BY "v", time) FILTER (WHERE "v" IS NOT NULL), '
        in found.sql
    )
    assert 'CAST(floor(count("v") * 95 / 100.0 + 0.5) AS BIGINT)' in found.sql
    assert 'first_value(time ORDER BY time DESC, "v" DESC) FILTER' in (
        plan("SELECT last(v) FROM cpu").sql or ""
    )


def test_nothing_to_query() -> None:
    assert plan("SELECT v FROM cpu WHERE time > 10 AND time < 5").sql is None
    assert plan("SELECT nosuch FROM cpu").sql is None
    assert plan("SELECT host FROM cpu").sql is None


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("SELECT v FROM cpu GROUP BY time(1m)", "GROUP BY time() needs a function"),
        ("SELECT mean(v) FROM cpu GROUP BY time(1m), time(2m)", "only one time() dimension"),
        ("SELECT mean(host) FROM cpu", "mean() needs a field, and host is a tag"),
        ("SELECT sum(s) FROM cpu", "sum() needs a numeric field, and s is a string field"),
        ("SELECT percentile(v) FROM cpu", "percentile() takes 2 arguments, got 1"),
        ("SELECT percentile(v, s) FROM cpu", "percentile() takes a number"),
        ("SELECT count(distinct(v)) FROM cpu", "distinct() inside count() is not supported"),
        ("SELECT integral(v) FROM cpu", "the function integral() is not supported"),
        ("SELECT max(v), min(v), host FROM cpu", "mixing aggregate and non-aggregate"),
        ("SELECT v FROM cpu WHERE time != now()", "this time condition is not supported"),
        ("SELECT v FROM cpu WHERE time > v", "time can be compared only with now()"),
        ("SELECT v FROM cpu WHERE time > 'yesterday'", "invalid time 'yesterday'"),
        ("SELECT v FROM cpu WHERE time > now(1)", "time can be compared only with now()"),
        ("SELECT v FROM cpu WHERE mean(v) > 1", "mean() here is not supported"),
        ("SELECT v FROM cpu WHERE v", "a WHERE condition must compare a tag or a field"),
        ("SELECT v FROM cpu GROUP BY /(/", "invalid regex /(/"),
    ],
)
def test_refusals_name_the_problem(query: str, message: str) -> None:
    with pytest.raises(InfluxQLError) as caught:
        plan(query)
    assert str(caught.value).startswith("InfluxQL: ")
    assert message in str(caught.value)


def test_a_comparison_of_a_tag_with_a_number_matches_nothing() -> None:
    assert "WHERE FALSE AND" in (plan("SELECT v FROM cpu WHERE host = 5").sql or "")


# -- time -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "nanoseconds"),
    [
        ("2024-01-01T00:00:00Z", T0),
        ("2024-01-01T00:00:00.123456789Z", T0 + 123_456_789),
        ("2024-01-01T00:00:00.5z", T0 + NS // 2),
        ("2024-01-01T01:00:00+01:00", T0),
        ("2023-12-31T19:00:00-0500", T0),
        ("2024-01-01 00:00:00", T0),
        ("2024-01-01", T0),
        ("1969-12-31T23:59:59Z", -NS),
    ],
)
def test_parse_time(text: str, nanoseconds: int) -> None:
    assert parse_time(text) == nanoseconds


def test_parse_time_without_offset_uses_the_zone() -> None:
    assert parse_time("2024-01-01 01:00:00", ZoneInfo("Europe/Paris")) == T0
    assert parse_time("2024-07-01 02:00:00", ZoneInfo("Europe/Paris")) == parse_time(
        "2024-07-01T00:00:00Z"
    )


def test_format_time() -> None:
    assert format_time(T0) == "2024-01-01T00:00:00Z"
    assert format_time(T0 + 500_000_000) == "2024-01-01T00:00:00.5Z"
    assert format_time(T0 + 1) == "2024-01-01T00:00:00.000000001Z"
    assert format_time(T0, ZoneInfo("Europe/Paris")) == "2024-01-01T01:00:00+01:00"
    assert format_time(T0, ZoneInfo("America/St_Johns")) == "2023-12-31T20:30:00-03:30"
    assert format_time(-NS) == "1969-12-31T23:59:59Z"


def test_split_condition_keeps_the_rest() -> None:
    statement = parse_statement(
        "SELECT v FROM m WHERE time > 10 AND (a = 'x' OR b = 'y') AND 20 >= time AND time >= 5"
    )
    assert isinstance(statement, SelectStatement)
    found, rest = split_condition(statement.condition, now=0)
    assert found == TimeRange(11, 20)
    assert rest is not None and rest == parse_condition("(a = 'x' OR b = 'y')")


def parse_condition(text: str) -> object:
    statement = parse_statement(f"SELECT v FROM m WHERE {text}")
    assert isinstance(statement, SelectStatement)
    return statement.condition


# -- fill -------------------------------------------------------------------------------------


def test_bucket_start() -> None:
    assert bucket_start(125, 60, 0) == 120
    assert bucket_start(-5, 60, 0) == -60
    assert bucket_start(125, 60, 30) == 90


def test_fill_modes() -> None:
    rows = {0: [1.0, 2], 20: [3.0, None], 40: [None, 8]}
    grid = {"first": 0, "last": 50, "interval": 10}
    counts = [False, True]
    assert fill_buckets(rows, fill=Fill(), counts=counts, **grid) == [
        (0, [1.0, 2]),
        (10, [None, 0]),
        (20, [3.0, 0]),
        (30, [None, 0]),
        (40, [None, 8]),
        (50, [None, 0]),
    ]
    assert [v for _, v in fill_buckets(rows, fill=Fill("previous"), counts=counts, **grid)] == [
        [1.0, 2],
        [1.0, 2],
        [3.0, 2],
        [3.0, 2],
        [3.0, 8],
        [3.0, 8],
    ]
    assert [v for _, v in fill_buckets(rows, fill=Fill("linear"), counts=counts, **grid)] == [
        [1.0, 2],
        [2.0, 3],
        [3.0, 5],
        [None, 6],
        [None, 8],
        [None, None],
    ]
    assert [v for _, v in fill_buckets(rows, fill=Fill("value", -1), counts=counts, **grid)][1] == [
        -1,
        -1,
    ]
    assert fill_buckets(rows, fill=Fill("none"), counts=counts, **grid) == [
        (0, [1.0, 2]),
        (20, [3.0, None]),
        (40, [None, 8]),
    ]


def test_fill_refuses_too_many_buckets() -> None:
    with pytest.raises(InfluxQLError, match="would fill"):
        fill_buckets({}, first=0, last=MAX_BUCKETS + 1, interval=1, fill=Fill(), counts=[True])


# -- schemas and wire shapes ------------------------------------------------------------------


def test_schemas_from_information_schema_rows() -> None:
    rows = [
        {"table_name": "cpu", "column_name": "v", "data_type": "Float64"},
        {"table_name": "cpu", "column_name": "time", "data_type": "Timestamp(ns)"},
        {"table_name": "cpu", "column_name": "host", "data_type": "Dictionary(Int32, Utf8)"},
        {"table_name": "cpu", "column_name": "n", "data_type": "UInt64"},
        {"table_name": "cpu", "column_name": "odd", "data_type": "Date32"},
    ]
    assert schemas_from_columns(rows) == {
        "cpu": MeasurementSchema("cpu", ("host",), (("n", "unsigned"), ("v", "float")))
    }


@pytest.mark.parametrize(
    ("rp", "database"),
    [(None, "db"), ("", "db"), ("autogen", "db"), ("DEFAULT", "db"), ("Weekly", "db/weekly")],
)
def test_database_for_retention_policies(rp: str | None, database: str) -> None:
    assert database_for("db", rp) == database


SERIES = Series(
    "cpu",
    ("time", "v"),
    ((T0, 1.5), (T0 + NS, float("nan")), (T0 + 2 * NS, 2.5)),
    ("time", "float"),
    (("host", "a"),),
)


def test_v1_json_and_chunks() -> None:
    result = StatementResult(0, (SERIES,))
    assert v1_json([result], epoch="s") == {
        "results": [
            {
                "statement_id": 0,
                "series": [
                    {
                        "name": "cpu",
                        "tags": {"host": "a"},
                        "columns": ["time", "v"],
                        "values": [[T0 // NS, 1.5], [T0 // NS + 1, None], [T0 // NS + 2, 2.5]],
                    }
                ],
            }
        ]
    }
    chunks = list(v1_chunks([result, StatementResult(1, error="boom")], chunk_size=2))
    assert [c["results"][0].get("partial") for c in chunks] == [True, None, None]
    assert [len(c["results"][0].get("series", [{}])[0].get("values", [])) for c in chunks] == [
        2,
        1,
        0,
    ]
    assert chunks[0]["results"][0]["series"][0]["partial"] is True
    assert chunks[2] == {"results": [{"statement_id": 1, "error": "boom"}]}
    with pytest.raises(InfluxQLError, match="invalid epoch 'd'"):
        v1_json([result], epoch="d")


def test_results_table_unions_columns() -> None:
    other = Series("mem", ("time", "free"), ((T0, 5),), ("time", "integer"))
    table = results_table(StatementResult(0, (SERIES, other)))
    assert table.schema.names == ["iox::measurement", "time", "host", "v", "free"]
    assert table.column("host").to_pylist() == ["a", "a", "a", None]
    assert table.column("free").to_pylist() == [None, None, None, 5]
    with pytest.raises(InfluxQLError, match="boom"):
        results_table(StatementResult(0, error="boom"))
