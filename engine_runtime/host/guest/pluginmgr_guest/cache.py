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

The cache lives in the plugin host, beside the plugins whose live objects it holds (a
``collections.deque``, a client); the server only tells the host when to save, load or drop.

Persistence (upstream keeps nothing across a restart): `CacheStore.save` writes the trigger and
global namespaces, never the test ones, to one file with each entry's *remaining* ttl;
`CacheStore.load` restores them, minus the time the server was down. The file is ``pickle``:
loading it runs code chosen by whoever wrote it, so it must live in the server's private data
directory; it is written with mode 0600.
"""

from __future__ import annotations

import logging
import math
import pickle
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from .cache_namespaces import (
    SAVE_FORMAT_VERSION,
    GlobalNamespace,
    GlobalTest,
    Namespace,
    TriggerNamespace,
    TriggerTest,
)

__all__ = [
    "DEFAULT_SWEEP_INTERVAL",
    "DEFAULT_TEST_CACHE_NAME",
    "SAVE_FORMAT_VERSION",
    "TEST_DEFAULT_TTL",
    "TTL_NEGATIVE_MESSAGE",
    "TTL_TOO_BIG_OR_NAN_MESSAGE",
    "CacheEntry",
    "CacheStore",
    "GlobalNamespace",
    "GlobalTest",
    "LoadReport",
    "Namespace",
    "PluginCache",
    "SaveReport",
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

_LOGGER = logging.getLogger("plugin_cache")

# A Duration holds at most u64::MAX seconds (plus nanoseconds); 2**64 s and above overflow.
_MAX_TTL_EXCLUSIVE: Final = float(2**64)


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
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self._clock = clock
        # only to measure the downtime between `save` and `load`
        self._wall_clock = wall_clock
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

    def save(self, path: Path) -> SaveReport:
        """Write the trigger and global namespaces to ``path`` (atomically, mode 0600).

        Each value is pickled on its own: one that cannot be (a lock, a socket, a generator, a
        lambda, or a value another thread changed while it was pickled) is skipped, logged and
        listed in the report, and the rest is saved. Expired entries are left out. The lock is
        held only to copy the entry references: values are live objects that plugins mutate
        without any lock, so holding it while pickling would not make them consistent, it
        would only stall every plugin using the cache.

        :returns: how many entries were saved, and which were skipped and why.
        :raises OSError: the file cannot be written; an existing file is then left as it was.
        """
        from .atomic import write_atomic
        from .cache_file import Record, describe, encode_namespace, seal_cache

        with self._lock:
            now = self._clock()
            snapshot = [
                (ns, key, entry.value, entry.expires_at)
                for ns, entries in self._namespaces.items()
                if isinstance(ns, TriggerNamespace | GlobalNamespace)
                for key, entry in entries.items()
                if not entry.expired(now)
            ]
        records: list[Record] = []
        skipped: list[tuple[str, str, str]] = []
        for ns, key, value, expires_at in snapshot:
            try:
                data = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
            except Exception as exc:  # a value's __reduce__ may raise anything
                reason = f"cannot be pickled: {type(exc).__name__}: {exc}"
                _LOGGER.warning("cache entry %r of %s not saved: %s", key, describe(ns), reason)
                skipped.append((describe(ns), key, reason))
                continue
            ttl = None if expires_at is None else expires_at - now
            records.append((encode_namespace(ns), key, ttl, data))
        document = {
            "format_version": SAVE_FORMAT_VERSION,
            "saved_at": self._wall_clock(),
            "entries": records,
        }
        write_atomic(path, seal_cache(pickle.dumps(document, protocol=pickle.HIGHEST_PROTOCOL)))
        return SaveReport(saved=len(records), skipped=skipped)

    def load(self, path: Path) -> LoadReport:
        """Restore what `save` wrote to ``path``; a missing file restores nothing.

        Each entry gets its saved remaining ttl minus the wall-clock time since the save; one
        whose ttl ran out meanwhile is dropped. A corrupt or truncated file, or an entry that
        cannot be unpickled (e.g. an instance of a class from a plugin module that is not
        importable yet), is reported and skipped; a file that does not match its checksum is
        reported and nothing in it is unpickled. An entry already in memory under the same key
        wins over the saved one: it was stored after the save (loading normally happens at
        start, on an empty store).

        :raises CacheFileError: the file was written by a newer version.
        """
        from .cache_file import open_cache, read_document

        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            return LoadReport()
        payload, checked = open_cache(raw)
        if checked is False:  # never unpickled
            damaged = (
                f"the cache file {path} does not match its checksum: it was changed or damaged"
            )
            _LOGGER.warning("cache file %s not restored: %s", path, damaged)
            return LoadReport(error=damaged)
        records, downtime, error = read_document(payload, path, self._wall_clock())
        if error is not None:
            _LOGGER.warning("cache file %s not restored: %s", path, error)
        counts = {"restored": 0, "expired": 0, "kept": 0}
        skipped: list[tuple[str, str, str]] = []
        for record in records:
            outcome = self._restore(record, downtime)
            if isinstance(outcome, tuple):
                skipped.append(outcome)
            else:
                counts[outcome] += 1
        return LoadReport(**counts, skipped=skipped, error=error)

    def _restore(self, record: object, downtime: float) -> str | tuple[str, str, str]:
        """Restore one record: "restored", "expired", "kept", or (namespace, key, reason)."""
        from .cache_file import decode_record, describe

        try:
            ns, key, ttl, data = decode_record(record)
        except (TypeError, ValueError) as exc:
            return ("?", "?", f"malformed entry: {exc}")
        if ttl is not None and ttl - downtime <= 0.0:
            return "expired"
        try:
            value = pickle.loads(data)  # noqa: S301 (a private file; see the module docstring)
        except Exception as exc:  # unpickling runs arbitrary __setstate__/__reduce__ code
            reason = f"cannot be unpickled: {type(exc).__name__}: {exc}"
            _LOGGER.warning("cache entry %r of %s not restored: %s", key, describe(ns), reason)
            return (describe(ns), key, reason)
        with self._lock:
            entries = self._namespaces.setdefault(ns, {})
            if key in entries:
                return "kept"
            expires_at = None if ttl is None else self._clock() + ttl - downtime
            entries[key] = CacheEntry(value, expires_at)
        return "restored"

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


# --- persistence ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SaveReport:
    """What `CacheStore.save` wrote: the entry count, and (namespace, key, reason) per skip."""

    saved: int
    skipped: list[tuple[str, str, str]] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class LoadReport:
    """What `CacheStore.load` restored.

    ``expired``: entries whose ttl ran out while the server was down; ``kept``: saved entries
    not restored because the key was already in memory; ``skipped``: (namespace, key, reason)
    for entries that could not be read; ``error``: why the whole file was unusable, if it was.
    """

    restored: int = 0
    expired: int = 0
    kept: int = 0
    skipped: list[tuple[str, str, str]] = field(default_factory=list)
    error: str | None = None
