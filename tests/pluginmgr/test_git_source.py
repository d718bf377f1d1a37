"""`pluginmgr.fetch.git_source` against real repositories built with the git CLI in ``tmp_path``."""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import os
import re
import shutil
from pathlib import Path

import pytest

from pluginmgr.errors import GitError, TooLargeError
from pluginmgr.fetch.git_source import GitContent, fetch_git
from tests.git_helpers import PKG_INIT, PKG_UTIL, Origin, git_cli, make_origin

pytestmark = pytest.mark.git

MAX = 1_000_000


@pytest.fixture(autouse=True)
def hermetic_git(monkeypatch: pytest.MonkeyPatch) -> None:
    """Neither the user's nor the system's git config may change what these tests see."""
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", os.devnull)
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    for name in ("GIT_DIR", "GIT_WORK_TREE", "GIT_CONFIG_COUNT", "GIT_CONFIG_PARAMETERS"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def origin(tmp_path: Path) -> Origin:
    """Commit 1: hello.py v1 + plugins/pkg; annotated tag v1.0; commit 2: hello.py v2."""
    return make_origin(tmp_path / "origin")


@pytest.fixture
def repos_dir(tmp_path: Path) -> Path:
    return tmp_path / "cache" / "git"


def fetch(origin: Origin, rev: str | None, path: str, repos_dir: Path, **kwargs: int) -> GitContent:
    return fetch_git(origin.url, rev, path, repos_dir=repos_dir, max_bytes=MAX, **kwargs)


def test_default_branch_is_the_newest_commit(origin: Origin, repos_dir: Path) -> None:
    content = fetch(origin, None, "plugins/hello.py", repos_dir)
    assert content == GitContent(origin.c2, "file", {"hello.py": b"v2\n"})


def test_annotated_tag_is_peeled_to_its_commit(origin: Origin, repos_dir: Path) -> None:
    content = fetch(origin, "v1.0", "plugins/hello.py", repos_dir)
    assert content.commit == origin.c1
    assert content.files == {"hello.py": b"v1\n"}


def test_branch_name(origin: Origin, repos_dir: Path) -> None:
    c3 = origin.commit("three", {"plugins/hello.py": b"v3\n"}, branch="feature")
    assert fetch(origin, "feature", "plugins/hello.py", repos_dir).files == {"hello.py": b"v3\n"}
    assert fetch(origin, "feature", "plugins/hello.py", repos_dir).commit == c3
    assert fetch(origin, "main", "plugins/hello.py", repos_dir).commit == origin.c2


def test_full_sha(origin: Origin, repos_dir: Path) -> None:
    content = fetch(origin, origin.c1, "plugins/hello.py", repos_dir)
    assert content == GitContent(origin.c1, "file", {"hello.py": b"v1\n"})


def test_full_sha_when_the_server_refuses_fetch_by_sha(
    origin: Origin, repos_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # protocol v0 without uploadpack.allowReachableSHA1InWant: "unadvertised object" -> full fetch
    monkeypatch.setenv("GIT_CONFIG_COUNT", "1")
    monkeypatch.setenv("GIT_CONFIG_KEY_0", "protocol.version")
    monkeypatch.setenv("GIT_CONFIG_VALUE_0", "0")
    content = fetch(origin, origin.c1, "plugins/hello.py", repos_dir)
    assert content == GitContent(origin.c1, "file", {"hello.py": b"v1\n"})


def test_abbreviated_sha(origin: Origin, repos_dir: Path) -> None:
    content = fetch(origin, origin.c1[:10], "plugins/hello.py", repos_dir)
    assert content == GitContent(origin.c1, "file", {"hello.py": b"v1\n"})


def test_abbreviated_sha_behind_a_shallow_boundary(origin: Origin, repos_dir: Path) -> None:
    origin.commit("three", {"plugins/hello.py": b"v3\n"})  # c2 is now no branch's or tag's tip
    assert fetch(origin, None, "plugins/hello.py", repos_dir).files == {"hello.py": b"v3\n"}
    content = fetch(origin, origin.c2[:8], "plugins/hello.py", repos_dir)
    assert content == GitContent(origin.c2, "file", {"hello.py": b"v2\n"})


def test_plain_path_url_is_accepted(origin: Origin, repos_dir: Path) -> None:
    content = fetch_git(
        str(origin.path), "v1.0", "plugins/hello.py", repos_dir=repos_dir, max_bytes=MAX
    )
    assert content.commit == origin.c1


def test_directory_returns_every_file_by_relative_path(origin: Origin, repos_dir: Path) -> None:
    content = fetch(origin, "v1.0", "plugins/pkg", repos_dir)
    assert content.kind == "directory"
    assert content.files == {"__init__.py": PKG_INIT, "util.py": PKG_UTIL}


def test_directory_skips_bytecode_and_keeps_subdirectories(origin: Origin, repos_dir: Path) -> None:
    extra = {
        "plugins/pkg/__pycache__/util.cpython-311.pyc": b"\0",
        "plugins/pkg/stale.pyc": b"\0",
        "plugins/pkg/sub/data.txt": b"data\n",
    }
    origin.commit("bytecode", extra, branch="pyc")
    files = fetch(origin, "pyc", "plugins/pkg", repos_dir).files
    assert files == {"__init__.py": PKG_INIT, "util.py": PKG_UTIL, "sub/data.txt": b"data\n"}


def test_known_sha_needs_no_remote(
    origin: Origin, repos_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    first = fetch(origin, origin.c1, "plugins/pkg", repos_dir)
    shutil.rmtree(origin.path)
    with caplog.at_level(logging.DEBUG, logger="pluginmgr.fetch.git_source"):
        assert fetch(origin, origin.c1, "plugins/pkg", repos_dir) == first
    assert not [r for r in caplog.records if r.getMessage().startswith("git fetch")]
    assert fetch(origin, origin.c1, "plugins/hello.py", repos_dir).files == {"hello.py": b"v1\n"}
    with pytest.raises(GitError, match="repository not found"):
        fetch(origin, None, "plugins/hello.py", repos_dir)  # a branch always asks the remote


def test_one_bare_repository_per_url_is_reused(origin: Origin, repos_dir: Path) -> None:
    fetch(origin, None, "plugins/hello.py", repos_dir)
    fetch(origin, "v1.0", "plugins/pkg", repos_dir)
    fetch(origin, origin.c1[:7], "plugins/pkg", repos_dir)
    expected = hashlib.sha256(origin.url.encode()).hexdigest()[:16]
    assert [p.name for p in repos_dir.iterdir() if p.is_dir()] == [expected]
    assert sorted(p.name for p in repos_dir.iterdir() if p.is_file()) == [f".{expected}.lck"]
    assert (repos_dir / expected / "HEAD").is_file()
    assert not (repos_dir / expected / "index").exists()  # bare: nothing checked out
    pins = git_cli(repos_dir / expected, "for-each-ref", "--format=%(refname)", "refs/pluginmgr/")
    assert f"refs/pluginmgr/pins/{origin.c2}" in pins.splitlines()
    assert "refs/pluginmgr/fetch/" not in pins  # temporary refs are removed


@pytest.mark.parametrize("rev", ["nope", "1" * 40, "abcdef1"])
def test_unknown_revision(origin: Origin, repos_dir: Path, rev: str) -> None:
    with pytest.raises(GitError) as info:
        fetch(origin, rev, "plugins/hello.py", repos_dir)
    assert info.value.message == f"unknown git revision {rev!r} in {origin.url!r}"
    assert "use an existing commit sha, tag or branch" in str(info.value)
    assert info.value.url == origin.url


def test_missing_path(origin: Origin, repos_dir: Path) -> None:
    with pytest.raises(GitError) as info:
        fetch(origin, "v1.0", "plugins/nope.py", repos_dir)
    message = str(info.value)
    assert "'plugins/nope.py' not found" in message
    assert origin.url in message
    assert "v1.0" in message
    assert origin.c1[:12] in message


def test_path_through_a_file_is_missing(origin: Origin, repos_dir: Path) -> None:
    with pytest.raises(GitError, match=re.escape("'plugins/hello.py/x' not found")):
        fetch(origin, None, "plugins/hello.py/x", repos_dir)


def test_directory_without_init_is_refused(origin: Origin, repos_dir: Path) -> None:
    with pytest.raises(GitError) as info:
        fetch(origin, None, "plugins", repos_dir)
    expected = (
        f"git path 'plugins' at {origin.c2[:12]} is a directory without __init__.py; "
        "point #path= at a .py file or a package directory"
    )
    assert str(info.value) == expected


def test_symlinks_are_refused(origin: Origin, repos_dir: Path) -> None:
    (origin.path / "plugins/pkg/linked.py").symlink_to("util.py")
    (origin.path / "plugins/link.py").symlink_to("hello.py")
    origin.commit("links", {}, branch="links")
    for path in ("plugins/link.py", "plugins/pkg"):
        with pytest.raises(GitError, match=r"is a symlink; pluginmgr does not follow"):
            fetch(origin, "links", path, repos_dir)


def test_submodules_are_refused(origin: Origin, repos_dir: Path) -> None:
    git_cli(origin.path, "checkout", "-q", "-b", "sub")
    cacheinfo = f"160000,{origin.c1},plugins/pkg/vendored"
    git_cli(origin.path, "update-index", "--add", "--cacheinfo", cacheinfo)
    git_cli(origin.path, "commit", "-q", "-m", "gitlink")
    git_cli(origin.path, "checkout", "-q", "main")
    with pytest.raises(GitError, match=r"'plugins/pkg/vendored' at \w+ of '.*' is a submodule"):
        fetch(origin, "sub", "plugins/pkg", repos_dir)


def test_oversize_file(origin: Origin, repos_dir: Path) -> None:
    with pytest.raises(TooLargeError) as info:
        fetch_git(origin.url, None, "plugins/hello.py", repos_dir=repos_dir, max_bytes=2)
    assert "'plugins/hello.py'" in info.value.message
    assert "2-byte limit" in info.value.message
    assert info.value.hint == "raise --max-file-size if it is legitimate"


def test_oversize_file_in_a_directory(origin: Origin, repos_dir: Path) -> None:
    with pytest.raises(TooLargeError, match=re.escape("'plugins/pkg/__init__.py'")):
        fetch_git(origin.url, None, "plugins/pkg", repos_dir=repos_dir, max_bytes=len(PKG_UTIL))


def test_oversize_directory_total(origin: Origin, repos_dir: Path) -> None:
    many = {f"plugins/pkg/m{i:02}.py": b"x" * 20 for i in range(12)}
    origin.commit("many", many, branch="many")
    with pytest.raises(TooLargeError, match="larger than 240 bytes"):
        fetch_git(origin.url, "many", "plugins/pkg", repos_dir=repos_dir, max_bytes=24)


def test_nonexistent_repository(tmp_path: Path, repos_dir: Path) -> None:
    url = (tmp_path / "missing").as_uri()
    with pytest.raises(GitError) as info:
        fetch_git(url, None, "plugins/hello.py", repos_dir=repos_dir, max_bytes=MAX)
    assert str(info.value) == (
        f"git fetch of {url!r} failed: repository not found "
        "(hint: check the URL and that you have access)"
    )


def test_empty_repository_has_no_default_branch(tmp_path: Path, repos_dir: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    git_cli(empty, "init", "-q", "--bare")
    with pytest.raises(GitError, match="has no default branch"):
        fetch_git(empty.as_uri(), None, "x.py", repos_dir=repos_dir, max_bytes=MAX)


@pytest.mark.parametrize(
    "url",
    ["ext::sh -c touch% /tmp/pwned", "-uhelp", "--upload-pack=touch /tmp/x", "", "file:///a\nb"],
)
def test_unsafe_urls_are_refused_before_git_runs(url: str, repos_dir: Path) -> None:
    with pytest.raises(GitError, match="refusing git URL"):
        fetch_git(url, None, "x.py", repos_dir=repos_dir, max_bytes=MAX)
    assert not repos_dir.exists()


@pytest.mark.parametrize("rev", ["--upload-pack=x", "a:b", "main..dev", "+main", "x*", "m^"])
def test_unsafe_revisions_are_refused(origin: Origin, repos_dir: Path, rev: str) -> None:
    with pytest.raises(GitError, match="invalid git revision"):
        fetch(origin, rev, "plugins/hello.py", repos_dir)
    assert not repos_dir.exists()


def test_disallowed_transport_is_refused(tmp_path: Path, repos_dir: Path) -> None:
    # not in the protocol allowlist; git itself refuses it, never reaching the network
    with pytest.raises(
        GitError, match=re.escape("'ftp://example.invalid/repo' failed: transport 'ftp' not")
    ):
        fetch_git("ftp://example.invalid/repo", None, "x.py", repos_dir=repos_dir, max_bytes=MAX)


def test_fetch_timeout(tmp_path: Path, repos_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # a stand-in ssh that hangs: no network is touched
    monkeypatch.setenv("GIT_SSH_COMMAND", "sleep 5 #")
    url = "ssh://example.invalid/repo.git"
    with pytest.raises(GitError, match=r"timed out after 0.5s"):
        fetch_git(url, None, "x.py", repos_dir=repos_dir, max_bytes=MAX, timeout=0.5)


def test_content_is_frozen(origin: Origin, repos_dir: Path) -> None:
    content = fetch(origin, None, "plugins/hello.py", repos_dir)
    with pytest.raises(dataclasses.FrozenInstanceError):
        content.kind = "directory"  # type: ignore[misc]
