"""Database retention periods over HTTP against a real server (uvicorn on loopback, auth on):
creation with a period, ``PUT /api/v3/configure/database``, ``POST``/``DELETE
.../retention_period``, each with its errors; every query path (SQL, InfluxQL, a plugin's
``influxdb3_local.query``) without the expired rows; database names as Core checks them."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.server.server_helpers import TRIGGER, trigger_body, write_plugin

HOUR = 3600 * 10**9
DATABASE = "/api/v3/configure/database"
PERIOD = "/api/v3/configure/database/retention_period"
NOT_FOUND = "the requested resource was not found: nope"

COUNTS = """
def process_request(influxdb3_local, query_parameters, request_headers, request_body, args=None):
    return influxdb3_local.query("SELECT count(*) AS n FROM cpu")
"""


@pytest.fixture
def http(live_server: tuple[str, str]) -> Iterator[httpx.Client]:
    base, token = live_server
    auth = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=base, headers=auth, timeout=30) as client:
        yield client


def _write_hours_ago(http: httpx.Client, database: str, *hours: float) -> None:
    now = time.time_ns()
    lines = "\n".join(f"cpu,host=h{i} v={i} {now - int(h * HOUR)}" for i, h in enumerate(hours))
    answer = http.post("/api/v3/write_lp", params={"db": database}, content=lines)
    assert answer.status_code == 204, answer.text


def _count(http: httpx.Client, database: str) -> int:
    answer = http.get("/api/v3/query_sql", params={"db": database, "q": "SELECT v FROM cpu"})
    assert answer.status_code == 200, answer.text
    return len(answer.json())


def _error(answer: httpx.Response, status: int) -> str:
    assert answer.status_code == status, answer.text
    message: str = answer.json()["error"]
    assert "\n" not in message
    return message


def _periods(http: httpx.Client) -> dict[str, int | None]:
    sql = "SELECT database_name, retention_period_ns FROM system.databases"
    answer = http.get("/api/v3/query_sql", params={"db": "_internal", "q": sql})
    assert answer.status_code == 200, answer.text
    return {row["database_name"]: row.get("retention_period_ns") for row in answer.json()}


def test_create_with_a_period_hides_expired_rows_from_every_query_path(
    http: httpx.Client, plugin_dir: Path
) -> None:
    answer = http.post(DATABASE, json={"db": "logs", "retention_period": "1h"})
    assert answer.status_code == 200, answer.text
    _write_hours_ago(http, "logs", 0, 0.5, 2, 30)
    assert _count(http, "logs") == 2
    influxql = http.get("/query", params={"db": "logs", "q": "SELECT count(v) FROM cpu"})
    assert influxql.status_code == 200, influxql.text
    assert influxql.json()["results"][0]["series"][0]["values"][0][1] == 2
    write_plugin(plugin_dir, "counts.py", COUNTS)
    trigger = trigger_body("counts", "counts.py", "request:counts", db="logs")
    assert http.post(TRIGGER, json=trigger).status_code == 200
    assert http.get("/api/v3/engine/counts").json() == [{"n": 2}]
    assert _periods(http)["logs"] == HOUR
    policies = http.get("/query", params={"q": "SHOW RETENTION POLICIES ON logs"}).json()
    assert policies["results"][0]["series"][0]["values"][0][:2] == ["autogen", "1h0m0s"]


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ("garbage", 'invalid value: string "garbage", expected a duration'),
        (3600, "invalid type: integer `3600`, expected a duration"),
        ("500ms", "shorter than one second"),
        ({"d": 1}, "invalid type: map, expected a duration"),
    ],
)
def test_create_refuses_a_bad_period_and_creates_nothing(
    http: httpx.Client, value: object, words: str
) -> None:
    answer = http.post(DATABASE, json={"db": "logs", "retention_period": value})
    assert words in _error(answer, 400)
    listed = http.get(DATABASE, params={"format": "json"}).json()
    assert "logs" not in [row["iox::database"] for row in listed]


def test_put_sets_changes_and_clears_the_period_at_once(http: httpx.Client) -> None:
    assert http.post(DATABASE, json={"db": "m"}).status_code == 200
    _write_hours_ago(http, "m", 0, 2, 5)
    assert _count(http, "m") == 3
    assert http.put(DATABASE, json={"db": "m", "retention_period": "1h"}).status_code == 200
    assert _count(http, "m") == 1
    assert http.put(DATABASE, json={"db": "m", "retention_period": "3h"}).status_code == 200
    assert _count(http, "m") == 2
    assert _periods(http)["m"] == 3 * HOUR
    # without retention_period (or with null) the period is cleared, as upstream
    assert http.put(DATABASE, json={"db": "m"}).status_code == 200
    assert _periods(http)["m"] is None
    assert _count(http, "m") == 3  # not dropped yet: hidden only while the period held


def test_put_errors(http: httpx.Client) -> None:
    assert http.post(DATABASE, json={"db": "m"}).status_code == 200
    put = http.put
    assert _error(put(DATABASE, json={"db": "nope", "retention_period": "1h"}), 404) == NOT_FOUND
    assert "expected a duration" in _error(
        put(DATABASE, json={"db": "m", "retention_period": "soon"}), 400
    )
    assert _error(put(DATABASE, json={"retention_period": "1h"}), 400) == "missing field 'db'"
    internal = put(DATABASE, json={"db": "_internal", "retention_period": "1h"})
    assert "cannot modify internal db" in _error(internal, 400)
    assert _periods(http)["m"] is None  # nothing changed


def test_retention_period_endpoints(http: httpx.Client) -> None:
    assert http.post(DATABASE, json={"db": "m"}).status_code == 200
    answer = http.post(PERIOD, params={"db": "m", "duration": "2d"})
    assert answer.status_code == 204, answer.text
    assert _periods(http)["m"] == 48 * HOUR
    assert http.delete(PERIOD, params={"db": "m"}).status_code == 204
    assert _periods(http)["m"] is None


def test_retention_period_endpoint_errors(http: httpx.Client) -> None:
    assert http.post(DATABASE, json={"db": "m"}).status_code == 200
    assert _error(http.post(PERIOD, params={"db": "nope", "duration": "1h"}), 404) == NOT_FOUND
    assert _error(http.post(PERIOD, params={"db": "m"}), 400) == "missing field 'duration'"
    bad = http.post(PERIOD, params={"db": "m", "duration": "1 fortnight"})
    assert "unknown time unit" in _error(bad, 400)
    assert _error(http.delete(PERIOD, params={"db": "nope"}), 404) == NOT_FOUND
    assert _error(http.delete(PERIOD), 400) == "missing field 'db'"
    internal = http.delete(PERIOD, params={"db": "_internal"})
    assert "cannot modify internal db" in _error(internal, 400)
    assert _periods(http)["m"] is None


def test_retention_changes_need_a_token(live_server: tuple[str, str]) -> None:
    base, _token = live_server
    with httpx.Client(base_url=base, timeout=30) as anonymous:
        assert anonymous.put(DATABASE, json={"db": "m"}).status_code == 401
        assert anonymous.post(PERIOD, params={"db": "m", "duration": "1h"}).status_code == 401
        assert anonymous.delete(PERIOD, params={"db": "m"}).status_code == 401


def test_the_cutoff_moves_with_the_clock(http: httpx.Client) -> None:
    assert http.post(DATABASE, json={"db": "fast", "retention_period": "2s"}).status_code == 200
    _write_hours_ago(http, "fast", 0)
    assert _count(http, "fast") == 1
    time.sleep(2.2)  # no restart, no call: the row is older than two seconds now
    assert _count(http, "fast") == 0


@pytest.mark.parametrize(
    ("name", "words"),
    [
        ("_lead", "db name did not start with a number or letter"),
        ("a/b/c", "must be of form '<db_name>/<rp_name>'"),
        ("a.b", "invalid character in database or rp name"),
    ],
)
def test_database_names_core_refuses(http: httpx.Client, name: str, words: str) -> None:
    assert words in _error(http.post(DATABASE, json={"db": name}), 400)
    answer = http.post("/api/v3/write_lp", params={"db": name}, content="cpu v=1")
    assert words in _error(answer, 400)


def test_a_database_with_a_retention_policy_part_is_accepted(http: httpx.Client) -> None:
    assert http.post(DATABASE, json={"db": "a/b"}).status_code == 200
    answer = http.post("/api/v3/write_lp", params={"db": "a/b"}, content="cpu v=1")
    assert answer.status_code == 204, answer.text
