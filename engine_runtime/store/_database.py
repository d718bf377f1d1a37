"""Internal: one database of the `MemoryStore`: its tables, its lock and its DataFusion contexts."""

from __future__ import annotations

import threading

from datafusion import SessionContext

from engine_runtime.store._table import TableData

__all__ = ["Database"]


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
