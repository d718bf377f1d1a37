"""A real `pluginmgr serve`: an aggregate over a cross join stopped at ``--query-timeout``
frees the server's CPU within a second, and SIGTERM during such a query stops the server
within 5 s (a blocking DataFusion call once kept both going for about 30 s)."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import httpx
import pytest

from tests.server.test_serve_flags import server_env, serving

_AGGREGATE = "SELECT count(*) FROM cpu a CROSS JOIN cpu b CROSS JOIN cpu c WHERE a.v + b.v > c.v"
_TICKS: float = os.sysconf("SC_CLK_TCK")


def _cpu_seconds(pid: int) -> float:
    """User and system CPU of process ``pid`` (all its threads), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS


def _query(url: str) -> httpx.Response:
    return httpx.post(f"{url}/api/v3/query_sql", json={"db": "db", "q": _AGGREGATE}, timeout=60)


@pytest.mark.slow
def test_a_timed_out_aggregate_frees_the_cpu_and_sigterm_stops_the_server(
    tmp_path: Path,
) -> None:
    args = ["--without-auth", "--object-store", "memory", "--plugin-dir", str(tmp_path / "p")]
    args += ["--query-timeout", "1s"]
    with serving(args, server_env()) as running:
        pid = running.process.pid
        lines = "\n".join(f"cpu v={i}i {i}" for i in range(3_000))
        write = httpx.post(f"{running.url}/api/v3/write_lp?db=db", content=lines, timeout=30)
        assert write.status_code == 204, write.text
        answer = _query(running.url)
        assert answer.status_code == 500, answer.text
        assert "query timeout of 1s (--query-timeout)" in answer.json()["error"]
        time.sleep(0.5)
        before = _cpu_seconds(pid)
        time.sleep(0.5)
        assert _cpu_seconds(pid) - before < 0.1  # running, the join burns a core or two

        client = threading.Thread(target=lambda: _query(running.url), daemon=True)
        client.start()
        time.sleep(0.5)  # the aggregate is computing
        assert _cpu_seconds(pid) > before
        started = time.monotonic()
        running.process.send_signal(signal.SIGTERM)
        running.process.wait(timeout=30)
        assert time.monotonic() - started < 5
        assert running.stop() == 0, running.stderr


_QUERYING = f'''
def process_request(influxdb3_local, query_parameters, request_headers, request_body, args=None):
    return influxdb3_local.query("{_AGGREGATE}")
'''


@pytest.mark.slow
def test_a_plugins_query_stops_at_its_triggers_execution_timeout(tmp_path: Path) -> None:
    """The run times out at ``--execution-timeout``; the query the plugin started in the server
    stops then too, instead of running on with no one to answer."""
    plugins = tmp_path / "p"
    plugins.mkdir()
    (plugins / "querying.py").write_text(_QUERYING, encoding="utf-8")
    args = ["--without-auth", "--object-store", "memory", "--plugin-dir", str(plugins)]
    args += ["--execution-timeout", "1s", "--package-manager", "disabled"]
    with serving(args, server_env()) as running:
        pid = running.process.pid
        lines = "\n".join(f"cpu v={i}i {i}" for i in range(3_000))
        httpx.post(f"{running.url}/api/v3/write_lp?db=db", content=lines, timeout=30)
        body = {
            "db": "db",
            "plugin_filename": "querying.py",
            "trigger_name": "q",
            "trigger_specification": "request:q",
            "trigger_settings": {"run_async": False, "error_behavior": "log"},
            "trigger_arguments": None,
            "disabled": False,
        }
        trigger = "/api/v3/configure/processing_engine_trigger"
        assert httpx.post(running.url + trigger, json=body, timeout=30).is_success
        answer = httpx.get(f"{running.url}/api/v3/engine/q", timeout=60)
        assert answer.status_code >= 500, answer.text
        time.sleep(1.0)  # the run's timeout, then the query's within a second of it
        before = _cpu_seconds(pid)
        time.sleep(0.5)
        assert _cpu_seconds(pid) - before < 0.1  # running, the join burns a core or two
