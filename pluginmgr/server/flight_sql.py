"""Flight SQL on the Flight service: `FlightSql`, what ADBC, JDBC and Grafana speak.

A query is ``GetFlightInfo(CommandStatementQuery)``, whose one endpoint's ticket the client
then passes to ``DoGet``. Tickets are self-contained: a ``TicketStatementQuery`` whose handle is
the JSON statement (database, query, parameters), or the metadata command itself followed by
the database, so ``DoGet`` needs no state. Prepared statements are kept here, by a random
handle, until ``ClosePreparedStatement`` (at most `MAX_PREPARED`; the oldest goes first).

The database is the ``database`` call header (or ``bucket``, ``bucket-name``,
``iox-namespace-name``, as InfluxDB 3 accepts); parameters are bound as
`flight_sql_statements` says. The server is read-only: updates, transactions and Substrait
plans are refused.
"""

from __future__ import annotations

import collections
import secrets
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, Final, final

import pyarrow as pa  # type: ignore[import-untyped]  # pyarrow ships no stubs
import pyarrow.flight as flight  # type: ignore[import-untyped]  # pyarrow ships no stubs

from . import flight_sql_info as info
from .flight_sql_proto import (
    Fields,
    decode,
    encode,
    encode_varint,
    flag,
    pack_any,
    raw,
    text,
    unpack_any,
    varints,
)
from .flight_sql_statements import (
    FlightSqlError,
    Statement,
    hydrated_schema,
    parameter_schema,
    parameters,
    positional,
)

if TYPE_CHECKING:
    from engine_runtime import ProcessingEngine

__all__ = ["FLIGHT_SQL_ACTIONS", "MAX_PREPARED", "FlightSql"]

#: the ``DoAction`` types served, and what they do
FLIGHT_SQL_ACTIONS: Final = {
    "CreatePreparedStatement": "Flight SQL: prepare a query",
    "ClosePreparedStatement": "Flight SQL: close a prepared query",
    "CloseSession": "Flight: close the session (nothing is kept per session)",
}

#: the type of every user table (schema ``iox``)
_BASE: Final = "BASE TABLE"


#: how many prepared statements stay open at once
MAX_PREPARED: Final = 1000
_DATABASE_FIELD: Final = 15  # our field after a metadata command's Any, in its ticket
_STREAM: Final = "TicketStatementQuery"
_DB_HINT: Final = (
    "pass the call header `database: <name>` (ADBC: the option "
    "adbc.flight.sql.rpc.call_header.database)"
)


@final
class FlightSql:
    """Flight SQL commands over ``engine``'s store (see the module's docstring)."""

    def __init__(self, engine: ProcessingEngine, *, version: str) -> None:
        self._engine = engine
        self._version = version
        self._lock = threading.Lock()
        self._prepared: collections.OrderedDict[bytes, Statement] = collections.OrderedDict()

    # -- GetFlightInfo / DoGet -----------------------------------------------------------

    def flight_info(
        self, command: bytes, database: str | None, descriptor: Any
    ) -> flight.FlightInfo:
        """The answer to ``GetFlightInfo`` for ``command`` (an Any): its schema and one ticket."""
        name, fields = _command(command)
        if name == "CommandStatementQuery":
            self._no_transaction(fields)
            statement = Statement(self._required(database), positional(text(fields, 1) or ""))
            return self._statement_info(statement, descriptor)
        if name == "CommandPreparedStatementQuery":
            statement = self._statement(raw(fields, 1) or b"")
            return self._statement_info(statement, descriptor)
        schema = self._metadata_schema(name, fields)
        # the command itself is the ticket, with the database as one more field of the Any
        return _info_of(schema, descriptor, command + encode((_DATABASE_FIELD, database)))

    def stream(
        self, ticket: bytes, header_db: str | None
    ) -> tuple[pa.Schema, Iterator[pa.RecordBatch]]:
        """The answer to ``DoGet`` of one of our tickets."""
        name, fields = _command(ticket)
        if name == _STREAM:
            statement = Statement.from_handle(raw(fields, 1) or b"")
            return self._engine.query_stream(statement.database, statement.query, statement.params)
        database = text(decode(ticket), _DATABASE_FIELD) or header_db
        table = self._metadata(name, fields, database)
        return table.schema, iter(table.to_batches())

    def _statement_info(self, statement: Statement, descriptor: Any) -> flight.FlightInfo:
        schema = self._schema(statement)
        return _info_of(schema, descriptor, pack_any(_STREAM, encode((1, statement.handle()))))

    def _schema(self, statement: Statement) -> pa.Schema:
        """The result's schema as sent (tags as strings); planning errors are raised here."""
        planner = getattr(self._engine.store, "query_schema", None)
        if planner is not None:
            schema = planner(statement.database, statement.query, statement.params)
        else:
            schema, batches = self._engine.query_stream(
                statement.database, statement.query, statement.params
            )
            close = getattr(batches, "close", None)  # a generator: stop what it started
            if close is not None:
                close()
        return hydrated_schema(schema)

    # -- metadata ------------------------------------------------------------------------

    def _metadata_schema(self, name: str, fields: Fields) -> pa.Schema:
        schemas = {
            "CommandGetSqlInfo": info.SQL_INFO_SCHEMA,
            "CommandGetCatalogs": info.CATALOGS_SCHEMA,
            "CommandGetDbSchemas": info.DB_SCHEMAS_SCHEMA,
            "CommandGetTableTypes": info.TABLE_TYPES_SCHEMA,
            "CommandGetXdbcTypeInfo": info.XDBC_TYPE_INFO_SCHEMA,
        }
        if name == "CommandGetTables":
            return info.TABLES_WITH_SCHEMA if flag(fields, 5) else info.TABLES_SCHEMA
        schema = schemas.get(name) or info.EMPTY_ANSWERS.get(name)
        if schema is None:
            raise FlightSqlError(_unsupported(name))
        return schema

    def _metadata(self, name: str, fields: Fields, database: str | None) -> pa.Table:
        if name == "CommandGetSqlInfo":
            return info.sql_info_table(self._version, varints(fields.get(1, [])))
        if name == "CommandGetCatalogs":
            return pa.table({"catalog_name": [info.CATALOG]}, schema=info.CATALOGS_SCHEMA)
        if name == "CommandGetTableTypes":
            return pa.table({"table_type": list(info.TABLE_TYPES)}, schema=info.TABLE_TYPES_SCHEMA)
        if name == "CommandGetDbSchemas":
            pattern = info.like(text(fields, 2))
            listed = {schema for schema, _, _ in self._tables(self._required(database), fields)}
            names = info.matching(sorted(listed | {"iox"}), pattern)
            if text(fields, 1) not in (None, info.CATALOG):
                names = []
            data = {"catalog_name": [info.CATALOG] * len(names), "db_schema_name": names}
            return pa.table(data, schema=info.DB_SCHEMAS_SCHEMA)
        if name == "CommandGetTables":
            return self._tables_table(self._required(database), fields)
        if name == "CommandGetXdbcTypeInfo":
            wanted = varints(fields.get(1, []))
            return info.xdbc_type_info_table(_int32(wanted[-1]) if wanted else None)
        if name in info.EMPTY_ANSWERS:
            return info.EMPTY_ANSWERS[name].empty_table()
        raise FlightSqlError(_unsupported(name))

    def _tables(self, database: str, fields: Fields) -> list[tuple[str, str, str]]:
        """(schema, table, type) of ``database`` that the command's filters keep, sorted."""
        catalog = text(fields, 1)
        if catalog not in (None, info.CATALOG):
            return []
        listing = self._engine.query(
            database, "SELECT table_schema, table_name, table_type FROM information_schema.tables"
        )
        schema_like = info.like(text(fields, 2))
        # a user table is a base table, also while it is a view hiding expired rows (retention)
        rows = [
            (
                row["table_schema"],
                row["table_name"],
                _BASE if row["table_schema"] == "iox" else row["table_type"],
            )
            for row in listing
        ]
        return sorted(r for r in rows if schema_like is None or schema_like.fullmatch(r[0]))

    def _tables_table(self, database: str, fields: Fields) -> pa.Table:
        table_like = info.like(text(fields, 3))
        types = {v.decode() for v in fields.get(4, []) if isinstance(v, bytes)}
        rows = [
            row
            for row in self._tables(database, fields)
            if (table_like is None or table_like.fullmatch(row[1]))
            and (not types or row[2] in types)
        ]
        data: dict[str, list[Any]] = {
            "catalog_name": [info.CATALOG] * len(rows),
            "db_schema_name": [r[0] for r in rows],
            "table_name": [r[1] for r in rows],
            "table_type": [r[2] for r in rows],
        }
        if not flag(fields, 5):
            return pa.table(data, schema=info.TABLES_SCHEMA)
        data["table_schema"] = [
            self._schema(Statement(database, f"SELECT * FROM {_quoted(s)}.{_quoted(t)}"))  # noqa: S608 - quoted names
            .serialize()
            .to_pybytes()
            for s, t, _ in rows
        ]
        return pa.table(data, schema=info.TABLES_WITH_SCHEMA)

    # -- prepared statements (DoAction, DoPut) ---------------------------------------------

    def action(self, kind: str, body: bytes, database: str | None) -> list[bytes]:
        """``DoAction``: the results' bodies."""
        if kind == "CreatePreparedStatement":
            return [self.create_prepared(body, database)]
        if kind == "ClosePreparedStatement":
            self.close_prepared(body)
            return []
        if kind == "CloseSession":  # sessions hold nothing here: CLOSED (1)
            return [encode_varint(1, 1)]
        message = (
            f"unsupported Flight action {kind!r}: this server has {', '.join(FLIGHT_SQL_ACTIONS)}"
        )
        raise FlightSqlError(message)

    def create_prepared(self, body: bytes, database: str | None) -> bytes:
        """``CreatePreparedStatement``: the ``ActionCreatePreparedStatementResult`` (an Any)."""
        unpacked = unpack_any(body)
        if unpacked is None or unpacked[0] != "ActionCreatePreparedStatementRequest":
            raise FlightSqlError(
                "CreatePreparedStatement needs an ActionCreatePreparedStatementRequest"
            )
        self._no_transaction(unpacked[1])
        statement = Statement(self._required(database), positional(text(unpacked[1], 1) or ""))
        dataset = self._schema(statement)  # unbound placeholders plan as nulls
        handle = secrets.token_bytes(16)
        with self._lock:
            self._prepared[handle] = statement
            while len(self._prepared) > MAX_PREPARED:
                self._prepared.popitem(last=False)
        result = encode(
            (1, handle),
            (2, dataset.serialize().to_pybytes()),
            (3, parameter_schema(statement.query).serialize().to_pybytes()),
        )
        return pack_any("ActionCreatePreparedStatementResult", result)

    def close_prepared(self, body: bytes) -> None:
        """``ClosePreparedStatement``: forget the handle (an unknown one is no error)."""
        unpacked = unpack_any(body)
        if unpacked is None or unpacked[0] != "ActionClosePreparedStatementRequest":
            raise FlightSqlError(
                "ClosePreparedStatement needs an ActionClosePreparedStatementRequest"
            )
        with self._lock:
            self._prepared.pop(raw(unpacked[1], 1) or b"", None)

    def bind(self, command: bytes, table: pa.Table) -> bytes:
        """``DoPut(CommandPreparedStatementQuery)``: bind ``table``'s row; the
        ``DoPutPreparedStatementResult`` (the same handle) to send back."""
        name, fields = _command(command)
        if name != "CommandPreparedStatementQuery":
            message = f"{name} is not supported: this server is read-only (send queries only)"
            raise FlightSqlError(message)
        handle = raw(fields, 1) or b""
        statement = self._statement(handle)
        bound = Statement(statement.database, statement.query, parameters(table))
        with self._lock:
            if handle in self._prepared:
                self._prepared[handle] = bound
        return encode((1, handle))

    def _statement(self, handle: bytes) -> Statement:
        with self._lock:
            statement = self._prepared.get(handle)
        if statement is None:
            message = "unknown or closed prepared statement handle: prepare the query again"
            raise FlightSqlError(message)
        return statement

    @staticmethod
    def _required(database: str | None) -> str:
        if database is None:
            raise FlightSqlError(f"no database named by the call ({_DB_HINT})")
        return database

    @staticmethod
    def _no_transaction(fields: Fields) -> None:
        if raw(fields, 2):
            raise FlightSqlError("transactions are not supported: send the query without one")


def _command(data: bytes) -> tuple[str, Fields]:
    unpacked = unpack_any(data)
    if unpacked is None:
        raise FlightSqlError(
            "the Flight SQL command is not a protobuf Any of arrow.flight.protocol.sql"
        )
    return unpacked


def _int32(value: int) -> int:
    """A varint read back as the int32 it encodes (negatives are sent as 64-bit)."""
    value &= 0xFFFFFFFF
    return value - (1 << 32) if value >= 1 << 31 else value


def _quoted(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def _unsupported(name: str) -> str:
    return (
        f"Flight SQL command {name} is not supported by this server (it answers queries, "
        "prepared queries, SqlInfo, catalogs, schemas, tables, table types, keys and XDBC types)"
    )


def _info_of(schema: pa.Schema, descriptor: Any, ticket: bytes) -> flight.FlightInfo:
    endpoint = flight.FlightEndpoint(ticket, [])
    return flight.FlightInfo(schema, descriptor, [endpoint], -1, -1)
