"""Creating triggers over HTTP: checked before anything is installed, conflicts refused (409)
with the plugins named, the venv and pylock.toml unchanged; serve reports a stale lock."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from pluginmgr.installers import InstallOptions
from pluginmgr.server import create_app
from pluginmgr.venv import PluginEnv, default_venv_path
from tests.dep_wheels import declare
from tests.server.server_helpers import (
    TRIGGER,
    build_state,
    free_port,
    trigger_body,
    wait_healthy,
)

pytestmark = pytest.mark.usefixtures("uv_sandbox")


@pytest.fixture
def deps_client(
    tmp_path: Path, plugin_dir: Path, dep_wheels: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[TestClient]:
    monkeypatch.setattr(sys, "path", list(sys.path))  # creating a trigger activates the venv
    options = InstallOptions(find_links=(str(dep_wheels),), no_index=True, offline=True)
    state, close = build_state(tmp_path, plugin_dir, install_options=options)
    try:
        with TestClient(create_app(state)) as client:
            assert client.post("/api/v3/configure/database", json={"db": "db"}).status_code < 300
            yield client
    finally:
        close()


def installed(plugin_dir: Path) -> dict[str, str]:
    return PluginEnv(default_venv_path(plugin_dir)).installed()


def test_a_conflicting_trigger_is_409_and_changes_nothing(
    deps_client: TestClient, plugin_dir: Path
) -> None:
    declare(plugin_dir, "ops/plugin_a/plugin_a.py", ["pm-libx<2"], "manifest")
    declare(plugin_dir, "ops/plugin_b/plugin_b.py", ["pm-libx>=2"], "pep723")
    # plugin_b is in the plugin dir too, so the set already conflicts: fix it for the first
    declare(plugin_dir, "ops/plugin_b/plugin_b.py", [], "pep723")
    body = trigger_body("a", "ops/plugin_a/plugin_a.py", "table:cpu")
    first = deps_client.post(TRIGGER, json=body)
    assert first.status_code == 200, first.text
    assert installed(plugin_dir) == {"pm-libx": "1.0"}
    lock = (plugin_dir / "pylock.toml").read_bytes()

    declare(plugin_dir, "ops/plugin_b/plugin_b.py", ["pm-libx>=2"], "pep723")
    refused = deps_client.post(
        TRIGGER, json=trigger_body("b", "ops/plugin_b/plugin_b.py", "table:m")
    )
    assert refused.status_code == 409
    message = refused.json()["error"]
    assert (
        "ops/plugin_a/plugin_a.py (manifest.toml) needs pm-libx<2, "
        "ops/plugin_b/plugin_b.py (pep723) needs pm-libx>=2"
    ) in message
    assert (plugin_dir / "pylock.toml").read_bytes() == lock
    assert installed(plugin_dir) == {"pm-libx": "1.0"}
    names = [
        t["trigger_name"]
        for t in deps_client.get(
            "/api/v3/configure/processing_engine_trigger", params={"db": "db"}
        ).json()
    ]
    assert names == ["a"]


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (trigger_body("a", "needs.py", "table:cpu", db="nowhere"), 404),
        (trigger_body("taken", "needs.py", "request:taken"), 409),
        (trigger_body("other", "needs.py", "request:taken"), 409),
        (trigger_body("bad", "needs.py", "every:soon"), 400),
    ],
)
def test_a_trigger_that_cannot_be_created_installs_nothing(
    deps_client: TestClient, plugin_dir: Path, body: dict[str, object], status: int
) -> None:
    (plugin_dir / "free.py").write_text(
        "def process_request(influxdb3_local, q, h, b, args=None):\n    return {}\n"
    )
    taken = deps_client.post(TRIGGER, json=trigger_body("taken", "free.py", "request:taken"))
    assert taken.status_code == 200, taken.text
    declare(plugin_dir, "needs.py", ["pm-utils"], "pep723")
    answer = deps_client.post(TRIGGER, json=body)
    assert answer.status_code == status, answer.text
    assert installed(plugin_dir) == {}
    assert not (plugin_dir / "pylock.toml").exists()


def test_serve_reports_a_stale_lock_at_start(
    plugin_dir: Path, dep_wheels: Path, tmp_path: Path
) -> None:
    from pluginmgr.cli import main

    declare(plugin_dir, "a.py", ["pm-libx<2"], "pep723")
    sources = ["--offline", "--no-index", "--find-links", str(dep_wheels)]
    assert main(["deps", "lock", "--plugin-dir", str(plugin_dir), *sources]) == 0
    declare(plugin_dir, "a.py", ["pm-libx>=2"], "pep723")
    port = free_port()
    command = [sys.executable, "-m", "pluginmgr", "serve", "--plugin-dir", str(plugin_dir)]
    command += ["--data-dir", str(tmp_path / "data"), "--cache-dir", str(tmp_path / "cache")]
    command += ["--http-bind", f"127.0.0.1:{port}", "--without-auth", "--offline"]
    server = subprocess.Popen(command, stderr=subprocess.PIPE, text=True)
    try:
        wait_healthy(f"http://127.0.0.1:{port}", server)
        server.terminate()
        _out, err = server.communicate(timeout=30)
    finally:
        if server.poll() is None:
            server.kill()
            server.communicate()
    assert server.returncode == 0, err
    lines = err.splitlines()
    assert f"warning: {plugin_dir / 'pylock.toml'} is stale, the venv is left as it is:" in lines
    assert "  - a.py now declares pm-libx>=2 (the lock has pm-libx<2)" in lines
    assert not default_venv_path(plugin_dir).exists() or installed(plugin_dir) == {}
    shutil.rmtree(tmp_path / "data", ignore_errors=True)
