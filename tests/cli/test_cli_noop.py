"""No-op installs start no process: when the inputs hash to the lock's inputs-sha256 and the venv
holds exactly the lock, ``install package`` and ``install deps`` answer without uv. Every uv
process is counted through a wrapper that the code under test finds instead of the real uv;
the tests check the behaviour, the time is bench/deps.py's business."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from pluginmgr.deps.pylock import PYLOCK_NAME, read_pylock
from pluginmgr.deps.venv import PluginEnv, default_venv_path
from tests.conftest import UvCalls
from tests.dep_wheels import declare
from tests.helpers import CliResult, run_cli

pytestmark = pytest.mark.usefixtures("uv_sandbox")


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

    # a second spec on the same name, by hand: the install puts the file back to one spec,
    # whose inputs are the lock's again, so still no uv
    with (plugin_dir / "requirements.in").open("a") as hand:
        hand.write("pm-utils>0.1\n")
    again = _run(
        capsys, "install", "package", "pm-utils<0.5", plugin_dir=plugin_dir, wheels=dep_wheels
    )
    assert uv_calls.commands() == []
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
    assert uv_calls.commands() == ["pip sync"]  # the lock is fresh: synced, not resolved
    assert "installed: pm-libx 2.0" in drifted.out

    uv_calls.clear()
    declare(plugin_dir, "gapfill.py", ["pm-liby", "pm-utils==0.3.1"], "pep723")
    grown = _run(capsys, "install", "deps", "gapfill.py", plugin_dir=plugin_dir, wheels=dep_wheels)
    assert uv_calls.commands()[0] == "pip compile"
    assert "installed: pm-utils 0.3.1" in grown.out


def test_a_plugin_whose_requirements_are_locked_is_recorded_without_the_resolver(
    capsys: pytest.CaptureFixture[str], plugin_dir: Path, dep_wheels: Path, uv_calls: UvCalls
) -> None:
    declare(plugin_dir, "gapfill.py", ["pm-liby"], "pep723")
    _run(capsys, "install", "deps", "gapfill.py", plugin_dir=plugin_dir, wheels=dep_wheels)
    uv_calls.clear()

    declare(plugin_dir, "other/other.py", ["pm-libx>=2"], "manifest")
    added = _run(
        capsys, "install", "deps", "other/other.py", plugin_dir=plugin_dir, wheels=dep_wheels
    )
    assert uv_calls.commands() == []
    assert "nothing to install" in added.out and "wrote" in added.err
    lock = read_pylock(plugin_dir / PYLOCK_NAME)
    assert lock is not None and "other/other.py" in {r.name for r in lock.requesters}
    assert lock.by_name()["pm-libx"].required_by == ("other/other.py", "pm-liby")

    # what the resolver itself writes for these inputs is that very file
    extended = (plugin_dir / PYLOCK_NAME).read_bytes()
    relocked = _run(capsys, "deps", "lock", plugin_dir=plugin_dir, wheels=dep_wheels)
    assert uv_calls.commands() == ["pip compile"]
    assert "(no change)" in relocked.out
    assert (plugin_dir / PYLOCK_NAME).read_bytes() == extended

    # a requirement the lock does not meet is resolved
    uv_calls.clear()
    declare(plugin_dir, "third.py", ["pm-libx>=2", "pm-utils"], "pep723")
    _run(capsys, "install", "deps", "third.py", plugin_dir=plugin_dir, wheels=dep_wheels)
    assert uv_calls.commands() == ["pip compile", "pip sync"]
