"""`MemoryStore`: the `Store` in process, on Apache DataFusion and pyarrow.

Tables live per database as Arrow data: tags are ``Dictionary(Int32, Utf8)``, fields Int64,
UInt64, Float64, Boolean or Utf8, and ``time`` is ``Timestamp(ns)``. ``SELECT *`` returns tags
sorted by name, then fields sorted by name, then ``time``. A column's type is fixed by its first
write. Rows with the same tag set and time are upserted, lazily at query time.

Each database has its own DataFusion context (default catalog ``public``, schema ``iox``,
information_schema on; `_execution.new_context`) whose tables are re-registered when changed.

System tables (`set_system_tables`) are served by a second context per database sharing the
``iox`` schema and adding ``system``, only for SQL that mentions it (the provider is called afresh
per query); its ``information_schema.tables`` lists them with ``table_schema = 'system'``.

Locks are per database: one database's write or query planning never waits for another's; the
store-wide lock only guards the map of databases; parsing and execution hold no lock. Each
context has a fair spill memory pool of `QUERY_MEMORY_BYTES` (sorts and aggregates spill or
fail beyond it); a `QueryGuard` stops a running query within `_execution`'s poll interval.
New databases, tables and columns must fit `limits` (`_limits`).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from functools import partial
from typing import Any, Final

import pyarrow as pa  # type: ignore[import-untyped]  # pyarrow ships no stubs
from datafusion import DataFrame

from engine_runtime.errors import (
    AlreadyExistsError,
    DatabaseNotFoundError,
    NotFoundError,
    QueryExecutionError,
)
from engine_runtime.line_protocol.parse import LineBlock, LineError, parse_blocks
from engine_runtime.store._convert import batches_to_rows
from engine_runtime.store._guard import current_guard
from engine_runtime.store._on_disk import OnDisk
from engine_runtime.store._schema import check_blocks, declared_kinds, table_batches
from engine_runtime.store._system import (
    mentions_system,
    produce_system_tables,
    system_table,
)
from engine_runtime.store._table import TableData, chunk_from_blocks
from engine_runtime.store.base import SystemTablesProvider, WriteResult, check_database_name

from ._database import Database, register_functions
from ._execution import batches, execution_error, plan
from ._limits import CatalogLimits, check_new_database, check_new_table, new_database, tables_before
from ._providers import TableProviders
from ._retention import RetentionPeriods, cutoffs, drop_expired
from ._writes import ParsedWrite, merge_errors, parse_write, write_error

__all__ = ["QUERY_MEMORY_BYTES", "MemoryStore", "system_table"]

#: memory one database's queries may use at once (sort, aggregate, join buffers)
QUERY_MEMORY_BYTES: Final = 1024 * 1024 * 1024


class MemoryStore:
    """An in-memory, thread-safe `Store`; databases are created on first write."""

    def __init__(self, *, query_memory_bytes: int = QUERY_MEMORY_BYTES) -> None:
        #: guards `_databases` (the map) only; each `Database` has its own lock
        self._lock = threading.RLock()
        self._databases: dict[str, Database] = {}
        self._providers = TableProviders()
        self._query_memory_bytes = query_memory_bytes
        self._system_tables: SystemTablesProvider | None = None
        self._retention: RetentionPeriods | None = None
        self._table_functions: Callable[[str], Sequence[Any]] | None = None
        #: gives each new table its files state (a `DurableStore`'s); None: memory only
        self.new_disk: Callable[[], OnDisk] | None = None
        #: the catalog limits new databases, tables and columns must fit; None: none
        self.limits: CatalogLimits | None = None

    def set_system_tables(self, provider: SystemTablesProvider | None) -> None:
        """Publish read-only ``system.<name>`` tables, produced by ``provider`` at query time.

        ``provider(database)`` maps table names to a ``pyarrow.Table`` or a ``(pyarrow.Schema,
        rows)`` pair (`system_table`), called outside the store's lock for every query whose SQL
        mentions ``system.`` (or ``"system"``/``'system'``); if it raises, that query fails
        with QueryExecutionError. ``None`` removes the tables (``system.x`` is then unknown).
        """
        self._system_tables = provider

    def set_retention(self, periods: RetentionPeriods | None) -> None:
        """Hide (and, in `drop_expired`, drop) rows older than now minus ``periods(database)``
        nanoseconds; ``periods`` returns None for a database that keeps every row. Called on
        every query: it must be cheap. See `_retention`."""
        self._retention = periods

    def retention_cutoffs(self) -> dict[str, int]:
        """Database -> its oldest time kept now (ns), for those with a retention period."""
        return cutoffs(self._retention, self.databases())

    def drop_expired(self) -> int:
        """Drop the rows past their database's retention period (tables kept only in memory:
        a `DurableStore` drops its own at persist); how many went."""
        return drop_expired(self.database_states(), self.retention_cutoffs())

    def set_table_functions(self, provider: Callable[[str], Sequence[Any]] | None) -> None:
        """Register ``provider(database)``'s table functions (DataFusion ``TableFunction``s,
        `TableFunctionsProvider`) in each database's query contexts as they are made (call
        before the first query)."""
        self._table_functions = provider

    def copy(self) -> MemoryStore:
        """An independent clone (cheap: Arrow data is immutable and shared).

        The clone keeps the system-tables provider: it is a view of the engine, not data.
        """
        clone = MemoryStore(query_memory_bytes=self._query_memory_bytes)
        clone._system_tables = self._system_tables
        clone._retention = self._retention
        clone._table_functions = self._table_functions
        clone.limits = self.limits
        for name, db in self.database_states():
            with db.lock:
                tables = {table: data.copy() for table, data in db.tables.items()}
            clone._databases[name] = Database(tables)
        return clone

    def database_states(self) -> list[tuple[str, Database]]:
        """Each database's name and state (its tables, under its own lock)."""
        with self._lock:
            return list(self._databases.items())

    def _database_or_create(self, name: str) -> Database:
        with self._lock:
            check_new_database(self.limits, self._databases, name)
            return self._databases.setdefault(name, Database())

    def _existing(self, name: str) -> Database | None:
        with self._lock:
            return self._databases.get(name)

    def databases(self) -> list[str]:
        """Names of existing databases, sorted."""
        with self._lock:
            return sorted(self._databases)

    def create_database(self, name: str, *, no_sync: bool = False) -> None:
        """Create ``name``; a no-op when it exists. Raises InvalidDatabaseNameError.

        ``no_sync`` is accepted for the `Store` protocol and ignored.
        """
        del no_sync
        check_database_name(name)
        self._database_or_create(name)

    def tables(self, database: str) -> list[str]:
        """Table names of ``database``, sorted; raises DatabaseNotFoundError."""
        db = self._database(database)
        with db.lock:
            return sorted(db.tables)

    def create_table(
        self,
        database: str,
        table: str,
        *,
        tags: Sequence[str] = (),
        fields: Sequence[tuple[str, str]] = (),
    ) -> None:
        """Create an empty ``table`` with these columns (the database too, if needed).

        Raises InvalidDatabaseNameError, SchemaError (see `declared_kinds`), LimitExceededError
        past `limits`, or AlreadyExistsError when the table exists.
        """
        check_database_name(database)
        kinds = declared_kinds(table, tags, fields)
        db = self._database_or_create(database)
        with db.lock:
            if table not in db.tables:
                check_new_table(self.limits, self.database_states, len(kinds))
            if table in db.tables:
                msg = (  # upstream's words (catalog.ALREADY_EXISTS_MESSAGE)
                    "attempted to create a resource that already exists: "
                    f"table {table} in database {database}"
                )
                raise AlreadyExistsError(msg)
            db.tables[table] = self._with_disk(TableData.empty(kinds))

    def delete_table(self, database: str, table: str) -> None:
        """Remove ``table`` and its rows; a later write creates it afresh.

        Raises DatabaseNotFoundError, or NotFoundError when the table does not exist.
        """
        db = self._database(database)
        with db.lock:
            if table not in db.tables:
                msg = f"the requested resource was not found: table {table} in database {database}"
                raise NotFoundError(msg)
            del db.tables[table]
            db.damaged.pop(table, None)
            db.providers.pop(table, None)
            db.oldest.pop(table, None)
            if db.registered.pop(table, None) is not None and db.context is not None:
                # the system context shares this schema object, so it forgets the table too
                db.context.catalog("public").schema("iox").deregister_table(table)

    def delete_database(self, database: str) -> None:
        """Remove ``database`` with its tables and rows; raises DatabaseNotFoundError."""
        with self._lock:
            if self._databases.pop(database, None) is None:
                raise DatabaseNotFoundError(f"database not found: {database}")

    def validate_lp(self, database: str, text: str, *, precision: str = "ns") -> list[LineError]:
        """Every problem with ``text`` (syntax, types against the current schema); no write."""
        check_database_name(database)
        blocks, errors = parse_blocks(text, precision=precision, default_time_ns=0)
        db = self._existing(database)
        if db is None:
            _, _, type_errors = check_blocks(blocks, {})
        else:
            with db.lock:
                _, _, type_errors = check_blocks(blocks, db.tables)
        return merge_errors(text, errors, type_errors)

    def write_lp(
        self,
        database: str,
        text: str,
        *,
        precision: str = "ns",
        accept_partial: bool = True,
        default_time_ns: int | None = None,
        no_sync: bool = False,
    ) -> WriteResult:
        """Write line protocol to ``database``.

        Bad lines are skipped when ``accept_partial`` (and reported in ``errors``); otherwise
        any bad line rejects the whole write. Raises WriteError when nothing was written
        because of errors, with every line's message in ``.errors``. ``no_sync`` is accepted
        for the `Store` protocol and ignored: nothing here is durable.
        """
        del no_sync
        check_database_name(database)
        parsed = parse_write(text, precision=precision, default_time_ns=default_time_ns)
        return self.write_parsed(database, parsed, accept_partial=accept_partial)

    def write_parsed(
        self, database: str, parsed: ParsedWrite, *, accept_partial: bool = True
    ) -> WriteResult:
        """`write_lp` of a body already parsed by `parse_write` (a caller that serialises
        writes, such as a WAL, parses before taking its own lock)."""
        check_database_name(database)
        text, blocks, errors = parsed.text, parsed.blocks, parsed.errors
        # Checked and appended under this database's lock only.
        while True:
            db = self._existing(database) or new_database(self.limits, self.databases())
            with db.lock:
                limits = self.limits
                count = tables_before(limits, blocks, db.tables, self.database_states)
                checked = check_blocks(blocks, db.tables, limits=limits, table_count=count)
                by_table, kinds, type_errors = checked
                all_errors = merge_errors(text, errors, type_errors)
                if all_errors and (not accept_partial or not by_table):
                    raise write_error(database, all_errors)
                if by_table:
                    with self._lock:
                        check_new_database(limits, self._databases, database)
                        current = self._databases.setdefault(database, db)
                    if current is not db:  # created by another write meanwhile: check again
                        continue
                    self._append(db, by_table, kinds)
            break
        written = sum(len(block.times) for group in by_table.values() for block in group)
        return WriteResult(
            written, tuple(all_errors), source=partial(table_batches, by_table), blocks=by_table
        )

    def export_tables(self) -> dict[str, dict[str, pa.Table]]:
        """Database -> table -> all rows, deduplicated, as stored (every database, even empty).

        Columns are tags (``Dictionary(Int32, Utf8)``) sorted by name, then fields sorted by
        name, then ``time`` (``Timestamp(ns)``); `import_table` takes the tables back.
        """
        exported: dict[str, dict[str, pa.Table]] = {}
        for name, db in self.database_states():
            with db.lock:
                exported[name] = {
                    table: self._providers.rows(data) for table, data in db.tables.items()
                }
        return exported

    def import_table(self, database: str, table: str, data: pa.Table) -> None:
        """Replace ``table`` of ``database`` (created if needed) with ``data``, shaped as
        `export_tables` makes it; raises ValueError for a column type a table cannot have."""
        check_database_name(database)
        imported = self._with_disk(TableData.from_arrow(data))
        db = self._database_or_create(database)
        with db.lock:
            old = db.tables.get(table)
            if old is not None:
                imported.version = old.version + 1
            db.tables[table] = imported

    def _with_disk(self, data: TableData) -> TableData:
        if self.new_disk is not None:
            data.disk = self.new_disk()
        return data

    def _append(
        self, db: Database, by_table: dict[str, list[LineBlock]], kinds: dict[str, dict[str, str]]
    ) -> None:
        for table, table_blocks in by_table.items():
            data = db.tables.get(table)
            if data is None:
                data = db.tables[table] = self._with_disk(TableData())
            data.append(chunk_from_blocks(table_blocks), kinds.get(table, {}))

    def query(
        self, database: str, sql: str, params: Mapping[str, str] | None = None
    ) -> list[dict[str, Any]]:
        """Run ``sql`` on ``database`` with ``$name`` string parameters.

        Raises DatabaseNotFoundError, or QueryExecutionError with DataFusion's message as
        InfluxDB 3 shows it (``error while planning query: ...``).
        """
        return batches_to_rows(self.query_batches(database, sql, params))

    def query_batches(
        self, database: str, sql: str, params: Mapping[str, str] | None = None
    ) -> list[pa.RecordBatch]:
        """`query` without the conversion to Python: DataFusion's Arrow record batches."""
        schema, stream = self.query_stream(database, sql, params)
        batches = list(stream)
        # as DataFrame.collect: one empty batch keeps the schema of a result without rows
        return batches or [pa.RecordBatch.from_pylist([], schema=schema)]

    def query_stream(
        self, database: str, sql: str, params: Mapping[str, str] | None = None
    ) -> tuple[pa.Schema, Iterator[pa.RecordBatch]]:
        """`query_batches` one batch at a time, as DataFusion produces them (Arrow Flight).

        :returns: the result's schema (known even when there are no rows) and an iterator of
            its batches; planning errors are raised here, execution errors by the iterator,
            both as `query_batches` raises them.
        """
        guard = current_guard()
        frame = self._planned(database, sql, params)
        if guard is not None:
            guard.check()
        try:
            stream = frame.execute_stream()
        except Exception as exc:
            raise execution_error(exc) from exc
        return frame.schema(), batches(stream, guard)

    def query_schema(
        self, database: str, sql: str, params: Mapping[str, str] | None = None
    ) -> pa.Schema:
        """``sql``'s result schema, planned but not run; raises as `query_stream` plans."""
        return self._planned(database, sql, params).schema()

    def _planned(self, database: str, sql: str, params: Mapping[str, str] | None) -> DataFrame:
        check_database_name(database)
        system_tables = self._produce_system_tables(database, sql)
        values = dict(params) if params else None
        db = self._database(database)
        period = None if self._retention is None else self._retention(database)
        functions = self._table_functions
        setup = None if functions is None else partial(register_functions, functions, database)
        with db.lock:
            if system_tables is None:
                context = db.query_context(self._providers, self._query_memory_bytes, period, setup)
            else:
                context = db.system_query_context(
                    self._providers, self._query_memory_bytes, system_tables, period, setup
                )
            # Planned under the lock: a write re-registers a changed table (deregister, then
            # register), and a plan made in between by another thread would not find it.
            try:
                return plan(context, sql, values)
            except QueryExecutionError as exc:  # a damaged table is not registered: say why
                for name, (_, damage) in db.damaged.items():
                    if f"{name}' not found" in str(exc):
                        raise damage from None
                raise

    def _produce_system_tables(self, database: str, sql: str) -> dict[str, pa.Table] | None:
        """The system tables ``sql`` may read (provider called outside the lock), else None."""
        provider = self._system_tables
        if provider is None or not mentions_system(sql):
            return None
        self._database(database)  # DatabaseNotFoundError before calling the provider
        return produce_system_tables(provider, database)

    def _database(self, name: str) -> Database:
        db = self._existing(name)
        if db is None:
            msg = f"database not found: {name}"
            raise DatabaseNotFoundError(msg)
        return db
