"""The HTTP API in-process (Starlette's TestClient) and over real loopback HTTP (uvicorn)."""

from __future__ import annotations

import dataclasses
import json
import sys
import textwrap
import threading
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.testclient import TestClient

from pluginmgr.deps.installers import InstallOptions
from pluginmgr.server import ServerState, create_app
from tests.server.server_helpers import (
    ECHO,
    TRIGGER,
    build_state,
    trigger_body,
    wait_for,
    write_plugin,
)

WRITE_COUNTER = """
def process_writes(influxdb3_local, table_batches, args=None):
    for batch in table_batches:
        if batch["table_name"] == "counts":
            continue
        line = LineBuilder("counts").tag("table", batch["table_name"])
        influxdb3_local.write(line.int64_field("rows", len(batch["rows"])))
"""

# -- health, writes and queries ---------------------------------------------------------------


def test_health_and_ping(client: TestClient) -> None:
    assert client.get("/health").text == "OK"
    assert "version" in client.get("/ping").json()


def test_write_then_query_in_every_format(client: TestClient) -> None:
    lp = "cpu,host=a usage=1.5 1000000000\ncpu,host=b usage=2.5 2000000000\n"
    written = client.post("/api/v3/write_lp?db=db&precision=nanosecond", content=lp)
    assert written.status_code == 204, written.text
    sql = "SELECT host, usage FROM cpu ORDER BY host"
    rows = client.get("/api/v3/query_sql", params={"db": "db", "q": sql, "format": "json"})
    assert rows.json() == [{"host": "a", "usage": 1.5}, {"host": "b", "usage": 2.5}]
    jsonl = client.post("/api/v3/query_sql", json={"db": "db", "q": sql, "format": "jsonl"})
    assert [json.loads(line) for line in jsonl.text.splitlines()] == rows.json()
    csv = client.get("/api/v3/query_sql", params={"db": "db", "q": sql, "format": "csv"})
    assert csv.text == "host,usage\na,1.5\nb,2.5\n"
    pretty = client.get("/api/v3/query_sql", params={"db": "db", "q": sql, "format": "pretty"})
    assert pretty.text.splitlines() == [
        "+------+-------+",
        "| host | usage |",
        "+------+-------+",
        "| a    | 1.5   |",
        "| b    | 2.5   |",
        "+------+-------+",
    ]


def test_query_params_and_v2_write(client: TestClient) -> None:
    response = client.post("/api/v2/write?bucket=db&precision=s", content="m,t=x v=1i 5")
    assert response.status_code == 204
    body = {"db": "db", "q": "SELECT time, v FROM m WHERE t = $t", "params": {"t": "x"}}
    # time as InfluxDB 3 answers over HTTP: ISO 8601 (plugins get int nanoseconds)
    assert client.post("/api/v3/query_sql", json=body).json() == [
        {"time": "1970-01-01T00:00:05", "v": 1}
    ]
    as_string = {"db": "db", "q": body["q"], "params": json.dumps({"t": "x"})}
    assert len(client.get("/api/v3/query_sql", params=as_string).json()) == 1


def test_partial_write_lists_the_bad_lines(client: TestClient) -> None:
    lp = "cpu v=1 1\ncpu v=oops 2\ncpu v=3 3"
    response = client.post("/api/v3/write_lp?db=db", content=lp)
    assert response.status_code == 400
    body = response.json()
    assert body["error"] == "partial write of line protocol occurred"
    assert body["data"][0]["line_number"] == 2
    assert body["data"][0]["original_line"] == "cpu v=oops 2"
    assert body["data"][0]["error_message"]
    rows = client.get("/api/v3/query_sql", params={"db": "db", "q": "SELECT v FROM cpu"})
    assert len(rows.json()) == 2  # the good lines were written


def test_malformed_line_protocol_is_400(client: TestClient) -> None:
    response = client.post("/api/v3/write_lp?db=db&accept_partial=false", content="cpu v=1\nbad")
    assert response.status_code == 400
    body = response.json()
    assert body["error"] == "parsing failed for write_lp endpoint"
    assert body["data"][0]["line_number"] == 2
    assert body["data"][0]["original_line"] == "bad"


@pytest.mark.parametrize(
    ("url", "field"),
    [
        ("/api/v3/write_lp", "'db'"),
        ("/api/v3/write_lp?db=db&precision=hours", "precision"),
        ("/api/v3/write_lp?db=db&accept_partial=maybe", "'accept_partial'"),
        ("/api/v2/write?bucket=db&precision=minutes", "precision"),
    ],
)
def test_bad_write_parameters_are_400(client: TestClient, url: str, field: str) -> None:
    response = client.post(url, content="cpu v=1")
    assert response.status_code == 400
    assert field in response.json()["error"]


def test_bad_query_requests_are_400(client: TestClient) -> None:
    client.post("/api/v3/write_lp?db=db", content="cpu v=1 1")
    broken = client.post(
        "/api/v3/query_sql", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert broken.status_code == 400 and "not valid JSON" in broken.json()["error"]
    no_q = client.post("/api/v3/query_sql", json={"db": "db"})
    assert no_q.status_code == 400 and "'q'" in no_q.json()["error"]
    bad_params = client.get(
        "/api/v3/query_sql", params={"db": "db", "q": "SELECT 1", "params": "{"}
    )
    assert bad_params.status_code == 400 and "'params'" in bad_params.json()["error"]
    bad_format = client.get(
        "/api/v3/query_sql", params={"db": "db", "q": "SELECT 1", "format": "x"}
    )
    assert bad_format.status_code == 400 and "'format'" in bad_format.json()["error"]
    bad_sql = client.get("/api/v3/query_sql", params={"db": "db", "q": "SELECT nope FROM cpu"})
    assert bad_sql.status_code == 400 and bad_sql.json()["error"]


def test_query_on_unknown_database(client: TestClient) -> None:
    response = client.get("/api/v3/query_sql", params={"db": "nowhere", "q": "SELECT 1"})
    assert response.status_code == 404
    assert "nowhere" in response.json()["error"]


def test_databases_create_list_delete(client: TestClient) -> None:
    assert client.post("/api/v3/configure/database", json={"db": "other"}).status_code == 200
    again = client.post("/api/v3/configure/database", json={"db": "other"})
    assert again.status_code == 409
    listed = client.get("/api/v3/configure/database?format=json").json()
    assert {"iox::database": "other"} in listed
    bad = client.post("/api/v3/configure/database", json={"db": "no spaces"})
    assert bad.status_code == 400
    assert client.delete("/api/v3/configure/database?db=other").status_code == 200
    assert client.delete("/api/v3/configure/database?db=other").status_code == 404


def test_deleting_a_database_deletes_its_rows(client: TestClient) -> None:
    assert client.post("/api/v3/write_lp?db=gone", content="cpu,host=a v=1 1").status_code == 204
    assert client.delete("/api/v3/configure/database?db=gone").status_code == 200
    query = {"db": "gone", "q": "SELECT count(*) AS n FROM cpu"}
    assert client.get("/api/v3/query_sql", params=query).status_code == 404
    listed = client.get("/api/v3/configure/database?format=json").json()
    assert {"iox::database": "gone"} not in listed
    # a write makes it again, empty but for that write
    assert client.post("/api/v3/write_lp?db=gone", content="cpu,host=b v=2 2").status_code == 204
    assert client.get("/api/v3/query_sql", params=query).json() == [{"n": 1}]


def test_unknown_path_is_json_404(client: TestClient) -> None:
    response = client.get("/api/v3/nothing")
    assert response.status_code == 404 and "error" in response.json()


# -- triggers ---------------------------------------------------------------------------------


def test_trigger_lifecycle_with_upstream_strings(
    client: TestClient, state: ServerState, plugin_dir: Path
) -> None:
    client.post("/api/v3/configure/database", json={"db": "db"})
    plugin = write_plugin(plugin_dir, "counter.py", WRITE_COUNTER)
    created = client.post(TRIGGER, json=trigger_body("counter", plugin, "all_tables"))
    assert created.status_code == 200, created.text
    duplicate = client.post(TRIGGER, json=trigger_body("counter", plugin, "all_tables"))
    assert duplicate.status_code == 409
    assert "attempted to create a resource that already exists" in duplicate.json()["error"]
    missing_db = client.post(TRIGGER, json=trigger_body("x", plugin, "all_tables", db="nope"))
    assert missing_db.status_code == 404
    assert missing_db.json()["error"].startswith("Database not found")

    client.post("/api/v3/write_lp?db=db", content="cpu v=1 1\ncpu v=2 2")
    sql = {"db": "db", "q": "SELECT rows FROM counts"}

    def counted() -> Any:
        answer = client.get("/api/v3/query_sql", params=sql)
        return answer.json() if answer.status_code == 200 else None

    assert wait_for(counted) == [{"rows": 2}]

    listed = client.get(f"{TRIGGER}?db=db&format=json").json()
    assert listed[0]["trigger_name"] == "counter" and listed[0]["state"] == "running"

    running = client.request("DELETE", TRIGGER, json={"db": "db", "trigger_name": "counter"})
    assert running.status_code == 400
    assert running.json()["error"].startswith("Cannot delete running plugin counter.")
    assert client.post(f"{TRIGGER}/disable?db=db&trigger_name=counter").status_code == 200
    assert client.post(f"{TRIGGER}/disable?db=db&trigger_name=counter").status_code == 200
    assert state.engine.trigger_state("db", "counter") == "disabled"
    assert client.post(f"{TRIGGER}/enable?db=db&trigger_name=counter").status_code == 200
    assert state.engine.trigger_state("db", "counter") == "running"
    forced = client.delete(f"{TRIGGER}?db=db&trigger_name=counter&force=true")
    assert forced.status_code == 200
    gone = client.request("DELETE", TRIGGER, json={"db": "db", "trigger_name": "counter"})
    assert gone.status_code == 404
    assert gone.json()["error"] == "the requested resource was not found: counter"
    unknown = client.post(f"{TRIGGER}/enable?db=db&trigger_name=counter")
    assert unknown.status_code == 404


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"trigger_name": None}, "'trigger_name'"),
        ({"trigger_settings": {"run_async": "yes", "error_behavior": "log"}}, "run_async"),
        ({"trigger_settings": {"run_async": False, "error_behavior": "boom"}}, "error_behavior"),
        ({"trigger_arguments": {"a": 1}}, "'trigger_arguments'"),
        ({"disabled": "perhaps"}, "'disabled'"),
        ({"trigger_specification": "sometimes"}, "sometimes"),
    ],
)
def test_bad_trigger_bodies_are_400(
    client: TestClient, plugin_dir: Path, change: dict[str, Any], field: str
) -> None:
    client.post("/api/v3/configure/database", json={"db": "db"})
    plugin = write_plugin(plugin_dir, "counter.py", WRITE_COUNTER)
    body = trigger_body("t", plugin, "all_tables")
    body.update(change)
    response = client.post(TRIGGER, json={k: v for k, v in body.items() if v is not None})
    assert response.status_code == 400, response.text
    assert field in response.json()["error"]


def test_missing_or_escaping_plugin_refused(client: TestClient) -> None:
    client.post("/api/v3/configure/database", json={"db": "db"})
    missing = client.post(TRIGGER, json=trigger_body("t", "absent.py", "all_tables"))
    assert missing.status_code == 404 and "absent.py" in missing.json()["error"]
    escaping = client.post(TRIGGER, json=trigger_body("t", "../outside.py", "all_tables"))
    assert escaping.status_code == 400


def test_request_trigger_and_one_that_raises(client: TestClient, plugin_dir: Path) -> None:
    client.post("/api/v3/configure/database", json={"db": "db"})
    write_plugin(plugin_dir, "echo.py", ECHO)
    assert client.post(TRIGGER, json=trigger_body("echo", "echo.py", "request:echo")).is_success
    answer = client.post(
        "/api/v3/engine/echo?a=1&a=2",
        content=b"hello",
        headers={"X-Custom": "v", "Authorization": "Bearer secret"},
    )
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/json"
    data = answer.json()
    assert data["q"] == {"a": "2"} and data["b"] == "hello"
    assert data["h"]["x-custom"] == "v" and "authorization" not in data["h"]
    failed = client.get("/api/v3/engine/echo?fail=1")
    assert failed.status_code == 500
    assert failed.json() == {"error": "Python function call failed: ValueError: asked to fail"}
    assert client.get("/api/v3/engine/echo").status_code == 200  # still serving
    assert client.get("/api/v3/engine/nothing").status_code == 404
    assert client.put("/api/v3/engine/echo").status_code == 404


# -- dry runs ---------------------------------------------------------------------------------


def test_plugin_test_wal_and_schedule(client: TestClient, plugin_dir: Path) -> None:
    client.post("/api/v3/configure/database", json={"db": "db"})
    write_plugin(plugin_dir, "counter.py", WRITE_COUNTER)
    body = {"filename": "counter.py", "database": "db", "input_lp": "cpu v=1 1\ncpu v=2 2"}
    report = client.post("/api/v3/plugin_test/wal", json=body)
    assert report.status_code == 200, report.text
    data = report.json()
    assert data["errors"] == []
    assert data["database_writes"] == {"db": ["counts,table=cpu rows=2i"]}
    assert data["log_lines"][0] == "INFO: starting execution of wal plugin."
    assert client.get("/api/v3/query_sql", params={"db": "db", "q": "SHOW TABLES"}).is_success
    write_plugin(
        plugin_dir,
        "tick.py",
        """
        def process_scheduled_call(influxdb3_local, call_time, args=None):
            influxdb3_local.info("args are", args)
        """,
    )
    schedule_body: dict[str, Any] = {
        "filename": "tick.py",
        "database": "db",
        "schedule": "*/5 * * * * *",
        "input_arguments": {"region": "us-east"},
        "cache_name": None,
    }
    scheduled = client.post("/api/v3/plugin_test/schedule", json=schedule_body).json()
    assert "T" in scheduled["trigger_time"] and scheduled["errors"] == []
    assert "INFO: args are {'region': 'us-east'}" in scheduled["log_lines"]
    absent = {**schedule_body, "filename": "absent.py"}
    missing = client.post("/api/v3/plugin_test/wal", json=absent)
    assert missing.status_code == 404
    no_db = client.post("/api/v3/plugin_test/wal", json={"filename": "tick.py"})
    assert no_db.status_code == 400 and "'database'" in no_db.json()["error"]


# -- plugin files -----------------------------------------------------------------------------


def test_plugin_file_upload_and_traversal(
    client: TestClient, plugin_dir: Path, tmp_path: Path
) -> None:
    ok = client.post("/api/v3/plugins/files", json={"plugin_name": "sub/a.py", "content": "x = 1"})
    assert ok.status_code == 200
    assert (plugin_dir / "sub" / "a.py").read_text() == "x = 1"
    for name in ("../escape.py", "/etc/passwd", "sub/../../escape.py"):
        refused = client.post("/api/v3/plugins/files", json={"plugin_name": name, "content": ""})
        assert refused.status_code == 400, name
    assert not (tmp_path / "escape.py").exists()
    no_content = client.post("/api/v3/plugins/files", json={"plugin_name": "b.py"})
    assert no_content.status_code == 400 and "'content'" in no_content.json()["error"]
    unknown = client.put("/api/v3/plugins/files", json={"plugin_name": "nope", "content": ""})
    assert unknown.status_code == 404 and unknown.json()["error"] == "Plugin not found: nope"


def test_update_file_and_replace_directory(client: TestClient, plugin_dir: Path) -> None:
    client.post("/api/v3/configure/database", json={"db": "db"})
    package = plugin_dir / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text(textwrap.dedent(ECHO))
    (package / "stale.py").write_text("")
    assert client.post(TRIGGER, json=trigger_body("pkg", "pkg", "request:pkg")).is_success
    files = [
        {"relative_path": "__init__.py", "content": "from .helper import process_request\n"},
        {
            "relative_path": "helper.py",
            "content": "def process_request(influxdb3_local, q, h, b, args=None):\n"
            "    return 'replaced'\n",
        },
    ]
    replaced = client.put("/api/v3/plugins/directory", json={"plugin_name": "pkg", "files": files})
    assert replaced.status_code == 200, replaced.text
    assert sorted(p.name for p in package.iterdir()) == ["__init__.py", "helper.py"]
    assert sorted(p.name for p in plugin_dir.iterdir() if p.name.startswith(".pkg")) == []
    bad = [{"relative_path": "../evil.py", "content": ""}]
    refused = client.put("/api/v3/plugins/directory", json={"plugin_name": "pkg", "files": bad})
    assert refused.status_code == 400
    assert not (plugin_dir / "evil.py").exists()
    updated = client.put("/api/v3/plugins/files", json={"plugin_name": "pkg", "content": "y = 2"})
    assert updated.status_code == 200
    assert (package / "__init__.py").read_text() == "y = 2"


def test_install_endpoints_validate_their_bodies(client: TestClient) -> None:
    path = "/api/v3/configure/plugin_environment"
    empty = client.post(f"{path}/install_packages", json={"packages": []})
    assert empty.status_code == 400 and "'packages'" in empty.json()["error"]
    bad = client.post(f"{path}/install_packages", json={"packages": ["not a req !!"]})
    assert bad.status_code == 400 and "invalid requirement" in bad.json()["error"]
    outside = client.post(
        f"{path}/install_requirements", json={"requirements_location": "../requirements.txt"}
    )
    assert outside.status_code == 400
    missing = client.post(
        f"{path}/install_requirements", json={"requirements_location": "requirements.txt"}
    )
    assert missing.status_code == 404


# -- real HTTP --------------------------------------------------------------------------------


# the standard library's client: the plugin host sees the venv, never the server's httpx
CALLS_BACK = """
import json, urllib.request
def process_request(influxdb3_local, query_parameters, request_headers, request_body, args=None):
    url = args["base"] + "/api/v3/engine/inner?from=outer"
    ask = urllib.request.Request(url, headers={"Authorization": "Bearer " + args["token"]})
    with urllib.request.urlopen(ask, timeout=10) as answer:
        return {"inner_status": answer.status, "inner": json.loads(answer.read())}
"""


def test_plugin_calls_the_servers_own_request_endpoint(
    live_server: tuple[str, str], plugin_dir: Path
) -> None:
    base, token = live_server
    write_plugin(plugin_dir, "echo.py", ECHO)
    write_plugin(plugin_dir, "outer.py", CALLS_BACK)
    auth = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=base, headers=auth, timeout=20) as http:
        assert http.post("/api/v3/configure/database", json={"db": "db"}).status_code == 200
        inner = trigger_body("inner", "echo.py", "request:inner")
        assert http.post(TRIGGER, json=inner).status_code == 200
        args = {"base": base, "token": token}
        outer = trigger_body("outer", "outer.py", "request:outer", trigger_arguments=args)
        assert http.post(TRIGGER, json=outer).status_code == 200
        answer = http.get("/api/v3/engine/outer")
        assert answer.status_code == 200, answer.text
        data = answer.json()
        assert data["inner_status"] == 200
        assert data["inner"]["q"] == {"from": "outer"}
        assert "authorization" not in data["inner"]["h"]
        refused = httpx.get(f"{base}/api/v3/engine/inner", timeout=5)
        assert refused.status_code == 401
        assert http.get("/health").status_code == 200  # the server still serves


def test_concurrent_writers_over_http(live_server: tuple[str, str]) -> None:
    base, token = live_server
    auth = {"Authorization": f"Bearer {token}"}

    def writer(number: int) -> None:
        with httpx.Client(base_url=base, headers=auth, timeout=20) as http:
            for i in range(25):
                line = f"load,writer=w{number} i={i}i {i + 1}"
                assert http.post("/api/v3/write_lp?db=db", content=line).status_code == 204

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    query = {"db": "db", "q": "SELECT count(*) AS n FROM load"}
    counted = httpx.get(f"{base}/api/v3/query_sql", params=query, headers=auth, timeout=10)
    assert counted.json() == [{"n": 100}]


@pytest.mark.usefixtures("uv_sandbox")
def test_installed_package_is_importable_without_restart(
    tmp_path: Path, plugin_dir: Path, wheelhouse: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "path", list(sys.path))  # the venv is activated in this process
    options = InstallOptions(find_links=(str(wheelhouse),), no_index=True, offline=True)
    state, close = build_state(tmp_path, plugin_dir, install_options=options)
    path = "/api/v3/configure/plugin_environment/install_packages"
    try:
        with TestClient(create_app(state)) as client:
            failed = client.post(path, json={"packages": ["pm_nowhere"]})
            assert failed.status_code == 404, failed.text  # no such package: nothing changed
            assert failed.json()["error"].startswith(
                f"package 'pm_nowhere' was not found in the find-links folders {wheelhouse} "
            )
            assert not (plugin_dir / "requirements.in").exists()
            installed = client.post(path, json={"packages": ["pm_alpha"]})
            assert installed.status_code == 200, installed.text
            assert "pm-alpha" in installed.json()["changed"]
            client.post("/api/v3/configure/database", json={"db": "db"})
            write_plugin(
                plugin_dir,
                "greet.py",
                """
                def process_request(influxdb3_local, q, h, b, args=None):
                    import pm_alpha
                    return pm_alpha.greet()
                """,
            )
            body = trigger_body("greet", "greet.py", "request:greet")
            assert client.post(TRIGGER, json=body).status_code == 200
            assert client.get("/api/v3/engine/greet").text == "alpha+beta-1.0"
    finally:
        close()


@pytest.mark.parametrize(
    "ref", ["gh:examples/x/x.py", "git+https://h/r.git#path=x.py", "registry:x"]
)
def test_a_fetched_plugins_file_cannot_be_overwritten_by_upload(
    client: TestClient, state: ServerState, plugin_dir: Path, ref: str
) -> None:
    # put the trigger in the catalog directly: creating it over HTTP would fetch the plugin
    state.engine.catalog.create_database("db")
    state.engine.catalog.create_trigger("db", "fetched", ref, "request:fetched")
    body = {"plugin_name": "fetched", "content": "x = 1"}
    answer = client.put("/api/v3/plugins/files", json=body)
    assert answer.status_code == 400, answer.text
    assert f"runs the fetched plugin {ref}" in answer.json()["error"]
    assert sorted(p.name for p in plugin_dir.iterdir()) == []


def test_restricted_trigger_types_are_refused_at_creation(
    state: ServerState, plugin_dir: Path
) -> None:
    """``--restrict-plugin-triggers-to schedule``: upstream's 400 for the other types, checked
    before the plugin is even read; allowed types are created as usual."""
    restricted = dataclasses.replace(state, allowed_triggers=frozenset({"Schedule"}))
    with TestClient(create_app(restricted)) as client:
        client.post("/api/v3/configure/database", json={"db": "db"})
        code = "def process_scheduled_call(influxdb3_local, call_time, args=None):\n    pass\n"
        plugin = write_plugin(plugin_dir, "tick.py", code)
        for spec, plugin_type in [("all_tables", "WalRows"), ("request:x", "Request")]:
            refused = client.post(TRIGGER, json=trigger_body("t", "absent.py", spec))
            assert refused.status_code == 400
            assert refused.json()["error"] == (
                f"invalid request: server is configured to reject {plugin_type} plugin triggers"
            )
        scheduled = client.post(TRIGGER, json=trigger_body("s", plugin, "every:1h"))
        assert scheduled.status_code == 200, scheduled.text
