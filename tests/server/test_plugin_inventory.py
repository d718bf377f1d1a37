"""``show plugins``: each plugin's metadata and the triggers using it, from a real server."""

from __future__ import annotations

import csv
import io
import json
import textwrap
from pathlib import Path

import httpx
import pytest

from pluginmgr.cli.server_commands import PLUGINS_PATH
from pluginmgr.server.routes_engine import PLUGINS_PATH as SERVER_PLUGINS_PATH
from tests.helpers import run_cli
from tests.server.server_helpers import TRIGGER, trigger_body

WAL = '''
"""
{
    "plugin_type": ["onwrite"],
    "onwrite_args_config": [
        {"name": "threshold", "example": "90", "description": "Alert above.", "required": true},
        {"name": "window", "example": "5m", "description": "How far back.", "required": false}
    ]
}
"""


def process_writes(influxdb3_local, table_batches, args=None):
    pass
'''

MANIFEST = """
manifest_schema_version = "1.3"

[plugin]
name = "alerts"
version = "1.2.0"
description = "Alert over HTTP."
triggers = ["process_request"]

[dependencies]
python = []

[[dependencies.plugins]]
name = "notifier"
version = ">=1.0"
"""

ALERTS = """
def process_request(influxdb3_local, query_parameters, request_headers, request_body, args=None):
    return {"ok": True}
"""

BROKEN = '''
"""
{"plugin_type": ["onwrite"], "onwrite_args_config": [
"""


def process_writes(influxdb3_local, table_batches, args=None):
    pass
'''


@pytest.fixture
def plugins(plugin_dir: Path) -> Path:
    (plugin_dir / "wal.py").write_text(textwrap.dedent(WAL).lstrip())
    (plugin_dir / "broken.py").write_text(textwrap.dedent(BROKEN).lstrip())
    package = plugin_dir / "alerts"
    package.mkdir()
    (package / "__init__.py").write_text(textwrap.dedent(ALERTS))
    (package / "manifest.toml").write_text(textwrap.dedent(MANIFEST).lstrip())
    return plugin_dir


def _client(live_server: tuple[str, str]) -> httpx.Client:
    base, token = live_server
    return httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=20)


@pytest.mark.usefixtures("plugins")
def test_inventory_lists_metadata_arguments_and_the_triggers_using_each_plugin(
    live_server: tuple[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert PLUGINS_PATH == SERVER_PLUGINS_PATH
    with _client(live_server) as http:
        for db in ("db", "other"):
            assert http.post("/api/v3/configure/database", json={"db": db}).status_code == 200
        bodies = [
            trigger_body("cpu_alert", "wal.py", "table:cpu"),
            trigger_body("mem_alert", "wal.py", "table:mem", disabled=True),
            trigger_body("hook", "alerts", "request:alerts", db="other"),
        ]
        for body in bodies:
            answer = http.post(TRIGGER, json=body)
            assert answer.status_code == 200, answer.text
        answer = http.get(PLUGINS_PATH)
        assert answer.status_code == 200, answer.text
        by_plugin = {info["plugin"]: info for info in answer.json()}
        only_db = http.get(PLUGINS_PATH, params={"db": "db"}).json()
        missing = http.get(PLUGINS_PATH, params={"db": "nope"})

    assert set(by_plugin) == {"alerts", "broken.py", "wal.py"}
    wal = by_plugin["wal.py"]
    assert wal["kind"] == "local" and wal["triggers"] == ["process_writes"]
    assert [a["name"] for a in wal["arguments"]["onwrite"]] == ["threshold", "window"]
    assert [a["required"] for a in wal["arguments"]["onwrite"]] == [True, False]
    assert [(u["database"], u["trigger_name"], u["disabled"]) for u in wal["used_by"]] == [
        ("db", "cpu_alert", False),
        ("db", "mem_alert", True),
    ]
    alerts = by_plugin["alerts"]
    assert (alerts["name"], alerts["version"]) == ("alerts", "1.2.0")
    assert alerts["triggers"] == ["process_request"] and alerts["plugins"] == ["notifier>=1.0"]
    assert [u["trigger_specification"] for u in alerts["used_by"]] == ["request:alerts"]
    broken = by_plugin["broken.py"]
    assert broken["used_by"] == [] and broken["problems"]
    assert "broken.py" in broken["problems"][0]
    assert [info["plugin"] for info in only_db] == ["wal.py"]
    assert missing.status_code == 404 and missing.json() == {"error": "Database not found nope"}

    base, token = live_server
    result = run_cli(capsys, "show", "plugins", "-H", base, "--token", token, "--format", "csv")
    assert result.code == 0, result.err
    rows = {row["plugin"]: row for row in csv.DictReader(io.StringIO(result.out))}
    assert rows["wal.py"]["arguments"] == "onwrite: threshold*, window"
    assert rows["wal.py"]["used_by"] == "db/cpu_alert,db/mem_alert (disabled)"
    assert rows["alerts"]["dependencies"] == "notifier>=1.0"
    assert rows["alerts"]["version"] == "1.2.0"
    as_json = run_cli(capsys, "show", "plugins", "-H", base, "--token", token, "--format", "json")
    assert {info["plugin"] for info in json.loads(as_json.out)} == set(rows)
    pretty = run_cli(capsys, "show", "plugins", "-H", base, "--token", token, "-d", "nope")
    assert pretty.code != 0 and "Database not found nope" in pretty.err
