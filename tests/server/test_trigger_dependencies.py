"""Creating triggers over HTTP: checked before anything is installed, conflicts refused (409)
with the plugins named, the venv and pylock.toml unchanged; serve reports a stale lock."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from starlette.testclient import TestClient

from engine_runtime import Catalog
from pluginmgr.deps.installers import InstallOptions
from pluginmgr.deps.venv import default_venv_path
from pluginmgr.deps.venv_repair import venv_problem
from pluginmgr.server import create_app
from tests.dep_wheels import declare, use
from tests.helpers import installed
from tests.server.server_helpers import (
    TRIGGER,
    build_state,
    serve,
    trigger_body,
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


def test_a_conflicting_trigger_is_409_and_changes_nothing(
    deps_client: TestClient, plugin_dir: Path
) -> None:
    declare(plugin_dir, "ops/plugin_a/plugin_a.py", ["pm-libx<2"], "manifest")
    # plugin_b lies in the plugin dir, unused: it is not in the set, so the first trigger works
    declare(plugin_dir, "ops/plugin_b/plugin_b.py", ["pm-libx>=2"], "pep723")
    body = trigger_body("a", "ops/plugin_a/plugin_a.py", "table:cpu")
    first = deps_client.post(TRIGGER, json=body)
    assert first.status_code == 200, first.text
    assert installed(plugin_dir) == {"pm-libx": "1.0"}
    lock = (plugin_dir / "pylock.toml").read_bytes()
    recorded = (plugin_dir / "plugins.in").read_bytes()
    assert b"ops/plugin_a/plugin_a.py  trigger" in recorded

    refused = deps_client.post(
        TRIGGER, json=trigger_body("b", "ops/plugin_b/plugin_b.py", "table:m")
    )
    assert refused.status_code == 409
    message = refused.json()["error"]
    assert (
        "ops/plugin_a/plugin_a.py's pm-libx<2 (manifest.toml) conflicts with "
        "ops/plugin_b/plugin_b.py's pm-libx>=2 (pep723)"
    ) in message
    assert (plugin_dir / "pylock.toml").read_bytes() == lock
    assert (plugin_dir / "plugins.in").read_bytes() == recorded  # b is not recorded
    assert installed(plugin_dir) == {"pm-libx": "1.0"}
    names = [
        t["trigger_name"]
        for t in deps_client.get(
            "/api/v3/configure/processing_engine_trigger", params={"db": "db"}
        ).json()
    ]
    assert names == ["a"]


def test_a_streamed_create_tells_the_install_and_ends_with_the_plain_status(
    deps_client: TestClient, plugin_dir: Path
) -> None:
    ndjson = {"Accept": "application/x-ndjson"}
    declare(plugin_dir, "a.py", ["pm-libx<2"], "pep723")
    created = deps_client.post(TRIGGER, json=trigger_body("a", "a.py", "table:cpu"), headers=ndjson)
    assert created.status_code == 200
    events = [json.loads(line) for line in created.text.splitlines()]
    assert [e["message"] for e in events if e["event"] == "progress"][:3] == [
        "resolving the requirements of 1 plugin…",
        "resolved: 1 package (1 changed)",
        "installing 1 package: pm-libx 1.0",
    ]
    assert events[-1] == {"event": "result", "status": 200, "body": {"warnings": []}}

    declare(plugin_dir, "b.py", ["pm-libx>=2"], "pep723")
    refused = deps_client.post(TRIGGER, json=trigger_body("b", "b.py", "table:m"), headers=ndjson)
    last = json.loads(refused.text.splitlines()[-1])
    assert (last["event"], last["status"]) == ("error", 409)  # as the plain request answers
    assert "a.py's pm-libx<2 (pep723) conflicts with b.py's pm-libx>=2 (pep723)" in last["error"]
    assert installed(plugin_dir) == {"pm-libx": "1.0"}


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
    use(plugin_dir, "a.py")
    sources = ["--offline", "--no-index", "--find-links", str(dep_wheels)]
    assert main(["deps", "lock", "--plugin-dir", str(plugin_dir), *sources]) == 0
    declare(plugin_dir, "a.py", ["pm-libx>=2"], "pep723")
    with serve(plugin_dir, tmp_path, "--offline") as server:
        pass
    assert server.process.returncode == 0, server.stderr
    lines = server.stderr.splitlines()
    assert f"warning: {plugin_dir / 'pylock.toml'} is stale, the venv is left as it is:" in lines
    assert "  - a.py now declares pm-libx>=2 (the lock has pm-libx<2)" in lines
    assert not default_venv_path(plugin_dir).exists() or installed(plugin_dir) == {}
    shutil.rmtree(tmp_path / "data", ignore_errors=True)


def test_serve_records_the_local_plugins_of_existing_triggers_at_start(
    plugin_dir: Path, dep_wheels: Path, tmp_path: Path
) -> None:
    """A node upgraded from the rule that took every file under the plugin dir: its triggers'
    local plugins have no plugins.in line yet; serve records them before it checks the lock,
    so the lock stays fresh and the venv keeps what they need."""
    from pluginmgr.cli import main

    declare(plugin_dir, "a.py", ["pm-libx<2"], "pep723")
    sources = ["--offline", "--no-index", "--find-links", str(dep_wheels)]
    assert main(["deps", "lock", "--all-plugins", "--plugin-dir", str(plugin_dir), *sources]) == 0
    lock_path = plugin_dir / "pylock.toml"
    # the lock as the old rule wrote it: a.py a requester, no choice recorded, no plugins.in
    lock_path.write_text(lock_path.read_text().replace("all-plugins = true\n", ""))
    (plugin_dir / "plugins.in").unlink(missing_ok=True)
    declare(plugin_dir, "unused.py", ["pm-libx>=2"], "pep723")  # lies there, no trigger
    catalog = Catalog(tmp_path / "data" / "catalog.json")
    catalog.create_database("db")
    catalog.create_trigger("db", "t", "./a.py", "table:cpu")

    state, err = serve_briefly(plugin_dir, tmp_path, *sources)

    assert f"recorded in {plugin_dir / 'plugins.in'}, as used by triggers: a.py" in err
    assert "stale" not in err, err
    assert (plugin_dir / "plugins.in").read_text().splitlines()[-1] == "a.py  trigger"
    assert installed(plugin_dir) == {"pm-libx": "1.0"}
    assert state == "running", state
    # the next start has nothing to record
    _state, again = serve_briefly(plugin_dir, tmp_path, *sources)
    assert "recorded in" not in again and "stale" not in again


def foreign_venv(venv: Path) -> str:
    """Lay out a venv made for the next Python minor (its interpreter since removed), holding
    pm-libx 1.0; returns that Python's ``X.Y``."""
    other = f"{sys.version_info.major}.{sys.version_info.minor + 1}"
    dist = venv / "lib" / f"python{other}" / "site-packages" / "pm_libx-1.0.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: pm-libx\nVersion: 1.0\n")
    (venv / "bin").mkdir()
    (venv / "bin" / "python").symlink_to(f"/nonexistent/python{other}")
    cfg = f"home = /nonexistent\nimplementation = CPython\nversion_info = {other}.1\n"
    (venv / "pyvenv.cfg").write_text(cfg)
    return other


def serve_briefly(plugin_dir: Path, root: Path, *sources: str) -> tuple[str, str]:
    """Start `pluginmgr serve` (state under ``root``), read trigger t's state, stop it; returns
    (state, stderr)."""
    with serve(plugin_dir, root, *sources) as server:
        rows = httpx.get(server.url + TRIGGER, params={"db": "db"}).json()
    assert server.process.returncode == 0, server.stderr
    return {row["trigger_name"]: row["state"] for row in rows}["t"], server.stderr


def test_serve_names_a_venv_whose_interpreter_is_gone_and_how_to_rebuild_it(
    plugin_dir: Path, dep_wheels: Path, tmp_path: Path
) -> None:
    declare(plugin_dir, "a.py", ["pm-libx<2"], "pep723")
    venv = default_venv_path(plugin_dir)
    other = foreign_venv(venv)
    catalog = Catalog(tmp_path / "data" / "catalog.json")
    catalog.create_database("db")
    catalog.create_trigger("db", "t", "a.py", "table:cpu")
    sources = ["--find-links", str(dep_wheels), "--no-index", "--offline"]

    state, err = serve_briefly(plugin_dir, tmp_path, *sources)

    problem = (
        f"{venv} links to an interpreter that no longer exists (/nonexistent/python{other}; "
        f"home = /nonexistent in {venv / 'pyvenv.cfg'}): nothing can be installed into it"
    )
    tail = f"--plugin-dir {plugin_dir} {' '.join(sources)}"
    rebuild = f"rm -rf {venv} && pluginmgr deps lock {tail} && pluginmgr deps sync {tail}"
    assert f"warning: {problem}; rebuild it with `{rebuild}`" in err.splitlines()
    assert (
        state == f"failed: a.py needs pm-libx<2, but {problem} (hint: rebuild it with `{rebuild}`)"
    )
    assert "missing" not in err and "missing" not in state

    # the command it gives is the one that works: a venv of the bundled Python, pm-libx in it
    path = f"{Path(sys.executable).parent}:{os.environ['PATH']}"
    done = subprocess.run(
        ["bash", "-c", rebuild],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, "PATH": path},
    )
    assert done.returncode == 0, done.stderr
    assert venv_problem(venv) is None
    assert installed(plugin_dir) == {"pm-libx": "1.0"}
    state, err = serve_briefly(plugin_dir, tmp_path, *sources)
    assert state == "running" and "warning" not in err
