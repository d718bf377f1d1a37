"""Internal: one database of the `MemoryStore`: its tables, its lock and its DataFusion contexts,
with the changed tables registered again before a query is planned."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from datafusion import SessionContext
from datafusion.catalog import Schema

from engine_runtime.store._execution import new_context
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

    __slots__ = ("context", "damaged", "lock", "registered", "system_context", "tables")

    def __init__(self, tables: dict[str, TableData] | None = None) -> None:
        #: guards everything below; held for checks, appends and planning, never for parsing
        #: or executing a query
        self.lock = threading.RLock()
        self.tables: dict[str, TableData] = tables or {}
        self.context: SessionContext | None = None
        #: `context`'s ``iox`` schema plus a ``system`` schema; made on the first system query
        self.system_context: SessionContext | None = None
        #: table name -> `TableData.version` registered in `context`
        self.registered: dict[str, int] = {}
        #: tables whose files failed their check (not registered): version and the error to raise
        self.damaged: dict[str, tuple[int, Exception]] = {}

    def query_context(
        self, providers: TableProviders, memory_bytes: int, setup: _Setup | None = None
    ) -> SessionContext:
        """The database's context, with changed tables re-registered (caller holds `lock`).

        A table whose files fail their check is left out (the others answer), and its error is
        kept in `damaged` for the queries that name it. ``setup`` is called with each context
        made here (to register table functions).
        """
        if self.context is None:
            self.context = new_context(memory_bytes)
            self.registered = {}
            if setup is not None:
                setup(self.context)
        schema = self.context.catalog("public").schema("iox")
        for name, data in self.tables.items():
            damage = self.damaged.get(name)
            if self.registered.get(name) == data.version or (damage and damage[0] == data.version):
                continue
            if self.registered.pop(name, None) is not None:
                schema.deregister_table(name)
            try:
                provider = providers.of_table(data)
            except StoreCorruptionError as exc:
                self.damaged[name] = (data.version, exc)
                continue
            self.damaged.pop(name, None)
            # The schema API takes the name verbatim: "_system.x" is not split into schema.table.
            schema.register_table(name, provider)
            self.registered[name] = data.version
        return self.context

    def system_query_context(
        self,
        providers: TableProviders,
        memory_bytes: int,
        tables: Mapping[str, pa.Table],
        setup: _Setup | None = None,
    ) -> SessionContext:
        """`query_context` plus a fresh ``system`` schema of ``tables`` (caller holds `lock`)."""
        context = self.query_context(providers, memory_bytes, setup)
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
