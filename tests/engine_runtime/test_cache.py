"""The plugin cache (engine-behavior.md §5.8, §8.3, and the cache tests of §8.4)."""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from typing import Any

import pytest

from engine_runtime.cache import (
    DEFAULT_TEST_CACHE_NAME,
    TEST_DEFAULT_TTL,
    TTL_NEGATIVE_MESSAGE,
    TTL_TOO_BIG_OR_NAN_MESSAGE,
    CacheEntry,
    CacheStore,
    GlobalNamespace,
    GlobalTest,
    PluginCache,
    TriggerNamespace,
    TriggerTest,
    ttl_to_seconds,
)


class FakeClock:
    """A clock the test moves by hand."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def store(clock: FakeClock) -> CacheStore:
    return CacheStore(clock=clock)


# --- influxdb3_py_api/src/cache/tests.rs --------------------------------------------------


def test_drop_trigger_cache_removes_only_that_trigger(store: CacheStore) -> None:
    a = store.for_trigger("db", "a")
    b = store.for_trigger("db", "b")
    a.put("k", 1)
    b.put("k", 2)
    assert store.drop_trigger("db", "a") is True
    assert store.drop_trigger("db", "a") is False
    assert a.get("k") is None
    assert b.get("k") == 2


def test_drop_all_trigger_caches_for_db_is_db_scoped(store: CacheStore) -> None:
    store.for_trigger("db1", "a").put("k", 1)
    store.for_trigger("db1", "b").put("k", 2)
    store.for_trigger("db2", "a").put("k", 3)
    store.for_trigger("db1", "a").put("g", "global", use_global=True)
    assert store.drop_database("db1") == 2
    assert store.for_trigger("db1", "a").get("k") is None
    assert store.for_trigger("db1", "b").get("k") is None
    assert store.for_trigger("db2", "a").get("k") == 3
    assert store.for_trigger("db1", "a").get("g", use_global=True) == "global"
    assert store.drop_database("db1") == 0


def test_trigger_namespace_keyed_by_database_and_trigger(store: CacheStore) -> None:
    store.for_trigger("db1", "t").put("k", "one")
    store.for_trigger("db2", "t").put("k", "two")
    assert store.for_trigger("db1", "t").get("k") == "one"
    assert store.for_trigger("db2", "t").get("k") == "two"
    assert store.for_trigger("db1", "other").get("k") is None
    assert set(store.namespace_sizes()) == {
        TriggerNamespace("db1", "t"),
        TriggerNamespace("db2", "t"),
    }


# --- influxdb3/tests/cli/mod.rs, in process -----------------------------------------------


def test_basic_cache_functionality(store: CacheStore) -> None:
    cache = store.for_test()
    cache.put("test_key", "test_value")
    assert cache.get("test_key") == "test_value"
    assert cache.get("missing") is None
    assert cache.get("missing", "fallback") == "fallback"
    assert cache.get("missing", default=0) == 0


def test_cache_ttl(store: CacheStore, clock: FakeClock) -> None:
    cache = store.for_test()
    cache.put("ttl_key", "ttl_value", ttl=1.0)
    assert cache.get("ttl_key") == "ttl_value"
    clock.advance(1.5)
    assert cache.get("ttl_key") is None


def test_ttl_boundary_is_inclusive(store: CacheStore, clock: FakeClock) -> None:
    cache = store.for_trigger("db", "t")
    cache.put("k", 1, ttl=2)
    clock.advance(1.999)
    assert cache.get("k") == 1
    clock.advance(0.001)
    assert cache.get("k") is None


def test_ttl_zero_expires_immediately(store: CacheStore) -> None:
    cache = store.for_trigger("db", "t")
    cache.put("k", 1, ttl=0)
    assert cache.get("k") is None
    cache.put("k", 1, ttl=-0.0)
    assert cache.get("k", "gone") == "gone"


def test_expired_entry_removed_on_get(store: CacheStore, clock: FakeClock) -> None:
    cache = store.for_trigger("db", "t")
    cache.put("k", 1, ttl=1)
    cache.put("keep", 2)
    clock.advance(5)
    assert store.namespace_sizes() == {TriggerNamespace("db", "t"): 2}
    assert cache.get("k") is None
    assert store.namespace_sizes() == {TriggerNamespace("db", "t"): 1}


def test_cache_namespaces(store: CacheStore) -> None:
    cache = store.for_test()
    cache.put("test_key", "local_value")
    cache.put("test_key", "global_value", use_global=True)
    assert cache.get("test_key") == "local_value"
    assert cache.get("test_key", use_global=True) == "global_value"
    assert cache.get("test_key", use_global=False) == "local_value"


def test_global_namespace_shared_by_triggers(store: CacheStore) -> None:
    store.for_trigger("db1", "a").put("k", "v", use_global=True)
    assert store.for_trigger("db2", "b").get("k", use_global=True) == "v"
    assert store.for_trigger("db2", "b").get("k") is None
    assert store.for_test().get("k", use_global=True) is None


def test_use_global_truthiness(store: CacheStore) -> None:
    cache = store.for_trigger("db", "t")
    cache.put("k", "g", use_global=1)
    cache.put("k", "l", use_global=0)
    assert cache.get("k", use_global="yes") == "g"
    assert cache.get("k", use_global=None) == "l"
    assert cache.delete("k", use_global=[1]) is True


def test_cache_persistence_across_runs(store: CacheStore) -> None:
    first = store.for_test("my_test_cache")
    first.put("counter", 1)
    second = store.for_test("my_test_cache")
    assert second.get("counter") == 1
    second.put("counter", second.get("counter") + 1)
    assert store.for_test("my_test_cache").get("counter") == 2
    assert store.for_test("other").get("counter") is None
    assert store.for_test().get("counter") is None


def test_cache_with_wal_plugin_counter(store: CacheStore) -> None:
    def run(cache: PluginCache, rows: int) -> int:
        count = cache.get("count", default=0) + rows
        cache.put("count", count)
        return int(count)

    assert run(store.for_test("wal_cache"), 3) == 3
    assert run(store.for_test("wal_cache"), 2) == 5


def test_shared_test_cache_name(store: CacheStore) -> None:
    store.for_test().put("k", 1)
    assert store.for_test(DEFAULT_TEST_CACHE_NAME).get("k") == 1
    assert TriggerTest(DEFAULT_TEST_CACHE_NAME) in store.namespace_sizes()


def test_cache_deletion(store: CacheStore) -> None:
    cache = store.for_test()
    cache.put("delete_me", "value")
    assert cache.delete("delete_me") is True
    assert cache.get("delete_me") is None
    assert cache.delete("delete_me") is False
    assert cache.delete("never_there", use_global=True) is False


def test_complex_object_caching_by_reference(store: CacheStore) -> None:
    cache = store.for_trigger("db", "t")
    obj: dict[str, Any] = {"list": [1, 2, 3], "nested": {"a": "b"}, "tuple": (1, "x")}
    cache.put("complex", obj)
    got = cache.get("complex")
    assert got is obj
    got["list"].append(4)
    assert cache.get("complex")["list"] == [1, 2, 3, 4]

    class Custom:
        pass

    custom = Custom()
    cache.put("custom", custom)
    assert cache.get("custom") is custom


def test_trigger_cache_cleanup_after_disable(store: CacheStore) -> None:
    cache = store.for_trigger("db", "t")
    cache.put("count", 1)
    store.drop_trigger("db", "t")  # what disable does
    assert store.for_trigger("db", "t").get("count") is None


@pytest.mark.parametrize("make", [lambda s: s.for_test(), lambda s: s.for_test("named")])
@pytest.mark.parametrize("use_global", [False, True])
def test_test_namespaces_default_ttl(
    store: CacheStore,
    clock: FakeClock,
    make: Callable[[CacheStore], PluginCache],
    use_global: bool,
) -> None:
    cache = make(store)
    cache.put("k", "v", use_global=use_global)
    cache.put("forever?", "v", ttl=10_000, use_global=use_global)
    clock.advance(TEST_DEFAULT_TTL - 0.5)
    assert cache.get("k", use_global=use_global) == "v"
    clock.advance(0.5)
    assert cache.get("k", use_global=use_global) is None
    assert cache.get("forever?", use_global=use_global) == "v"


def test_trigger_namespaces_have_no_default_ttl(store: CacheStore, clock: FakeClock) -> None:
    cache = store.for_trigger("db", "t")
    cache.put("k", "v")
    cache.put("g", "v", use_global=True)
    clock.advance(1e9)
    assert cache.get("k") == "v"
    assert cache.get("g", use_global=True) == "v"


# --- ttl validation -----------------------------------------------------------------------


def test_ttl_messages_are_rusts() -> None:
    assert TTL_NEGATIVE_MESSAGE == "cannot convert float seconds to Duration: value is negative"
    assert TTL_TOO_BIG_OR_NAN_MESSAGE == (
        "cannot convert float seconds to Duration: value is either too big or NaN"
    )


@pytest.mark.parametrize(
    ("ttl", "message"),
    [
        (-1.0, TTL_NEGATIVE_MESSAGE),
        (-1e-9, TTL_NEGATIVE_MESSAGE),
        (-math.inf, TTL_NEGATIVE_MESSAGE),
        (math.nan, TTL_TOO_BIG_OR_NAN_MESSAGE),
        (math.inf, TTL_TOO_BIG_OR_NAN_MESSAGE),
        (1.9e19, TTL_TOO_BIG_OR_NAN_MESSAGE),
        (float(2**64), TTL_TOO_BIG_OR_NAN_MESSAGE),
    ],
)
def test_invalid_ttl_raises_value_error(store: CacheStore, ttl: float, message: str) -> None:
    cache = store.for_trigger("db", "t")
    with pytest.raises(ValueError) as info:
        cache.put("k", 1, ttl=ttl)
    assert str(info.value) == message
    assert cache.get("k") is None


@pytest.mark.parametrize("ttl", [0, 0.0, 1, 2.5, 1.8e19, -0.0])
def test_valid_ttls(ttl: float) -> None:
    assert ttl_to_seconds(ttl) == float(ttl)


def test_non_numeric_ttl_and_key_raise_type_error(store: CacheStore) -> None:
    cache = store.for_trigger("db", "t")
    with pytest.raises(TypeError):
        cache.put("k", 1, ttl="10")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        cache.put(1, "v")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        cache.get(None)  # type: ignore[arg-type]


# --- sweeping -----------------------------------------------------------------------------


def test_sweep_removes_expired_entries_and_empty_namespaces(
    store: CacheStore, clock: FakeClock
) -> None:
    a = store.for_trigger("db", "a")
    a.put("short", 1, ttl=1)
    a.put("long", 2, ttl=100)
    store.for_trigger("db", "b").put("short", 3, ttl=1)
    clock.advance(2)
    assert store.sweep() == 2
    assert store.namespace_sizes() == {TriggerNamespace("db", "a"): 1}
    assert store.drop_trigger("db", "b") is False


def test_maybe_sweep_respects_interval(clock: FakeClock) -> None:
    store = CacheStore(clock=clock, sweep_interval=10.0)
    cache = store.for_trigger("db", "t")
    cache.put("k", 1, ttl=1)
    clock.advance(5)
    store.maybe_sweep()  # 5 s since the store was created: too early
    assert store.namespace_sizes() == {TriggerNamespace("db", "t"): 1}
    clock.advance(5)
    store.maybe_sweep()  # 10 s: sweeps
    assert store.namespace_sizes() == {}
    cache.put("k", 1, ttl=1)
    clock.advance(9)
    store.maybe_sweep()  # 9 s after the last sweep: too early
    assert store.namespace_sizes() == {TriggerNamespace("db", "t"): 1}
    clock.advance(1)
    store.maybe_sweep()
    assert store.namespace_sizes() == {}


def test_explicit_sweep_resets_interval(clock: FakeClock) -> None:
    store = CacheStore(clock=clock, sweep_interval=10.0)
    clock.advance(20)
    store.sweep()
    store.for_trigger("db", "t").put("k", 1, ttl=1)
    clock.advance(5)
    store.maybe_sweep()
    assert store.namespace_sizes() == {TriggerNamespace("db", "t"): 1}


# --- the plugin-facing object -------------------------------------------------------------


def test_plugin_cache_surface() -> None:
    cache = PluginCache()
    assert {n for n in dir(cache) if not n.startswith("__")} == {"put", "get", "delete"}
    with pytest.raises(AttributeError):
        cache.anything = 1  # type: ignore[attr-defined]


def test_standalone_plugin_cache_is_a_test_cache() -> None:
    cache = PluginCache()
    cache.put("k", [1])
    assert cache.get("k") == [1]
    assert cache.__store__.namespace_sizes() == {TriggerTest(DEFAULT_TEST_CACHE_NAME): 1}
    cache.put("k", 2, use_global=True)
    assert GlobalTest(DEFAULT_TEST_CACHE_NAME) in cache.__store__.namespace_sizes()


def test_for_trigger_namespaces() -> None:
    store = CacheStore()
    cache = store.for_trigger("db", "t")
    assert cache.__local__ == TriggerNamespace("db", "t")
    assert cache.__global__ == GlobalNamespace()
    test_cache = store.for_test("x")
    assert (test_cache.__local__, test_cache.__global__) == (TriggerTest("x"), GlobalTest("x"))


def test_cache_entry_is_slotted() -> None:
    entry = CacheEntry("v", None)
    assert not hasattr(entry, "__dict__")
    assert entry.expired(1e18) is False
    assert CacheEntry("v", 5.0).expired(5.0) is True


def test_thread_safety_smoke(store: CacheStore) -> None:
    errors: list[BaseException] = []

    def worker(n: int) -> None:
        try:
            cache = store.for_trigger("db", f"t{n % 3}")
            for i in range(500):
                cache.put(f"k{i % 20}", i, ttl=(i % 3) or None)
                cache.get(f"k{(i + 7) % 20}")
                cache.put("shared", i, use_global=True)
                if i % 50 == 0:
                    cache.delete(f"k{i % 20}")
                    store.sweep()
                    store.maybe_sweep()
                    store.drop_trigger("db", f"t{(n + 1) % 3}")
        except BaseException as exc:  # reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert isinstance(store.for_trigger("db", "x").get("shared", use_global=True), int)
