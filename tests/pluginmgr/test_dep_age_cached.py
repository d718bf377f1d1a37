"""The old-version check after a lock reads the newest releases from uv's cache (the resolution
just fetched every page) and names a pin on the package itself without a uv run; with nothing
cached it asks the index as before. Real uv against the loopback index (`tests.pypi_index`)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
from packaging.version import Version

from pluginmgr.deps.age import _bars, old_versions
from pluginmgr.deps.culprit import Suspect
from pluginmgr.deps.installers import InstallOptions, find_uv
from pluginmgr.deps.pylock import read_pylock
from pluginmgr.deps.venv import bundled_python
from tests.dep_wheels import declare, use
from tests.helpers import run_cli
from tests.pypi_index import PackageIndex

pytestmark = pytest.mark.usefixtures("uv_sandbox")

WARNING = (
    "warning: pm-boto 0.1 (2014) is locked, the index has 2.0: "
    "held back by constraints.txt's pm-boto<1"
)


@pytest.fixture
def index(culprit_wheels: Path) -> Iterator[PackageIndex]:
    with PackageIndex(culprit_wheels) as served:
        yield served


def test_after_a_lock_the_check_asks_the_index_nothing_until_the_cache_is_empty(
    capsys: pytest.CaptureFixture[str],
    plugin_dir: Path,
    index: PackageIndex,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    declare(plugin_dir, "s3.py", ["pm-boto"], "pep723")
    use(plugin_dir, "s3.py")
    (plugin_dir / "constraints.txt").write_text("pm-boto<1\n")
    args = ["deps", "lock", "--plugin-dir", str(plugin_dir), "--index-url", index.url]
    result = run_cli(capsys, *args)
    assert result.code == 0, result.err
    assert WARNING in result.err.splitlines()

    lock = read_pylock(plugin_dir / "pylock.toml")
    assert lock is not None
    sources = InstallOptions(index_url=index.url)
    uv, python = find_uv()[0], bundled_python()
    start = len(index.requests)
    (old,) = old_versions(lock, uv=uv, python=python, sources=sources)
    assert index.requests[start:] == []  # uv's cache answered, and no culprit search ran
    assert old.held_back_by == ("constraints.txt's pm-boto<1",) and old.searched
    assert old.uploaded == dt.datetime(2014, 5, 2, 10, tzinfo=dt.UTC)  # from the lock's file

    monkeypatch.setenv("UV_CACHE_DIR", str(tmp_path / "empty-cache"))
    (again,) = old_versions(lock, uv=uv, python=python, sources=sources)
    assert "/simple/pm-boto/" in index.requests[start:]  # nothing cached: the index is asked
    assert again.message() == old.message() == WARNING.removeprefix("warning: ")


@pytest.mark.parametrize(
    ("pin", "floor", "strict", "bars"),
    [
        ("pm-x<2", "2", False, True),
        ("pm-x<2.1", "2", False, False),
        ("pm-x<=1.9", "2", False, True),
        ("pm-x<=2", "2", False, False),
        ("pm-x==1.5", "2", False, True),
        ("pm-x==1.*", "2", False, True),
        ("pm-x==2.*", "2", False, False),
        ("pm-x~=1.4", "2", False, True),
        ("pm-x~=2.0", "2", False, False),
        ("pm-x>=1,!=2.0", "2", False, False),
        ("pm-x==1.2", "1.2", True, True),  # wanted: > 1.2
        ("pm-x<=1.2", "1.2", True, True),
        ("pm-x<1.5", "1.2", True, False),
        ("pm-x", "2", False, False),
    ],
)
def test_a_pin_bars_the_wanted_releases_only_when_its_upper_bound_is_below_them(
    pin: str, floor: str, strict: bool, bars: bool
) -> None:
    assert _bars(Suspect("constraint", pin), Version(floor), strict) is bars
