"""Trigger creation on a real `pluginmgr serve --index-url`: a plugin's declared requirements
come from the loopback package index (`tests.pypi_index`), as they come from PyPI in production,
and the trigger then runs with them."""

from __future__ import annotations

import tomllib
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import httpx
import pytest

from pluginmgr.deps.venv import PluginEnv, default_venv_path
from pluginmgr.testing import RepoServer
from tests.dep_wheels import declare
from tests.pypi_index import PackageIndex
from tests.server.server_helpers import TRIGGER, serve, trigger_body

pytestmark = pytest.mark.usefixtures("uv_sandbox")

GREETER = "gh:examples/greeter/greeter.py"


@pytest.fixture
def served(
    package_index: PackageIndex, repo_server: RepoServer, plugin_dir: Path, tmp_path: Path
) -> Iterator[str]:
    """`pluginmgr serve` over ``plugin_dir`` installing from the index; yields its URL."""
    sources = ["--plugin-repo", repo_server.url, "--index-url", package_index.url]
    with serve(plugin_dir, tmp_path, *sources) as server:
        created = httpx.post(
            f"{server.url}/api/v3/configure/database", json={"db": "db"}, timeout=10
        )
        assert created.status_code < 300, created.text
        yield server.url


def test_create_trigger_installs_requirements_from_the_index_and_runs(
    served: str, package_index: PackageIndex, plugin_dir: Path
) -> None:
    start = len(package_index.requests)
    body = trigger_body("greet", GREETER, "request:greet")
    created = httpx.post(served + TRIGGER, json=body, timeout=120)
    assert created.status_code == 200, created.text
    assert "/simple/pm-alpha/" in package_index.requests[start:]
    answer = httpx.get(f"{served}/api/v3/engine/greet", timeout=30)
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"greeting": "alpha+beta-2.0"}

    # a local plugin asking for pm-gamma: 0.2.0 is yanked, 0.3.0 needs another Python
    declare(plugin_dir, "gamma_user.py", ["pm-gamma"], "manifest")
    body = trigger_body("gamma", "gamma_user.py", "table:cpu")
    created = httpx.post(served + TRIGGER, json=body, timeout=120)
    assert created.status_code == 200, created.text
    venv = PluginEnv(default_venv_path(plugin_dir))
    assert venv.installed() == {"pm-alpha": "1.0.0", "pm-beta": "2.0.0", "pm-gamma": "0.1.0"}
    lock = tomllib.loads((plugin_dir / "pylock.toml").read_text(encoding="utf-8"))
    for package in lock["packages"]:
        (wheel,) = package["wheels"]
        assert wheel["url"].startswith(package_index.base_url)
        assert isinstance(wheel["upload-time"], datetime) and wheel["size"] > 0
