"""``serve --allow-build``: the server's installs build an sdist only when it was started so, and
then with the build backend locked, as ``install package --allow-build`` does locally."""

from __future__ import annotations

from pathlib import Path
from typing import Final

import httpx
import pytest

from pluginmgr.deps.pylock import read_pylock
from pluginmgr.deps.venv import PluginEnv, default_venv_path
from tests.server.server_helpers import serve

pytestmark = pytest.mark.usefixtures("uv_sandbox")

_INSTALL: Final = "/api/v3/configure/plugin_environment/install_packages"


@pytest.fixture
def wheels(buildable_wheels: Path) -> Path:
    return buildable_wheels


@pytest.mark.parametrize("allow_build", [False, True])
def test_the_server_builds_an_sdist_only_when_started_with_allow_build(
    allow_build: bool, wheels: Path, tmp_path: Path
) -> None:
    plugin_dir = tmp_path / "plugins"
    args = ["--find-links", str(wheels), "--no-index", "--offline"]
    args += ["--allow-build"] if allow_build else []
    with serve(plugin_dir, tmp_path, *args) as served:
        answer = httpx.post(served.url + _INSTALL, json={"packages": ["pm-source"]}, timeout=120)
    installed = PluginEnv(default_venv_path(plugin_dir)).installed()
    if not allow_build:
        assert answer.status_code == 500, answer.text  # an install that failed, as upstream
        assert "pm-source has no wheel" in answer.text and "--allow-build" in answer.text
        assert "pm-source" not in installed
        return
    assert answer.status_code == 200, answer.text
    assert installed.get("pm-source") == "1.0.0"
    lock = read_pylock(plugin_dir / "pylock.toml")
    assert lock is not None
    assert any(pin.startswith("pm-backend==") for pin in lock.build_constraints)
