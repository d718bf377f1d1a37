"""Saving and restoring the plugin cache (CacheStore.save / CacheStore.load)."""

from __future__ import annotations

import logging
import os
import pickle
import stat
import threading
from pathlib import Path

import pytest

from engine_runtime.cache import (
    SAVE_FORMAT_VERSION,
    CacheFileError,
    CacheStore,
    GlobalNamespace,
    TriggerNamespace,
)


class FakeClock:
    """A clock the test moves by hand (monotonic or wall)."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class Point:
    """A picklable value of a user-defined class."""

    def __init__(self, x: int) -> None:
        self.x = x


def new_store(
    mono: float = 1000.0, wall: float = 1_700_000_000.0
) -> tuple[CacheStore, FakeClock, FakeClock]:
    clock, wall_clock = FakeClock(mono), FakeClock(wall)
    return CacheStore(clock=clock, wall_clock=wall_clock), clock, wall_clock


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "cache.pickle"


def test_round_trip_saves_trigger_and_global_but_not_test_namespaces(path: Path) -> None:
    store, _, _ = new_store()
    store.for_trigger("db", "t").put("local", {"n": [1, 2]})
    store.for_trigger("db", "t").put("shared", Point(3), use_global=True)
    store.for_trigger("db2", "t").put("other", "x")
    store.for_test().put("test-local", 1)
    store.for_test("named").put("test-global", 2, use_global=True)
    report = store.save(path)
    assert report.saved == 3 and report.skipped == []

    restored, _, _ = new_store(mono=5.0)
    load = restored.load(path)
    assert (load.restored, load.expired, load.kept, load.skipped, load.error) == (3, 0, 0, [], None)
    assert restored.for_trigger("db", "t").get("local") == {"n": [1, 2]}
    assert restored.for_trigger("db", "x").get("shared", use_global=True).x == 3
    assert restored.for_trigger("db2", "t").get("other") == "x"
    assert restored.for_test().get("test-local") is None
    assert restored.for_test("named").get("test-global", use_global=True) is None
    assert set(restored.namespace_sizes()) == {
        TriggerNamespace("db", "t"),
        TriggerNamespace("db2", "t"),
        GlobalNamespace(),
    }


def test_remaining_ttl_is_kept_minus_the_downtime(path: Path) -> None:
    store, clock, wall = new_store()
    cache = store.for_trigger("db", "t")
    cache.put("short", 1, ttl=100)
    cache.put("long", 2, ttl=1000)
    cache.put("forever", 3)
    clock.now += 40  # 60 s and 960 s left
    assert store.save(path).saved == 3

    restored, new_clock, new_wall = new_store(mono=7.0, wall=wall.now + 50)  # down for 50 s
    load = restored.load(path)
    assert (load.restored, load.expired) == (3, 0)
    again = restored.for_trigger("db", "t")
    new_clock.now += 9.9  # 0.1 s left for "short"
    assert again.get("short") == 1
    new_clock.now += 0.1
    assert again.get("short") is None
    new_clock.now += 1e6
    assert again.get("long") is None
    assert again.get("forever") == 3
    assert new_wall.now == wall.now + 50


def test_entries_that_expired_while_down_are_dropped(path: Path) -> None:
    store, _, wall = new_store()
    store.for_trigger("db", "t").put("soon", 1, ttl=30)
    store.for_trigger("db", "t").put("later", 2, ttl=300)
    store.save(path)
    restored, _, _ = new_store(wall=wall.now + 30)
    load = restored.load(path)
    assert (load.restored, load.expired) == (1, 1)
    assert restored.for_trigger("db", "t").get("later") == 2


def test_expired_entries_are_not_saved(path: Path) -> None:
    store, clock, _ = new_store()
    store.for_trigger("db", "t").put("gone", 1, ttl=5)
    clock.now += 5
    assert store.save(path).saved == 0


def test_a_wall_clock_that_went_back_counts_as_no_downtime(path: Path) -> None:
    store, _, wall = new_store()
    store.for_trigger("db", "t").put("k", 1, ttl=10)
    store.save(path)
    restored, clock, _ = new_store(wall=wall.now - 3600)
    assert restored.load(path).restored == 1
    clock.now += 9.9
    assert restored.for_trigger("db", "t").get("k") == 1


def test_unpicklable_values_are_skipped_reported_and_logged(
    path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store, _, _ = new_store()
    cache = store.for_trigger("db", "t")
    cache.put("lock", threading.Lock())
    cache.put("lambda", lambda: 1)
    cache.put("generator", (i for i in range(3)), use_global=True)
    cache.put("fine", [1, 2, 3])
    with caplog.at_level(logging.WARNING, logger="plugin_cache"):
        report = store.save(path)
    assert report.saved == 1
    assert sorted(key for _, key, _ in report.skipped) == ["generator", "lambda", "lock"]
    assert all("cannot be pickled" in reason for _, _, reason in report.skipped)
    namespaces = {key: ns for ns, key, _ in report.skipped}
    assert namespaces["lock"] == "trigger 't' of database 'db'"
    assert namespaces["generator"] == "the global cache"
    assert len(caplog.records) == 3
    assert "'lock'" in caplog.text and "trigger 't'" in caplog.text
    restored, _, _ = new_store()
    assert restored.load(path).restored == 1
    assert restored.for_trigger("db", "t").get("fine") == [1, 2, 3]


def test_missing_file_restores_nothing(path: Path) -> None:
    store, _, _ = new_store()
    load = store.load(path)
    assert (load.restored, load.skipped, load.error) == (0, [], None)


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"not a pickle at all",
        pickle.dumps({"format_version": 1, "saved_at": 0.0, "entries": []})[:-5],  # truncated
        pickle.dumps([1, 2, 3]),
        pickle.dumps({"format_version": 1}),
        pickle.dumps({"format_version": 1, "saved_at": 0.0, "entries": [], "x": Point(1)}),
    ],
    ids=["empty", "garbage", "truncated", "not-a-dict", "no-entries", "a-class-in-the-document"],
)
def test_corrupt_file_is_reported_not_raised(path: Path, content: bytes) -> None:
    path.write_bytes(content)
    store, _, _ = new_store()
    load = store.load(path)
    assert load.restored == 0
    assert load.error is not None and "corrupt cache file" in load.error
    assert store.namespace_sizes() == {}


def test_bad_entries_are_skipped_and_the_rest_restored(path: Path) -> None:
    good = (("trigger", "db", "t"), "good", None, pickle.dumps(1))
    broken = (("trigger", "db", "t"), "broken", None, b"\x80\x04garbage")
    gone_class = (("global",), "gone", None, pickle.dumps(Point(1)).replace(b"Point", b"Pxint"))
    odd_ns = (("nowhere",), "odd", None, pickle.dumps(1))
    document = {
        "format_version": SAVE_FORMAT_VERSION,
        "saved_at": 0.0,
        "entries": [good, broken, gone_class, odd_ns, "junk"],
    }
    path.write_bytes(pickle.dumps(document))
    store, _, _ = new_store(wall=0.0)
    load = store.load(path)
    assert load.restored == 1 and load.error is None
    assert [key for _, key, _ in load.skipped] == ["broken", "gone", "?", "?"]
    assert "cannot be unpickled" in load.skipped[0][2]
    assert store.for_trigger("db", "t").get("good") == 1


def test_newer_format_is_refused_naming_the_file(path: Path) -> None:
    document = {"format_version": SAVE_FORMAT_VERSION + 1, "saved_at": 0.0, "entries": []}
    path.write_bytes(pickle.dumps(document))
    store, _, _ = new_store()
    with pytest.raises(CacheFileError, match="newer version") as info:
        store.load(path)
    assert str(path) in str(info.value)
    assert info.value.path == str(path)


def test_entries_already_in_memory_win(path: Path) -> None:
    store, _, _ = new_store()
    store.for_trigger("db", "t").put("k", "saved")
    store.for_trigger("db", "t").put("other", "saved")
    store.save(path)
    restored, _, _ = new_store()
    restored.for_trigger("db", "t").put("k", "fresh")
    load = restored.load(path)
    assert (load.restored, load.kept) == (1, 1)
    assert restored.for_trigger("db", "t").get("k") == "fresh"


def test_file_is_private_and_no_temp_files_are_left(path: Path) -> None:
    store, _, _ = new_store()
    store.for_trigger("db", "t").put("k", 1)
    store.save(path)
    store.save(path)  # replacing an existing file
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert os.listdir(path.parent) == [path.name]


def test_failed_write_leaves_the_old_file(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store, _, _ = new_store()
    store.for_trigger("db", "t").put("k", "old")
    store.save(path)
    before = path.read_bytes()
    store.for_trigger("db", "t").put("k", "new")

    def broken_fsync(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", broken_fsync)
    with pytest.raises(OSError, match="No space left"):
        store.save(path)
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert os.listdir(path.parent) == [path.name]
    restored, _, _ = new_store()
    restored.load(path)
    assert restored.for_trigger("db", "t").get("k") == "old"
