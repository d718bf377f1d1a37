"""A mirror's own records bind what is fetched from it: a ``gh:`` fetch from a mirror (file://
or over HTTP) checks the file against the mirror's SHA256SUMS and mirror.json, so what
``mirror verify`` names as tampered, or a file dropped in after the sync, is never pinned."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from pluginmgr.mirror.state import verify_mirror
from pluginmgr.mirror.sync import sync_mirror
from pluginmgr.testing import RepoServer
from tests.conftest import FIXTURES, NOTIFIER_PATH, WAL_PATH
from tests.helpers import CliResult, installed, repo_args, run_cli

EVIL = b"import os\n\ndef process_writes(influxdb3_local, table_batches, args=None):\n    pass\n"


@pytest.fixture
def mirror(tmp_path: Path) -> Path:
    dest = tmp_path / "mirror"
    assert sync_mirror((FIXTURES / "repo").as_uri() + "/", dest).ok
    return dest


@pytest.fixture
def served(mirror: Path) -> Iterator[RepoServer]:
    with RepoServer(mirror) as server:
        yield server


def _fetch(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, repo: str, ref: str
) -> tuple[CliResult, Path]:
    plugin_dir = tmp_path / "plugins"
    plugin_dir.mkdir(exist_ok=True)
    result = run_cli(capsys, "fetch", ref, *repo_args(repo, plugin_dir, tmp_path / "cache"))
    return result, plugin_dir / "plugins.lock"


@pytest.mark.parametrize("over", ["file", "http"])
def test_a_file_mirror_verify_names_as_tampered_is_not_pinned(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    mirror: Path,
    served: RepoServer,
    over: str,
) -> None:
    (mirror / NOTIFIER_PATH).write_bytes(EVIL)  # still Python: only the records can tell
    assert NOTIFIER_PATH in verify_mirror(mirror).tampered
    repo = mirror.as_uri() + "/" if over == "file" else served.url
    result, lock = _fetch(capsys, tmp_path, repo, f"gh:{NOTIFIER_PATH}")
    assert result.code == 1
    assert f"{NOTIFIER_PATH} does not match the SHA256SUMS of" in result.err, result.err
    assert "tampered with" in result.err and len(result.err.strip().splitlines()) == 1
    assert not lock.exists()


def test_a_file_the_mirror_does_not_list_is_not_pinned(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, mirror: Path
) -> None:
    (mirror / "influxdata" / "dropped.py").write_bytes(EVIL)
    result, lock = _fetch(capsys, tmp_path, mirror.as_uri() + "/", "gh:influxdata/dropped.py")
    assert result.code == 1
    assert "is not listed in the SHA256SUMS and mirror.json of" in result.err
    assert not lock.exists()


def test_an_intact_mirror_file_is_pinned_and_the_records_are_read_once(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, served: RepoServer
) -> None:
    refs = [f"gh:{NOTIFIER_PATH}", "gh:influxdata/downsampler/downsampler.py"]
    plugin_dir = tmp_path / "plugins"
    plugin_dir.mkdir()
    args = repo_args(served.url, plugin_dir, tmp_path / "cache")
    result = run_cli(capsys, "fetch", *refs, *args)
    assert result.code == 0, result.err
    paths = [r.path for r in served.requests]
    assert paths.count("/SHA256SUMS") == 1 and paths.count("/mirror.json") == 1, paths


def test_a_repository_without_records_is_fetched_as_before(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    result, lock = _fetch(capsys, tmp_path, (FIXTURES / "repo").as_uri() + "/", f"gh:{WAL_PATH}")
    assert result.code == 0, result.err
    assert f"gh:{WAL_PATH}" in lock.read_text()


# -- a mirror's wheels folder as --find-links ----------------------------------------------------


def _wheel_mirror(wheelhouse: Path, root: Path, *, tampered: str | None) -> Path:
    """``root/wheels`` with the wheelhouse's wheels and ``root/SHA256SUMS`` listing them as a
    mirror does; the wheel whose name starts with ``tampered`` differs from its line."""
    wheels = root / "wheels"
    wheels.mkdir(parents=True)
    lines = []
    for wheel in sorted(wheelhouse.glob("*.whl")):
        (wheels / wheel.name).write_bytes(wheel.read_bytes())
        data = wheel.read_bytes() + (b"x" if tampered and wheel.name.startswith(tampered) else b"")
        lines.append(f"{hashlib.sha256(data).hexdigest()}  wheels/{wheel.name}\n")
    (root / "SHA256SUMS").write_text("".join(lines))
    return wheels


@pytest.mark.usefixtures("uv_sandbox")
def test_installing_from_a_mirror_wheels_folder_checks_the_mirror_sums(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, wheelhouse: Path
) -> None:
    wheels = _wheel_mirror(wheelhouse, tmp_path / "mirror", tampered="pm_alpha")
    plugin_dir = tmp_path / "plugins"
    plugin_dir.mkdir()
    sources = ["--offline", "--no-index", "--find-links", str(wheels)]
    result = run_cli(
        capsys, "install", "package", "pm-alpha", "--plugin-dir", str(plugin_dir), *sources
    )
    assert result.code == 1
    err = result.err.strip()
    assert f"{wheels}/pm_alpha-1.0.0-py3-none-any.whl does not match the SHA256SUMS of" in err
    assert "nothing was installed" in err and len(err.splitlines()) == 1, err
    assert "pm-alpha" not in installed(plugin_dir)
    assert not (plugin_dir / "pylock.toml").exists()


@pytest.mark.usefixtures("uv_sandbox")
def test_an_intact_mirror_wheels_folder_installs(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, wheelhouse: Path
) -> None:
    wheels = _wheel_mirror(wheelhouse, tmp_path / "mirror", tampered=None)
    plugin_dir = tmp_path / "plugins"
    plugin_dir.mkdir()
    sources = ["--offline", "--no-index", "--find-links", str(wheels)]
    result = run_cli(
        capsys, "install", "package", "pm-alpha", "--plugin-dir", str(plugin_dir), *sources
    )
    assert result.code == 0, result.err
    assert installed(plugin_dir)["pm-alpha"] == "1.0.0"
