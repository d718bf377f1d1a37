"""Installs through a real `pluginmgr serve`: the CLI's default server, the streamed progress of
installs and of trigger creation, and the 404 of a package the index does not have.

The server resolves from the loopback package index (`tests.pypi_index`, through
``UV_DEFAULT_INDEX``, as an operator would point uv at a private index), which answers 404 for
a package it does not have.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Final

import httpx
import pytest

from tests.dep_wheels import declare
from tests.helpers import CliResult, installed, run_cli
from tests.pypi_index import PackageIndex
from tests.server.server_helpers import serve

pytestmark = pytest.mark.usefixtures("uv_sandbox")

_INSTALL: Final = "/api/v3/configure/plugin_environment/install_packages"
NDJSON = "application/x-ndjson"


@pytest.fixture
def server_url(tmp_path: Path, plugin_dir: Path, package_index: PackageIndex) -> Iterator[str]:
    """`pluginmgr serve` resolving from the loopback index (``UV_DEFAULT_INDEX``)."""
    env = {**os.environ, "UV_DEFAULT_INDEX": package_index.url}
    with serve(plugin_dir, tmp_path, env=env) as server:
        yield server.url


def install(capsys: pytest.CaptureFixture[str], *args: str) -> CliResult:
    return run_cli(capsys, "install", "package", *args)


def test_without_plugin_dir_the_local_server_installs_and_its_progress_is_printed(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    server_url: str,
    plugin_dir: Path,
) -> None:
    monkeypatch.setattr("pluginmgr.cli.client.DEFAULT_HOST", server_url)  # as 127.0.0.1:8181
    result = install(capsys, "pm-alpha")
    assert result.code == 0, result.err
    assert result.out.splitlines() == ["installed: pm-alpha 1.0.0", "installed: pm-beta 2.0.0"]
    err = result.err.splitlines()
    assert err[:4] == [
        f"note: no --plugin-dir: installing on the server at {server_url}",
        "resolving the requirements of requirements.in…",
        "resolved: 2 packages (2 changed)",
        "installing 2 packages: pm-alpha 1.0.0, pm-beta 2.0.0",
    ]
    assert err[-1].startswith("installed 2 packages in ")
    assert installed(plugin_dir) == {"pm-alpha": "1.0.0", "pm-beta": "2.0.0"}


def test_an_unknown_package_is_404_streamed_plain_and_on_the_command_line(
    capsys: pytest.CaptureFixture[str],
    server_url: str,
    package_index: PackageIndex,
    plugin_dir: Path,
) -> None:
    message = (
        f"package 'pandass' was not found on {package_index.url} (hint: check the spelling; a "
        "private package needs --index-url URL or --find-links DIR)"
    )
    plain = httpx.post(server_url + _INSTALL, json={"packages": ["pandass"]}, timeout=60)
    assert plain.status_code == 404  # what upstream's clients get: no stream
    assert plain.json() == {"error": message}

    headers = {"Accept": NDJSON}
    streamed = httpx.post(
        server_url + _INSTALL, json={"packages": ["pandass"]}, headers=headers, timeout=60
    )
    assert streamed.status_code == 200
    assert streamed.headers["content-type"].startswith(NDJSON)
    events = [json.loads(line) for line in streamed.text.splitlines()]
    assert events[0] == {
        "event": "progress",
        "message": "resolving the requirements of requirements.in…",
    }
    assert events[-1] == {"event": "error", "status": 404, "error": message}

    result = install(capsys, "pandass", "-H", server_url)
    assert result.code == 1
    assert result.err.splitlines() == [
        "resolving the requirements of requirements.in…",
        f"error: server responded with error [404 Not Found]: {message}",
    ]
    assert not (plugin_dir / "requirements.in").exists()
    assert not list(plugin_dir.glob("pluginmgr-install-*.log"))


def test_creating_a_trigger_that_installs_prints_the_servers_progress(
    capsys: pytest.CaptureFixture[str], server_url: str, plugin_dir: Path
) -> None:
    declare(plugin_dir, "needs.py", ["pm-alpha"], "pep723")
    assert run_cli(capsys, "create", "database", "db", "-H", server_url).code == 0
    result = run_cli(
        capsys, "create", "trigger", "t", "-d", "db", "--plugin-filename", "needs.py",
        "--trigger-spec", "table:cpu", "-H", server_url,
    )  # fmt: skip
    assert result.code == 0, result.err
    assert result.out == "Trigger t created successfully\n"
    err = result.err.splitlines()
    assert err[:3] == [
        "resolving the requirements of 1 plugin…",
        "resolved: 2 packages (2 changed)",
        "installing 2 packages: pm-alpha 1.0.0, pm-beta 2.0.0",
    ]
    assert err[-1].startswith("installed 2 packages in ")
    assert installed(plugin_dir) == {"pm-alpha": "1.0.0", "pm-beta": "2.0.0"}
