"""Paths in pylock.toml and on the command line: the lock's are relative to its directory,
the operator's are the caller's. The same lock, byte for byte, whatever the cwd and however
``--plugin-dir`` and ``--find-links`` were spelled."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

from pluginmgr.deps.installers import InstallOptions
from pluginmgr.deps.installers.base import caller_path
from pluginmgr.deps.venv import PluginEnv, default_venv_path
from tests.dep_wheels import declare, use
from tests.helpers import CliResult, run_cli

pytestmark = pytest.mark.usefixtures("uv_sandbox")


def lock_from(
    capsys: pytest.CaptureFixture[str], cwd: Path, plugin_dir: str, links: str, *extra: str
) -> CliResult:
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(cwd)
        sources = ("--offline", "--no-index", "--find-links", links)
        return run_cli(capsys, "deps", *extra, "--plugin-dir", plugin_dir, *sources)


@pytest.fixture
def node(tmp_path: Path, dep_wheels: Path) -> Path:
    """``tmp/n1/pd`` with two plugins; wheels in ``tmp/wh``."""
    plugin_dir = tmp_path / "n1" / "pd"
    declare(plugin_dir, "ops/a/a.py", ["pm-liby"], "manifest")
    use(plugin_dir, "ops/a/a.py")
    declare(plugin_dir, "b.py", ["pm-utils<0.4"], "pep723")
    use(plugin_dir, "b.py")
    shutil.copytree(dep_wheels, tmp_path / "wh")
    (tmp_path / "elsewhere").mkdir()
    return plugin_dir


def test_the_lock_is_the_same_from_every_cwd_and_spelling(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, node: Path
) -> None:
    runs = [
        (tmp_path, "n1/pd", "wh"),
        (tmp_path / "n1", "pd", "../wh"),
        (tmp_path / "elsewhere", str(node), str(tmp_path / "wh")),
        (node, ".", "../../wh"),
        (tmp_path / "elsewhere", "../n1/pd", "file:../wh"),
    ]
    first = lock_from(capsys, *runs[0][:3], "lock")
    assert first.code == 0, first.err
    assert "wrote" in first.out and "(no change)" not in first.out
    written = (node / "pylock.toml").read_bytes()
    text = written.decode()
    assert str(tmp_path) not in text  # nothing absolute, nothing of the caller's cwd
    assert 'path = "../../wh/pm_liby-1.0-py3-none-any.whl"' in text
    assert 'location = "ops/a/manifest.toml"' in text and 'location = "b.py"' in text
    floor = f">={sys.version_info.major}.{sys.version_info.minor}"  # not uv's >=3.11.7
    assert f'requires-python = "{floor}"' in text.splitlines()
    for cwd, spelled, links in runs[1:]:
        again = lock_from(capsys, cwd, spelled, links, "lock")
        assert again.code == 0, again.err
        assert (node / "pylock.toml").read_bytes() == written, (cwd, spelled)
        assert "kept" in again.out and "(no change)" in again.out


def test_a_rewritten_lock_never_says_no_change(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, node: Path
) -> None:
    assert lock_from(capsys, tmp_path, "n1/pd", "wh", "lock").code == 0
    lock = node / "pylock.toml"
    fresh = lock.read_text()
    wheel = (tmp_path / "wh" / "pm_liby-1.0-py3-none-any.whl").as_uri()
    # as an older pluginmgr wrote it: uv's absolute URL, a location relative to the cwd
    old = fresh.replace('path = "../../wh/pm_liby-1.0-py3-none-any.whl"', f'url = "{wheel}"')
    lock.write_text(old.replace('location = "b.py"', 'location = "n1/pd/b.py"'))
    rewritten = lock_from(capsys, tmp_path, "n1/pd", "wh", "lock")
    assert rewritten.code == 0, rewritten.err
    assert lock.read_text() == fresh
    assert "wrote" in rewritten.out and "(no change)" not in rewritten.out


def test_sync_reads_relative_find_links_where_the_operator_typed_them(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, node: Path
) -> None:
    assert lock_from(capsys, tmp_path, "n1/pd", "wh", "lock").code == 0
    synced = lock_from(capsys, tmp_path / "n1", "pd", "../wh", "sync")
    assert synced.code == 0, synced.err
    installed = PluginEnv(default_venv_path(node)).installed()
    assert installed == {"pm-libx": "2.0", "pm-liby": "1.0", "pm-utils": "0.3.1"}


def test_install_package_reads_relative_find_links_from_the_cwd(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, node: Path
) -> None:
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(tmp_path / "n1")
        sources = ("--offline", "--no-index", "--find-links", "../wh")
        result = run_cli(
            capsys, "install", "package", "pm-utils<0.3.5", "--plugin-dir", "pd", *sources
        )
    assert result.code == 0, result.err
    assert "pluginmgr-resolve-" not in result.err
    assert PluginEnv(default_venv_path(node)).installed()["pm-utils"] == "0.3.1"


@pytest.mark.parametrize(
    ("typed", "absolute"),
    [
        ("wh", "/c/d/wh"),
        ("../x/./wh", "/c/x/wh"),
        ("/srv/wh", "/srv/wh"),
        ("file:wh", "file:///c/d/wh"),
        ("file:///srv/wh", "file:///srv/wh"),
        ("https://pypi.example/simple", "https://pypi.example/simple"),
    ],
)
def test_caller_paths_are_made_absolute_and_urls_kept(typed: str, absolute: str) -> None:
    assert caller_path(typed, Path("/c/d")) == absolute
    options = InstallOptions(find_links=(typed,), index_url=typed).from_caller(Path("/c/d"))
    assert options.find_links == (absolute,) and options.index_url == absolute
