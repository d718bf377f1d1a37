"""Installs, locks, syncs and mirrors from a package index, as on a machine whose uv reaches PyPI.

The index is `tests.pypi_index.PackageIndex` (the session's ``package_index``, or a private one
where a test publishes a release): its lock entries carry what PyPI's do (``upload-time``,
``size``, http URLs), which find-links folders never produce. It yanks pm-gamma 0.2.0 and serves
a pm-gamma 0.3.0 that needs Python >= 3.99, so a plain ``pm-gamma`` must resolve to 0.1.0.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import shutil
import subprocess
import tomllib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from pluginmgr.deps.venv import default_venv_path
from pluginmgr.testing import RepoServer
from tests.conftest import NO_INDEX
from tests.helpers import CliResult, installed, repo_args, run_cli
from tests.pypi_index import PackageIndex
from tests.registry_helpers import add_library_entry
from tests.wheels import build_wheel

pytestmark = pytest.mark.usefixtures("uv_sandbox")

ROOT = Path(__file__).resolve().parents[2]
GREETER = "gh:examples/greeter/greeter.py"


def from_index(
    capsys: pytest.CaptureFixture[str], index: PackageIndex, plugin_dir: Path, *args: str
) -> CliResult:
    return run_cli(capsys, *args, "--plugin-dir", str(plugin_dir), "--index-url", index.url)


def locked(plugin_dir: Path) -> dict[str, dict[str, Any]]:
    lock = tomllib.loads((plugin_dir / "pylock.toml").read_text(encoding="utf-8"))
    return {package["name"]: package for package in lock["packages"]}


def uploaded(path: Path) -> datetime:
    """The upload time the index serves for ``path``, to the second (as uv locks it)."""
    return datetime.fromtimestamp(path.stat().st_mtime_ns // 10**9, tz=UTC)


def test_install_package_takes_wheels_from_the_index_skipping_yanked_and_other_pythons(
    capsys: pytest.CaptureFixture[str],
    package_index: PackageIndex,
    index_dir: Path,
    plugin_dir: Path,
) -> None:
    start = len(package_index.requests)
    result = from_index(
        capsys, package_index, plugin_dir, "install", "package", "pm-alpha", "pm-gamma"
    )
    assert result.code == 0, result.err
    # pm-gamma 0.2.0 is yanked and 0.3.0 needs Python >= 3.99: 0.1.0 is the one
    assert installed(plugin_dir) == {"pm-alpha": "1.0.0", "pm-beta": "2.0.0", "pm-gamma": "0.1.0"}
    packages = locked(plugin_dir)
    for name, version in installed(plugin_dir).items():
        (wheel,) = packages[name]["wheels"]
        filename = wheel["url"].rsplit("/", 1)[-1]  # uv writes no `name`: PEP 751 infers it
        source = index_dir / filename
        assert filename == f"{name.replace('-', '_')}-{version}-py3-none-any.whl"
        assert wheel["url"].startswith(package_index.base_url + "packages/")
        assert wheel["size"] == source.stat().st_size
        assert wheel["hashes"] == {"sha256": hashlib.sha256(source.read_bytes()).hexdigest()}
        assert wheel["upload-time"] == uploaded(source)  # a TOML datetime, as uv writes it
        assert "sdist" not in packages[name]  # resolved for wheels only: no sdist is locked
    asked = package_index.requests[start:]
    assert "/simple/pm-gamma/" in asked and "/simple/pm-beta/" in asked
    assert not [path for path in asked if path.endswith(".tar.gz")], "an sdist was fetched"


def test_an_index_without_metadata_files_installs_the_same(
    capsys: pytest.CaptureFixture[str], index_dir: Path, plugin_dir: Path
) -> None:
    """No PEP 658 file offered: uv reads each wheel's metadata from the wheel (byte ranges)."""
    with PackageIndex(index_dir, metadata=False) as index:
        result = from_index(capsys, index, plugin_dir, "install", "package", "pm-alpha")
    assert result.code == 0, result.err
    assert installed(plugin_dir) == {"pm-alpha": "1.0.0", "pm-beta": "2.0.0"}
    assert not [path for path in index.requests if path.endswith(".metadata")]
    assert any(path.endswith("/pm_alpha-1.0.0-py3-none-any.whl") for path in index.requests)


def test_index_url_wins_over_uv_default_index_in_the_environment(
    capsys: pytest.CaptureFixture[str],
    package_index: PackageIndex,
    plugin_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """uv ranks ``UV_DEFAULT_INDEX`` above its own ``--index-url`` flag: pluginmgr's
    ``--index-url`` must still be the index used (it is passed as ``--default-index``)."""
    monkeypatch.setenv("UV_DEFAULT_INDEX", NO_INDEX)
    result = from_index(capsys, package_index, plugin_dir, "install", "package", "pm-gamma")
    assert result.code == 0, result.err
    assert installed(plugin_dir) == {"pm-gamma": "0.1.0"}


def test_a_yanked_release_is_taken_only_when_pinned_exactly(
    capsys: pytest.CaptureFixture[str], package_index: PackageIndex, tmp_path: Path
) -> None:
    pinned, ranged = tmp_path / "pinned", tmp_path / "ranged"
    result = from_index(capsys, package_index, pinned, "install", "package", "pm-gamma==0.2.0")
    assert result.code == 0, result.err
    assert installed(pinned) == {"pm-gamma": "0.2.0"}

    refused = from_index(capsys, package_index, ranged, "install", "package", "pm-gamma>=0.2")
    assert refused.code == 1
    assert "pm-gamma>=0.2" in refused.err
    # resolving for wheels only, uv calls the yanked release's files "no usable wheels"; the
    # index's reason is asked for and named
    assert "pm-gamma==0.2.0 has no usable wheels" in refused.err
    assert (
        "pm-gamma 0.2.0 is yanked (reason: broken release: use pm-gamma 0.1.0)"
        in (refused.err.splitlines()[0])
    )
    assert "Python>=3.99" in refused.err
    assert not (ranged / "pylock.toml").exists()


def test_lock_and_sync_round_trip_keeps_upload_time_and_size(
    capsys: pytest.CaptureFixture[str], index_dir: Path, tmp_path: Path, plugin_dir: Path
) -> None:
    files = Path(shutil.copytree(index_dir, tmp_path / "files"))  # this test publishes
    with PackageIndex(files) as index:
        assert from_index(capsys, index, plugin_dir, "install", "package", "pm-alpha").code == 0
        first = (plugin_dir / "pylock.toml").read_text(encoding="utf-8")
        kept = from_index(capsys, index, plugin_dir, "deps", "lock")
        assert kept.code == 0 and "(no change)" in kept.out, kept.err
        assert (plugin_dir / "pylock.toml").read_text(encoding="utf-8") == first

        shutil.rmtree(default_venv_path(plugin_dir))
        synced = from_index(capsys, index, plugin_dir, "deps", "sync")
        assert synced.code == 0, synced.err
        assert installed(plugin_dir) == {"pm-alpha": "1.0.0", "pm-beta": "2.0.0"}
        assert (plugin_dir / "pylock.toml").read_text(encoding="utf-8") == first

        # publish pm-beta 2.1.0 (uploaded 2025-06-01): the upgrade rewrites that entry only
        wheel = build_wheel(_project(tmp_path / "src", "pm-beta", "2.1.0"), files)
        when = datetime(2025, 6, 1, 8, 30, tzinfo=UTC).timestamp()
        os.utime(wheel, (when, when))
        upgraded = from_index(capsys, index, plugin_dir, "deps", "lock", "--upgrade")
        assert upgraded.code == 0, upgraded.err
    packages = locked(plugin_dir)
    assert packages["pm-beta"]["version"] == "2.1.0"
    (new_wheel,) = packages["pm-beta"]["wheels"]
    assert new_wheel["upload-time"] == datetime(2025, 6, 1, 8, 30, tzinfo=UTC)
    assert new_wheel["size"] == wheel.stat().st_size
    assert "sdist" not in packages["pm-beta"]  # this release has none
    before = tomllib.loads(first)["packages"][0]
    assert before["name"] == "pm-alpha" and packages["pm-alpha"] == before


def _project(root: Path, name: str, version: str) -> Path:
    folder = root / f"{name}-{version}"
    package = folder / name.replace("-", "_")
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(f'VALUE = "{version}"\n')
    (folder / "pyproject.toml").write_text(f'[project]\nname = "{name}"\nversion = "{version}"\n')
    return folder


def test_install_deps_of_a_pep723_plugin_from_the_index(
    capsys: pytest.CaptureFixture[str],
    package_index: PackageIndex,
    repo_server: RepoServer,
    plugin_dir: Path,
    tmp_path: Path,
) -> None:
    args = [*repo_args(repo_server.url, plugin_dir, tmp_path / "cache")]
    args += ["--index-url", package_index.url]
    result = run_cli(capsys, "install", "deps", GREETER, *args)
    assert result.code == 0, result.err
    assert f"{GREETER}: 1 requirement from pep723" in result.out
    assert installed(plugin_dir) == {"pm-alpha": "1.0.0", "pm-beta": "2.0.0"}
    why = run_cli(capsys, "deps", "why", "pm-beta", "--plugin-dir", str(plugin_dir))
    assert f"{GREETER} (pep723, pinned): pm-alpha>=1.0 -> pm-beta" in why.out

    again = run_cli(capsys, "install", "deps", GREETER, *args, "--format", "json")
    assert again.code == 0, again.err
    assert json.loads(again.out)["ran_installer"] is False
    python = default_venv_path(plugin_dir) / "bin" / "python"
    done = subprocess.run(
        [python, "-c", "import pm_alpha; print(pm_alpha.greet())"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout.strip() == "alpha+beta-2.0"


def test_mirror_with_deps_from_the_index_then_an_offline_node_syncs_from_it(
    capsys: pytest.CaptureFixture[str],
    package_index: PackageIndex,
    repo_root: Path,
    repo_server: RepoServer,
    plugin_dir: Path,
    tmp_path: Path,
) -> None:
    add_library_entry(repo_root, "greeter", "examples/greeter/greeter.py")
    resolved = tmp_path / "resolved"
    result = run_cli(
        capsys, "mirror", "sync", repo_server.url, str(resolved), "--retries", "0",
        "--with-deps", "--index-url", package_index.url,
    )  # fmt: skip
    assert result.code == 0, result.err
    wheels = ["pm_alpha-1.0.0-py3-none-any.whl", "pm_beta-2.0.0-py3-none-any.whl"]
    assert sorted(p.name for p in (resolved / "wheels").iterdir()) == wheels

    args = repo_args(repo_server.url, plugin_dir, tmp_path / "cache")
    assert (
        run_cli(capsys, "install", "deps", GREETER, *args, "--index-url", package_index.url).code
        == 0
    )
    exact = tmp_path / "exact"
    result = run_cli(
        capsys, "mirror", "sync", repo_server.url, str(exact), "--retries", "0",
        "--with-deps", "--pylock", str(plugin_dir),
    )  # fmt: skip
    assert result.code == 0, result.err
    assert sorted(p.name for p in (exact / "wheels").iterdir()) == wheels

    shutil.rmtree(default_venv_path(plugin_dir))
    offline = ["--offline", "--no-index", "--find-links", str(exact / "wheels")]
    synced = run_cli(capsys, "deps", "sync", *args, *offline)
    assert synced.code == 0, synced.err
    assert installed(plugin_dir) == {"pm-alpha": "1.0.0", "pm-beta": "2.0.0"}


def test_the_demo_dependency_steps_run_against_the_index(
    capsys: pytest.CaptureFixture[str], repo_server: RepoServer, plugin_dir: Path, tmp_path: Path
) -> None:
    spec = importlib.util.spec_from_file_location("demo", ROOT / "scripts" / "demo.py")
    assert spec is not None and spec.loader is not None
    demo = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(demo)
    files = demo.index_files(tmp_path / "index")
    with PackageIndex(files, yanked=demo.FIXTURE_YANKED) as index:
        online = repo_args(repo_server.url, plugin_dir, tmp_path / "cache")
        demo.install_dependencies(plugin_dir, online, index.url)
    out = capsys.readouterr().out
    assert "alpha+beta-2.0" in out
    assert installed(plugin_dir) == {"pm-alpha": "1.0.0", "pm-beta": "2.0.0"}
    assert any(path.startswith("/simple/pm-alpha/") for path in index.requests)
