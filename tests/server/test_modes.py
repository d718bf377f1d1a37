"""File modes under a careless umask: a real ``serve`` started under ``umask 000`` keeps its
data dir private (directories 0700, files 0600) and creates the plugin dir, its venv and the
cache dir 0700."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import httpx

from tests.server.server_helpers import TRIGGER, free_port, trigger_body, wait_healthy


def _modes(root: Path) -> dict[str, int]:
    """Every path under ``root`` (itself included) -> its permission bits."""
    found = {".": stat.S_IMODE(root.stat().st_mode)}
    for path in root.rglob("*"):
        found[str(path.relative_to(root))] = stat.S_IMODE(path.lstat().st_mode)
    return found


#: a request plugin that puts an entry in the plugin cache (saved to cache.pickle)
_CACHING = """
def process_request(influxdb3_local, query_parameters, request_headers, request_body, args=None):
    influxdb3_local.cache.put("k", "v")
    return {"ok": True}
"""


def _exercise(url: str) -> None:
    """Make the first token, a database, rows, a last-value cache and a plugin cache entry (so
    the data dir holds tokens, catalog, WAL, persisted files and, at stop, cache.pickle)."""
    created = httpx.post(f"{url}/api/v3/configure/token/admin", timeout=10)
    assert created.status_code == 201, created.text
    headers = {"Authorization": f"Bearer {created.json()['token']}"}
    calls = [
        ("/api/v3/configure/database", {"db": "db"}, None),
        ("/api/v3/write_lp?db=db", None, b"cpu,h=a v=1 1000000000"),
        ("/api/v3/configure/last_cache", {"db": "db", "table": "cpu", "name": "c"}, None),
        ("/api/v3/write_lp?db=db", None, b"cpu,h=a v=2 2000000000"),
        ("/api/v3/plugins/files", {"plugin_name": "caching.py", "content": _CACHING}, None),
        (TRIGGER, trigger_body("c", "caching.py", "request:c"), None),
        ("/api/v3/engine/c", None, b""),
    ]
    for path, body, content in calls:
        answer = httpx.post(url + path, json=body, content=content, headers=headers, timeout=10)
        assert answer.is_success, (path, answer.text)


def test_serve_under_umask_000_keeps_its_files_private(tmp_path: Path) -> None:
    data, plugins = tmp_path / "data", tmp_path / "plugins"
    port = free_port()
    command = [sys.executable, "-m", "pluginmgr", "serve", "--plugin-dir", str(plugins)]
    command += ["--data-dir", str(data), "--cache-dir", str(tmp_path / "cache")]
    command += ["--http-bind", f"127.0.0.1:{port}", "--node-id", "n0"]
    process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True, umask=0)
    try:
        wait_healthy(f"http://127.0.0.1:{port}", process)
        _exercise(f"http://127.0.0.1:{port}")
    finally:
        process.terminate()
        _out, err = process.communicate(timeout=30)
    assert process.returncode == 0, err
    modes = _modes(data)
    for name in ("tokens.json", "n0/catalog.json", "n0/cache.pickle"):
        assert name in modes, sorted(modes)
    assert any(name.endswith(".wal") for name in modes), sorted(modes)
    assert any(name.endswith(".parquet") for name in modes), sorted(modes)
    loose = {
        name: oct(mode)
        for name, mode in modes.items()
        if mode != (0o700 if (data / name).is_dir() else 0o600)
    }
    assert loose == {}, "not private under umask 000"
    assert stat.S_IMODE(plugins.stat().st_mode) == 0o700
    assert stat.S_IMODE((tmp_path / "cache").stat().st_mode) == 0o700
    assert stat.S_IMODE((plugins / "venv").stat().st_mode) == 0o700
    assert os.access(plugins / "venv" / "bin" / "python", os.X_OK)


def test_create_token_in_a_new_data_dir_under_umask_000_keeps_it_private(tmp_path: Path) -> None:
    data = tmp_path / "data"
    command = [sys.executable, "-m", "pluginmgr", "create", "token", "--admin"]
    done = subprocess.run(
        [*command, "--data-dir", str(data)], capture_output=True, text=True, umask=0, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert _modes(data) == {".": 0o700, "tokens.json": 0o600, "tokens.json.lock": 0o600}
