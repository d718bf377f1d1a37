"""The official node v3 client (``@influxdata/influxdb3-client``) against ``pluginmgr serve``.

``node --test tests/clients/node/flight.test.mjs`` runs against a real server process: writes
over HTTP, SQL and InfluxQL over Arrow Flight on the same port, and the server's error messages.
Its packages are pinned in ``package-lock.json`` and installed by ``.ci/run`` (``npm ci``). The
test is skipped only outside CI when node or the installed packages are missing; in CI
(``CI=true``) that is a failure.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.server.server_helpers import free_port, wait_healthy

NODE_DIR = Path(__file__).resolve().parent / "node"
INSTALL_HINT = f"run `npm ci --prefix {NODE_DIR}`"


def _node() -> str:
    node = shutil.which("node")
    installed = (NODE_DIR / "node_modules" / "@influxdata" / "influxdb3-client").is_dir()
    if node is not None and installed:
        return node
    problem = "node is not installed" if node is None else f"its packages are not: {INSTALL_HINT}"
    if os.environ.get("CI") == "true":
        pytest.fail(f"the node client test cannot run: {problem}")
    pytest.skip(problem)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, str]]:
    """A real ``pluginmgr serve`` with auth on; yields (URL, admin token)."""
    data_dir, plugin_dir = tmp_path / "data", tmp_path / "plugins"
    plugin_dir.mkdir()
    create = [
        sys.executable, "-m", "pluginmgr", "create", "token", "--admin",
        "--data-dir", str(data_dir), "--format", "json",
    ]  # fmt: skip
    made = subprocess.run(create, capture_output=True, text=True, timeout=60, check=True)
    token = json.loads(made.stdout)["token"]
    port = free_port()
    serve = [
        sys.executable, "-m", "pluginmgr", "serve", "--plugin-dir", str(plugin_dir),
        "--data-dir", str(data_dir), "--cache-dir", str(tmp_path / "cache"), "--offline",
        "--http-bind", f"127.0.0.1:{port}", "--wal-flush-interval", "10ms",
    ]  # fmt: skip
    process = subprocess.Popen(serve, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_healthy(url, process, timeout=30)
        yield url, token
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0, process.communicate()[1]
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate()


def test_node_v3_client_writes_and_queries_over_flight(server: tuple[str, str]) -> None:
    node = _node()
    url, token = server
    env = {**os.environ, "PLUGINMGR_URL": url, "PLUGINMGR_TOKEN": token}
    done = subprocess.run(
        [node, "--test", "--test-reporter=tap", "flight.test.mjs"],
        cwd=NODE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    tests = (NODE_DIR / "flight.test.mjs").read_text(encoding="utf-8").count("\ntest(")
    assert f"# pass {tests}" in done.stdout, done.stdout  # every test ran
    assert "# fail 0" in done.stdout, done.stdout
