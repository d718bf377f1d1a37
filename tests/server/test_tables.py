"""``POST`` / ``DELETE /api/v3/configure/table`` over HTTP, bad bodies included."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from engine_runtime import DurableStore
from pluginmgr.server import create_app
from tests.server.server_helpers import build_state

TABLE = "/api/v3/configure/table"
BODY: dict[str, Any] = {
    "db": "db",
    "table": "cpu",
    "tags": ["host", "region"],
    "fields": [
        {"name": "usage", "type": "float64"},
        {"name": "count", "type": "int64"},
        {"name": "big", "type": "uint64"},
        {"name": "up", "type": "bool"},
        {"name": "note", "type": "utf8"},
    ],
}
COLUMNS = (
    "SELECT column_name, data_type FROM information_schema.columns "
    "WHERE table_name = 'cpu' ORDER BY ordinal_position"
)


def query(client: TestClient, sql: str, db: str = "db") -> Any:
    response = client.get("/api/v3/query_sql", params={"db": db, "q": sql})
    assert response.status_code == 200, response.text
    return response.json()


def test_create_declares_the_table_and_its_database(client: TestClient) -> None:
    created = client.post(TABLE, json=BODY)
    assert (created.status_code, created.content) == (200, b"")
    assert query(client, "SELECT * FROM cpu") == []
    assert [row["column_name"] for row in query(client, COLUMNS)] == [
        "host", "region", "big", "count", "note", "up", "usage", "time"
    ]  # fmt: skip
    listed = client.get("/api/v3/configure/database").json()
    assert {"iox::database": "db"} in listed
    rejected = client.post("/api/v3/write_lp?db=db", content="cpu,host=a usage=1i 1")
    assert rejected.status_code == 400 and "expected Float64 field" in rejected.text
    assert (
        client.post("/api/v3/write_lp?db=db", content="cpu,host=a usage=1.5 1").status_code == 204
    )


def test_creating_it_twice_is_409(client: TestClient) -> None:
    assert client.post(TABLE, json=BODY).status_code == 200
    again = client.post(TABLE, json={**BODY, "fields": []})
    assert again.status_code == 409
    assert "already exists: table cpu in database db" in again.json()["error"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"db": None}, "missing field 'db'"),
        ({"table": ""}, "field 'table' is empty"),
        ({"tags": None}, "missing field 'tags'"),
        ({"fields": "usage"}, "field 'fields' must be a list"),
        ({"tags": ["host", 3]}, "every tag must be a string"),
        ({"fields": ["usage"]}, "every field must be an object"),
        ({"fields": [{"name": "usage"}]}, "missing field 'type'"),
        ({"fields": [{"name": "usage", "type": "float"}]}, "unknown type 'float'"),
        ({"fields": [{"name": "host", "type": "utf8"}]}, "'host' is declared twice"),
        ({"tags": ["time"]}, "'time' is the time column"),
        ({"db": "bad name"}, "invalid database name"),
        ({"db": "_internal"}, "internal database"),
    ],
)
def test_bad_bodies_are_400_and_create_nothing(
    client: TestClient, change: dict[str, Any], message: str
) -> None:
    body = {key: value for key, value in {**BODY, **change}.items() if value is not None}
    response = client.post(TABLE, json=body)
    assert response.status_code == 400, response.text
    assert message in response.json()["error"]
    assert client.get("/api/v3/configure/database").json() == [{"iox::database": "_internal"}]


@pytest.mark.parametrize("raw", [b"", b"{not json", b"[1, 2]"])
def test_a_body_that_is_not_a_json_object_is_400(client: TestClient, raw: bytes) -> None:
    response = client.post(TABLE, content=raw, headers={"content-type": "application/json"})
    assert response.status_code == 400 and "error" in response.json()


def test_delete_drops_the_table_and_its_rows(client: TestClient) -> None:
    client.post("/api/v3/write_lp?db=db", content="cpu v=1 1\nmem v=2 1")
    deleted = client.delete(f"{TABLE}?db=db&table=cpu")
    assert (deleted.status_code, deleted.content) == (200, b"")
    names = {row["table_name"] for row in query(client, "SHOW TABLES")}
    assert "mem" in names and "cpu" not in names
    assert (
        client.get("/api/v3/query_sql", params={"db": "db", "q": "SELECT * FROM cpu"}).status_code
        == 400
    )
    assert query(client, "SELECT v FROM mem") == [{"v": 2.0}]


def test_delete_takes_a_json_body_too(client: TestClient) -> None:
    client.post(TABLE, json=BODY)
    response = client.request("DELETE", TABLE, json={"db": "db", "table": "cpu"})
    assert response.status_code == 200


@pytest.mark.parametrize(
    ("params", "status", "message"),
    [
        ("db=db&table=nope", 404, "not found: table nope in database db"),
        ("db=nowhere&table=cpu", 404, "Database not found nowhere"),
        ("db=db", 400, "missing field 'table'"),
        ("table=cpu", 400, "missing field 'db'"),
    ],
)
def test_deleting_a_missing_table_or_without_names_fails(
    client: TestClient, params: str, status: int, message: str
) -> None:
    client.post("/api/v3/write_lp?db=db", content="cpu v=1 1")
    response = client.delete(f"{TABLE}?{params}")
    assert response.status_code == status
    assert message in response.json()["error"]


def test_declared_tables_survive_a_server_restart(tmp_path: Path, plugin_dir: Path) -> None:
    for attempt in range(2):
        store = DurableStore(tmp_path / "store", flush_interval=0.01)
        state, close = build_state(tmp_path / f"run{attempt}", plugin_dir, store=store)
        with TestClient(create_app(state)) as client:
            if attempt == 0:
                assert client.post(TABLE, json=BODY).status_code == 200
                client.post(TABLE, json={**BODY, "table": "gone"})
                assert client.delete(f"{TABLE}?db=db&table=gone").status_code == 200
            else:
                tables = query(client, "SELECT table_name FROM information_schema.tables "
                               "WHERE table_schema = 'iox'")  # fmt: skip
                assert tables == [{"table_name": "cpu"}]
        close()


def test_a_full_write_buffer_answers_503_and_the_write_works_later(
    tmp_path: Path, plugin_dir: Path
) -> None:
    body = "\n".join(f"cpu,host=h{i} v={i} {i}" for i in range(200))
    store = DurableStore(tmp_path / "store", flush_interval=0.01, buffer_limit=3 * 2 * len(body))
    state, close = build_state(tmp_path / "run", plugin_dir, store=store)
    with TestClient(create_app(state)) as client:
        with store._persist_lock:  # the persist that would free the buffer cannot start yet
            answers = [client.post("/api/v3/write_lp?db=db", content=body) for _ in range(4)]
        assert [a.status_code for a in answers] == [204, 204, 204, 503]
        assert answers[3].json()["error"].startswith("the write buffer is full")
        for _ in range(100):  # the refused write woke the persist; retrying works
            retried = client.post("/api/v3/write_lp?db=db", content=body)
            if retried.status_code != 503:
                break
            time.sleep(0.05)
        assert retried.status_code == 204
        assert query(client, "SELECT count(*) AS n FROM cpu") == [{"n": 200}]
    close()
