"""Where InfluxQL statements run: the `InfluxQLBackend` seam, `StoreBackend`, `Schemas`.

A backend answers SQL on a database with an Arrow table, lists databases and creates one.
`StoreBackend` adapts anything with the `Store` methods (a `MemoryStore`, a `DurableStore`, a
`ProcessingEngine`): it uses ``query_stream`` or ``query_batches`` when the object has them
(Arrow types kept, the schema known even without rows), else ``query``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Final, Protocol, final

import pyarrow as pa  # type: ignore[import-untyped]  # pyarrow ships no stubs
import pyarrow.types as pat  # type: ignore[import-untyped]  # no stubs

from engine_runtime.errors import InfluxQLError
from engine_runtime.influxql.fields import compile_regex
from engine_runtime.influxql.nodes import Measurement
from engine_runtime.influxql.schema import (
    COLUMNS_SQL,
    MeasurementSchema,
    database_for,
    schemas_from_columns,
)

if TYPE_CHECKING:
    from engine_runtime.engine import ProcessingEngine

__all__ = [
    "DATABASE_REQUIRED_MESSAGE",
    "EngineBackend",
    "InfluxQLBackend",
    "Schemas",
    "StoreBackend",
    "arrow_columns",
    "influxql_type",
]

#: InfluxDB's words for a statement that needs ``db=`` (or ``ON db``) and has none
DATABASE_REQUIRED_MESSAGE: Final = "database name required"


class InfluxQLBackend(Protocol):
    """What running InfluxQL needs from the server."""

    def databases(self) -> list[str]:
        """Every database name, sorted."""
        ...

    def sql(self, database: str, query: str) -> pa.Table:
        """Run ``query`` on ``database``; raises DatabaseNotFoundError, QueryExecutionError."""
        ...

    def create_database(self, name: str) -> None:
        """Create ``name`` (no-op when it exists); raises InvalidDatabaseNameError."""
        ...


class _SqlSource(Protocol):
    def query(self, database: str, sql: str, params: Mapping[str, str] | None = None) -> Any: ...

    def databases(self) -> list[str]: ...

    def create_database(self, name: str) -> Any: ...


@final
class StoreBackend:
    """An `InfluxQLBackend` over a store or an engine.

    :param source: a `Store`, or a `ProcessingEngine`.
    :param databases: lists the databases (default: ``source.databases()``).
    """

    __slots__ = ("_databases", "source")

    def __init__(
        self, source: _SqlSource, *, databases: Callable[[], list[str]] | None = None
    ) -> None:
        self.source = source
        self._databases = databases

    def databases(self) -> list[str]:
        """Every database name, sorted."""
        if self._databases is not None:
            return sorted(self._databases())
        return sorted(self.source.databases())

    def sql(self, database: str, query: str) -> pa.Table:
        """Run ``query`` on ``database`` as an Arrow table (its schema even without rows)."""
        stream = getattr(self.source, "query_stream", None)
        if stream is not None:
            schema, batches = stream(database, query)
            return pa.Table.from_batches(list(batches), schema=schema)
        collect = getattr(self.source, "query_batches", None)
        if collect is not None:
            batches = collect(database, query)
            return pa.Table.from_batches(batches) if batches else pa.table({})
        return pa.Table.from_pylist(self.source.query(database, query))

    def create_database(self, name: str) -> None:
        """Create ``name`` in the store."""
        self.source.create_database(name)


@final
class EngineBackend:
    """An `InfluxQLBackend` over a running `ProcessingEngine`: SQL on its store, its databases
    (``_internal`` included where the engine lists it), ``CREATE DATABASE`` in its catalog."""

    __slots__ = ("_store", "engine")

    def __init__(self, engine: ProcessingEngine) -> None:
        self.engine = engine
        self._store = StoreBackend(engine.store)

    def databases(self) -> list[str]:
        """The engine's databases, sorted."""
        listed = getattr(self.engine, "databases", None)
        return sorted(listed() if listed is not None else self.engine.catalog.databases())

    def sql(self, database: str, query: str) -> pa.Table:
        """Run ``query`` on the engine's store."""
        return self._store.sql(database, query)

    def create_database(self, name: str) -> None:
        """Create ``name`` in the store and the catalog."""
        self.engine.create_database(name)

    def retention_seconds(self, name: str) -> int | None:
        """``name``'s retention period in seconds (None: kept forever), for ``SHOW RETENTION
        POLICIES``."""
        from engine_runtime.system_tables import INTERNAL_RETENTION_SECONDS

        if name == "_internal":
            return INTERNAL_RETENTION_SECONDS
        return self.engine.catalog.retention_seconds(name)


@final
class Schemas:
    """The measurements of each database, read once per query from ``information_schema``."""

    __slots__ = ("_cache", "backend")

    def __init__(self, backend: InfluxQLBackend) -> None:
        self.backend = backend
        self._cache: dict[str, dict[str, MeasurementSchema]] = {}

    def of(self, database: str) -> dict[str, MeasurementSchema]:
        """Measurement name -> schema; raises DatabaseNotFoundError for an unknown database."""
        found = self._cache.get(database)
        if found is None:
            table = self.backend.sql(database, COLUMNS_SQL)
            found = self._cache[database] = schemas_from_columns(table.to_pylist())
        return found

    def resolve(
        self, sources: tuple[Measurement, ...], database: str | None
    ) -> list[tuple[str, MeasurementSchema]]:
        """``(database, schema)`` of each measurement ``sources`` name (all when empty).

        Names that are not in the database are left out (InfluxDB answers them with nothing).
        """
        found: dict[tuple[str, str], MeasurementSchema] = {}
        for source in sources or (Measurement(),):
            target = _database(source, database)
            tables = self.of(target)
            if source.name is not None:
                names = [source.name] if source.name in tables else []
            elif source.regex is not None:
                regex = compile_regex(source.regex)
                names = [name for name in tables if regex.search(name)]
            else:
                names = list(tables)
            for name in names:
                found[(target, name)] = tables[name]
        return [(target, schema) for (target, _), schema in sorted(found.items())]


def _database(source: Measurement, database: str | None) -> str:
    target = source.database or database
    if not target:
        raise InfluxQLError(DATABASE_REQUIRED_MESSAGE)
    return database_for(target, source.retention_policy)


def influxql_type(kind: pa.DataType) -> str:
    """The InfluxQL type name of an Arrow result column (``float`` for an all-NULL one)."""
    if pat.is_timestamp(kind):
        return "time"
    if pat.is_dictionary(kind):
        return "string"
    if pat.is_boolean(kind):
        return "boolean"
    if pat.is_unsigned_integer(kind):
        return "unsigned"
    if pat.is_integer(kind):
        return "integer"
    if pat.is_string(kind) or pat.is_large_string(kind) or str(kind) == "string_view":
        return "string"
    return "float"


def arrow_columns(table: pa.Table) -> dict[str, list[Any]]:
    """Column name -> Python values; timestamps as int nanoseconds, dictionaries decoded."""
    columns: dict[str, list[Any]] = {}
    for name, column in zip(table.column_names, table.columns, strict=True):
        kind = column.type
        if pat.is_timestamp(kind):
            column = column.cast(pa.timestamp("ns", kind.tz)).cast(pa.int64())
        elif pat.is_dictionary(kind):
            column = column.cast(kind.value_type)
        columns[name] = column.to_pylist()
    return columns
