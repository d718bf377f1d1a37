"""Query result formats: ``format=`` (``parquet``, ``json_lines``, ...) and ``Accept``."""

from __future__ import annotations

import io
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from starlette.testclient import TestClient

from pluginmgr.server.formats import CONTENT_TYPES

SQL = "SELECT host, usage, time FROM cpu ORDER BY host"
LP = "cpu,host=a usage=1.5 1000000000\ncpu,host=b usage=2.5 2000000000\n"
ROWS = [
    {"host": "a", "usage": 1.5, "time": "1970-01-01T00:00:01"},
    {"host": "b", "usage": 2.5, "time": "1970-01-01T00:00:02"},
]


@pytest.fixture
def loaded(client: TestClient) -> TestClient:
    assert client.post("/api/v3/write_lp?db=db&precision=nanosecond", content=LP).status_code == 204
    return client


def query(client: TestClient, *, accept: str | None = None, **params: str) -> object:
    headers = {} if accept is None else {"Accept": accept}
    return client.get("/api/v3/query_sql", params={"db": "db", "q": SQL, **params}, headers=headers)


def read_parquet(body: bytes) -> pa.Table:
    return pq.read_table(io.BytesIO(body))


def test_parquet_keeps_the_arrow_types(loaded: TestClient) -> None:
    response = loaded.get("/api/v3/query_sql", params={"db": "db", "q": SQL, "format": "parquet"})
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/vnd.apache.parquet"
    table = read_parquet(response.content)
    assert table.column_names == ["host", "usage", "time"]
    assert table.schema.field("time").type == pa.timestamp("ns")
    assert table.column("time").cast(pa.int64()).to_pylist() == [1_000_000_000, 2_000_000_000]
    assert table.column("usage").to_pylist() == [1.5, 2.5]


def test_parquet_of_no_rows_still_has_the_schema(loaded: TestClient) -> None:
    sql = "SELECT host, usage FROM cpu WHERE usage > 100"
    body = {"db": "db", "q": sql, "format": "parquet"}
    table = read_parquet(loaded.post("/api/v3/query_sql", json=body).content)
    assert table.num_rows == 0 and table.column_names == ["host", "usage"]


@pytest.mark.parametrize("name", ["json_lines", "jsonl"])
def test_json_lines_is_jsonl(loaded: TestClient, name: str) -> None:
    response = loaded.post("/api/v3/query_sql", json={"db": "db", "q": SQL, "format": name})
    assert response.headers["content-type"] == "application/jsonl"
    assert [json.loads(line) for line in response.text.splitlines()] == ROWS


@pytest.mark.parametrize(
    ("accept", "output"),
    [
        (None, "json"),
        ("*/*", "json"),
        ("application/json", "json"),
        ("application/jsonl", "jsonl"),
        ("application/x-ndjson", "jsonl"),
        ("text/csv", "csv"),
        ("text/csv; charset=utf-8", "csv"),
        ("text/plain", "pretty"),
        ("application/vnd.apache.parquet", "parquet"),
        ("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", "json"),
        ("image/png, text/csv;q=0.5, application/json;q=0.9", "json"),
        ("text/csv;q=0, application/vnd.apache.parquet", "parquet"),
    ],
)
def test_accept_chooses_the_format_when_none_is_given(
    loaded: TestClient, accept: str | None, output: str
) -> None:
    response = query(loaded, accept=accept)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].split(";")[0] == CONTENT_TYPES[output].split(";")[0]
    if output == "parquet":
        assert read_parquet(response.content).num_rows == 2
    elif output == "json":
        assert response.json() == ROWS


def test_the_format_parameter_wins_over_accept(loaded: TestClient) -> None:
    response = query(loaded, accept="application/vnd.apache.parquet", format="csv")
    assert response.headers["content-type"].startswith("text/csv")
    assert response.text.splitlines()[0] == "host,usage,time"


@pytest.mark.parametrize("accept", ["image/png", "application/xml", "text/csv;q=0"])
def test_an_accept_header_naming_no_format_of_ours_is_400(loaded: TestClient, accept: str) -> None:
    response = query(loaded, accept=accept)
    assert response.status_code == 400
    assert "invalid mime type" in response.json()["error"]


@pytest.mark.parametrize("name", ["xml", "JSON", "arrow"])
def test_an_unknown_format_is_400(loaded: TestClient, name: str) -> None:
    response = query(loaded, format=name)
    assert response.status_code == 400
    assert "unsupported format" in response.json()["error"]
    assert "json_lines" in response.json()["error"]


def test_a_format_that_is_not_a_string_is_400(loaded: TestClient) -> None:
    response = loaded.post("/api/v3/query_sql", json={"db": "db", "q": SQL, "format": 3})
    assert response.status_code == 400 and "must be a string" in response.json()["error"]


def test_the_database_listing_has_internal_and_every_format(loaded: TestClient) -> None:
    listed = loaded.get("/api/v3/configure/database")
    assert listed.json() == [{"iox::database": "_internal"}, {"iox::database": "db"}]
    as_csv = loaded.get("/api/v3/configure/database", headers={"Accept": "text/csv"})
    assert as_csv.text == "iox::database\n_internal\ndb\n"
    as_parquet = loaded.get("/api/v3/configure/database?format=parquet")
    assert read_parquet(as_parquet.content).column("iox::database").to_pylist() == [
        "_internal",
        "db",
    ]
    assert loaded.get("/api/v3/configure/database?format=xml").status_code == 400


def test_internal_answers_queries_and_refuses_writes(loaded: TestClient) -> None:
    sql = "SELECT table_name FROM information_schema.tables WHERE table_schema = 'system'"
    response = loaded.get("/api/v3/query_sql", params={"db": "_internal", "q": sql})
    assert response.status_code == 200
    assert {"table_name": "processing_engine_logs"} in response.json()
    refused = loaded.post("/api/v3/write_lp?db=_internal", content="m v=1 1")
    assert refused.status_code == 400 and "internal database" in refused.json()["error"]
    assert loaded.post("/api/v2/write?bucket=_internal", content="m v=1 1").status_code == 400
    created = loaded.post("/api/v3/configure/database", json={"db": "_internal"})
    assert created.status_code == 400 and "internal" in created.json()["error"]
    assert loaded.delete("/api/v3/configure/database?db=_internal").status_code == 400
