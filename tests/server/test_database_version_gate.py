"""The ``database_version`` gate: a plugin whose manifest.toml (shaped as the official library's:
schema 1.2, a directory holding the plugin file and its manifest) declares InfluxDB versions that
exclude this node's is refused at ``create trigger`` and ``update trigger``, with both versions
named; ``ignore_database_version`` / ``--ignore-database-version`` lets it through."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from starlette.testclient import TestClient

from pluginmgr.node.plugin_policy import INFLUXDB_VERSION
from pluginmgr.server import ServerState, create_app
from tests.helpers import run_cli
from tests.server.server_helpers import TRIGGER, Served, serve, trigger_body

#: the official library's plugin file shape: a JSON header docstring, then the entry points
PLUGIN = '''"""
{
    "plugin_type": ["scheduled", "http"],
    "scheduled_args_config": [
        {"name": "window", "example": "10min", "description": "History per run.", "required": false}
    ],
    "http_args_config": []
}
"""


def process_scheduled_call(influxdb3_local, call_time, args=None):
    influxdb3_local.info("filled", call_time)


def process_request(influxdb3_local, query_parameters, request_headers, request_body, args=None):
    return {"filled": True}
'''
MANIFEST = """manifest_schema_version = "1.2"

[plugin]
name = "{name}"
version = "0.2.0"
description = "Detects gaps in time series and fills them."
triggers = ["process_scheduled_call", "process_request"]
homepage = "https://www.influxdata.com/"
repository = "https://github.com/influxdata/influxdb3_plugins/tree/main/influxdata/{name}"
exclude = [".git/", "__pycache__/", "*.pyc", "tests/**", "*.py", "!{name}.py"]

[dependencies]
database_version = "{versions}"
python = []
"""
#: directory -> its declared range: one this node is in, one it is not
PLUGINS = {"gapfill_ok": ">=3.8.2", "gapfill_future": ">=3.12.0,<4.0.0"}


def _library(plugin_dir: Path) -> None:
    for name, versions in PLUGINS.items():
        folder = plugin_dir / name
        folder.mkdir()
        (folder / f"{name}.py").write_text(PLUGIN, encoding="utf-8")
        manifest = MANIFEST.format(name=name, versions=versions)
        (folder / "manifest.toml").write_text(manifest, encoding="utf-8")


def _refusal(ref: str) -> str:
    return (
        f"{ref} supports InfluxDB >=3.12.0,<4.0.0 (database_version in its manifest.toml), and "
        f"this node implements InfluxDB {INFLUXDB_VERSION}"
    )


@pytest.fixture
def api(state: ServerState, plugin_dir: Path) -> Iterator[TestClient]:
    _library(plugin_dir)
    with TestClient(create_app(state)) as client:
        client.post("/api/v3/configure/database", json={"db": "db"})
        yield client


def test_http_create_refuses_a_plugin_for_other_influxdb_versions(api: TestClient) -> None:
    ref = "gapfill_future/gapfill_future.py"
    refused = api.post(TRIGGER, json=trigger_body("future", ref, "request:future"))
    assert refused.status_code == 400
    assert refused.json()["error"].startswith(_refusal(ref) + " (hint: ")
    assert "--ignore-database-version" in refused.json()["error"]
    assert api.get(TRIGGER, params={"db": "db"}).json() == []  # nothing created


def test_http_create_takes_a_plugin_that_supports_this_node(api: TestClient) -> None:
    ok = api.post(TRIGGER, json=trigger_body("ok", "gapfill_ok/gapfill_ok.py", "request:ok"))
    assert ok.status_code == 200, ok.text
    assert api.get("/api/v3/engine/ok").json() == {"filled": True}


def test_ignore_database_version_lets_it_through(api: TestClient) -> None:
    body = trigger_body(
        "forced", "gapfill_future/gapfill_future.py", "request:forced", ignore_database_version=True
    )
    created = api.post(TRIGGER, json=body)
    assert created.status_code == 200, created.text
    assert api.get("/api/v3/engine/forced").json() == {"filled": True}


def test_update_to_a_plugin_for_other_versions_is_refused_unless_ignored(
    api: TestClient,
) -> None:
    created = api.post(TRIGGER, json=trigger_body("t", "gapfill_ok/gapfill_ok.py", "every:1h"))
    assert created.status_code == 200, created.text
    ref = "gapfill_future/gapfill_future.py"
    refused = api.put(TRIGGER, json={"db": "db", "trigger_name": "t", "plugin_filename": ref})
    assert refused.status_code == 400
    assert refused.json()["error"].startswith(_refusal(ref))
    rows = api.get(TRIGGER, params={"db": "db"}).json()
    assert rows[0]["plugin_filename"] == "gapfill_ok/gapfill_ok.py"
    body = {"db": "db", "trigger_name": "t", "plugin_filename": ref, "ignore_database_version": 1}
    assert api.put(TRIGGER, json=body).status_code == 400  # a bool, not a number
    body["ignore_database_version"] = True
    assert api.put(TRIGGER, json=body).status_code == 200
    assert api.get(TRIGGER, params={"db": "db"}).json()[0]["plugin_filename"] == ref


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    root = tmp_path_factory.mktemp("gate")
    plugin_dir = root / "plugins"
    plugin_dir.mkdir()
    _library(plugin_dir)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("INFLUXDB3_", "UV_"))}
    with serve(plugin_dir, root, "--disable-package-management", env=env) as served:
        httpx.post(f"{served.url}/api/v3/configure/database", json={"db": "db"})
        yield served


def test_cli_create_trigger_names_both_versions_and_can_override(
    node: Served, capsys: pytest.CaptureFixture[str]
) -> None:
    ref = "gapfill_future/gapfill_future.py"
    args = ["create", "trigger", "fill", "-H", node.url, "-d", "db"]
    args += ["--trigger-spec", "every:10m", "--plugin-filename", ref]
    refused = run_cli(capsys, *args)
    assert refused.code == 1
    assert refused.err.startswith(f"error: {_refusal(ref)}")
    assert refused.err.count("\n") == 1
    forced = run_cli(capsys, *args, "--ignore-database-version")
    assert (forced.code, forced.out) == (0, "Trigger fill created successfully\n"), forced.err
    ok_args = [*args[:2], "fill_ok", *args[3:-1], "gapfill_ok/gapfill_ok.py"]
    ok = run_cli(capsys, *ok_args)
    assert ok.code == 0, ok.err


def test_a_range_that_does_not_parse_is_one_line_400(api: TestClient, plugin_dir: Path) -> None:
    folder = plugin_dir / "odd"
    folder.mkdir()
    (folder / "odd.py").write_text(PLUGIN, encoding="utf-8")
    (folder / "manifest.toml").write_text('[dependencies]\ndatabase_version = "three"\n')
    refused = api.post(TRIGGER, json=trigger_body("odd", "odd/odd.py", "request:odd"))
    assert refused.status_code == 400
    assert (
        refused.json()["error"]
        == "odd/odd.py: invalid database_version 'three' in its manifest.toml"
    )
