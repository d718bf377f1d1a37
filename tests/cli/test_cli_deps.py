"""``pluginmgr deps`` and the commands that change the set: real uv resolutions, offline.

Every plugin's requirements are resolved together into ``PLUGIN_DIR/pylock.toml``; these tests
build their own small wheels (a conflict pair, a utils library with a breaking release) into a
wheelhouse and drive the CLI in-process.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from pluginmgr.deps.pylock import read_pylock
from pluginmgr.deps.venv import PluginEnv, default_venv_path
from pluginmgr.testing import RepoServer
from tests.dep_wheels import declare, use
from tests.helpers import installed, run_cli
from tests.helpers import run_offline as deps
from tests.wheels import build_project_wheels, build_wheel

pytestmark = pytest.mark.usefixtures("uv_sandbox")


@pytest.fixture
def wheels(dep_wheels: Path, tmp_path: Path) -> Path:
    """A private copy (tests tamper with it)."""
    return Path(shutil.copytree(dep_wheels, tmp_path / "wheels"))


def another_node(plugin_dir: Path, target: Path) -> Path:
    """A second node's plugin dir: the committed files (plugins, both locks), no venv."""
    return Path(shutil.copytree(plugin_dir, target, ignore=shutil.ignore_patterns("venv", ".*")))


def freeze(plugin_dir: Path) -> str:
    from uv import find_uv_bin

    python = default_venv_path(plugin_dir) / "bin" / "python"
    done = subprocess.run(
        [find_uv_bin(), "pip", "freeze", "--python", str(python)],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return done.stdout


# -- one lock for every plugin ----------------------------------------------------------------


def test_lock_resolves_every_plugin_together_and_records_who_asked(
    capsys: pytest.CaptureFixture[str], plugin_dir: Path, wheels: Path
) -> None:
    declare(plugin_dir, "ops/plugin_a/plugin_a.py", ["pm-libx"], "manifest")
    declare(plugin_dir, "plugin_b.py", ["pm-liby"], "pep723")
    use(plugin_dir, "ops/plugin_a/plugin_a.py", reason="trigger")
    use(plugin_dir, "plugin_b.py")
    result = deps(capsys, "deps", "lock", plugin_dir=plugin_dir, wheels=wheels)
    assert result.code == 0, result.err
    assert result.out.splitlines()[:2] == ["  + pm-libx 2.0", "  + pm-liby 1.0"]
    assert installed(plugin_dir) == {}  # lock writes the lock, nothing else
    lock = read_pylock(plugin_dir / "pylock.toml")
    assert lock is not None
    by_name = lock.by_name()
    assert by_name["pm-libx"].required_by == ("ops/plugin_a/plugin_a.py", "pm-liby")
    assert by_name["pm-liby"].required_by == ("plugin_b.py",)
    assert all(w.sha256 for p in lock.packages for w in p.wheels)
    assert [(r.name, r.reason) for r in lock.requesters] == [
        ("ops/plugin_a/plugin_a.py", "trigger"),
        ("plugin_b.py", "added"),
    ]

    why = deps(capsys, "deps", "why", "pm-libx", plugin_dir=plugin_dir, wheels=wheels)
    assert why.out.splitlines() == [
        "pm-libx 2.0 is needed by:",
        "  ops/plugin_a/plugin_a.py (manifest.toml, trigger): pm-libx",
        "  plugin_b.py (pep723, added): pm-liby -> pm-libx",
    ]
    tree = deps(capsys, "deps", "tree", plugin_dir=plugin_dir, wheels=wheels)
    assert tree.out.splitlines() == [
        "ops/plugin_a/plugin_a.py (manifest.toml, trigger)",
        "  pm-libx 2.0",
        "plugin_b.py (pep723, added)",
        "  pm-liby 1.0",
        "    pm-libx 2.0",
    ]
    synced = deps(capsys, "deps", "sync", plugin_dir=plugin_dir, wheels=wheels)
    assert synced.code == 0, synced.err
    assert installed(plugin_dir) == {"pm-libx": "2.0", "pm-liby": "1.0"}
    again = deps(capsys, "deps", "sync", "--format", "json", plugin_dir=plugin_dir, wheels=wheels)
    assert json.loads(again.out)["ran_installer"] is False


def test_dry_run_prints_the_plan_and_changes_nothing(
    capsys: pytest.CaptureFixture[str], plugin_dir: Path, wheels: Path
) -> None:
    declare(plugin_dir, "a.py", ["pm-utils<0.4"], "pep723")
    use(plugin_dir, "a.py")
    assert deps(capsys, "deps", "lock", plugin_dir=plugin_dir, wheels=wheels).code == 0
    before = (plugin_dir / "pylock.toml").read_bytes()
    same = deps(capsys, "deps", "lock", "--dry-run", plugin_dir=plugin_dir, wheels=wheels)
    assert same.code == 0, same.err  # nothing pending
    assert same.out.splitlines()[-1].endswith(
        "would keep " + str(plugin_dir / "pylock.toml") + " (no change)"
    )
    declare(plugin_dir, "a.py", ["pm-utils"], "pep723")
    kept = deps(capsys, "deps", "lock", "--dry-run", plugin_dir=plugin_dir, wheels=wheels)
    assert kept.code == 2  # the lock's inputs changed, so would its text
    assert kept.out.splitlines()[-1].endswith("(no version changes)")  # the old pin satisfies
    plan = deps(
        capsys, "deps", "lock", "--dry-run", "--upgrade", plugin_dir=plugin_dir, wheels=wheels
    )
    assert plan.code == 2, plan.err  # changes pending, as `lock --upgrade --dry-run`
    assert plan.out.splitlines()[0] == "  ~ pm-utils 0.3.1 -> 0.5.0"
    assert "would write" in plan.out
    assert (plugin_dir / "pylock.toml").read_bytes() == before
    one = deps(
        capsys,
        "deps",
        "lock",
        "--upgrade-package",
        "pm-utils",
        "--format",
        "json",
        plugin_dir=plugin_dir,
        wheels=wheels,
    )
    assert json.loads(one.out)["changes"] == [{"name": "pm-utils", "old": "0.3.1", "new": "0.5.0"}]


# -- conflicts before anything changes -------------------------------------------------------


def test_a_conflict_is_refused_named_and_changes_nothing(
    capsys: pytest.CaptureFixture[str], plugin_dir: Path, wheels: Path
) -> None:
    declare(plugin_dir, "ops/plugin_a/plugin_a.py", ["pm-libx<2"], "manifest")
    first = deps(
        capsys, "install", "deps", "ops/plugin_a/plugin_a.py", plugin_dir=plugin_dir, wheels=wheels
    )
    assert first.code == 0, first.err
    lock_before = (plugin_dir / "pylock.toml").read_bytes()
    declare(plugin_dir, "ops/plugin_b/plugin_b.py", ["pm-libx>=2"], "pep723")
    refused = deps(
        capsys, "install", "deps", "ops/plugin_b/plugin_b.py", plugin_dir=plugin_dir, wheels=wheels
    )
    assert refused.code == 1
    lines = refused.err.splitlines()
    # the culprits, each found by leaving it out: the two declarations
    assert lines[0].startswith(
        "error: no set of packages satisfies every plugin: "
        "ops/plugin_a/plugin_a.py's pm-libx<2 (manifest.toml) conflicts with "
        "ops/plugin_b/plugin_b.py's pm-libx>=2 (pep723)"
    )
    assert any("you require pm-libx<2 and pm-libx>=2" in line for line in lines[1:])
    assert (plugin_dir / "pylock.toml").read_bytes() == lock_before
    assert installed(plugin_dir) == {"pm-libx": "1.0"}
    assert "plugin_b" not in (plugin_dir / "plugins.in").read_text()  # not added either
    # a conflict through a dependency names the declarations on both packages
    declare(plugin_dir, "ops/plugin_b/plugin_b.py", ["pm-liby"], "pep723")
    through = deps(
        capsys, "install", "deps", "ops/plugin_b/plugin_b.py", plugin_dir=plugin_dir, wheels=wheels
    )
    assert through.code == 1
    # uv's whole derivation is kept under our line, its "And because" steps included
    assert any(line.strip().startswith("And because") for line in through.err.splitlines())
    assert through.err.startswith(
        "error: no set of packages satisfies every plugin: "
        "ops/plugin_a/plugin_a.py's pm-libx<2 (manifest.toml) conflicts with "
        "ops/plugin_b/plugin_b.py's pm-liby (pep723)"
    )


def test_the_servers_own_distributions_do_not_constrain_plugins(
    capsys: pytest.CaptureFixture[str], plugin_dir: Path, wheels: Path, tmp_path: Path
) -> None:
    from importlib.metadata import version

    # the alerting plugins pin httpx, iceberg wants an older python-dateutil: whatever the
    # server runs with, each plugin gets what it asks for, in the venv
    build_project_wheels(
        [("httpx", "0.0.1", ()), ("python-dateutil", "2.0", ()), ("click", "0.1", ())],
        tmp_path / "projects",
        wheels,
    )
    declare(plugin_dir, "notifier.py", ["httpx==0.0.1", "click<1"], "pep723")
    declare(plugin_dir, "iceberg.py", ["python-dateutil<3"], "pep723")
    use(plugin_dir, "notifier.py")
    use(plugin_dir, "iceberg.py")
    result = deps(capsys, "install", "package", "pm-libx", plugin_dir=plugin_dir, wheels=wheels)
    assert result.code == 0, result.err
    assert version("httpx") != "0.0.1" and not version("click").startswith("0.")  # the server's
    assert installed(plugin_dir) == {
        "click": "0.1",
        "httpx": "0.0.1",
        "pm-libx": "2.0",
        "python-dateutil": "2.0",
    }
    assert "runtime" not in (plugin_dir / "pylock.toml").read_text()


def test_an_older_locks_runtime_packages_are_installed_and_noted(
    capsys: pytest.CaptureFixture[str], plugin_dir: Path, wheels: Path
) -> None:
    # a lock an older pluginmgr wrote left pm-libx to the server's environment
    declare(plugin_dir, "plugin_b.py", ["pm-liby"], "pep723")
    use(plugin_dir, "plugin_b.py")
    assert deps(capsys, "deps", "lock", plugin_dir=plugin_dir, wheels=wheels).code == 0
    lock = plugin_dir / "pylock.toml"
    text = lock.read_text()
    old = text.replace(
        'required-by = ["pm-liby"]', 'required-by = ["pm-liby"]\nprovided-by = "runtime"'
    )
    assert old != text
    lock.write_text(old)
    synced = deps(capsys, "deps", "sync", plugin_dir=plugin_dir, wheels=wheels)
    assert synced.code == 0, synced.err
    assert installed(plugin_dir) == {"pm-libx": "2.0", "pm-liby": "1.0"}  # both in the venv
    assert synced.err.splitlines() == [
        "note: the lock holds pm-libx at the server's own versions (an older pluginmgr pinned "
        "them); they are installed into the venv now: `pluginmgr deps lock --upgrade` lets them "
        "move"
    ]
    relocked = deps(capsys, "deps", "lock", plugin_dir=plugin_dir, wheels=wheels)
    assert relocked.code == 0, relocked.err
    assert lock.read_text() == text  # the key is gone once the lock is written again


# -- the operator's requirements and constraints survive ------------------------------------


def test_a_constraint_fixes_a_bad_release_for_good(
    capsys: pytest.CaptureFixture[str], plugin_dir: Path, wheels: Path
) -> None:
    # plugins declare utils>=0.3.0; 0.4.0 and 0.5.0 break them, 0.3.1 works
    declare(plugin_dir, "resampler/resampler.py", ["pm-utils>=0.3.0"], "manifest")
    declare(plugin_dir, "gapfill.py", ["pm-utils>=0.3.0"], "pep723")
    first = deps(capsys, "install", "deps", "gapfill.py", plugin_dir=plugin_dir, wheels=wheels)
    assert first.code == 0, first.err
    assert installed(plugin_dir) == {"pm-utils": "0.5.0"}
    fixed = deps(capsys, "deps", "constrain", "pm-utils<0.4", plugin_dir=plugin_dir, wheels=wheels)
    assert fixed.code == 0, fixed.err
    assert "installed: pm-utils 0.3.1 (was 0.5.0)" in fixed.out
    assert (plugin_dir / "constraints.txt").read_text().splitlines()[1:] == ["pm-utils<0.4"]
    # installing deps again keeps the constraint; so does rebuilding the venv
    again = deps(
        capsys, "install", "deps", "resampler/resampler.py", plugin_dir=plugin_dir, wheels=wheels
    )
    assert again.code == 0, again.err
    assert installed(plugin_dir) == {"pm-utils": "0.3.1"}
    shutil.rmtree(default_venv_path(plugin_dir))
    rebuilt = deps(capsys, "deps", "sync", plugin_dir=plugin_dir, wheels=wheels)
    assert rebuilt.code == 0, rebuilt.err
    assert installed(plugin_dir) == {"pm-utils": "0.3.1"}
    dropped = deps(
        capsys, "deps", "constrain", "--remove", "pm-utils", plugin_dir=plugin_dir, wheels=wheels
    )
    assert dropped.code == 0, dropped.err
    assert installed(plugin_dir) == {"pm-utils": "0.3.1"}  # the pin is kept until an upgrade
    missing = deps(
        capsys, "deps", "constrain", "--remove", "pm-nothing", plugin_dir=plugin_dir, wheels=wheels
    )
    assert missing.code == 1 and "constraints.txt has nothing on pm-nothing" in missing.err


def test_install_package_is_an_operator_requirement_that_survives(
    capsys: pytest.CaptureFixture[str], plugin_dir: Path, wheels: Path
) -> None:
    declare(plugin_dir, "gapfill.py", ["pm-utils>=0.3.0"], "pep723")
    pinned = deps(
        capsys, "install", "package", "pm-utils==0.3.1", plugin_dir=plugin_dir, wheels=wheels
    )
    assert pinned.code == 0, pinned.err
    assert installed(plugin_dir) == {"pm-utils": "0.3.1"}
    again = deps(capsys, "install", "deps", "gapfill.py", plugin_dir=plugin_dir, wheels=wheels)
    assert again.code == 0, again.err
    assert installed(plugin_dir) == {"pm-utils": "0.3.1"}
    why = deps(capsys, "deps", "why", "pm-utils", plugin_dir=plugin_dir, wheels=wheels)
    assert "  requirements.in (requirements.in, operator): pm-utils==0.3.1" in why.out.splitlines()


def test_sync_is_exact_and_removes_what_no_plugin_needs(
    capsys: pytest.CaptureFixture[str], plugin_dir: Path, wheels: Path
) -> None:
    declare(plugin_dir, "a.py", ["pm-liby"], "pep723")
    assert deps(capsys, "install", "deps", "a.py", plugin_dir=plugin_dir, wheels=wheels).code == 0
    assert installed(plugin_dir) == {"pm-libx": "2.0", "pm-liby": "1.0"}
    declare(plugin_dir, "a.py", ["pm-libx"], "pep723")
    result = deps(capsys, "install", "deps", "a.py", plugin_dir=plugin_dir, wheels=wheels)
    assert result.code == 0, result.err
    assert "removed: pm-liby 1.0" in result.out
    assert installed(plugin_dir) == {"pm-libx": "2.0"}


# -- stale locks ------------------------------------------------------------------------------


def test_a_stale_lock_is_reported_never_used(
    capsys: pytest.CaptureFixture[str], plugin_dir: Path, wheels: Path
) -> None:
    declare(plugin_dir, "a.py", ["pm-libx<2"], "pep723")
    use(plugin_dir, "a.py")
    assert deps(capsys, "deps", "lock", plugin_dir=plugin_dir, wheels=wheels).code == 0
    declare(plugin_dir, "a.py", ["pm-libx>=2"], "pep723")
    stale = deps(capsys, "deps", "sync", plugin_dir=plugin_dir, wheels=wheels)
    assert stale.code == 1
    assert (
        "pylock.toml is stale: a.py now declares pm-libx>=2 (the lock has pm-libx<2)" in stale.err
    )
    assert "run `pluginmgr deps lock`" in stale.err
    assert installed(plugin_dir) == {}


# -- replay on a second node, wheels checked ---------------------------------------------------


def test_a_second_node_replays_the_lock_offline_and_refuses_a_tampered_wheel(
    capsys: pytest.CaptureFixture[str], plugin_dir: Path, wheels: Path, tmp_path: Path
) -> None:
    declare(plugin_dir, "a.py", ["pm-liby", "pm-utils<0.5"], "pep723")
    assert deps(capsys, "install", "deps", "a.py", plugin_dir=plugin_dir, wheels=wheels).code == 0
    # node 2: the same plugin dir (committed files), no venv, wheels from a copy (the mirror)
    node2 = another_node(plugin_dir, tmp_path / "node2")
    mirror = Path(shutil.copytree(wheels, tmp_path / "mirror-wheels"))
    wheels.rename(tmp_path / "gone")  # the lock's own URLs no longer resolve
    replayed = deps(capsys, "deps", "sync", plugin_dir=node2, wheels=mirror)
    assert replayed.code == 0, replayed.err
    assert freeze(node2) == freeze(plugin_dir)

    node3 = another_node(plugin_dir, tmp_path / "node3")
    tampered = mirror / "pm_liby-1.0-py3-none-any.whl"
    tampered.write_bytes(tampered.read_bytes() + b"\0")
    refused = deps(capsys, "deps", "sync", plugin_dir=node3, wheels=mirror)
    assert refused.code == 1
    assert f"{tampered} does not match pylock.toml (pm-liby 1.0" in refused.err
    assert installed(node3) == {}


def test_bad_input_is_one_line_and_keeps_the_lock(
    capsys: pytest.CaptureFixture[str], plugin_dir: Path, wheels: Path
) -> None:
    missing = deps(capsys, "deps", "sync", plugin_dir=plugin_dir, wheels=wheels)
    assert missing.code == 1 and "there is no " in missing.err and "deps lock" in missing.err
    (plugin_dir / "pylock.toml").write_text("lock-version = [")
    broken = deps(capsys, "deps", "why", "x", plugin_dir=plugin_dir, wheels=wheels)
    assert broken.code == 1 and "is not valid TOML" in broken.err
    (plugin_dir / "pylock.toml").unlink()
    bad = deps(capsys, "deps", "constrain", "not a spec!", plugin_dir=plugin_dir, wheels=wheels)
    assert bad.code == 1 and "invalid requirement 'not a spec!'" in bad.err
    assert not (plugin_dir / "constraints.txt").exists()
    both = deps(
        capsys,
        "deps",
        "lock",
        "--upgrade",
        "--upgrade-package",
        "x",
        plugin_dir=plugin_dir,
        wheels=wheels,
    )
    assert both.code == 2
    declare(plugin_dir, "a.py", ["pm-libx"], "pep723")
    assert deps(capsys, "deps", "lock", plugin_dir=plugin_dir, wheels=wheels).code == 0
    unknown = deps(capsys, "deps", "why", "pm-nothing", plugin_dir=plugin_dir, wheels=wheels)
    assert unknown.code == 1 and "pm-nothing is not in " in unknown.err


# -- extras -----------------------------------------------------------------------------------


def test_extras_are_locked_synced_and_count_as_satisfied(
    capsys: pytest.CaptureFixture[str], plugin_dir: Path, wheels: Path, wheelhouse: Path
) -> None:
    from engine_runtime import TriggerDefinition, TriggerSettings, parse_trigger_spec
    from pluginmgr import PluginManager, Settings
    from pluginmgr.node.triggers import source_factory
    from tests.wheels import FIXTURE_PACKAGES

    build_wheel(FIXTURE_PACKAGES / "pm_extras", wheels)
    for wheel in wheelhouse.glob("*.whl"):
        shutil.copy(wheel, wheels)
    declare(plugin_dir, "iceberg.py", ["pm-extras[all]"], "pep723")
    result = deps(capsys, "install", "deps", "iceberg.py", plugin_dir=plugin_dir, wheels=wheels)
    assert result.code == 0, result.err
    # the extras' own requirements are in the set: pm-gamma (fast), pm-alpha (all) and pm-beta
    assert installed(plugin_dir) == {
        "pm-extras": "1.0.0",
        "pm-gamma": "0.1.0",
        "pm-alpha": "1.0.0",
        "pm-beta": "1.0.0",
    }
    why = deps(capsys, "deps", "why", "pm-gamma", plugin_dir=plugin_dir, wheels=wheels)
    assert "  iceberg.py (pep723, added): pm-extras[all] -> pm-gamma" in why.out.splitlines()
    env = PluginEnv(default_venv_path(plugin_dir))
    assert env.unsatisfied(["pm-extras[all]", "pm-extras[fast]"]) == []
    assert env.unsatisfied(["pm-extras[strict]"]) == ["pm-extras[strict]"]
    # and the trigger starts: the engine's dependency check passes
    settings = Settings(
        plugin_dir=plugin_dir, cache_dir=plugin_dir.parent / "c", lock_path=plugin_dir / "p.lock"
    )
    with PluginManager(settings) as manager:
        spec = parse_trigger_spec("request:ice")
        definition = TriggerDefinition(1, "t", "iceberg.py", "db", spec, TriggerSettings(), None)
        assert source_factory(manager, env)(definition) is not None


def test_air_gapped_replay_through_a_mirror_of_the_locked_wheels(
    capsys: pytest.CaptureFixture[str],
    plugin_dir: Path,
    wheels: Path,
    tmp_path: Path,
    repo_server: RepoServer,
) -> None:
    """Node 1 locks; `mirror sync --with-deps --pylock` copies exactly its wheels; nodes 2 and 3
    replay offline from the mirror alone: the same packages, and a tampered wheel refused."""
    declare(plugin_dir, "a.py", ["pm-liby", "pm-utils<0.5"], "pep723")
    assert deps(capsys, "install", "deps", "a.py", plugin_dir=plugin_dir, wheels=wheels).code == 0
    dest = tmp_path / "mirror"
    mirrored = run_cli(
        capsys, "mirror", "sync", repo_server.url, str(dest), "--retries", "0",
        "--with-deps", "--pylock", str(plugin_dir),
    )  # fmt: skip
    assert mirrored.code == 0, mirrored.err
    assert sorted(p.name for p in (dest / "wheels").iterdir()) == [
        "pm_libx-2.0-py3-none-any.whl",
        "pm_liby-1.0-py3-none-any.whl",
        "pm_utils-0.4.0-py3-none-any.whl",
    ]
    wheels.rename(tmp_path / "gone")  # only the mirror is left
    node2 = another_node(plugin_dir, tmp_path / "node2")
    replayed = deps(capsys, "deps", "sync", plugin_dir=node2, wheels=dest / "wheels")
    assert replayed.code == 0, replayed.err
    assert freeze(node2) == freeze(plugin_dir)

    tampered = dest / "wheels" / "pm_utils-0.4.0-py3-none-any.whl"
    tampered.write_bytes(tampered.read_bytes()[:-1] + b"!")
    assert run_cli(capsys, "mirror", "verify", str(dest)).code == 1
    node3 = another_node(plugin_dir, tmp_path / "node3")
    refused = deps(capsys, "deps", "sync", plugin_dir=node3, wheels=dest / "wheels")
    assert refused.code == 1
    assert f"{tampered} does not match pylock.toml (pm-utils 0.4.0" in refused.err
    assert installed(node3) == {}


def test_after_a_python_upgrade_sync_re_resolves_the_same_declarations(
    capsys: pytest.CaptureFixture[str], plugin_dir: Path, wheels: Path
) -> None:
    declare(plugin_dir, "a.py", ["pm-liby"], "pep723")
    use(plugin_dir, "a.py")
    assert deps(capsys, "deps", "lock", plugin_dir=plugin_dir, wheels=wheels).code == 0
    lock_path = plugin_dir / "pylock.toml"
    # as if the lock had been written on this node before its Python was upgraded
    lock_path.write_text(lock_path.read_text().replace('python = "3.', 'python = "2.'))
    synced = deps(capsys, "deps", "sync", plugin_dir=plugin_dir, wheels=wheels)
    assert synced.code == 0, synced.err
    assert synced.out.splitlines()[0].startswith("note: the lock was resolved for cpython 2.")
    assert "re-resolved the same declarations for it and rewrote pylock.toml" in synced.out
    relocked = read_pylock(lock_path)
    assert relocked is not None and not relocked.python.startswith("2.")
    assert installed(plugin_dir) == {"pm-libx": "2.0", "pm-liby": "1.0"}
    # a declaration that changed as well is never re-resolved silently
    lock_path.write_text(lock_path.read_text().replace('python = "3.', 'python = "2.'))
    declare(plugin_dir, "a.py", ["pm-libx<2"], "pep723")
    refused = deps(capsys, "deps", "sync", plugin_dir=plugin_dir, wheels=wheels)
    assert refused.code == 1
    assert "a.py now declares pm-libx<2 (the lock has pm-liby)" in refused.err
    assert installed(plugin_dir) == {"pm-libx": "2.0", "pm-liby": "1.0"}
