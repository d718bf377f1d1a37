"""Crash leftovers in the git cache: git lock files of a killed fetch are removed, not blamed
on the URL or the network."""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

import pytest

from pluginmgr.fetch.git_source import fetch_git
from tests.git_helpers import Origin, make_origin

pytestmark = pytest.mark.git

MAX = 100_000


@pytest.fixture
def origin(tmp_path: Path) -> Origin:
    return make_origin(tmp_path / "origin")


def _cache(repos_dir: Path, url: str) -> Path:
    return repos_dir / hashlib.sha256(url.encode()).hexdigest()[:16]


@pytest.mark.parametrize("leftover", ["shallow.lock", "index.lock", "refs/pluginmgr/x.lock"])
def test_stale_git_lock_is_removed_with_a_warning(
    origin: Origin, tmp_path: Path, caplog: pytest.LogCaptureFixture, leftover: str
) -> None:
    repos = tmp_path / "git"
    first = fetch_git(origin.url, "main", "plugins/hello.py", repos_dir=repos, max_bytes=MAX)
    assert first.commit == origin.c2
    stale = _cache(repos, origin.url) / leftover
    stale.parent.mkdir(parents=True, exist_ok=True)
    stale.write_bytes(b"")  # what a SIGKILLed `git fetch --depth=1` leaves behind
    c3 = origin.commit("three", {"plugins/hello.py": b"v3\n"})
    with caplog.at_level(logging.WARNING, logger="pluginmgr.fetch.git_source"):
        again = fetch_git(origin.url, "main", "plugins/hello.py", repos_dir=repos, max_bytes=MAX)
    assert (again.commit, again.files) == (c3, {"hello.py": b"v3\n"})
    assert not stale.exists()
    assert any(
        "stale git lock file" in r.getMessage() and leftover in r.getMessage()
        for r in caplog.records
    )


def test_first_fetch_into_a_cache_with_a_leftover_lock(origin: Origin, tmp_path: Path) -> None:
    repos = tmp_path / "git"
    cache = _cache(repos, origin.url)
    fetch_git(origin.url, origin.c1, "plugins/pkg", repos_dir=repos, max_bytes=MAX)
    (cache / "shallow.lock").write_bytes(b"")
    (cache / "HEAD.lock").write_bytes(b"")
    content = fetch_git(origin.url, "v1.0", "plugins/hello.py", repos_dir=repos, max_bytes=MAX)
    assert content.files == {"hello.py": b"v1\n"}
    assert not list(cache.rglob("*.lock"))
