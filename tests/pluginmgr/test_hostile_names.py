"""File names with control characters: refused in archives, git trees, uploads and manifests."""

from __future__ import annotations

import hashlib
import io
import subprocess
import tarfile
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from pluginmgr.errors import GitError, IntegrityError
from pluginmgr.fetch.git_source import fetch_git
from pluginmgr.fetch.hashes import parse_tree_manifest, tree_manifest
from pluginmgr.fetch.registry_source import UnsafeArchiveError, safe_extract
from pluginmgr.fetch.store import Store
from pluginmgr.server import create_app
from tests.git_helpers import git_cli, make_origin
from tests.server.server_helpers import build_state

_INIT = b"from . import util\n"
_EVIL = b"import os; os.system('id')\n"
_FORGED = f"util.py\n{hashlib.sha256(_EVIL).hexdigest()}  injected.py"


def _tar(files: dict[str, bytes]) -> bytes:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w:gz", format=tarfile.PAX_FORMAT) as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return raw.getvalue()


@pytest.mark.parametrize("bad", ["\n", "\r", "\x1b", "\x7f"])
def test_archive_member_with_a_control_character_is_refused(bad: str) -> None:
    artifact = _tar({"__init__.py": _INIT, "evil.py": _EVIL, f"a{bad}b.py": b"x"})
    with pytest.raises(UnsafeArchiveError, match="control character") as caught:
        safe_extract(artifact, source="names.tar.gz", max_bytes=10_000)
    assert "names.tar.gz" in str(caught.value)


def test_forged_manifest_line_from_an_archive_is_refused() -> None:
    artifact = _tar({"__init__.py": _INIT, "evil.py": _EVIL, _FORGED: b"VALUE = 1\n"})
    with pytest.raises(UnsafeArchiveError, match="control character"):
        safe_extract(artifact, source="forge.tar.gz", max_bytes=10_000)


def test_tree_manifest_refuses_names_it_could_not_parse_back(tmp_path: Path) -> None:
    store = Store(tmp_path / "cache")
    try:
        for name in (_FORGED, "a\x00b.py", "a\rb.py", "", "a//b.py", "./a.py"):
            with pytest.raises(IntegrityError, match="cannot store file"):
                tree_manifest({"__init__.py": _INIT, name: b"x"})
        with pytest.raises(IntegrityError):
            store.put_tree({"__init__.py": _INIT, _FORGED: b"x"})
    finally:
        store.close()


def test_manifest_round_trips_names_that_splitlines_would_cut() -> None:
    files = {"__init__.py": _INIT, "a\u2028b.py": b"1", "c\x85d.py": b"2"}
    assert set(parse_tree_manifest(tree_manifest(files))) == set(files)


@pytest.mark.parametrize(
    "manifest",
    [
        f"{'a' * 64}  util.py\n{'b' * 64} injected.py\n",  # one space: not a manifest line
        f"{'a' * 64}  util.py\n{'b' * 64}  util.py\n",  # duplicate path
        f"{'A' * 64}  util.py\n",  # upper-case hex is never written
        f"{'a' * 64}  a\rb.py\n",
        f"{'a' * 64}  util.py\n\n",  # empty line
        f"{'a' * 64}  util.py\n{'a' * 64}",  # digest without a path
    ],
)
def test_manifest_lines_must_parse_exactly(manifest: str) -> None:
    with pytest.raises(IntegrityError, match="corrupt tree manifest line"):
        parse_tree_manifest(manifest.encode())


def test_non_utf8_manifest_is_an_integrity_error() -> None:
    with pytest.raises(IntegrityError, match="not UTF-8"):
        parse_tree_manifest(b"\xff\xfe")


def _commit_tree_with_raw_name(origin: Path, raw_name: str) -> None:
    """Point main at a commit whose ``pkg`` tree holds ``raw_name`` (``mktree -z`` allows LF)."""
    init, blob = (
        _git_in(origin, _INIT, "hash-object", "-w", "--stdin"),
        _git_in(origin, b"x = 1\n", "hash-object", "-w", "--stdin"),
    )
    entries = f"100644 blob {init}\t__init__.py\x00100644 blob {blob}\t{raw_name}\x00"
    pkg = _git_in(origin, entries.encode(), "mktree", "-z")
    root = _git_in(origin, f"040000 tree {pkg}\tpkg\x00".encode(), "mktree", "-z")
    commit = git_cli(origin, "commit-tree", root, "-m", "hostile names")
    git_cli(origin, "update-ref", "refs/heads/main", commit)


def _git_in(cwd: Path, data: bytes, *args: str) -> str:
    done = subprocess.run(
        ["git", *args], cwd=cwd, input=data, capture_output=True, check=True, timeout=30
    )
    return done.stdout.decode().strip()


@pytest.mark.git
@pytest.mark.parametrize("raw_name", [_FORGED, "tab\tname.py", "bell\x07.py"])
def test_git_tree_entry_with_a_control_character_is_refused(tmp_path: Path, raw_name: str) -> None:
    origin = make_origin(tmp_path / "origin")
    _commit_tree_with_raw_name(origin.path, raw_name)
    with pytest.raises(GitError, match="control character") as caught:
        fetch_git(origin.url, "main", "pkg", repos_dir=tmp_path / "git", max_bytes=10_000)
    assert origin.url in str(caught.value)


@pytest.mark.parametrize("name", ["a\nb.py", "a\x00b.py", "sub/\rx.py"])
def test_upload_with_a_control_character_is_refused(
    tmp_path: Path, plugin_dir: Path, name: str
) -> None:
    state, close = build_state(tmp_path, plugin_dir)
    try:
        with TestClient(create_app(state)) as client:
            answer = client.post(
                "/api/v3/plugins/files", json={"plugin_name": name, "content": "x = 1"}
            )
    finally:
        close()
    assert answer.status_code == 400
    error = answer.json()["error"]
    assert "invalid plugin file name" in error and "control characters" in error
    assert sorted(p.name for p in plugin_dir.rglob("*.py")) == []


def test_directory_upload_with_a_control_character_is_refused(
    tmp_path: Path, plugin_dir: Path
) -> None:
    state, close = build_state(tmp_path, plugin_dir)
    files = [{"relative_path": "__init__.py", "content": ""}, {"relative_path": _FORGED}]
    files[1]["content"] = "x = 1"
    try:
        with TestClient(create_app(state)) as client:
            answer = client.put(
                "/api/v3/plugins/directory", json={"plugin_name": "any", "files": files}
            )
    finally:
        close()
    assert answer.status_code == 400
    assert "field 'files[1].relative_path'" in answer.json()["error"]
