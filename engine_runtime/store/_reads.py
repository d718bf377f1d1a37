"""Internal: the read side of `DurableStore`, which is its wrapped `MemoryStore`'s.

Apart from `durable` because none of it touches the disk: each method hands the call to
``self._memory`` (the store `DurableStore` keeps, and replaces after a failed flush).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pyarrow as pa  # type: ignore[import-untyped]  # pyarrow ships no stubs

    from engine_runtime.line_protocol.parse import LineError
    from engine_runtime.store._database import Database
    from engine_runtime.store._limits import CatalogLimits
    from engine_runtime.store._retention import RetentionPeriods
    from engine_runtime.store.base import SystemTablesProvider, TableFunctionsProvider
    from engine_runtime.store.memory import MemoryStore

__all__ = ["MemoryReads"]


class MemoryReads:
    """Queries, listings, exports and `copy`, delegated to ``self._memory``."""

    _memory: MemoryStore
    _system_tables: SystemTablesProvider | None
    _retention: RetentionPeriods | None
    _table_functions: TableFunctionsProvider | None

    def set_system_tables(self, provider: SystemTablesProvider | None) -> None:
        """Publish ``system.<name>`` tables; see `MemoryStore.set_system_tables`."""
        self._system_tables = provider  # for the memory reloaded after a failed flush
        self._memory.set_system_tables(provider)

    def set_retention(self, periods: RetentionPeriods | None) -> None:
        """Hide rows past their database's retention period (see `MemoryStore.set_retention`);
        a persist drops them from disk."""
        self._retention = periods  # for the memory reloaded after a failed flush
        self._memory.set_retention(periods)

    _limits: CatalogLimits | None = None

    @property
    def limits(self) -> CatalogLimits | None:
        """The catalog limits of new databases, tables and columns (`MemoryStore.limits`);
        set after the store opened, as the log is replayed without them."""
        return self._limits

    @limits.setter
    def limits(self, limits: CatalogLimits | None) -> None:
        self._limits = self._memory.limits = limits

    def _configure(self, memory: MemoryStore) -> None:
        """Give a reloaded memory what was set on the one it replaces."""
        memory.limits = self._limits  # its replay holds only lines that fitted them
        memory.set_system_tables(self._system_tables)
        memory.set_retention(self._retention)
        memory.set_table_functions(self._table_functions)

    def set_table_functions(self, provider: TableFunctionsProvider | None) -> None:
        """Register table functions; see `MemoryStore.set_table_functions`."""
        self._table_functions = provider  # kept for a memory store made again
        self._memory.set_table_functions(provider)

    def query(
        self, database: str, sql: str, params: Mapping[str, str] | None = None
    ) -> list[dict[str, Any]]:
        """Run SQL with ``$name`` parameters; see `MemoryStore.query`."""
        return self._memory.query(database, sql, params)

    def query_batches(
        self, database: str, sql: str, params: Mapping[str, str] | None = None
    ) -> list[pa.RecordBatch]:
        """`query` as Arrow record batches; see `MemoryStore.query_batches`."""
        return self._memory.query_batches(database, sql, params)

    def query_stream(
        self, database: str, sql: str, params: Mapping[str, str] | None = None
    ) -> tuple[pa.Schema, Iterator[pa.RecordBatch]]:
        """`query` as a schema and a lazy batch iterator; see `MemoryStore.query_stream`."""
        return self._memory.query_stream(database, sql, params)

    def query_schema(
        self, database: str, sql: str, params: Mapping[str, str] | None = None
    ) -> pa.Schema:
        """The schema `query_stream` would give, planned only; see `MemoryStore.query_schema`."""
        return self._memory.query_schema(database, sql, params)

    def validate_lp(self, database: str, text: str, *, precision: str = "ns") -> list[LineError]:
        """Every problem with ``text`` against the current schema; nothing is written."""
        return self._memory.validate_lp(database, text, precision=precision)

    def database_states(self) -> list[tuple[str, Database]]:
        """Each database's name and state; see `MemoryStore.database_states`."""
        return self._memory.database_states()

    def databases(self) -> list[str]:
        """Names of existing databases, sorted."""
        return self._memory.databases()

    def tables(self, database: str) -> list[str]:
        """Table names of ``database``, sorted; raises DatabaseNotFoundError."""
        return self._memory.tables(database)

    def export_tables(self) -> dict[str, dict[str, pa.Table]]:
        """Every table of every database as Arrow; see `MemoryStore.export_tables`."""
        return self._memory.export_tables()

    def copy(self) -> MemoryStore:
        """An independent in-memory clone (dry runs): its writes never reach the disk."""
        return self._memory.copy()
