"""The pylock.toml pluginmgr writes is read by the standard installers: ``uv pip sync`` and
``pip install -r pylock.toml`` (pip 26.1 or newer: the first pip that installs from a
pylock.toml; 25.1 to 26.0 only write one with ``pip lock``). Both run from another cwd, as an
auditor or another tool would, and find the wheels through the lock's relative paths."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from packaging.version import Version

from pluginmgr.deps.installers import find_uv
from pluginmgr.deps.venv import PluginEnv
from tests.dep_wheels import declare, use
from tests.helpers import run_cli

pytestmark = pytest.mark.usefixtures("uv_sandbox")


@pytest.fixture
def locked(capsys: pytest.CaptureFixture[str], tmp_path: Path, dep_wheels: Path) -> Path:
    """A plugin dir whose pylock.toml pluginmgr wrote; the wheels beside it."""
    wheels = Path(shutil.copytree(dep_wheels, tmp_path / "node" / "wheels"))
    plugin_dir = tmp_path / "node" / "plugins"
    declare(plugin_dir, "a.py", ["pm-liby", "pm-utils<0.4"], "pep723")
    use(plugin_dir, "a.py")
    sources = ["--offline", "--no-index", "--find-links", str(wheels)]
    result = run_cli(capsys, "deps", "lock", "--plugin-dir", str(plugin_dir), *sources)
    assert result.code == 0, result.err
    return plugin_dir / "pylock.toml"


def fresh_venv(path: Path) -> Path:
    subprocess.run(
        [find_uv()[0], "venv", "-q", "--offline", "--python", sys.executable, str(path)],
        check=True,
        timeout=60,
    )
    return path / "bin" / "python"


EXPECTED = {"pm-libx": "2.0", "pm-liby": "1.0", "pm-utils": "0.3.1"}


def test_uv_pip_sync_reads_the_lock(locked: Path, tmp_path: Path) -> None:
    python = fresh_venv(tmp_path / "uv-venv")
    command = [str(find_uv()[0]), "pip", "sync", "--offline", "--python", str(python)]
    done = subprocess.run(
        [*command, str(locked)], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert PluginEnv(tmp_path / "uv-venv").installed() == EXPECTED


def test_pip_install_reads_the_lock(locked: Path, tmp_path: Path) -> None:
    import pip

    if Version(pip.__version__) < Version("26.1"):
        pytest.skip(f"pip {pip.__version__} cannot install from pylock.toml (26.1 can)")
    python = fresh_venv(tmp_path / "pip-venv")
    command = [sys.executable, "-m", "pip", "--python", str(python), "install", "--no-index"]
    command += ["--disable-pip-version-check", "--no-cache-dir", "-r", str(locked)]
    env = {**os.environ, "PIP_CONFIG_FILE": os.devnull}
    done = subprocess.run(
        command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert PluginEnv(tmp_path / "pip-venv").installed() == EXPECTED
