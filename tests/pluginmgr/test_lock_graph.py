"""A pylock.toml whose graph does not hold (a package no requester reaches, a ``required-by``
naming a plugin that does not declare it) is refused by ``deps sync`` and reported by
``doctor``: a package added to the lock by hand is never installed on the lock's word."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest

from pluginmgr.deps.lock_graph import graph_problems
from pluginmgr.deps.pylock import LockedPackage, PyLock, Requester
from tests.helpers import installed, run_cli, run_offline

pytestmark = pytest.mark.usefixtures("uv_sandbox")

OPERATOR = Requester("requirements.in", "requirements.in", ("pm-alpha",))


def test_a_resolved_graph_holds() -> None:
    lock = PyLock(
        packages=(
            LockedPackage("pm-alpha", "1.0.0", required_by=("requirements.in",)),
            LockedPackage("pm-beta", "1.0.0", required_by=("pm-alpha",)),
        ),
        requesters=(OPERATOR,),
    )
    assert graph_problems(lock) == []


def test_every_way_a_graph_breaks_is_named() -> None:
    lock = PyLock(
        packages=(
            LockedPackage("pm-alpha", "1.0.0", required_by=("requirements.in",)),
            LockedPackage("evil", "6.6", required_by=()),
            LockedPackage("sneaky", "1.0", required_by=("requirements.in",)),
            LockedPackage("ghost", "2.0", required_by=("gh:nobody.py",)),
            LockedPackage("loop-a", "1", required_by=("loop-b",)),
            LockedPackage("loop-b", "1", required_by=("loop-a",)),
        ),
        requesters=(OPERATOR,),
    )
    assert graph_problems(lock, limit=10) == [
        "sneaky 1.0 names requirements.in in required-by, which does not declare it",
        "ghost 2.0 names gh:nobody.py in required-by, which is neither a requester nor a "
        "package of the lock",
        "evil 6.6 is locked, but no requester needs it",
        "sneaky 1.0 is locked, but no requester needs it",
        "ghost 2.0 is locked, but no requester needs it",
        "loop-a 1 is locked, but no requester needs it",
        "loop-b 1 is locked, but no requester needs it",
    ]
    assert graph_problems(lock, limit=2)[-1] == "and 5 more such problems"


def _add_gamma(plugin_dir: Path, wheelhouse: Path, required_by: list[str]) -> None:
    """Add pm-gamma to pylock.toml by hand, with a correct hash: only the graph can tell."""
    wheel = next(wheelhouse.glob("pm_gamma-*.whl"))
    digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
    block = (
        '[[packages]]\nname = "pm-gamma"\nversion = "0.1.0"\n'
        f'wheels = [{{ path = "{os.path.relpath(wheel, plugin_dir)}", '
        f'hashes = {{ sha256 = "{digest}" }} }}]\n'
        f"[packages.tool.pluginmgr]\nrequired-by = {json.dumps(required_by)}\n"
    )
    lock = plugin_dir / "pylock.toml"
    text = lock.read_text()
    head, sep, tail = text.partition("[tool.pluginmgr]\n")
    lock.write_text(head + block + sep + tail)


@pytest.mark.parametrize(
    ("required_by", "problem"),
    [
        ([], "pm-gamma 0.1.0 is locked, but no requester needs it"),
        (
            ["requirements.in"],
            "pm-gamma 0.1.0 names requirements.in in required-by, which does not declare it",
        ),
    ],
    ids=["no-requester", "not-declared"],
)
def test_deps_sync_refuses_a_package_added_by_hand_and_doctor_reports_it(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    wheelhouse: Path,
    required_by: list[str],
    problem: str,
) -> None:
    plugin_dir = tmp_path / "plugins"
    plugin_dir.mkdir()
    first = run_offline(
        capsys, "install", "package", "pm-alpha", plugin_dir=plugin_dir, wheels=wheelhouse
    )
    assert first.code == 0, first.err
    _add_gamma(plugin_dir, wheelhouse, required_by)
    lock_before = (plugin_dir / "pylock.toml").read_bytes()

    synced = run_offline(capsys, "deps", "sync", plugin_dir=plugin_dir, wheels=wheelhouse)
    assert synced.code == 1
    assert synced.err.startswith("error: ") and problem in synced.err, synced.err
    assert len(synced.err.strip().splitlines()) == 1
    assert "pm-gamma" not in installed(plugin_dir)
    assert (plugin_dir / "pylock.toml").read_bytes() == lock_before

    doctor = run_cli(capsys, "doctor", "--plugin-dir", str(plugin_dir), "--offline")
    assert doctor.code == 1
    line = next(line for line in doctor.out.splitlines() if "pylock" in line and problem in line)
    assert "stale" in line, doctor.out
