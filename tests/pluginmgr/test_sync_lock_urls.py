"""A sync from a lock resolved on a package index takes each file from the lock's own URL: uv
asks the index for no page again, the lock's hashes still refuse other bytes by name, and an
index other than the one the lock names (its URLs unreachable) still serves the sync by name.
Real uv against the loopback PyPI-like index (`tests.pypi_index.PackageIndex`)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from pluginmgr.deps.venv import default_venv_path
from tests.helpers import CliResult, installed, run_cli
from tests.pypi_index import PackageIndex

pytestmark = pytest.mark.usefixtures("uv_sandbox")

BOTH = {"pm-alpha": "1.0.0", "pm-beta": "2.0.0"}


def from_index(
    capsys: pytest.CaptureFixture[str], index: PackageIndex, plugin_dir: Path, *args: str
) -> CliResult:
    return run_cli(capsys, *args, "--plugin-dir", str(plugin_dir), "--index-url", index.url)


def pages(requests: list[str]) -> list[str]:
    return [path for path in requests if path.startswith("/simple/")]


def test_a_sync_from_the_index_asks_for_no_page_and_refuses_other_bytes_by_name(
    capsys: pytest.CaptureFixture[str],
    package_index: PackageIndex,
    plugin_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert from_index(capsys, package_index, plugin_dir, "install", "package", "pm-alpha").code == 0
    assert installed(plugin_dir) == BOTH
    shutil.rmtree(default_venv_path(plugin_dir))
    monkeypatch.setenv("UV_CACHE_DIR", str(tmp_path / "another-node-cache"))  # nothing cached
    start = len(package_index.requests)
    synced = from_index(capsys, package_index, plugin_dir, "deps", "sync")
    assert synced.code == 0, synced.err
    assert installed(plugin_dir) == BOTH
    asked = package_index.requests[start:]
    assert pages(asked) == [], asked
    assert any(path.endswith("/pm_beta-2.0.0-py3-none-any.whl") for path in asked), asked

    # the lock lists other bytes for pm-beta's wheel than its URL serves (a replaced file)
    lock = plugin_dir / "pylock.toml"
    text = lock.read_text(encoding="utf-8")
    beta = text[text.index('name = "pm-beta"') :]
    served = beta[beta.index('sha256 = "') + 10 :][:64]
    lock.write_text(text.replace(served, "0" * 64), encoding="utf-8")
    shutil.rmtree(default_venv_path(plugin_dir))
    start = len(package_index.requests)
    refused = from_index(capsys, package_index, plugin_dir, "deps", "sync")
    assert refused.code == 1
    first = refused.err.splitlines()[0]
    assert first.startswith("error: pm-beta 2.0.0: pm_beta-2.0.0-py3-none-any.whl does not match")
    assert f"expected sha256 {'0' * 16}…, got {served[:16]}…" in first
    assert "pm-beta" not in installed(plugin_dir)
    assert pages(package_index.requests[start:]) == []


def test_the_lock_urls_unreachable_another_index_serves_the_sync_by_name(
    capsys: pytest.CaptureFixture[str],
    index_dir: Path,
    plugin_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with PackageIndex(index_dir) as first:
        assert from_index(capsys, first, plugin_dir, "install", "package", "pm-alpha").code == 0
    shutil.rmtree(default_venv_path(plugin_dir))
    monkeypatch.setenv("UV_CACHE_DIR", str(tmp_path / "another-node-cache"))  # nothing cached
    with PackageIndex(index_dir) as other:  # another port: the lock's URLs answer nothing
        synced = from_index(capsys, other, plugin_dir, "deps", "sync")
    assert synced.code == 0, synced.err
    assert installed(plugin_dir) == BOTH
    assert "/simple/pm-beta/" in other.requests
