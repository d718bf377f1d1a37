"""The catalog's cache operations (`CacheCatalog`, a base of `engine_runtime.catalog.Catalog`):
add, find, drop cache definitions, each change written with the rest of the catalog.

Apart from `engine_runtime.catalog` so the catalog's rules for databases and triggers and
those for caches can be read (and changed) one at a time. Upstream's strings: a taken name
is ``attempted to create a resource that already exists``, an unknown one ``the requested
resource was not found: {name}``.
"""

from __future__ import annotations

import threading
from dataclasses import replace
from typing import TYPE_CHECKING, Final

from engine_runtime.errors import AlreadyExistsError, NotFoundError

if TYPE_CHECKING:
    from engine_runtime.catalog_file import CatalogState

    from .definitions import CacheDefinition

__all__ = ["CacheCatalog"]

_EXISTS: Final = "attempted to create a resource that already exists"
_NOT_FOUND: Final = "the requested resource was not found: {name}"


class CacheCatalog:
    """Cache definitions in the catalog state; `Catalog` provides the lock, state and commit."""

    _lock: threading.RLock
    _state: CatalogState

    def _commit(self, state: CatalogState) -> None:
        raise NotImplementedError

    def _require_database(self, name: str) -> None:
        raise NotImplementedError

    def caches(
        self, database: str | None = None, table: str | None = None
    ) -> list[CacheDefinition]:
        """Cache definitions in creation order, all or those of ``database`` (and ``table``)."""
        with self._lock:
            return [
                c
                for c in self._state.caches
                if database in (None, c.database) and table in (None, c.table)
            ]

    def add_cache(self, definition: CacheDefinition) -> None:
        """Store ``definition``; AlreadyExistsError when its table has a cache of that kind
        and name, DatabaseNotFoundError without its database."""
        with self._lock:
            self._require_database(definition.database)
            for other in self._state.caches:
                if (other.database, other.table, other.kind, other.name) == (
                    definition.database,
                    definition.table,
                    definition.kind,
                    definition.name,
                ):
                    raise AlreadyExistsError(_EXISTS)
            self._commit(replace(self._state, caches=(*self._state.caches, definition)))

    def remove_cache(self, database: str, table: str, kind: str, name: str) -> CacheDefinition:
        """Remove the cache and return it; NotFoundError when there is none."""
        with self._lock:
            for cache in self._state.caches:
                if (cache.database, cache.table, cache.kind, cache.name) == (
                    database,
                    table,
                    kind,
                    name,
                ):
                    kept = tuple(c for c in self._state.caches if c is not cache)
                    self._commit(replace(self._state, caches=kept))
                    return cache
            raise NotFoundError(_NOT_FOUND.format(name=name))

    def remove_table_caches(self, database: str, table: str) -> list[CacheDefinition]:
        """Remove every cache of ``table`` (the table is gone); returns them."""
        with self._lock:
            gone = [c for c in self._state.caches if (c.database, c.table) == (database, table)]
            if gone:
                kept = tuple(c for c in self._state.caches if c not in gone)
                self._commit(replace(self._state, caches=kept))
            return gone
