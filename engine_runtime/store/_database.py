"""Internal: one database of the `MemoryStore`: its tables, its lock and its DataFusion contexts,
with the changed tables registered again before a query is planned."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from datafusion import SessionContext
from datafusion.catalog import Schema

from engine_runtime.store._execution import new_context
from engine_runtime.store._retention import expired_view, min_time, needs_view
from engine_runtime.store._system import SYSTEM_SCHEMA
from engine_runtime.store._table import TableData
from engine_runtime.store._wal import StoreCorruptionError

if TYPE_CHECKING:
    import pyarrow as pa  # type: ignore[import-untyped]  # pyarrow ships no stubs

    from engine_runtime.store._providers import TableProviders

__all__ = ["Database", "register_functions"]

_Setup = Callable[[SessionContext], None]


class Database:
    """Tables of one database and the DataFusion context that serves them."""

    __slots__ = (
        "context",
        "damaged",
        "lock",
        "oldest",
        "providers",
        "registered",
        "system_context",
        "tables",
    )

    def __init__(self, tables: dict[str, TableData] | None = None) -> None:
        #: guards everything below; held for checks, appends and planning, never for parsing
        #: or executing a query
        self.lock = threading.RLock()
        self.tables: dict[str, TableData] = tables or {}
        self.context: SessionContext | None = None
        #: `context`'s ``iox`` schema plus a ``system`` schema; made on the first system query
        self.system_context: SessionContext | None = None
        #: table name -> `TableData.version` and retention period (None: the table as it is,
        #: else a view without expired rows) registered in `context`
        self.registered: dict[str, tuple[int, int | None]] = {}
        #: table name -> `TableData.version` and its provider (what a view is made over)
        self.providers: dict[str, tuple[int, Any]] = {}
        #: table name -> `TableData.version` and its oldest time (only with a retention period)
        self.oldest: dict[str, tuple[int, int | None]] = {}
        #: tables whose files failed their check (not registered): version and the error to raise
        self.damaged: dict[str, tuple[int, Exception]] = {}

    def query_context(
        self,
        providers: TableProviders,
        memory_bytes: int,
        period_ns: int | None = None,
        setup: _Setup | None = None,
    ) -> SessionContext:
        """The database's context, with changed tables re-registered (caller holds `lock`);
        with a retention period, tables holding expired rows are views without them
        (`_retention`).

        A table whose files fail their check is left out (the others answer), and its error is
        kept in `damaged` for the queries that name it. ``setup`` is called with each context
        made here (to register table functions).
        """
        if self.context is None:
            self.context = new_context(memory_bytes)
            self.registered, self.providers = {}, {}
            if setup is not None:
                setup(self.context)
        schema = self.context.catalog("public").schema("iox")
        for name, data in self.tables.items():
            damage = self.damaged.get(name)
            if damage and damage[0] == data.version:
                continue
            wanted = (data.version, self._view_period(name, data, period_ns))
            if self.registered.get(name) == wanted:
                continue
            if self.registered.pop(name, None) is not None:
                schema.deregister_table(name)
            try:
                provider = self._provider(providers, name, data)
            except StoreCorruptionError as exc:
                self.damaged[name] = (data.version, exc)
                continue
            self.damaged.pop(name, None)
            if wanted[1] is not None:
                provider = expired_view(provider, wanted[1])
            # The schema API takes the name verbatim: "_system.x" is not split into schema.table.
            schema.register_table(name, provider)
            self.registered[name] = wanted
        return self.context

    def _provider(self, providers: TableProviders, name: str, data: TableData) -> Any:
        cached = self.providers.get(name)
        if cached is not None and cached[0] == data.version:
            return cached[1]
        provider = providers.of_table(data)
        self.providers[name] = (data.version, provider)
        return provider

    def _view_period(self, name: str, data: TableData, period_ns: int | None) -> int | None:
        """``period_ns`` when the table may hold rows expired now, else None."""
        if period_ns is None:
            return None
        known = self.oldest.get(name)
        if known is None or known[0] != data.version:
            known = self.oldest[name] = (data.version, min_time(data))
        return period_ns if needs_view(known[1], period_ns) else None

    def system_query_context(
        self,
        providers: TableProviders,
        memory_bytes: int,
        tables: Mapping[str, pa.Table],
        period_ns: int | None = None,
        setup: _Setup | None = None,
    ) -> SessionContext:
        """`query_context` plus a fresh ``system`` schema of ``tables`` (caller holds `lock`)."""
        context = self.query_context(providers, memory_bytes, period_ns, setup)
        if self.system_context is None:
            self.system_context = new_context(memory_bytes)
            if setup is not None:
                setup(self.system_context)
            iox = context.catalog("public").schema("iox")
            self.system_context.catalog("public").register_schema("iox", iox)
        schema = Schema.memory_schema()
        for name, table in tables.items():
            schema.register_table(name, providers.of_arrow(table))
        # Replacing the whole schema is atomic: a query planning concurrently sees the old
        # tables or the new ones, never a half-registered set.
        self.system_context.catalog("public").register_schema(SYSTEM_SCHEMA, schema)
        return self.system_context


def register_functions(
    functions: Callable[[str], Sequence[Any]], database: str, context: SessionContext
) -> None:
    """Register ``functions(database)`` (table functions) in a new query context of it."""
    for function in functions(database):
        context.register_udtf(function)
