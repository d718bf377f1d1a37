"""The plugin cache: ``influxdb3_local.cache`` (engine-behavior.md §5.8).

One `CacheStore` per process holds every namespace:

* `TriggerNamespace(database, trigger)`: a trigger's local cache (``use_global`` falsy);
* `GlobalNamespace()`: the one process-wide global cache (``use_global`` truthy);
* `TriggerTest(cache_name)` / `GlobalTest(cache_name)`: what test runs use instead. Entries stored
  there without a ttl expire after `TEST_DEFAULT_TTL` (30 min), and they persist across test
  runs that use the same cache name.

Values are stored by reference, never copied or serialised. Expiry uses a monotonic clock and
is checked with ``expires_at <= now``, so ``ttl=0`` expires at once. An expired entry is
removed when read; `CacheStore.maybe_sweep` removes the rest (and empty namespaces) at most once
per sweep interval.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

__all__ = [
    "DEFAULT_SWEEP_INTERVAL",
    "DEFAULT_TEST_CACHE_NAME",
    "TEST_DEFAULT_TTL",
    "TTL_NEGATIVE_MESSAGE",
    "TTL_TOO_BIG_OR_NAN_MESSAGE",
    "CacheEntry",
    "CacheStore",
    "GlobalNamespace",
    "GlobalTest",
    "Namespace",
    "PluginCache",
    "TriggerNamespace",
    "TriggerTest",
    "ttl_to_seconds",
]

#: upstream's ``cleanup_interval`` for the engine's store, in seconds
DEFAULT_SWEEP_INTERVAL: Final = 10.0
#: the cache name of test runs without ``--cache-name``
DEFAULT_TEST_CACHE_NAME: Final = "_shared_test"
#: ttl of entries stored without one in a test namespace (30 minutes), in seconds
TEST_DEFAULT_TTL: Final = 1800.0
#: Rust's ``Duration::try_from_secs_f64`` messages, as upstream raises them in ``ValueError``
TTL_NEGATIVE_MESSAGE: Final = "cannot convert float seconds to Duration: value is negative"
TTL_TOO_BIG_OR_NAN_MESSAGE: Final = (
    "cannot convert float seconds to Duration: value is either too big or NaN"
)

# A Duration holds at most u64::MAX seconds (plus nanoseconds); 2**64 s and above overflow.
_MAX_TTL_EXCLUSIVE: Final = float(2**64)


@dataclass(frozen=True, slots=True)
class TriggerNamespace:
    """A trigger's local cache, keyed by database and trigger name."""

    database: str
    trigger: str


@dataclass(frozen=True, slots=True)
class GlobalNamespace:
    """The single process-wide global cache."""


@dataclass(frozen=True, slots=True)
class TriggerTest:
    """The local cache of test runs with this ``--cache-name``."""

    cache_name: str


@dataclass(frozen=True, slots=True)
class GlobalTest:
    """The global cache of test runs with this ``--cache-name``."""

    cache_name: str


Namespace = TriggerNamespace | GlobalNamespace | TriggerTest | GlobalTest


class CacheEntry:
    """One cached value; ``expires_at`` is on the store's (monotonic) clock, None = never."""

    __slots__ = ("expires_at", "value")

    def __init__(self, value: Any, expires_at: float | None) -> None:
        self.value = value
        self.expires_at = expires_at

    def expired(self, now: float) -> bool:
        """Whether the entry is expired at ``now`` (``expires_at <= now``)."""
        return self.expires_at is not None and self.expires_at <= now


def ttl_to_seconds(ttl: object) -> float:
    """Validate a ttl like Rust's ``Duration::try_from_secs_f64``; raises `ValueError`."""
    if isinstance(ttl, str | bytes) or not hasattr(ttl, "__float__"):
        message = f"ttl must be a number of seconds, not {type(ttl).__name__}"
        raise TypeError(message)
    seconds = float(ttl)
    if seconds < 0.0:
        raise ValueError(TTL_NEGATIVE_MESSAGE)
    if math.isnan(seconds) or seconds >= _MAX_TTL_EXCLUSIVE:
        raise ValueError(TTL_TOO_BIG_OR_NAN_MESSAGE)
    return seconds


def _check_key(key: object) -> str:
    if not isinstance(key, str):
        message = f"argument 'key': '{type(key).__name__}' object cannot be converted to 'PyString'"
        raise TypeError(message)
    return key


class CacheStore:
    """Every cache namespace of the process; all methods are thread-safe."""

    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.monotonic,
        sweep_interval: float = DEFAULT_SWEEP_INTERVAL,
    ) -> None:
        self._clock = clock
        self._sweep_interval = sweep_interval
        self._lock = threading.Lock()
        self._namespaces: dict[Namespace, dict[str, CacheEntry]] = {}
        self._last_sweep = clock()

    def for_trigger(self, database: str, trigger: str) -> PluginCache:
        """The cache handle of a running trigger."""
        return PluginCache(self, TriggerNamespace(database, trigger), GlobalNamespace())

    def for_test(self, cache_name: str | None = None) -> PluginCache:
        """The cache handle of a test run (``None`` means the shared test cache)."""
        name = DEFAULT_TEST_CACHE_NAME if cache_name is None else cache_name
        return PluginCache(self, TriggerTest(name), GlobalTest(name))

    def drop_trigger(self, database: str, trigger: str) -> bool:
        """Drop a trigger's local namespace; True if it existed."""
        with self._lock:
            return self._namespaces.pop(TriggerNamespace(database, trigger), None) is not None

    def drop_database(self, database: str) -> int:
        """Drop the local namespaces of every trigger of ``database``; returns how many."""
        with self._lock:
            doomed = [
                ns
                for ns in self._namespaces
                if isinstance(ns, TriggerNamespace) and ns.database == database
            ]
            for ns in doomed:
                del self._namespaces[ns]
            return len(doomed)

    def maybe_sweep(self) -> None:
        """Sweep, unless the last sweep was less than the sweep interval ago."""
        with self._lock:
            now = self._clock()
            if now - self._last_sweep < self._sweep_interval:
                return
            self._sweep_locked(now)

    def sweep(self) -> int:
        """Remove every expired entry and empty namespace now; returns the entries removed."""
        with self._lock:
            return self._sweep_locked(self._clock())

    def namespace_sizes(self) -> dict[Namespace, int]:
        """A snapshot: namespace -> number of entries (expired ones included until swept)."""
        with self._lock:
            return {ns: len(entries) for ns, entries in self._namespaces.items()}

    def _sweep_locked(self, now: float) -> int:
        self._last_sweep = now
        removed = 0
        for ns in list(self._namespaces):
            entries = self._namespaces[ns]
            for key in [k for k, entry in entries.items() if entry.expired(now)]:
                del entries[key]
                removed += 1
            if not entries:
                del self._namespaces[ns]
        return removed

    def _put(self, ns: Namespace, key: str, value: Any, ttl: float | None) -> None:
        if ttl is None and isinstance(ns, TriggerTest | GlobalTest):
            ttl = TEST_DEFAULT_TTL
        with self._lock:
            expires_at = None if ttl is None else self._clock() + ttl
            self._namespaces.setdefault(ns, {})[key] = CacheEntry(value, expires_at)

    def _get(self, ns: Namespace, key: str, default: Any) -> Any:
        with self._lock:
            entries = self._namespaces.get(ns, {})
            entry = entries.get(key)
            if entry is None:
                return default
            if entry.expired(self._clock()):
                del entries[key]
                return default
            return entry.value

    def _delete(self, ns: Namespace, key: str) -> bool:
        with self._lock:
            entries = self._namespaces.get(ns)
            return entries is not None and entries.pop(key, None) is not None


class PluginCache:
    """What a plugin sees as ``influxdb3_local.cache``: ``put``, ``get`` and ``delete``.

    With no arguments it is a standalone test-run cache on a private store (handy in tests).
    """

    # Names ending in two underscores are not mangled and stay out of dir() minus dunders.
    __slots__ = ("__global__", "__local__", "__store__")

    def __init__(
        self,
        store: CacheStore | None = None,
        local: Namespace | None = None,
        shared: Namespace | None = None,
    ) -> None:
        self.__store__ = CacheStore() if store is None else store
        name = DEFAULT_TEST_CACHE_NAME
        self.__local__: Namespace = TriggerTest(name) if local is None else local
        self.__global__: Namespace = GlobalTest(name) if shared is None else shared

    def __repr__(self) -> str:
        return f"<PluginCache {self.__local__!r}>"

    def put(self, key: str, value: Any, ttl: float | None = None, use_global: Any = None) -> None:
        """Store ``value`` (by reference) under ``key``, expiring after ``ttl`` seconds if given."""
        seconds = None if ttl is None else ttl_to_seconds(ttl)
        self.__store__._put(_namespace(self, use_global), _check_key(key), value, seconds)

    def get(self, key: str, default: Any = None, use_global: Any = None) -> Any:
        """The value under ``key``, or ``default`` when it is missing or expired."""
        return self.__store__._get(_namespace(self, use_global), _check_key(key), default)

    def delete(self, key: str, use_global: Any = None) -> bool:
        """Remove ``key``; True if it was there."""
        return self.__store__._delete(_namespace(self, use_global), _check_key(key))


def _namespace(cache: PluginCache, use_global: object) -> Namespace:
    # A function, not a method, so a plugin's dir(cache) shows only put/get/delete.
    return cache.__global__ if use_global else cache.__local__
