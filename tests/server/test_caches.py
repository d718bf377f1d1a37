"""The cache endpoints and CLI commands against a real server, and ``last_cache()``/
``distinct_cache()`` from every SQL path: HTTP, Flight, Flight SQL (ADBC), a plugin's
``influxdb3_local.query``, and a restarted ``pluginmgr serve``."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import adbc_driver_flightsql.dbapi as flight_sql
import httpx
import pyarrow.flight as flight
import pytest
from adbc_driver_flightsql import DatabaseOptions

from tests.helpers import CliResult, run_cli
from tests.server.server_helpers import TRIGGER, serve, trigger_body, write_plugin

LAST: str = "/api/v3/configure/last_cache"
DISTINCT: str = "/api/v3/configure/distinct_cache"
NOW = time.time_ns()
LINES = "\n".join(
    [
        f'cpu,host=a,region=eu usage=1,count=1i,note="x" {NOW - 3}',
        f"cpu,host=b,region=us usage=2 {NOW - 2}",
        f"cpu,host=a,region=eu usage=3 {NOW - 1}",
    ]
)
QUERIES = """
def process_request(influxdb3_local, query_parameters, request_headers, request_body, args=None):
    return {
        "last": influxdb3_local.query("SELECT host, usage FROM last_cache('cpu')"),
        "distinct": influxdb3_local.query("SELECT * FROM distinct_cache('cpu', 'hosts')"),
    }
"""


@pytest.fixture
def http(live_server: tuple[str, str]) -> Iterator[httpx.Client]:
    base, token = live_server
    auth = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=base, headers=auth, timeout=20) as client:
        assert client.post("/api/v3/write_lp", params={"db": "db"}, content=LINES).is_success
        yield client


def _sql(http: httpx.Client, query: str) -> httpx.Response:
    return http.get("/api/v3/query_sql", params={"db": "db", "q": query})


def _error(answer: httpx.Response, status: int) -> str:
    assert answer.status_code == status, answer.text
    message: str = answer.json()["error"]
    return message


def test_last_cache_create_query_and_delete(http: httpx.Client) -> None:
    made = http.post(LAST, json={"db": "db", "table": "cpu", "key_columns": ["host"], "count": 2})
    assert made.status_code == 201
    op = made.json()["catalog_batch"]["Database"]["ops"][0]["CreateLastCache"]
    assert op["name"] == "cpu_host_last_cache"
    assert (op["count"], op["ttl"], op["value_columns"]) == (2, 14400, "all_non_key_columns")
    assert op["key_columns"] == [{"tag": 0}]
    assert http.post("/api/v3/write_lp", params={"db": "db"}, content=LINES).is_success
    rows = _sql(http, "SELECT host, usage FROM last_cache('cpu')").json()
    assert rows == [
        {"host": "a", "usage": 3.0},
        {"host": "a", "usage": 1.0},
        {"host": "b", "usage": 2.0},
    ]
    listed = _sql(http, "SELECT name, count, ttl FROM system.last_caches").json()
    assert listed == [{"name": "cpu_host_last_cache", "count": 2, "ttl": 14400}]
    gone = http.delete(LAST, params={"db": "db", "table": "cpu", "name": "cpu_host_last_cache"})
    assert gone.status_code == 200 and gone.content == b""
    message = _error(_sql(http, "SELECT * FROM last_cache('cpu')"), 400)
    assert message.endswith("could not find cache for the given arguments")


def test_last_cache_errors(http: httpx.Client) -> None:
    def post(**body: Any) -> httpx.Response:
        return http.post(LAST, json={"db": "db", "table": "cpu", **body})

    assert _error(post(db="nope"), 404) == "Database not found nope"
    assert _error(post(table="mem"), 404) == "Table mem not in DB schema for db"
    assert _error(post(key_columns=["nope"]), 400) == (
        "invalid configuration provided: invalid key column provided: nope"
    )
    assert "only uint64, int64, bool, tag, and string" in _error(post(key_columns=["usage"]), 400)
    assert _error(post(value_columns=["nope"]), 400).endswith("invalid value column provided: nope")
    assert _error(post(count=0), 400) == "last cache size must be greater than 0"
    assert "must be a whole number" in _error(post(ttl="1h"), 400)
    assert _error(http.post(LAST, json={"db": "db"}), 400) == "missing field 'table'"
    assert post().status_code == 201
    assert _error(post(), 409) == "attempted to create a resource that already exists"
    assert post(name="other", ttl=666).status_code == 201
    unknown = {"db": "db", "table": "cpu", "name": "nope"}
    assert _error(http.delete(LAST, params=unknown), 404).endswith("not found: nope")
    assert _error(http.delete(LAST, params={"db": "db", "table": "cpu"}), 400) == (
        "missing field 'name'"
    )
    missing_table = {**unknown, "table": "mem"}
    assert _error(http.request("DELETE", LAST, json=missing_table), 404).startswith("Table mem")


def test_distinct_cache_create_query_and_delete(http: httpx.Client) -> None:
    body = {"db": "db", "table": "cpu", "columns": ["region", "host"], "max_age": 3600}
    made = http.post(DISTINCT, json=body)
    assert made.status_code == 201
    op = made.json()["catalog_batch"]["Database"]["ops"][0]["CreateDistinctCache"]
    assert op["cache_name"] == "cpu_region_host_distinct_cache"
    assert (op["max_cardinality"], op["max_age_seconds"]) == (100_000, 3600)
    assert http.post("/api/v3/write_lp", params={"db": "db"}, content=LINES).is_success
    rows = _sql(http, "SELECT * FROM distinct_cache('cpu')").json()
    assert rows == [{"region": "eu", "host": "a"}, {"region": "us", "host": "b"}]
    listed = _sql(http, "SELECT name, column_names FROM system.distinct_caches").json()
    assert listed == [{"name": op["cache_name"], "column_names": ["region", "host"]}]
    where = {"db": "db", "table": "cpu", "name": op["cache_name"]}
    assert http.request("DELETE", DISTINCT, json=where).status_code == 200
    assert _sql(http, "SELECT * FROM system.distinct_caches").json() == []


def test_distinct_cache_errors(http: httpx.Client) -> None:
    def post(**body: Any) -> httpx.Response:
        return http.post(DISTINCT, json={"db": "db", "table": "cpu", "columns": ["host"], **body})

    assert _error(http.post(DISTINCT, json={"db": "db", "table": "cpu"}), 400) == (
        "missing field 'columns'"
    )
    assert _error(post(columns=[]), 400).endswith(
        "no columns provided when creating distinct cache"
    )
    assert _error(post(columns=["nope"]), 400).endswith("invalid column provided: nope")
    assert _error(post(columns=["count"]), 400) == (
        "only tag and string columns are supported in the distinct cache"
    )
    assert _error(post(max_cardinality=0), 400).endswith("max_cardinality must be greater than 0")
    assert _error(post(table="mem"), 404) == "Table mem not in DB schema for db"
    assert post(name="hosts").status_code == 201
    assert _error(post(name="hosts"), 409) == "attempted to create a resource that already exists"
    where = {"db": "db", "table": "cpu", "name": "nope"}
    assert _error(http.delete(DISTINCT, params=where), 404).endswith("not found: nope")
    assert _error(http.delete(DISTINCT, params={**where, "db": "x"}), 404) == "Database not found x"


def test_a_plugin_queries_the_caches(http: httpx.Client, plugin_dir: Path) -> None:
    assert http.post(LAST, json={"db": "db", "table": "cpu", "key_columns": ["host"]}).is_success
    hosts = {"db": "db", "table": "cpu", "columns": ["host"], "name": "hosts"}
    assert http.post(DISTINCT, json=hosts).is_success
    assert http.post("/api/v3/write_lp", params={"db": "db"}, content=LINES).is_success
    write_plugin(plugin_dir, "queries.py", QUERIES)
    assert http.post(TRIGGER, json=trigger_body("q", "queries.py", "request:caches")).is_success
    answer = http.get("/api/v3/engine/caches")
    assert answer.status_code == 200, answer.text
    assert answer.json() == {
        "last": [{"host": "a", "usage": 3.0}, {"host": "b", "usage": 2.0}],
        "distinct": [{"host": "a"}, {"host": "b"}],
    }


@pytest.mark.slow
def test_served_caches_over_flight_and_after_a_restart(tmp_path: Path, plugin_dir: Path) -> None:
    body = {"db": "db", "table": "cpu", "key_columns": ["host"], "ttl": 3600}
    with serve(plugin_dir, tmp_path) as served:
        base = served.url
        assert httpx.post(f"{base}/api/v3/write_lp", params={"db": "db"}, content=LINES).is_success
        assert httpx.post(f"{base}{LAST}", json=body).status_code == 201
        assert httpx.post(f"{base}/api/v3/write_lp", params={"db": "db"}, content=LINES).is_success
        port = int(base.rsplit(":", 1)[1])
        client = flight.FlightClient(f"grpc+tcp://127.0.0.1:{port}")
        ticket = flight.Ticket(
            b'{"database": "db", "sql_query": "SELECT host, usage FROM last_cache(\'cpu\')", '
            b'"query_type": "sql"}'
        )
        table = client.do_get(ticket).read_all()
        assert table.to_pylist() == [{"host": "a", "usage": 3.0}, {"host": "b", "usage": 2.0}]
        client.close()
        header = DatabaseOptions.RPC_CALL_HEADER_PREFIX.value + "database"
        url = f"grpc://127.0.0.1:{port}"
        with flight_sql.connect(url, db_kwargs={header: "db"}, autocommit=True) as conn:
            with conn.cursor() as cursor:
                cursor.execute("SELECT host FROM last_cache('cpu') WHERE usage > 2.5")
                assert cursor.fetchall() == [("a",)]
    with serve(plugin_dir, tmp_path) as served:
        query = {"db": "db", "q": "SELECT host, usage FROM last_cache('cpu')"}
        rows = httpx.get(f"{served.url}/api/v3/query_sql", params=query).json()
        assert rows == [{"host": "a", "usage": 3.0}, {"host": "b", "usage": 2.0}]


def test_cli_creates_and_deletes_caches(
    capsys: pytest.CaptureFixture[str], live_server: tuple[str, str], http: httpx.Client
) -> None:
    base, token = live_server

    def cli(*args: str) -> CliResult:
        return run_cli(capsys, *args, "-d", "db", "-t", "cpu", "-H", base, "--token", token)

    made = cli("create", "last_cache", "--key-columns", "host", "--count", "3", "--ttl", "1h")
    assert made.code == 0, made.err
    assert made.out.startswith("new cache created: {")
    shown = json.loads(made.out.removeprefix("new cache created: "))
    assert (shown["name"], shown["count"], shown["ttl"]) == ("cpu_host_last_cache", 3, 3600)
    made = cli("create", "distinct_cache", "--columns", "region,host", "--max-age", "7d", "rh")
    assert made.code == 0, made.err
    shown = json.loads(made.out.removeprefix("new cache created: "))
    assert (shown["cache_name"], shown["max_age_seconds"]) == ("rh", 7 * 86400)
    again = cli("create", "distinct_cache", "--columns", "region,host", "rh")
    assert again.code == 1 and "already exists" in again.err
    bad = cli("create", "last_cache", "--ttl", "soon")
    assert bad.code == 2 and "--ttl" in bad.err
    assert cli("delete", "last_cache", "cpu_host_last_cache").out == (
        "last cache deleted successfully\n"
    )
    assert cli("delete", "distinct_cache", "rh").out == "distinct cache deleted successfully\n"
    missing = cli("delete", "distinct_cache", "rh")
    assert missing.code == 1 and "not found: rh" in missing.err
    assert _sql(http, "SELECT * FROM system.last_caches").json() == []
