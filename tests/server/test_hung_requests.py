"""A hung request plugin against a real ``pluginmgr serve``: callers are answered at the
deadline, writes and queries keep working, the body cap applies, and SIGTERM still stops it."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
from starlette.testclient import TestClient

from tests.server.server_helpers import TRIGGER, trigger_body, wait_for
from tests.server.test_serve_flags import server_env, serving

HANGS = """
import time
def process_request(influxdb3_local, query_parameters, request_headers, request_body, args=None):
    if query_parameters.get("hang"):
        time.sleep(1e6)  # a C call: cannot be interrupted
    return "ok"
"""
TIMEOUT = 0.5


def _hang_trigger(url: str) -> None:
    """Database ``db`` and the request trigger ``hang`` running ``hang.py``."""
    httpx.post(f"{url}/api/v3/configure/database", json={"db": "db"})
    body = trigger_body("hang", "hang.py", "request:hang")
    assert httpx.post(url + TRIGGER, json=body).status_code == 200


def test_fifty_hung_requests_neither_drain_the_server_nor_block_sigterm(tmp_path: Path) -> None:
    plugin_dir = tmp_path / "plugins"
    plugin_dir.mkdir()
    (plugin_dir / "hang.py").write_text(HANGS, encoding="utf-8")
    args = [
        "--plugin-dir", str(plugin_dir), "--object-store", "memory", "--without-auth",
        "--cache-dir", str(tmp_path / "cache"), "--execution-timeout", "500ms",
        "--max-http-request-size", "1000",
    ]  # fmt: skip
    with serving(args, server_env()) as running:
        url = running.url
        _hang_trigger(url)

        def hung_call(_: int) -> tuple[int, str, float]:
            started = time.monotonic()
            answer = httpx.get(f"{url}/api/v3/engine/hang?hang=1", timeout=30)
            return answer.status_code, answer.text, time.monotonic() - started

        with ThreadPoolExecutor(max_workers=50) as pool:
            answers = list(pool.map(hung_call, range(50)))
        for status, text, _took in answers:
            assert status == 500 and "plugin execution exceeded the 0.5s timeout" in text
        # 50 callers, 40 server threads: the last ones waited for a thread, then their deadline
        assert max(took for *_, took in answers) < 3 * (TIMEOUT + 2)

        started = time.monotonic()
        write = httpx.post(f"{url}/api/v3/write_lp?db=db", content="cpu v=1i 1", timeout=10)
        query = httpx.get(f"{url}/api/v3/query_sql?db=db&q=SELECT%20v%20FROM%20cpu", timeout=10)
        assert write.status_code == 204 and query.json() == [{"v": 1}]
        assert time.monotonic() - started < TIMEOUT + 2
        big = httpx.post(f"{url}/api/v3/engine/hang", content=b"x" * 2000, timeout=10)
        assert big.status_code == 413 and "--max-http-request-size" in big.text

        def replaced() -> object:
            logs = httpx.get(
                f"{url}/api/v3/query_sql",
                params={"db": "db", "q": "SELECT log_text FROM system.processing_engine_logs"},
                timeout=10,
            )
            return [row for row in logs.json() if "plugin host was replaced" in row["log_text"]]

        # the hung run's host is replaced (2 s after its deadline); a fresh one serves the trigger
        assert len(wait_for(replaced, timeout=15)) == 1
        assert httpx.get(f"{url}/api/v3/engine/hang", timeout=10).text == "ok"
        started = time.monotonic()
    assert running.code == 0, running.stderr  # SIGTERM after a host stuck in time.sleep
    assert time.monotonic() - started < 20


def test_a_triggers_own_execution_timeout_applies_to_its_requests(
    client: TestClient, plugin_dir: Path
) -> None:
    (plugin_dir / "hang.py").write_text(HANGS, encoding="utf-8")
    client.post("/api/v3/configure/database", json={"db": "db"})
    body = trigger_body("hang", "hang.py", "request:hang")
    body["trigger_settings"]["execution_timeout"] = "soon"
    refused = client.post(TRIGGER, json=body)
    assert refused.status_code == 400 and "execution_timeout" in refused.json()["error"]
    body["trigger_settings"]["execution_timeout"] = 0.3
    assert client.post(TRIGGER, json=body).status_code == 200
    started = time.monotonic()
    answer = client.get("/api/v3/engine/hang?hang=1")
    assert answer.status_code == 500 and time.monotonic() - started < 0.3 + 2
    assert answer.json() == {
        "error": "Python function call failed: PluginTimeout: plugin execution exceeded the 0.3s "
        "timeout"
    }
    engine = client.app.state.server.engine  # type: ignore[attr-defined]
    replaced = "its plugin host was replaced"  # 2 s grace after the deadline
    wait_for(lambda: any(replaced in r.text for r in engine.logs.records("db", "hang")))


def test_callers_waiting_on_a_hung_plugin_hold_no_server_thread(tmp_path: Path) -> None:
    """More waiting callers than the server has worker threads (40), each within its deadline:
    writes and queries are still answered at once, not after the deadline."""
    plugin_dir = tmp_path / "plugins"
    plugin_dir.mkdir()
    (plugin_dir / "hang.py").write_text(HANGS, encoding="utf-8")
    deadline = 6.0
    args = [
        "--plugin-dir", str(plugin_dir), "--object-store", "memory", "--without-auth",
        "--cache-dir", str(tmp_path / "cache"), "--execution-timeout", f"{deadline:g}s",
    ]  # fmt: skip
    with serving(args, server_env()) as running:
        url = running.url
        _hang_trigger(url)

        def hung_call(_: int) -> int:
            return httpx.get(f"{url}/api/v3/engine/hang?hang=1", timeout=30).status_code

        with ThreadPoolExecutor(max_workers=60) as pool:
            calls = [pool.submit(hung_call, i) for i in range(60)]
            time.sleep(1.5)  # every call has arrived and waits
            started = time.monotonic()
            write = httpx.post(f"{url}/api/v3/write_lp?db=db", content="cpu v=1i 1", timeout=30)
            query = httpx.get(
                f"{url}/api/v3/query_sql", params={"db": "db", "q": "SELECT v FROM cpu"}, timeout=30
            )
            took = time.monotonic() - started
            assert not any(call.done() for call in calls)  # still within their deadline
            assert write.status_code == 204 and query.json() == [{"v": 1}]
            assert took < deadline / 2, f"write and query took {took:.1f}s behind hung callers"
            assert {call.result() for call in calls} == {500}
