"""InfluxDB 3's Processing Engine guide, command by command, with ``pluginmgr`` for ``influxdb3``.

The server is a real ``pluginmgr serve`` process started with the guide's flags; every client
command runs in-process through `run_cli`, as the guide types it (the host and token come from
``INFLUXDB3_HOST_URL`` and ``INFLUXDB3_AUTH_TOKEN``, as a user following it would export them).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import FIXTURES
from tests.helpers import CliResult, run_cli
from tests.server.test_serve_flags import server_env, serving

PLUGINS = FIXTURES / "plugins"
GREETER = """
def process_writes(influxdb3_local, table_batches, args=None):
    import pm_alpha

    influxdb3_local.info("greeting", pm_alpha.greet())
"""


def wait_until(check: Callable[[], Any], *, timeout: float = 15.0) -> Any:
    deadline = time.monotonic() + timeout
    while not (value := check()):
        assert time.monotonic() < deadline, "the triggers did not run in time"
        time.sleep(0.05)
    return value


@pytest.mark.usefixtures("uv_sandbox")
def test_the_processing_engine_guide_runs_unchanged(
    tmp_path: Path,
    wheelhouse: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    data_dir, plugin_dir = tmp_path / "data", tmp_path / "plugins"

    def cli(*args: str) -> CliResult:
        done = run_cli(capsys, *args)
        assert done.code == 0, (args, done.err)
        return done

    def query(sql: str) -> list[dict[str, Any]]:
        done = run_cli(capsys, "query", "--database", "mydb", sql, "--format", "json")
        rows: list[dict[str, Any]] = json.loads(done.out) if done.code == 0 else []
        return rows

    # 1. start the server (the plugin directory is created, with its venv)
    env = server_env(UV_CACHE_DIR=os.environ["UV_CACHE_DIR"])
    serve = [
        "--node-id", "node0", "--object-store", "file", "--data-dir", str(data_dir),
        "--plugin-dir", str(plugin_dir),
        # pluginmgr's own: packages come from a local wheelhouse; nothing is downloaded
        "--cache-dir", str(tmp_path / "cache"), "--find-links", str(wheelhouse), "--no-index",
        "--offline", "--wal-flush-interval", "10ms",
    ]  # fmt: skip
    with serving(serve, env) as running:
        assert running.startup[:2] == [
            f"created the plugin directory {plugin_dir}",
            f"created the plugin venv {plugin_dir / 'venv'}",
        ]
        assert "  node id:    node0" in running.startup
        monkeypatch.setenv("INFLUXDB3_HOST_URL", running.url)

        # 2. influxdb3 create token --admin
        made = cli("create", "token", "--admin")
        assert made.out.startswith("New token created successfully!\n\nToken: apiv3_")
        token = re.search(r"^Token: (\S+)$", made.out, re.MULTILINE)
        assert token is not None
        monkeypatch.setenv("INFLUXDB3_AUTH_TOKEN", token.group(1))
        auth = {"Authorization": f"Bearer {token.group(1)}"}

        # 3. a database and the plugins, copied into the plugin directory
        assert cli("create", "database", "mydb").out == 'Database "mydb" created successfully\n'
        for name in (
            "wal_rows.py", "cache_counter.py", "schedule_report.py", "linebuilder_escaping.py",
            "request_returns.py",
        ):  # fmt: skip
            shutil.copy(PLUGINS / name, plugin_dir / name)
        (plugin_dir / "greeter.py").write_text(GREETER, encoding="utf-8")

        # 4. one trigger of each type
        triggers = {
            "cpu_rows": ("table:cpu", "wal_rows.py", ["--trigger-arguments", "source=guide"]),
            "all_counter": ("all_tables", "cache_counter.py", []),
            "every_second": ("every:1s", "schedule_report.py", []),
            "noon": ("cron:0 0 12 * * *", "linebuilder_escaping.py", []),
            "hello": ("request:hello", "request_returns.py", []),
        }
        for name, (spec, filename, extra) in triggers.items():
            done = cli(
                "create", "trigger", "--trigger-spec", spec, "--plugin-filename", filename,
                "--database", "mydb", *extra, name,
            )  # fmt: skip
            assert done.out == f"Trigger {name} created successfully\n"
        shown = json.loads(cli("show", "triggers", "--database", "mydb", "--format", "json").out)
        assert {t["trigger_name"]: t["state"] for t in shown} == dict.fromkeys(triggers, "running")

        # 5. the triggers run: on a write, on every table, every second, on a request
        cli("write", "--database", "mydb", "cpu,host=server01 usage=0.5")
        assert wait_until(lambda: query("SELECT tag1, field1 FROM some_table")) == [
            {"tag1": "tag1_value", "field1": 1}
        ]
        assert wait_until(lambda: query("SELECT run FROM schedule_report"))[0]["run"] >= 1
        logs = "SELECT log_text FROM system.processing_engine_logs WHERE trigger_name = "
        assert wait_until(lambda: query(logs + "'all_counter'"))
        texts = [row["log_text"] for row in wait_until(lambda: query(logs + "'cpu_rows'"))]
        assert "source: guide" in texts
        answer = httpx.get(f"{running.url}/api/v3/engine/hello?shape=dict", headers=auth)
        assert (answer.status_code, answer.json()) == (200, {"message": "Hello", "received": {}})

        # 6. influxdb3 test wal_plugin / test schedule_plugin
        tested = cli(
            "test", "wal_plugin", "--database", "mydb", "--lp", "cpu,host=b usage=2 10",
            "--input-arguments", "arg1=hello,arg2=world", "wal_rows.py",
        )  # fmt: skip
        report = json.loads(tested.out)
        assert report["errors"] == []
        lines = set(report["log_lines"])
        assert {"INFO: arg1: hello", "INFO: arg2: world", "INFO: table: cpu"} <= lines
        assert sorted(report["database_writes"]) == ["mydb", "mytestdb"]
        scheduled = cli(
            "test", "schedule_plugin", "--database", "mydb", "--schedule", "0 0 * * * ?",
            "--input-arguments", "region=us-east", "schedule_report.py",
        )  # fmt: skip
        report = json.loads(scheduled.out)
        assert report["errors"] == []
        assert "INFO: args are {'region': 'us-east'}" in report["log_lines"]
        assert "T" in report["trigger_time"]

        # 7. influxdb3 install package: importable by the next run, no restart
        cli("install", "package", "pm_alpha")
        greeted = cli("test", "wal_plugin", "--database", "mydb", "--lp", "m f=1i", "greeter.py")
        assert "INFO: greeting alpha+beta-1.0" in json.loads(greeted.out)["log_lines"]
        version = f"python{sys.version_info.major}.{sys.version_info.minor}"
        site = plugin_dir / "venv" / "lib" / version / "site-packages"
        assert (site / "pm_alpha").is_dir()

        # 8. disable, enable, disable again, delete
        toggles = [("disable", "disabled"), ("enable", "enabled"), ("disable", "disabled")]
        for action, said in toggles:
            done = cli(action, "trigger", "--database", "mydb", "cpu_rows")
            assert done.out == f"Trigger cpu_rows {said} successfully\n"
        shown = json.loads(cli("show", "triggers", "--database", "mydb", "--format", "json").out)
        assert {t["trigger_name"]: t["disabled"] for t in shown}["cpu_rows"] is True
        deleted = cli("delete", "trigger", "--database", "mydb", "cpu_rows")
        assert deleted.out == "Trigger cpu_rows deleted successfully\n"
        shown = json.loads(cli("show", "triggers", "--database", "mydb", "--format", "json").out)
        assert sorted(t["trigger_name"] for t in shown) == sorted(set(triggers) - {"cpu_rows"})
    assert running.code == 0, running.stderr
    assert "pluginmgr stopped cleanly" in running.stderr
