"""InfluxDB 1.x's API over real loopback HTTP: the v1 Python client (`influxdb`), the official
``import`` plugin's calls, ``/write`` bodies and precisions, ``/api/v3/query_influxql``."""

from __future__ import annotations

import gzip
import io
import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import httpx
import pyarrow.parquet as pq
import pytest
import requests
from influxdb import InfluxDBClient
from influxdb.exceptions import InfluxDBClientError

NS = 1_000_000_000
MINUTE = 60 * NS


def _iso(nanoseconds: int) -> str:
    moment = datetime.fromtimestamp(nanoseconds // NS, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.fixture
def server(live_server: tuple[str, str]) -> tuple[str, str]:
    return live_server


@pytest.fixture
def client(server: tuple[str, str]) -> Iterator[InfluxDBClient]:
    url, token = server
    parts = urlsplit(url)
    # the v1 client sends Basic auth; the token is the password, any user name will do
    found = InfluxDBClient(parts.hostname, parts.port, "anyone", token, "telegraf", timeout=10)
    yield found
    found.close()


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# -- the v1 client ----------------------------------------------------------------------------


def test_write_points_in_every_precision_then_group_by_time(client: InfluxDBClient) -> None:
    start = (time.time_ns() // MINUTE - 10) * MINUTE  # ten whole minutes ago
    batches = [
        ("n", 1, [("a", 0, 1.0), ("b", 0, 10.0)]),
        ("u", 1_000, [("a", 30 * NS, 3.0)]),
        ("ms", 1_000_000, [("a", MINUTE, 5.0), ("b", MINUTE + 15 * NS, 20.0)]),
        ("s", NS, [("b", MINUTE + 45 * NS, 40.0)]),
        ("m", MINUTE, [("a", 3 * MINUTE, 7.0)]),
    ]
    for precision, unit, points in batches:
        body = [
            {
                "measurement": "cpu",
                "tags": {"host": host},
                "fields": {"v": value},
                "time": (start + offset) // unit,
            }
            for host, offset, value in points
        ]
        assert client.write_points(body, time_precision=precision)
    hour = (time.time_ns() // (60 * MINUTE) - 3) * 60 * MINUTE
    assert client.write_points(
        [{"measurement": "old", "fields": {"n": 1}, "time": hour // (60 * MINUTE)}],
        time_precision="h",
    )
    result = client.query(
        "SELECT mean(v) FROM cpu WHERE time > now() - 1h GROUP BY time(1m), host fill(none)"
    )
    assert result.raw["series"] == [
        {
            "name": "cpu",
            "tags": {"host": "a"},
            "columns": ["time", "mean"],
            "values": [
                [_iso(start), 2.0],
                [_iso(start + MINUTE), 5.0],
                [_iso(start + 3 * MINUTE), 7.0],
            ],
        },
        {
            "name": "cpu",
            "tags": {"host": "b"},
            "columns": ["time", "mean"],
            "values": [[_iso(start), 10.0], [_iso(start + MINUTE), 30.0]],
        },
    ]
    old = client.query("SELECT n FROM old", epoch="h")
    assert old.raw["series"][0]["values"] == [[hour // (60 * MINUTE), 1]]
    ms = client.query("SELECT v FROM cpu WHERE host = 'b' LIMIT 1", epoch="ms")
    assert ms.raw["series"][0]["values"] == [[start // 1_000_000, 10.0]]


def _seed(client: InfluxDBClient) -> None:
    lines = [
        "cpu,host=a,region=eu usage=1.5,count=3i 1704067200000000000",
        "cpu,host=b,region=us usage=2.5 1704067260000000000",
        'mem,host=a free=10i,state="ok" 1704067200000000000',
    ]
    assert client.write_points(lines, protocol="line")


def test_schema_queries(client: InfluxDBClient) -> None:
    _seed(client)
    assert client.get_list_measurements() == [{"name": "cpu"}, {"name": "mem"}]
    assert {"name": "telegraf"} in client.get_list_database()
    assert client.get_list_retention_policies() == [
        {
            "name": "autogen",
            "duration": "0s",
            "shardGroupDuration": "168h0m0s",
            "replicaN": 1,
            "default": True,
        }
    ]
    values = client.query('SHOW TAG VALUES WITH KEY = "host"')
    assert list(values.get_points(measurement="cpu")) == [
        {"key": "host", "value": "a"},
        {"key": "host", "value": "b"},
    ]
    assert list(values.get_points(measurement="mem")) == [{"key": "host", "value": "a"}]
    fields = client.query("SHOW FIELD KEYS")
    assert list(fields.get_points(measurement="cpu")) == [
        {"fieldKey": "count", "fieldType": "integer"},
        {"fieldKey": "usage", "fieldType": "float"},
    ]
    assert list(fields.get_points(measurement="mem")) == [
        {"fieldKey": "free", "fieldType": "integer"},
        {"fieldKey": "state", "fieldType": "string"},
    ]
    keys = client.query("SHOW TAG KEYS FROM cpu")
    assert list(keys.get_points()) == [{"tagKey": "host"}, {"tagKey": "region"}]
    bound = client.query("SELECT usage FROM cpu WHERE host = $h", bind_params={"h": "b"})
    assert list(bound.get_points()) == [{"time": "2024-01-01T00:01:00Z", "usage": 2.5}]


def test_chunked_query(client: InfluxDBClient) -> None:
    lines = [f"cpu,host=h{i % 2} v={i} {1704067200 + i}" for i in range(5)]
    assert client.write_points(lines, protocol="line", time_precision="s")
    chunks = list(client.query("SELECT v FROM cpu GROUP BY host", chunked=True, chunk_size=2))
    assert len(chunks) == 3  # h0: 3 rows in 2 chunks, h1: 2 rows in 1
    points = [point["v"] for chunk in chunks for point in chunk.get_points()]
    assert sorted(points) == [0, 1, 2, 3, 4]


def test_create_database_and_statement_errors(client: InfluxDBClient) -> None:
    client.create_database("fresh")
    assert {"name": "fresh"} in client.get_list_database()
    with pytest.raises(InfluxDBClientError, match="DROP statement is not supported"):
        client.query("DROP MEASUREMENT cpu")
    with pytest.raises(InfluxDBClientError, match="database not found: nowhere"):
        client.query("SELECT * FROM cpu", database="nowhere")


def test_a_wrong_password_is_refused(server: tuple[str, str]) -> None:
    url, _ = server
    parts = urlsplit(url)
    wrong = InfluxDBClient(parts.hostname, parts.port, "anyone", "apiv3_wrong", "telegraf")
    with pytest.raises(InfluxDBClientError) as caught:
        wrong.query("SHOW DATABASES")
    assert caught.value.code == 401
    wrong.close()


# -- raw HTTP ---------------------------------------------------------------------------------


def test_auth_forms_on_query(server: tuple[str, str]) -> None:
    url, token = server
    basic = httpx.BasicAuth("whoever", token)
    for kwargs in (
        {"params": {"q": "SHOW DATABASES", "u": "x", "p": token}},
        {"params": {"q": "SHOW DATABASES"}, "auth": basic},
        {"params": {"q": "SHOW DATABASES"}, "headers": {"Authorization": f"Token {token}"}},
    ):
        answer = httpx.get(f"{url}/query", **kwargs)  # type: ignore[arg-type]
        assert answer.status_code == 200, (kwargs, answer.text)
        assert answer.json()["results"][0]["series"][0]["name"] == "databases"
    refused = httpx.get(f"{url}/query", params={"q": "SHOW DATABASES", "p": "apiv3_wrong"})
    assert refused.status_code == 401
    assert refused.json()["error"].startswith("invalid or revoked token")
    written = httpx.post(f"{url}/write", params={"db": "d", "p": token}, content=b"m v=1 1")
    assert written.status_code == 204


def test_the_import_plugins_requests(server: tuple[str, str]) -> None:
    url, token = server
    lines = "cpu,host=a usage=1.5 1704067200000000000\ncpu,host=b usage=2.5 1704067260000000000"
    assert httpx.post(f"{url}/write?db=src", content=lines, headers=_auth(token)).status_code == 204
    session = requests.Session()
    headers = {"Content-Type": "application/vnd.influxql", **_auth(token)}

    def ask(query: str) -> dict[str, Any]:
        answer = session.get(
            f"{url}/query", params={"db": "src", "q": query}, headers=headers, timeout=10
        )
        answer.raise_for_status()
        result: dict[str, Any] = answer.json()["results"][0]
        return result

    assert ask("SHOW MEASUREMENTS")["series"][0]["values"] == [["cpu"]]
    assert ask('SHOW FIELD KEYS FROM "cpu"')["series"][0]["values"] == [["usage", "float"]]
    assert ask('SHOW TAG KEYS FROM "cpu"')["series"][0]["values"] == [["host"]]
    first = ask('SELECT * FROM "cpu" ORDER BY time ASC LIMIT 1')["series"][0]
    assert (first["columns"], first["values"]) == (
        ["time", "host", "usage"],
        [["2024-01-01T00:00:00Z", "a", 1.5]],
    )
    window = (
        "\n        SELECT COUNT(*) FROM \"cpu\"\n        WHERE time >= '2024-01-01T00:00:00+00:00'"
        "\n        AND time < '2024-01-01T00:01:00.000001+00:00'\n        "
    )
    assert ask(window)["series"][0]["values"] == [["2024-01-01T00:00:00Z", 2]]
    data = ask(
        "SELECT * FROM \"cpu\" WHERE time >= '2024-01-01T00:00:00+00:00' "
        "AND time <= '2024-01-01T00:01:00+00:00' ORDER BY time DESC"
    )
    assert [row[2] for row in data["series"][0]["values"]] == [2.5, 1.5]


def test_query_forms_pretty_and_request_errors(server: tuple[str, str]) -> None:
    url, token = server
    httpx.post(f"{url}/write?db=f", content=b"m v=1 1000000000", headers=_auth(token))
    form = {"db": "f", "q": "SELECT v FROM m", "epoch": "s"}
    posted = httpx.post(f"{url}/query", data=form, headers=_auth(token))
    assert posted.json() == {
        "results": [
            {
                "statement_id": 0,
                "series": [{"name": "m", "columns": ["time", "v"], "values": [[1, 1.0]]}],
            }
        ]
    }
    body = httpx.post(
        f"{url}/query?db=f",
        content=b"SHOW MEASUREMENTS",
        headers={"Content-Type": "application/vnd.influxql", **_auth(token)},
    )
    assert body.json()["results"][0]["series"][0]["values"] == [["m"]]
    pretty = httpx.get(f"{url}/query", params={**form, "pretty": "true"}, headers=_auth(token))
    assert pretty.text.startswith('{\n    "results": [')
    cases = [
        ({"db": "f"}, 'missing required parameter "q"'),
        ({"db": "f", "q": "SELEKT 1"}, "error parsing query: found SELEKT, expected SELECT"),
        ({"db": "f", "q": "SELECT v FROM m", "epoch": "d"}, "invalid epoch 'd'"),
        ({"db": "f", "q": "SELECT v FROM m", "chunked": "true", "chunk_size": "0"}, "chunk_size"),
    ]
    for params, message in cases:
        answer = httpx.get(f"{url}/query", params=params, headers=_auth(token))
        assert answer.status_code == 400, params
        assert message in answer.json()["error"]
    several = httpx.get(
        f"{url}/query",
        params={"db": "f", "q": "SELECT v FROM m; SHOW SERIES; SELECT v FROM m WHERE v > 5"},
        headers=_auth(token),
    )
    assert several.status_code == 200
    assert [sorted(r) for r in several.json()["results"]] == [
        ["series", "statement_id"],
        ["error", "statement_id"],
        ["statement_id"],
    ]


def test_write_gzip_and_v1_precisions(server: tuple[str, str]) -> None:
    url, token = server
    hours = gzip.compress(b"m,t=h v=1 474000\n")
    written = httpx.post(
        f"{url}/write",
        params={"db": "w", "precision": "h"},
        content=hours,
        headers={"Content-Encoding": "gzip", **_auth(token)},
    )
    assert written.status_code == 204, written.text
    minutes = httpx.post(
        f"{url}/write?db=w&precision=m", content=b"m,t=m v=2 28440000", headers=_auth(token)
    )
    assert minutes.status_code == 204, minutes.text
    answer = httpx.get(
        f"{url}/query",
        params={"db": "w", "q": "SELECT v FROM m GROUP BY t", "epoch": "s"},
        headers=_auth(token),
    )
    found = {s["tags"]["t"]: s["values"] for s in answer.json()["results"][0]["series"]}
    assert found == {"h": [[474000 * 3600, 1.0]], "m": [[28440000 * 60, 2.0]]}
    # the v2 and v3 endpoints keep InfluxDB 3's precisions
    refused = httpx.post(
        f"{url}/api/v2/write?bucket=w&precision=h", content=b"m v=1 1", headers=_auth(token)
    )
    assert refused.status_code == 400


def test_write_errors_and_retention_policies(server: tuple[str, str]) -> None:
    url, token = server
    missing = httpx.post(f"{url}/write", content=b"m v=1", headers=_auth(token))
    assert (missing.status_code, missing.json()["error"]) == (
        400,
        "database is required: pass ?db=<database>",
    )
    odd = httpx.post(f"{url}/write?db=w&precision=d", content=b"m v=1", headers=_auth(token))
    assert odd.status_code == 400
    assert odd.json()["error"].startswith("invalid precision 'd'")
    bad = httpx.post(f"{url}/write?db=w", content=b"m v=1\nnot line protocol", headers=_auth(token))
    assert bad.status_code == 400
    assert bad.json()["error"] == "partial write of line protocol occurred"
    named = httpx.post(f"{url}/write?db=w&rp=Weekly", content=b"m v=9 1", headers=_auth(token))
    assert named.status_code == 204
    policies = httpx.get(
        f"{url}/query", params={"q": "SHOW RETENTION POLICIES ON w"}, headers=_auth(token)
    ).json()["results"][0]["series"][0]["values"]
    assert policies == [
        ["autogen", "0s", "168h0m0s", 1, True],
        ["weekly", "0s", "168h0m0s", 1, False],
    ]
    weekly = httpx.get(
        f"{url}/query",
        params={"db": "w", "rp": "weekly", "q": "SELECT v FROM m", "epoch": "ns"},
        headers=_auth(token),
    )
    assert weekly.json()["results"][0]["series"][0]["values"] == [[1, 9.0]]


# -- /api/v3/query_influxql --------------------------------------------------------------------


def test_query_influxql_in_every_format(server: tuple[str, str]) -> None:
    url, token = server
    lines = "cpu,host=a v=1.5 1704067200000000000\ncpu,host=b v=2.5 1704067200000000000"
    httpx.post(f"{url}/write?db=v3", content=lines, headers=_auth(token))
    query = "SELECT mean(v) FROM cpu WHERE time >= '2024-01-01T00:00:00Z' GROUP BY host"
    params = {"db": "v3", "q": query}
    rows = httpx.get(f"{url}/api/v3/query_influxql", params=params, headers=_auth(token))
    assert rows.status_code == 200, rows.text
    assert rows.json() == [
        {"iox::measurement": "cpu", "time": "2024-01-01T00:00:00", "host": "a", "mean": 1.5},
        {"iox::measurement": "cpu", "time": "2024-01-01T00:00:00", "host": "b", "mean": 2.5},
    ]
    jsonl = httpx.post(
        f"{url}/api/v3/query_influxql", json={**params, "format": "jsonl"}, headers=_auth(token)
    )
    assert [json.loads(line) for line in jsonl.text.splitlines()] == rows.json()
    csv = httpx.get(
        f"{url}/api/v3/query_influxql", params={**params, "format": "csv"}, headers=_auth(token)
    )
    assert csv.text == (
        "iox::measurement,time,host,mean\n"
        "cpu,2024-01-01T00:00:00,a,1.5\ncpu,2024-01-01T00:00:00,b,2.5\n"
    )
    pretty = httpx.get(
        f"{url}/api/v3/query_influxql", params={**params, "format": "pretty"}, headers=_auth(token)
    )
    assert pretty.text.splitlines()[1] == "| iox::measurement | time                | host | mean |"
    parquet = httpx.get(
        f"{url}/api/v3/query_influxql",
        params={**params, "format": "parquet"},
        headers=_auth(token),
    )
    assert parquet.headers["content-type"] == "application/vnd.apache.parquet"
    table = pq.read_table(io.BytesIO(parquet.content))
    assert table.schema.names == ["iox::measurement", "time", "host", "mean"]
    assert table.column("mean").to_pylist() == [1.5, 2.5]
    accepted = httpx.get(
        f"{url}/api/v3/query_influxql",
        params=params,
        headers={"Accept": "text/csv", **_auth(token)},
    )
    assert accepted.text == csv.text
    shown = httpx.get(
        f"{url}/api/v3/query_influxql",
        params={"db": "v3", "q": "SHOW MEASUREMENTS"},
        headers=_auth(token),
    )
    assert shown.json() == [{"iox::measurement": "measurements", "name": "cpu"}]
    failures = [
        ({"db": "v3", "q": "SELECT v INTO x FROM cpu"}, 400, "INTO is not supported"),
        ({"db": "v3", "q": "SHOW DATABASES; SHOW DATABASES"}, 400, "expected one"),
        ({"db": "v3", "q": "SELECT v FROM cpu", "format": "xml"}, 400, "unsupported format"),
        ({"db": "nowhere", "q": "SELECT v FROM cpu"}, 404, "database not found"),
    ]
    for failing, status, message in failures:
        answer = httpx.get(f"{url}/api/v3/query_influxql", params=failing, headers=_auth(token))
        assert answer.status_code == status, (failing, answer.text)
        assert message in answer.json()["error"]


def test_the_p_parameter_is_a_token_only_on_the_v1_endpoints(
    live_server: tuple[str, str],
) -> None:
    url, token = live_server
    # a plugin's request path never takes (nor sees, through auth) a token in its query string
    answer = httpx.get(f"{url}/api/v3/engine/anything", params={"p": token})
    assert answer.status_code == 401
    assert httpx.get(f"{url}/api/v3/configure/database", params={"p": token}).status_code == 401
    assert httpx.get(f"{url}/query", params={"q": "SHOW DATABASES", "p": token}).status_code == 200
