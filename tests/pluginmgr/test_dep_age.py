"""Old locked versions: flagged against the index's newest release, with what holds them back.

The index part runs against the loopback package index (`tests.pypi_index`) over the culprit
wheels, whose upload times `tests.culprit_wheels` sets; the culprit part through real uv runs
over the same wheels as a find-links folder.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
from packaging.version import Version

from pluginmgr.deps.age import OldVersion, _flag, old_versions
from pluginmgr.deps.index_versions import Release, releases
from pluginmgr.deps.installers import InstallOptions, find_uv
from pluginmgr.deps.pylock import LockedPackage, PyLock, Requester
from pluginmgr.deps.venv import bundled_python
from tests.dep_wheels import declare, use
from tests.helpers import run_cli
from tests.pypi_index import PackageIndex

pytestmark = pytest.mark.usefixtures("uv_sandbox")


@pytest.fixture(scope="module")
def culprit_index(culprit_wheels: Path) -> Iterator[PackageIndex]:
    """The culprit wheels on a loopback index, with their upload times."""
    with PackageIndex(culprit_wheels) as index:
        yield index


def test_an_html_only_index_tells_releases(culprit_wheels: Path) -> None:
    with PackageIndex(culprit_wheels, json_pages=False) as index:
        found = releases(["pm-boto"], InstallOptions(index_url=index.url))
    assert [(str(r.version), r.uploaded) for r in found["pm-boto"]] == [
        ("0.1", None),
        ("2.0", None),
    ]


def test_the_index_tells_releases_and_upload_times(culprit_index: PackageIndex) -> None:
    url = culprit_index.url
    found = releases(["pm-boto", "PM_Core", "pm-absent"], InstallOptions(index_url=url))
    assert [(str(r.version), r.uploaded) for r in found["pm-boto"]] == [
        ("0.1", dt.datetime(2014, 5, 2, 10, tzinfo=dt.UTC)),
        ("2.0", dt.datetime(2025, 3, 1, 12, 0, 0, 123456, tzinfo=dt.UTC)),
    ]
    assert [str(r.version) for r in found["pm-core"]] == ["1.0", "2.0"]
    assert "pm-absent" not in found
    # offline, nothing is asked
    assert releases(["pm-boto"], InstallOptions(index_url=url, offline=True)) == {}


def _lock(
    packages: dict[str, str], requesters: dict[str, list[str]], constraints: Sequence[str] = ()
) -> PyLock:
    return PyLock(
        packages=tuple(LockedPackage(name=n, version=v) for n, v in packages.items()),
        requesters=tuple(Requester(n, "pep723", tuple(r)) for n, r in requesters.items()),
        constraints=tuple(constraints),
        python="3.11",
        implementation="cpython",
        platform="linux",
    )


def _old(lock: PyLock, wheels: Path) -> list[OldVersion]:
    sources = InstallOptions(find_links=(str(wheels),), no_index=True)
    return old_versions(lock, uv=find_uv()[0], python=bundled_python(), sources=sources)


def test_an_old_major_names_the_pin_that_holds_it_back(culprit_wheels: Path) -> None:
    # a pin on another package
    lock = _lock({"pm-boto": "0.1"}, {"s3.py": ["pm-boto"]}, ["pm-core==1.0", "pm-rich==15.0"])
    (old,) = _old(lock, culprit_wheels)
    assert old.message() == (
        "pm-boto 0.1 is locked, the index has 2.0: held back by constraints.txt's pm-core==1.0"
    )
    # a constraint on the package itself
    lock = _lock({"pm-boto": "0.1"}, {"s3.py": ["pm-boto"]}, ["pm-boto<1"])
    (old,) = _old(lock, culprit_wheels)
    assert old.held_back_by == ("constraints.txt's pm-boto<1",)
    # another plugin's declaration
    lock = _lock(
        {"pm-boto": "0.1", "pm-core": "1.0"}, {"s3.py": ["pm-boto"], "legacy.py": ["pm-core<2"]}
    )
    found = _old(lock, culprit_wheels)
    assert [o.message() for o in found] == [
        "pm-boto 0.1 is locked, the index has 2.0: held back by legacy.py's pm-core<2 (pep723)",
        "pm-core 1.0 is locked, the index has 2.0: held back by legacy.py's pm-core<2 (pep723)",
    ]
    # only the previous lock keeps it: nothing to blame
    (free,) = _old(_lock({"pm-boto": "0.1"}, {"s3.py": ["pm-boto"]}), culprit_wheels)
    assert free.free and "`pluginmgr deps lock --upgrade-package pm-boto` moves it" in (
        free.message()
    )


def test_the_age_rule() -> None:
    now = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
    years_ago = dt.datetime(2019, 1, 1, tzinfo=dt.UTC)
    found = [
        Release(Version("1.2"), years_ago, yanked=False, requires_python=None),
        Release(Version("1.9"), now, yanked=False, requires_python=None),
        Release(Version("3.0"), now, yanked=True, requires_python=None),
        Release(Version("4.0"), now, yanked=False, requires_python=">=3.13"),
        Release(Version("5.0rc1"), now, yanked=False, requires_python=None),
    ]
    # the same major, but years old: flagged; yanked, too-new-Python and pre-releases ignored
    assert _flag(Version("1.2"), found, "3.11.2", now) == (Version("1.9"), years_ago)
    assert _flag(Version("1.9"), found, "3.11.2", now) is None
    recent = [Release(Version("1.2"), now, False, None), Release(Version("1.9"), now, False, None)]
    assert _flag(Version("1.2"), recent, "3.11.2", now) is None


def test_deps_lock_warns_and_reports_in_json(
    capsys: pytest.CaptureFixture[str], plugin_dir: Path, culprit_index: PackageIndex
) -> None:
    declare(plugin_dir, "s3.py", ["pm-boto"], "pep723")
    use(plugin_dir, "s3.py")
    (plugin_dir / "constraints.txt").write_text("pm-core<2\n")
    args = ["deps", "lock", "--plugin-dir", str(plugin_dir), "--index-url", culprit_index.url]
    result = run_cli(capsys, *args)
    assert result.code == 0, result.err
    warning = (
        "warning: pm-boto 0.1 (2014) is locked, the index has 2.0: "
        "held back by constraints.txt's pm-core<2"
    )
    assert warning in result.err.splitlines()
    as_json = run_cli(capsys, *args, "--format", "json")
    assert as_json.code == 0, as_json.err
    (entry,) = json.loads(as_json.out)["warnings"]
    assert entry["name"] == "pm-boto" and entry["uploaded"] == "2014-05-02T10:00:00+00:00"
    assert entry["held_back_by"] == ["constraints.txt's pm-core<2"]
    assert entry["message"] == warning.removeprefix("warning: ")
