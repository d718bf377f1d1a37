"""The content-addressed store: blobs, trees, quarantine, metadata and versions."""

from __future__ import annotations

import hashlib
import stat
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from pluginmgr import IntegrityError, Store, StoreError, Version
from pluginmgr.fetch.hashes import parse_tree_manifest, tree_manifest


@pytest.fixture
def store(tmp_path: Path) -> Store:
    s = Store(tmp_path / "cache")
    yield s
    s.close()


def test_blobs_are_content_addressed_read_only_and_tagged(store: Store) -> None:
    digest = store.put(b"print('hi')\n")
    assert digest == hashlib.sha256(b"print('hi')\n").hexdigest()
    path = store.blob_path(digest)
    assert path == store.root / "blobs" / "sha256" / digest[:2] / digest[2:]
    assert stat.S_IMODE(path.stat().st_mode) == 0o444
    assert store.put(b"print('hi')\n") == digest
    assert store.read(digest) == b"print('hi')\n"
    assert (
        (store.root / "CACHEDIR.TAG")
        .read_text()
        .startswith("Signature: 8a477f597d28d172789f06886806bc55")
    )


def test_concurrent_puts_of_the_same_bytes_leave_one_intact_blob(store: Store) -> None:
    data = b"x" * 200_000
    with ThreadPoolExecutor(8) as pool:
        digests = set(pool.map(lambda _: store.put(data), range(32)))
    [digest] = digests
    assert store.read(digest) == data
    leftovers = [p for p in store.blob_path(digest).parent.iterdir() if p.name.endswith(".tmp")]
    assert leftovers == []


def test_missing_blob_is_a_key_error(store: Store) -> None:
    with pytest.raises(KeyError):
        store.read("0" * 64)
    assert not store.has("0" * 64)


def test_corrupted_blob_is_quarantined(store: Store) -> None:
    digest = store.put(b"good")
    path = store.blob_path(digest)
    path.chmod(0o644)
    path.write_bytes(b"evil")
    with pytest.raises(IntegrityError, match=f"stored blob {digest} is corrupted"):
        store.read(digest)
    assert not path.exists()
    [quarantined] = (store.root / "quarantine").iterdir()
    assert quarantined.read_bytes() == b"evil"


def test_tree_round_trip_and_repair(store: Store) -> None:
    files = {
        "__init__.py": b"from .util import x\n",
        "util.py": b"x = 1\n",
        "sub/data.toml": b"a=1\n",
    }
    tree = store.put_tree(files)
    manifest = store.read(tree).decode()
    assert manifest.splitlines()[0].endswith("  __init__.py")
    assert parse_tree_manifest(tree_manifest(files)) == {
        name: hashlib.sha256(data).hexdigest() for name, data in files.items()
    }
    path = store.materialize_tree(tree, "pkg")
    assert path.name == "pkg"
    assert {
        p.relative_to(path).as_posix(): p.read_bytes() for p in path.rglob("*") if p.is_file()
    } == files
    (path / "util.py").write_text("x = 'tampered'\n")
    (path / "extra.py").write_text("")
    repaired = store.materialize_tree(tree, "pkg")
    assert (repaired / "util.py").read_bytes() == b"x = 1\n"
    assert not (repaired / "extra.py").exists()
    assert store.tree_size(tree) == sum(map(len, files.values()))


@pytest.mark.parametrize("line", ["abc  x.py", f"{'a' * 64}  ../x.py", f"{'a' * 64}  /etc/passwd"])
def test_tree_manifest_rejects_unsafe_lines(line: str) -> None:
    with pytest.raises(IntegrityError, match="corrupt tree manifest line"):
        parse_tree_manifest(line.encode())


def version(sha: str, source: str, at: float) -> Version:
    return Version("gh:a.py", sha * 64, 3, at, at, source)


def test_versions_are_recorded_once_per_content(store: Store) -> None:
    assert store.record_versions([version("1", "http://h/a.py", 1.0)]) == [
        version("1", "http://h/a.py", 1.0)
    ]
    new = store.record_versions(
        [version("1", "http://mirror/a.py", 2.0), version("2", "http://h/a.py", 3.0)]
    )
    assert [v.sha256[0] for v in new] == ["2"]
    versions = store.versions("gh:a.py")
    assert [v.sha256[0] for v in versions] == ["1", "2"]
    assert versions[0].source == "http://mirror/a.py"
    assert (versions[0].first_seen, versions[0].last_seen) == (1.0, 2.0)
    assert store.versions("gh:other.py") == []


def test_unusable_cache_dir_is_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(StoreError, match="cannot use cache directory") as info:
        Store(blocker / "cache")
    assert "PLUGINMGR_CACHE_DIR" in str(info.value)
