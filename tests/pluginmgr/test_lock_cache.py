"""The parsed lock kept in the cache folder: the same lock as parsing the file, written back byte
for byte (upload-time datetimes included), never stale, and a damaged entry is parsed over."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from pluginmgr.deps import lock_cache
from pluginmgr.deps.lock_cache import KEPT, cached_lock, load_tables, store_tables
from pluginmgr.deps.pylock import read_pylock
from pluginmgr.deps.pylock_writer import dump_pylock
from tests.helpers import run_cli
from tests.pypi_index import PackageIndex

pytestmark = pytest.mark.usefixtures("uv_sandbox")


def test_a_lock_from_the_index_comes_back_from_the_cache_unchanged(
    capsys: pytest.CaptureFixture[str],
    package_index: PackageIndex,
    plugin_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    args = ["--plugin-dir", str(plugin_dir), "--index-url", package_index.url]
    assert run_cli(capsys, "install", "package", "pm-alpha", *args).code == 0
    path, store = plugin_dir / "pylock.toml", tmp_path / "parsed-locks"
    text = path.read_text(encoding="utf-8")
    assert "upload-time = " in text
    monkeypatch.setattr(lock_cache, "_LOCKS", {})  # as a new process
    parsed = cached_lock(path, store)
    (entry,) = store.iterdir()
    monkeypatch.setattr(lock_cache, "_LOCKS", {})
    kept = cached_lock(path, store)
    assert kept == parsed == read_pylock(path)
    assert kept is not None and dump_pylock(kept) == text
    wheel = next(p for p in kept.packages if p.name == "pm-alpha").wheels[0]
    assert isinstance(wheel.extra["upload-time"], dt.datetime)

    entry.write_text("{not json")  # damaged: the file is parsed again, and kept anew
    monkeypatch.setattr(lock_cache, "_LOCKS", {})
    assert cached_lock(path, store) == parsed
    monkeypatch.setattr(lock_cache, "_LOCKS", {})
    path.write_text(text.replace('version = "2.0.0"', 'version = "2.0.1"'), encoding="utf-8")
    changed = cached_lock(path, store)  # another content: another entry, never the old one
    assert changed is not None and changed != parsed
    assert len(list(store.iterdir())) == 2


def test_dates_and_times_are_kept_and_only_the_newest_entries(tmp_path: Path) -> None:
    tables = {
        "when": dt.datetime(2026, 11, 12, 12, 33, 34, tzinfo=dt.UTC),
        "local": [dt.datetime(2026, 1, 2, 3, 4, 5, 6), dt.date(2026, 1, 2), dt.time(3, 4)],
        "tagged": {"$date": 1},
    }
    for number in range(KEPT + 2):
        store_tables(tmp_path, f"{number:064x}", tables)
    assert load_tables(tmp_path, f"{KEPT + 1:064x}") == tables
    assert len(list(tmp_path.iterdir())) == KEPT
    assert load_tables(tmp_path, "f" * 64) is None
