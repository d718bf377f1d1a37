"""`ValueCaches`: the engine's last-value and distinct-value caches, kept in step with the
catalog and fed by every acknowledged write.

* **Creation** checks the definition against the table's columns (`definitions`), stores it in
  the catalog, then starts an empty cache: as upstream, a cache holds only rows written after
  it was made.
* **Writes**: `on_write` takes the parsed rows of each cached table (column-wise, as the store
  parsed them). A write to a database without caches costs one dict lookup.
* **Restart**: `start` makes the catalog's caches again and fills them from the table's rows
  newer (by their own time) than the cache's ttl (last-value) or max_age (distinct): for rows
  written as they happen, what the cache would hold had the server not stopped. Upstream
  refills its caches from its WAL replay (the writes since its last snapshot); this store
  persists its buffer on shutdown, so it has no such window to replay.
* **Deletion** of a cache, its table or its database drops it.

Locking: the map of caches is replaced, never changed in place, so a write reads it without a
lock; the caches' contents are guarded by one lock, never held while the store's locks are
taken.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final

from engine_runtime.errors import CatalogError, DatabaseNotFoundError, NotFoundError

from .definitions import (
    DEFAULT_COUNT,
    DEFAULT_MAX_AGE,
    DEFAULT_MAX_CARDINALITY,
    DEFAULT_TTL,
    CacheDefinition,
    DistinctCacheDefinition,
    LastCacheDefinition,
    check_distinct_cache,
    check_last_cache,
)
from .distinct_cache import DistinctCache
from .last_cache import LastCache
from .tables import block_columns, refill_columns, table_kinds

if TYPE_CHECKING:
    import pyarrow as pa  # type: ignore[import-untyped]  # pyarrow ships no stubs

    from engine_runtime.catalog import Catalog
    from engine_runtime.store import Store, WriteResult

__all__ = ["TABLE_NOT_FOUND_MESSAGE", "CacheLookupError", "ValueCaches"]

#: upstream's ``CatalogError::TableNotFound``
TABLE_NOT_FOUND_MESSAGE: Final = "Table {table} not in DB schema for {db}"
_LOGGER: Final = logging.getLogger(__name__)
_PRUNE_EVERY: Final = 10.0  # seconds between ttl sweeps on the write path (upstream's default)
_Cache = LastCache | DistinctCache
_Live = dict[str, dict[str, tuple[_Cache, ...]]]


class CacheLookupError(Exception):
    """``last_cache()``/``distinct_cache()`` arguments that name no cache (a planning error)."""


class ValueCaches:
    """Every cache of the node, by database and table."""

    def __init__(
        self,
        catalog: Catalog,
        store: Store,
        *,
        clock: Callable[[], int] = time.time_ns,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._catalog = catalog
        self._store = store
        self._clock = clock
        self._monotonic = monotonic
        self._lock = threading.Lock()
        #: database -> table -> its caches; replaced whole on every change
        self._live: _Live = {}
        self._pruned = monotonic()

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        """Make the catalog's caches and fill them again from the table's recent rows: those
        newer than the cache's ttl (last) or max_age (distinct), by their own time."""
        now = self._clock()
        for definition in self._catalog.caches():
            cache = self._attach(definition)
            if table_kinds(self._store, definition.database, definition.table) is None:
                continue
            if isinstance(definition, LastCacheDefinition):
                horizon = definition.ttl
            else:
                horizon = definition.max_age
            try:
                found = refill_columns(self._store, definition, now - horizon * 1_000_000_000)
            except Exception:  # a damaged table must not stop the node: the cache starts empty
                _LOGGER.exception("cannot refill cache %s of %s", definition.name, definition.table)
                continue
            if found is not None:
                columns, times = found
                with self._lock:
                    cache.push(columns, times, nulls=True)

    def on_write(self, database: str, result: WriteResult) -> None:
        """Push an acknowledged write's rows into the caches of its tables."""
        tables = self._live.get(database)
        if not tables:
            return
        written = result.blocks
        if not written:
            return
        with self._lock:
            for table, caches in tables.items():
                blocks = written.get(table)
                if blocks:
                    columns, times, nulls = block_columns(blocks)
                    for cache in caches:
                        cache.push(columns, times, nulls=nulls)
            now = self._monotonic()
            if now - self._pruned >= _PRUNE_EVERY:
                self._pruned = now
                self._prune_all()

    def _prune_all(self) -> None:
        for tables in self._live.values():
            for caches in tables.values():
                for cache in caches:
                    cache.prune()

    # -- definitions -------------------------------------------------------------------------

    def create_last_cache(
        self,
        database: str,
        table: str,
        *,
        name: str | None = None,
        key_columns: Sequence[str] | None = None,
        value_columns: Sequence[str] | None = None,
        count: int = DEFAULT_COUNT,
        ttl: int = DEFAULT_TTL,
    ) -> LastCacheDefinition:
        """Define and start a last-value cache; raises as upstream (see `definitions`), with
        DatabaseNotFoundError, NotFoundError for a missing table, AlreadyExistsError."""
        definition = check_last_cache(
            database,
            table,
            self._kinds(database, table),
            name=name,
            key_columns=None if key_columns is None else tuple(key_columns),
            value_columns=None if value_columns is None else tuple(value_columns),
            count=count,
            ttl=ttl,
        )
        self._catalog.add_cache(definition)
        self._attach(definition)
        return definition

    def create_distinct_cache(
        self,
        database: str,
        table: str,
        columns: Sequence[str],
        *,
        name: str | None = None,
        max_cardinality: int = DEFAULT_MAX_CARDINALITY,
        max_age: int = DEFAULT_MAX_AGE,
    ) -> DistinctCacheDefinition:
        """Define and start a distinct-value cache; raises as `create_last_cache`."""
        definition = check_distinct_cache(
            database,
            table,
            self._kinds(database, table),
            name=name,
            columns=tuple(columns),
            max_cardinality=max_cardinality,
            max_age=max_age,
        )
        self._catalog.add_cache(definition)
        self._attach(definition)
        return definition

    def delete_cache(self, database: str, table: str, kind: str, name: str) -> CacheDefinition:
        """Remove the ``kind`` (``last``/``distinct``) cache ``name`` of ``table``."""
        self._kinds(database, table)
        definition = self._catalog.remove_cache(database, table, kind, name)
        self._detach(lambda cache: cache.definition == definition)
        return definition

    def drop_table(self, database: str, table: str) -> None:
        """The table is gone: its caches go too (from the catalog as well)."""
        self._catalog.remove_table_caches(database, table)
        self._detach(lambda c: (c.definition.database, c.definition.table) == (database, table))

    def drop_database(self, database: str) -> None:
        """The database is gone (the catalog dropped its definitions with it)."""
        self._detach(lambda cache: cache.definition.database == database)

    def _kinds(self, database: str, table: str) -> dict[str, str]:
        from engine_runtime.catalog import (
            DATABASE_NOT_FOUND_MESSAGE,
            INTERNAL_DATABASE,
            INTERNAL_DB_MESSAGE,
        )

        if database == INTERNAL_DATABASE:
            raise CatalogError(INTERNAL_DB_MESSAGE)
        if not self._catalog.has_database(database):
            raise DatabaseNotFoundError(DATABASE_NOT_FOUND_MESSAGE.format(db=database))
        kinds = table_kinds(self._store, database, table)
        if kinds is None:
            raise NotFoundError(TABLE_NOT_FOUND_MESSAGE.format(table=table, db=database))
        return kinds

    def _attach(self, definition: CacheDefinition) -> _Cache:
        cache: _Cache
        if isinstance(definition, LastCacheDefinition):
            cache = LastCache(definition, monotonic=self._monotonic)
        else:
            cache = DistinctCache(definition, clock=self._clock)
        with self._lock:
            live = {db: dict(tables) for db, tables in self._live.items()}
            tables = live.setdefault(definition.database, {})
            tables[definition.table] = (*tables.get(definition.table, ()), cache)
            self._live = live
        return cache

    def _detach(self, gone: Callable[[_Cache], bool]) -> None:
        with self._lock:
            live: _Live = {}
            for database, tables in self._live.items():
                for table, caches in tables.items():
                    kept = tuple(cache for cache in caches if not gone(cache))
                    if kept:
                        live.setdefault(database, {})[table] = kept
            self._live = live

    # -- reading -----------------------------------------------------------------------------

    def read(self, database: str, kind: str, table: str, name: str | None) -> pa.Table:
        """The contents of a cache, for ``last_cache()``/``distinct_cache()``: the one named,
        or the table's only cache of that kind; CacheLookupError with upstream's words."""
        from .tables import ARROW_TYPES

        kinds = table_kinds(self._store, database, table)
        if kinds is None:
            if kind == "last":
                raise CacheLookupError("provided table name is invalid")
            raise CacheLookupError(f"provided table name ({table}) is invalid")
        defined = [d for d in self._catalog.caches(database, table) if d.kind == kind]
        chosen = [d for d in defined if d.name == name] if name is not None else defined
        caches = self._live.get(database, {}).get(table, ())
        found = [c for c in caches if len(chosen) == 1 and c.definition == chosen[0]]
        if not found:
            what = "cache" if kind == "last" else "distinct value cache"
            raise CacheLookupError(f"could not find {what} for the given arguments")
        cache = found[0]
        with self._lock:
            if isinstance(cache, LastCache):
                return cache.to_arrow(kinds, ARROW_TYPES)
            return cache.to_arrow()

    def system_rows(self, database: str, kind: str) -> list[dict[str, Any]]:
        """Rows of ``system.last_caches`` (``kind`` ``last``) or ``system.distinct_caches``."""
        rows = []
        for definition in self._catalog.caches(database):
            if definition.kind != kind:
                continue
            kinds = table_kinds(self._store, database, definition.table) or {}
            position = {name: index for index, name in enumerate([*kinds, "time"])}
            rows.append(_system_row(definition, position))
        return rows


def _ids(names: Sequence[str], position: Mapping[str, int]) -> list[int | None]:
    return [position.get(name) for name in names]


def _system_row(definition: CacheDefinition, position: Mapping[str, int]) -> dict[str, Any]:
    row: dict[str, Any] = {"table": definition.table, "name": definition.name}
    if isinstance(definition, LastCacheDefinition):
        values = definition.value_columns
        row["key_column_ids"] = _ids(definition.key_columns, position)
        row["key_column_names"] = list(definition.key_columns)
        row["value_column_ids"] = None if values is None else _ids(values, position)
        row["value_column_names"] = None if values is None else list(values)
        row["count"] = definition.count
        row["ttl"] = definition.ttl
    else:
        row["column_ids"] = _ids(definition.columns, position)
        row["column_names"] = list(definition.columns)
        row["max_cardinality"] = definition.max_cardinality
        row["max_age_seconds"] = definition.max_age
    return row
