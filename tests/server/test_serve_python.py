"""``serve --python``: the plugin venv (and so the plugin host) on another interpreter than the
server's, and a venv of another interpreter refused at start, with the way out."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.server.server_helpers import TRIGGER, trigger_body
from tests.server.test_serve_flags import server_env, serving

OTHER = Path("/root/.pyenv/versions/3.12.1/bin/python3.12")
VERSION = """
import sys
def process_request(influxdb3_local, query_parameters, request_headers, request_body, args=None):
    return {"version": "%d.%d" % sys.version_info[:2], "prefix": sys.prefix}
"""


@pytest.mark.skipif(not OTHER.exists(), reason=f"{OTHER} is not on this machine")
def test_serve_python_makes_the_venv_and_plugins_run_on_it(tmp_path: Path) -> None:
    plugin_dir = tmp_path / "plugins"
    plugin_dir.mkdir()
    (plugin_dir / "version.py").write_text(VERSION, encoding="utf-8")
    args = [
        "--plugin-dir", str(plugin_dir), "--object-store", "memory", "--without-auth",
        "--cache-dir", str(tmp_path / "cache"), "--python", str(OTHER),
    ]  # fmt: skip
    with serving(args, server_env()) as running:
        httpx.post(f"{running.url}/api/v3/configure/database", json={"db": "db"})
        body = trigger_body("version", "version.py", "request:version")
        assert httpx.post(running.url + TRIGGER, json=body).status_code == 200
        answer = httpx.get(f"{running.url}/api/v3/engine/version", timeout=30)
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"version": "3.12", "prefix": str(plugin_dir / "venv")}
    assert sys.version_info[:2] != (3, 12)  # the server itself runs on another Python


@pytest.mark.skipif(not OTHER.exists(), reason=f"{OTHER} is not on this machine")
def test_serve_python_refuses_a_venv_of_another_interpreter(tmp_path: Path) -> None:
    plugin_dir = tmp_path / "plugins"
    plugin_dir.mkdir()
    venv = plugin_dir / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    done = subprocess.run(
        [sys.executable, "-m", "pluginmgr", "serve", "--plugin-dir", str(plugin_dir),
         "--object-store", "memory", "--without-auth", "--python", str(OTHER),
         "--http-bind", "127.0.0.1:0"],
        env=server_env(), capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode != 0
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and str(venv) in errors[0], done.stderr
    assert (venv / "pyvenv.cfg").is_file()  # left as it was
