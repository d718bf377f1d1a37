"""What ``POST /api/v3/configure/processing_engine_trigger`` refuses and warns about, absolute
plugin paths, and ``error_behavior=disable`` on request triggers, over the HTTP API."""

from __future__ import annotations

import logging
from pathlib import Path

import httpx
import pytest
from starlette.testclient import TestClient

from pluginmgr.server import ServerState
from tests.server.server_helpers import ECHO, TRIGGER, trigger_body, write_plugin

WRITES = """
def process_writes(influxdb3_local, table_batches, args=None):
    influxdb3_local.info("rows", sum(len(b["rows"]) for b in table_batches))
"""
SCHEDULED = """
def process_scheduled_call(influxdb3_local, call_time, args=None):
    pass
"""
SELF_WRITER = """
def process_writes(influxdb3_local, table_batches, args=None):
    influxdb3_local.write(LineBuilder("seen").int64_field("n", len(table_batches)))
"""
OTHER_DB_WRITER = """
def process_writes(influxdb3_local, table_batches, args=None):
    influxdb3_local.write_to_db("archive", LineBuilder("seen").int64_field("n", 1))
"""
_REQUEST_SIGNATURE = (
    "process_request(influxdb3_local, query_parameters, request_headers, request_body, args=None)"
)


@pytest.fixture
def db(client: TestClient) -> str:
    assert client.post("/api/v3/configure/database", json={"db": "db"}).status_code == 200
    return "db"


@pytest.mark.parametrize(
    ("spec", "code", "expected"),
    [
        ("request:a", WRITES, f"plugin a.py has no {_REQUEST_SIGNATURE} for request:... triggers"),
        (
            "all_tables",
            ECHO,
            "plugin a.py has no process_writes(influxdb3_local, table_batches, args=None) "
            "for all_tables triggers",
        ),
        (
            "table:cpu",
            SCHEDULED,
            "plugin a.py has no process_writes(influxdb3_local, table_batches, args=None) "
            "for table:... triggers",
        ),
        (
            "every:5s",
            WRITES,
            "plugin a.py has no process_scheduled_call(influxdb3_local, call_time, args=None) "
            "for every:... triggers",
        ),
        (
            "cron:0 0 * * * *",
            ECHO,
            "plugin a.py has no process_scheduled_call(influxdb3_local, call_time, args=None) "
            "for cron:... triggers",
        ),
    ],
)
@pytest.mark.usefixtures("db")
def test_a_plugin_without_the_entry_point_is_refused_with_400(
    client: TestClient, state: ServerState, plugin_dir: Path, spec: str, code: str, expected: str
) -> None:
    write_plugin(plugin_dir, "a.py", code)
    answer = client.post(TRIGGER, json=trigger_body("t", "a.py", spec))
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"].startswith(f"{expected} (hint: ")
    assert state.engine.catalog.triggers() == []  # nothing was created


@pytest.mark.usefixtures("db")
def test_a_good_trigger_answers_empty_warnings(client: TestClient, plugin_dir: Path) -> None:
    write_plugin(plugin_dir, "echo.py", ECHO)
    answer = client.post(TRIGGER, json=trigger_body("echo", "echo.py", "request:echo"))
    assert answer.status_code == 200 and answer.json() == {"warnings": []}
    write_plugin(plugin_dir, "other.py", OTHER_DB_WRITER)
    archive = client.post(TRIGGER, json=trigger_body("arch", "other.py", "all_tables"))
    assert archive.json() == {"warnings": []}  # write_to_db to another database is fine


@pytest.mark.usefixtures("db")
def test_warnings_are_answered_and_logged(
    client: TestClient, plugin_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="pluginmgr.server.routes_engine")
    write_plugin(plugin_dir, "echo.py", ECHO)
    slash = client.post(TRIGGER, json=trigger_body("slash", "echo.py", "request:/x"))
    assert slash.status_code == 200
    (warning,) = slash.json()["warnings"]
    assert "/api/v3/engine//x" in warning and "request:x" in warning
    assert client.get("/api/v3/engine//x").status_code == 200  # where it is served, as warned

    write_plugin(plugin_dir, "loop.py", SELF_WRITER)
    loop = client.post(TRIGGER, json=trigger_body("loop", "loop.py", "all_tables"))
    assert loop.status_code == 200
    (looping,) = loop.json()["warnings"]
    assert looping.startswith("plugin loop.py writes to db, its trigger's own database")
    logged = [r.getMessage() for r in caplog.records]
    assert f"trigger db/slash: {warning}" in logged
    assert f"trigger db/loop: {looping}" in logged


@pytest.mark.usefixtures("db")
def test_an_absolute_plugin_path_inside_the_plugin_dir_works(
    client: TestClient, plugin_dir: Path
) -> None:
    write_plugin(plugin_dir, "echo.py", ECHO)
    absolute = str(plugin_dir / "echo.py")
    created = client.post(TRIGGER, json=trigger_body("echo", absolute, "request:echo"))
    assert created.status_code == 200, created.text
    assert client.get("/api/v3/engine/echo?a=1").json()["q"] == {"a": "1"}
    listed = client.get(f"{TRIGGER}?db=db&format=json").json()
    assert listed[0]["plugin_filename"] == absolute and listed[0]["state"] == "running"


@pytest.mark.usefixtures("db")
def test_an_absolute_plugin_path_outside_is_refused_with_upstreams_message(
    client: TestClient, tmp_path: Path
) -> None:
    outside = tmp_path / "outside.py"
    outside.write_text(ECHO)
    answer = client.post(TRIGGER, json=trigger_body("t", str(outside), "request:t"))
    assert answer.status_code == 400
    assert answer.json()["error"].startswith(
        f"Path traversal detected: plugin filename '{outside}' attempts to access files "
        "outside the plugin directory"
    )


def test_disable_on_a_request_trigger_after_a_500_over_http(
    live_server: tuple[str, str], plugin_dir: Path
) -> None:
    url, token = live_server
    write_plugin(plugin_dir, "echo.py", ECHO)
    auth = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=url, headers=auth, timeout=30) as http:
        assert http.post("/api/v3/configure/database", json={"db": "db"}).status_code == 200
        settings = {"run_async": False, "error_behavior": "disable"}
        body = trigger_body("echo", "echo.py", "request:echo", trigger_settings=settings)
        assert http.post(TRIGGER, json=body).status_code == 200
        assert http.get("/api/v3/engine/echo").status_code == 200
        failed = http.get("/api/v3/engine/echo", params={"fail": "1"})
        assert failed.status_code == 500
        assert failed.json() == {"error": "Python function call failed: ValueError: asked to fail"}
        (row,) = http.get(TRIGGER, params={"db": "db", "format": "json"}).json()
        assert row["disabled"] is True and row["state"] == "disabled"
        assert http.get("/api/v3/engine/echo").status_code == 404
        enabled = http.post(f"{TRIGGER}/enable", params={"db": "db", "trigger_name": "echo"})
        assert enabled.status_code == 200
        assert http.get("/api/v3/engine/echo").status_code == 200
