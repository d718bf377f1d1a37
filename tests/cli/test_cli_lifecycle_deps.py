"""The pin lifecycle and the dependency set together: ``remove``, ``lock --upgrade`` and
``rollback`` re-resolve pylock.toml and sync the venv in the same step, all or nothing, with
real uv resolutions from a local wheelhouse and plugins served over loopback."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from engine_runtime import Catalog
from pluginmgr.fetch.lockfile import read_lock
from pluginmgr.testing import RepoServer
from tests.dep_wheels import declare
from tests.helpers import installed, repo_args, run_cli

pytestmark = pytest.mark.usefixtures("uv_sandbox")

A, B = "ops/a/a.py", "ops/b/b.py"
REF_A, REF_B = f"gh:{A}", f"gh:{B}"


@pytest.fixture
def node(
    capsys: pytest.CaptureFixture[str],
    repo_root: Path,
    repo_server: RepoServer,
    plugin_dir: Path,
    tmp_path: Path,
    dep_wheels: Path,
) -> list[str]:
    """Two pinned plugins (a needs pm-utils<0.4, b needs pm-liby), locked and synced."""
    declare(repo_root, A, ["pm-utils<0.4"], "manifest")
    declare(repo_root, B, ["pm-liby"], "pep723")
    args = repo_args(repo_server.url, plugin_dir, tmp_path / "cache")
    sources = ["--offline", "--no-index", "--find-links", str(dep_wheels)]
    assert run_cli(capsys, "fetch", REF_A, REF_B, *args).code == 0
    assert (
        run_cli(capsys, "deps", "lock", *args, "--no-index", "--find-links", str(dep_wheels)).code
        == 0
    )
    assert run_cli(capsys, "deps", "sync", *args, *sources).code == 0
    assert installed(plugin_dir) == {"pm-libx": "2.0", "pm-liby": "1.0", "pm-utils": "0.3.1"}
    return [*args, "--no-index", "--find-links", str(dep_wheels)]


def test_remove_unpins_with_siblings_and_orphans_leave_the_venv(
    capsys: pytest.CaptureFixture[str], node: list[str], plugin_dir: Path
) -> None:
    sibling = "gh:ops/a/manifest.toml"
    assert sibling in read_lock(plugin_dir / "plugins.lock")
    result = run_cli(capsys, "remove", REF_A, *node)
    assert result.code == 0, result.err
    assert "removed" in result.out and "-pm-utils<0.4" in " ".join(result.out.split())
    assert "warning: triggers unknown" in result.err
    lock = read_lock(plugin_dir / "plugins.lock")
    assert REF_A not in lock and sibling not in lock and REF_B in lock
    assert installed(plugin_dir) == {"pm-libx": "2.0", "pm-liby": "1.0"}
    assert "removed: pm-utils 0.3.1" in result.out


def test_remove_is_refused_while_a_trigger_uses_it_unless_forced(
    capsys: pytest.CaptureFixture[str], node: list[str], plugin_dir: Path, tmp_path: Path
) -> None:
    data_dir = tmp_path / "data"
    catalog = Catalog(data_dir / "catalog.json")
    catalog.create_database("ops")
    catalog.create_trigger("ops", "hourly", REF_B, "every:1h")
    lock_before = (plugin_dir / "plugins.lock").read_bytes()

    refused = run_cli(capsys, "remove", REF_B, "--data-dir", str(data_dir), *node)
    assert refused.code == 1
    assert refused.err.startswith(f"error: still used: {REF_B} by ops/hourly")
    assert (plugin_dir / "plugins.lock").read_bytes() == lock_before
    assert "pm-liby" in installed(plugin_dir)

    forced = run_cli(capsys, "remove", REF_B, "--force", "--data-dir", str(data_dir), *node)
    assert forced.code == 0, forced.err
    assert "removing what triggers use (--force)" in forced.err
    assert installed(plugin_dir) == {"pm-utils": "0.3.1"}


def test_remove_unknown_reference(
    capsys: pytest.CaptureFixture[str], node: list[str], plugin_dir: Path
) -> None:
    lock_before = (plugin_dir / "plugins.lock").read_bytes()
    result = run_cli(capsys, "remove", "gh:not/pinned.py", *node)
    assert result.code == 1 and "gh:not/pinned.py is not pinned in" in result.err
    assert (plugin_dir / "plugins.lock").read_bytes() == lock_before


def test_upgrade_with_new_declarations_re_resolves_and_syncs_in_the_same_step(
    capsys: pytest.CaptureFixture[str], node: list[str], plugin_dir: Path, repo_root: Path
) -> None:
    declare(repo_root, A, ["pm-utils>=0.5"], "manifest")
    result = run_cli(capsys, "lock", "--upgrade", *node)
    assert result.code == 0, result.err
    text = " ".join(result.out.split())
    assert "+pm-utils>=0.5 -pm-utils<0.4" in text
    assert "installed: pm-utils 0.5.0 (was 0.3.1)" in text
    assert installed(plugin_dir)["pm-utils"] == "0.5.0"
    status = json.loads(run_cli(capsys, "deps", "sync", "--format", "json", *node, "--offline").out)
    assert status["ran_installer"] is False, "the lock and the venv agree"


def test_a_conflict_in_the_dependency_step_puts_plugins_lock_back(
    capsys: pytest.CaptureFixture[str], node: list[str], plugin_dir: Path, repo_root: Path
) -> None:
    locks = [(plugin_dir / name).read_bytes() for name in ("plugins.lock", "pylock.toml")]
    declare(repo_root, A, ["pm-libx<2"], "manifest")  # b needs pm-liby -> pm-libx>=2
    result = run_cli(capsys, "lock", "--upgrade", *node)
    assert result.code == 1
    assert "no set of packages satisfies every plugin" in result.err
    after = [(plugin_dir / name).read_bytes() for name in ("plugins.lock", "pylock.toml")]
    assert after == locks
    assert installed(plugin_dir)["pm-utils"] == "0.3.1"


def test_rollback_re_resolves_the_dependency_set(
    capsys: pytest.CaptureFixture[str], node: list[str], plugin_dir: Path, repo_root: Path
) -> None:
    declare(repo_root, A, ["pm-utils>=0.5"], "manifest")
    assert run_cli(capsys, "lock", "--upgrade", *node).code == 0
    assert installed(plugin_dir)["pm-utils"] == "0.5.0"
    back = run_cli(capsys, "rollback", "gh:ops/a/manifest.toml", "--offline", *node)
    assert back.code == 0, back.err
    assert installed(plugin_dir)["pm-utils"] == "0.3.1", (back.out, back.err)


def test_outdated_names_newer_allowed_packages_and_writes_nothing(
    capsys: pytest.CaptureFixture[str], node: list[str], plugin_dir: Path, repo_root: Path
) -> None:
    declare(repo_root, A, ["pm-utils"], "manifest")  # no upper bound any more
    assert run_cli(capsys, "lock", "--upgrade", *node).code == 0
    assert installed(plugin_dir)["pm-utils"] == "0.3.1", "the previous lock is the preference"
    declare(repo_root, B, ["pm-liby", "pm-libx"], "pep723")
    before = {p.name: p.read_bytes() for p in plugin_dir.glob("*.*") if p.is_file()}

    result = run_cli(capsys, "outdated", "--format", "json", *node)

    assert result.code == 0, result.err
    data = json.loads(result.out)
    assert data["packages"]["changes"] == [{"name": "pm-utils", "old": "0.3.1", "new": "0.5.0"}]
    moved = [c for c in data["changes"] if c["status"] != "unchanged"]
    assert [(c["ref"], c["requirements_added"]) for c in moved] == [(REF_B, ["pm-libx"])]
    after = {p.name: p.read_bytes() for p in plugin_dir.glob("*.*") if p.is_file()}
    assert after == before
    pretty = run_cli(capsys, "outdated", *node)
    assert "pm-utils 0.3.1 -> 0.5.0" in pretty.out and REF_B in pretty.out
    shutil.rmtree(plugin_dir / "venv")
    no_packages = run_cli(capsys, "outdated", "--no-packages", *node)
    assert no_packages.code == 0 and "pm-utils" not in no_packages.out
