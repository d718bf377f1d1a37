"""No-op installs start no process: when the inputs hash to the lock's inputs-sha256 and the venv
holds exactly the lock, ``install package`` and ``install deps`` answer without uv. Every uv
process is counted through a wrapper that the code under test finds instead of the real uv;
the tests check the behaviour, the time is bench/deps.py's business."""

from __future__ import annotations

import shutil
import stat
from pathlib import Path

import pytest

from pluginmgr.pylock import PYLOCK_NAME
from pluginmgr.venv import PluginEnv, default_venv_path
from tests.dep_wheels import declare
from tests.helpers import CliResult, run_cli

pytestmark = pytest.mark.usefixtures("uv_sandbox")


class UvCalls:
    """The uv commands run since the fixture started (``pip compile``, ``pip sync``, ...)."""

    def __init__(self, log: Path) -> None:
        self.log = log

    def commands(self) -> list[str]:
        if not self.log.exists():
            return []
        return [" ".join(line.split()[:2]) for line in self.log.read_text().splitlines()]

    def clear(self) -> None:
        self.log.unlink(missing_ok=True)


@pytest.fixture
def uv_calls(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> UvCalls:
    """Every uv process the code under test starts goes through a logging wrapper."""
    import uv

    real = uv.find_uv_bin()
    log = tmp_path / "uv-calls.log"
    wrapper = tmp_path / "uv-wrapper"
    wrapper.write_text(f'#!/bin/sh\necho "$*" >> "{log}"\nexec "{real}" "$@"\n')
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setattr(uv, "find_uv_bin", lambda: str(wrapper))
    return UvCalls(log)


def _run(
    capsys: pytest.CaptureFixture[str], *args: str, plugin_dir: Path, wheels: Path
) -> CliResult:
    sources = ["--offline", "--no-index", "--find-links", str(wheels)]
    result = run_cli(capsys, *args, "--plugin-dir", str(plugin_dir), *sources)
    assert result.code == 0, result.err
    return result


def test_a_no_op_install_package_starts_no_uv_and_a_changed_spec_resolves(
    capsys: pytest.CaptureFixture[str], plugin_dir: Path, dep_wheels: Path, uv_calls: UvCalls
) -> None:
    first = _run(
        capsys, "install", "package", "pm-utils<0.5", plugin_dir=plugin_dir, wheels=dep_wheels
    )
    assert "installed: pm-utils 0.4.0" in first.out
    assert "pip compile" in uv_calls.commands()
    lock = (plugin_dir / PYLOCK_NAME).read_bytes()
    requirements = (plugin_dir / "requirements.in").read_bytes()

    uv_calls.clear()
    again = _run(
        capsys, "install", "package", "pm-utils <0.5", plugin_dir=plugin_dir, wheels=dep_wheels
    )
    assert uv_calls.commands() == []
    assert again.out == "nothing to install: the venv already matches pylock.toml\n"
    assert "kept" in again.err and "(no change)" in again.err
    assert (plugin_dir / PYLOCK_NAME).read_bytes() == lock
    assert (plugin_dir / "requirements.in").read_bytes() == requirements

    changed = _run(
        capsys, "install", "package", "pm-utils<0.4", plugin_dir=plugin_dir, wheels=dep_wheels
    )
    assert uv_calls.commands()[0] == "pip compile"
    assert "installed: pm-utils 0.3.1 (was 0.4.0)" in changed.out


def test_a_no_op_install_deps_starts_no_uv_until_the_declaration_or_venv_changes(
    capsys: pytest.CaptureFixture[str], plugin_dir: Path, dep_wheels: Path, uv_calls: UvCalls
) -> None:
    declare(plugin_dir, "gapfill.py", ["pm-liby"], "pep723")
    _run(capsys, "install", "deps", "gapfill.py", plugin_dir=plugin_dir, wheels=dep_wheels)
    uv_calls.clear()

    again = _run(capsys, "install", "deps", "gapfill.py", plugin_dir=plugin_dir, wheels=dep_wheels)
    assert uv_calls.commands() == []
    assert "nothing to install: the venv already matches pylock.toml" in again.out

    # the venv drifts from the lock: the fast path is not taken, the venv is synced again
    site = PluginEnv(default_venv_path(plugin_dir)).site_packages
    for found in site.glob("pm_libx*"):
        shutil.rmtree(found)
    drifted = _run(
        capsys, "install", "deps", "gapfill.py", plugin_dir=plugin_dir, wheels=dep_wheels
    )
    assert "pip sync" in uv_calls.commands()
    assert "installed: pm-libx 2.0" in drifted.out

    uv_calls.clear()
    declare(plugin_dir, "gapfill.py", ["pm-liby", "pm-utils==0.3.1"], "pep723")
    grown = _run(capsys, "install", "deps", "gapfill.py", plugin_dir=plugin_dir, wheels=dep_wheels)
    assert uv_calls.commands()[0] == "pip compile"
    assert "installed: pm-utils 0.3.1" in grown.out
