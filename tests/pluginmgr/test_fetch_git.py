"""git+ references through the manager: commits pinned in the lock, directory plugins, offline."""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from pluginmgr import GitError, PluginManager, Settings, read_lock
from tests.git_helpers import PKG_INIT, PKG_UTIL, Origin, make_origin

pytestmark = pytest.mark.git


@pytest.fixture
def origin(tmp_path: Path) -> Origin:
    return make_origin(tmp_path / "origin")


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_tag_reference_pins_the_commit(manager: PluginManager, origin: Origin) -> None:
    ref = f"git+{origin.url}@v1.0#path=plugins/hello.py"
    plugin = manager.fetch(ref)
    assert (plugin.kind, plugin.commit, plugin.sha256) == ("file", origin.c1, sha(b"v1\n"))
    assert plugin.path.read_bytes() == b"v1\n"
    assert plugin.source == f"{origin.url}@{origin.c1}#path=plugins/hello.py"
    entry = read_lock(manager.settings.lock_path)[ref]
    assert (entry.rev, entry.commit, entry.sha256) == ("v1.0", origin.c1, sha(b"v1\n"))


def test_moving_branch_keeps_the_pin_until_upgrade(
    manager: PluginManager, origin: Origin, tmp_path: Path
) -> None:
    ref = f"git+{origin.url}#path=plugins/hello.py"
    assert manager.fetch(ref).commit == origin.c2
    c3 = origin.commit("three", {"plugins/hello.py": b"v3\n"})
    # the blob is lost: it is restored from the pinned commit, not the branch head
    shutil.rmtree(manager.store.root / "blobs")
    restored = manager.fetch(ref)
    assert (restored.commit, restored.path.read_bytes()) == (origin.c2, b"v2\n")
    upgraded = manager.fetch(ref, refresh=True)
    assert (upgraded.commit, upgraded.path.read_bytes()) == (c3, b"v3\n")
    assert read_lock(manager.settings.lock_path)[ref].commit == c3
    assert [v.sha256 for v in manager.versions(ref)] == [sha(b"v2\n"), sha(b"v3\n")]


def test_directory_plugin_from_git(manager: PluginManager, origin: Origin) -> None:
    ref = f"git+{origin.url}@{origin.c1}#path=plugins/pkg"
    plugin = manager.fetch(ref)
    assert plugin.kind == "directory" and plugin.path.name == "pkg"
    assert (plugin.path / "__init__.py").read_bytes() == PKG_INIT
    assert (plugin.path / "util.py").read_bytes() == PKG_UTIL
    assert plugin.size == len(PKG_INIT) + len(PKG_UTIL)
    assert read_lock(manager.settings.lock_path)[ref].kind == "directory"
    # an edit to the materialized copy is undone at the next load
    (plugin.path / "util.py").write_text("VALUE = 'tampered'\n")
    assert (manager.fetch(ref).path / "util.py").read_bytes() == PKG_UTIL
    assert manager.verify().ok


def test_offline_after_origin_is_gone(
    make_settings: Callable[..., Settings], manager: PluginManager, origin: Origin
) -> None:
    ref = f"git+{origin.url}@v1.0#path=plugins/hello.py"
    pinned = manager.fetch(ref)
    shutil.rmtree(origin.path)
    with PluginManager(make_settings(offline=True)) as offline:
        assert offline.fetch(ref).sha256 == pinned.sha256
    # online too: the pin and the store are enough, git is never asked
    assert manager.fetch(ref).origin == "locked"


def test_unknown_tag_is_a_clear_error(manager: PluginManager, origin: Origin) -> None:
    ref = f"git+{origin.url}@v9.9#path=plugins/hello.py"
    with pytest.raises(GitError) as info:
        manager.fetch(ref)
    assert f"unknown git revision 'v9.9' in '{origin.url}'" in str(info.value)
    assert info.value.ref == ref
    assert not manager.settings.lock_path.exists()


def test_many_paths_from_one_repository_concurrently(
    manager: PluginManager, origin: Origin
) -> None:
    refs = [
        f"git+{origin.url}@v1.0#path=plugins/hello.py",
        f"git+{origin.url}#path=plugins/hello.py",
        f"git+{origin.url}@v1.0#path=plugins/pkg",
        f"git+{origin.url}@{origin.c2}#path=plugins/pkg/util.py",
    ]
    report = manager.fetch_many(refs)
    assert report.errors == []
    by_ref = {p.ref: p for p in report.plugins}
    assert by_ref[refs[0]].path.read_bytes() == b"v1\n"
    assert by_ref[refs[1]].path.read_bytes() == b"v2\n"
    assert by_ref[refs[2]].kind == "directory"
    assert by_ref[refs[3]].path.read_bytes() == PKG_UTIL
    assert sorted(read_lock(manager.settings.lock_path)) == sorted(refs)
