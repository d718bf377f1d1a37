"""Arrow Flight queries, as InfluxDB 3 answers them: `FlightService`.

The official v3 clients (influxdb3-python, the node and Go v3 clients) query with one Flight
``DoGet``. Its ticket is UTF-8 JSON::

    {"database": "<db>", "sql_query": "<query>", "query_type": "sql" | "influxql",
     "params": {"<name>": <string or number>, ...}}

``query_type`` defaults to ``sql``; ``params`` is optional and binds ``$name`` placeholders
exactly as ``params`` does on ``/api/v3/query_sql`` (or ``/api/v3/query_influxql``: InfluxQL
gets the JSON values as they are, SQL gets numbers as text); ``namespace_name`` is accepted for
``database`` (older IOx clients). The call carries ``authorization: Bearer <token>`` (or
``Token <token>``), checked against the server's `TokenStore` unless it runs
``--without-auth``. The answer is the result's schema, then its record batches as the engine
produces them: nothing is converted to Python, and no more than one batch is held here.

Errors reach the client as Flight errors whose message is the one ``/api/v3/query_sql`` puts
in ``{"error": ...}``: a missing or wrong token is ``UNAUTHENTICATED``, a bad ticket, an
unknown database or SQL that does not plan or run is a server error (gRPC ``UNKNOWN``: pyarrow
attaches a Python traceback to the other codes), a bug is ``INTERNAL``.

Flight SQL (`FlightSql`: ``GetFlightInfo``, ``DoPut``, ``DoAction``) shares the service: a
ticket that is a protobuf ``Any`` is a Flight SQL ticket, anything else InfluxDB 3's JSON.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, Protocol, final

import pyarrow as pa  # type: ignore[import-untyped]  # pyarrow ships no stubs
import pyarrow.flight as flight  # type: ignore[import-untyped]  # pyarrow ships no stubs

from engine_runtime.errors import EngineError
from engine_runtime.store._guard import QueryGuard, guarding

from ..errors import PluginManagerError
from .auth import AuthError
from .flight_sql import FLIGHT_SQL_ACTIONS, FlightSql
from .flight_sql_proto import unpack_any
from .flight_sql_statements import database_of, hydrated_schema

if TYPE_CHECKING:
    from engine_runtime import ProcessingEngine

    from .auth import TokenStore
    from .queries import QueryRegistry

__all__ = [
    "INFLUXQL_UNAVAILABLE_MESSAGE",
    "MAX_TICKET_BYTES",
    "QUERY_TYPES",
    "FlightService",
    "FlightTicket",
    "InfluxQLRunner",
    "TicketError",
    "parse_ticket",
]

_LOGGER: Final = logging.getLogger(__name__)
#: the ``query_type`` values a ticket may carry
QUERY_TYPES: Final = ("sql", "influxql")
#: the answer to an InfluxQL ticket while the server has no InfluxQL engine
INFLUXQL_UNAVAILABLE_MESSAGE: Final = (
    "InfluxQL over Flight is not available on this server: send the query as SQL "
    "(query_type 'sql', the clients' default language)"
)
#: the largest ticket read: InfluxDB 3's JSON tickets and Flight SQL's are a few hundred bytes,
#: and a query past this size is a mistake or an attack (gRPC itself takes any size)
MAX_TICKET_BYTES: Final = 1024 * 1024
_TICKET_HINT: Final = (
    'send UTF-8 JSON {"database": "<db>", "sql_query": "<query>", "query_type": "sql"}'
)
_AUTH_HINT: Final = (
    "pass the call header `authorization: Bearer <token>` (the clients' token=); "
    "create a token with `pluginmgr create token --admin`"
)


class InfluxQLRunner(Protocol):
    """Runs one InfluxQL statement on a database; the result as one Arrow table (blocking)."""

    def __call__(
        self, database: str, query: str, *, params: Mapping[str, Any] | None = None
    ) -> pa.Table: ...


class TicketError(PluginManagerError):
    """A Flight ticket that is not InfluxDB 3's JSON query ticket."""


@dataclass(frozen=True, slots=True)
class FlightTicket:
    """One query, as a ticket asks for it."""

    database: str
    query: str
    query_type: str = "sql"
    params: Mapping[str, str | int | float | bool] | None = None


def parse_ticket(raw: bytes) -> FlightTicket:
    """The query a ``DoGet`` ticket asks for.

    :raises TicketError: naming the field that is missing or wrong.
    """
    try:
        data: Any = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        message = f"the Flight ticket is not valid JSON ({exc}): {_TICKET_HINT}"
        raise TicketError(message) from None
    except RecursionError:
        message = "the Flight ticket is nested too deeply: send a flat JSON object"
        raise TicketError(message, hint=_TICKET_HINT) from None
    if not isinstance(data, dict):
        message = f"the Flight ticket must be a JSON object, got {type(data).__name__}"
        raise TicketError(message, hint=_TICKET_HINT)
    database = _text(data, "database", data.get("namespace_name"))
    query = _text(data, "sql_query", None)
    query_type = data.get("query_type") or "sql"
    if query_type not in QUERY_TYPES:
        message = (
            f"unsupported query_type {json.dumps(query_type)} in the Flight ticket: "
            f"use {' or '.join(repr(t) for t in QUERY_TYPES)}"
        )
        raise TicketError(message)
    return FlightTicket(database, query, query_type, _params(data.get("params")))


def _text(data: Mapping[str, Any], name: str, fallback: Any) -> str:
    value = data.get(name, fallback)
    if value is None:
        raise TicketError(f"missing field '{name}' in the Flight ticket", hint=_TICKET_HINT)
    if not isinstance(value, str):
        message = f"field '{name}' of the Flight ticket must be a string, got {json.dumps(value)}"
        raise TicketError(message)
    if not value.strip():
        raise TicketError(f"field '{name}' of the Flight ticket is empty", hint=_TICKET_HINT)
    return value


def _params(value: Any) -> dict[str, str | int | float | bool] | None:
    """``params``: names to strings, numbers or booleans."""
    if value is None or value == {}:
        return None
    if not isinstance(value, dict):
        message = "field 'params' of the Flight ticket must be a JSON object of name -> value"
        raise TicketError(message)
    for key, item in value.items():
        if isinstance(item, dict | list) or item is None:
            message = (
                f"field 'params' of the Flight ticket: the value of {key!r} must be a string "
                "or a number"
            )
            raise TicketError(message)
    return {str(key): item for key, item in value.items()}


def _sql_params(params: Mapping[str, Any] | None) -> dict[str, str] | None:
    """``params`` as ``/api/v3/query_sql`` binds them: numbers and booleans as JSON text."""
    if params is None:
        return None
    return {k: v if isinstance(v, str) else json.dumps(v) for k, v in params.items()}


# -- auth -------------------------------------------------------------------------------------


def _bearer(values: list[str] | None) -> str:
    """The token of the ``authorization`` header; raises Flight's unauthenticated error."""
    if not values:
        raise flight.FlightUnauthenticatedError(f"missing authorization header ({_AUTH_HINT})")
    scheme, _, token = values[-1].strip().partition(" ")
    token = token.strip()
    if scheme.lower() not in ("bearer", "token") or not token or " " in token:
        message = (
            "malformed authorization header: expected 'Bearer <token>' or 'Token <token>' "
            f"({_AUTH_HINT})"
        )
        raise flight.FlightUnauthenticatedError(message)
    return token


@final
class _TokenCheck(flight.ServerMiddlewareFactory):  # type: ignore[misc]  # pyarrow: no stubs
    """Refuses every Flight call without a valid token, before it reaches the service."""

    def __init__(self, tokens: TokenStore) -> None:
        super().__init__()
        self._lookup = tokens.checks[0]  # a closure: patching TokenStore changes nothing here

    def start_call(self, info: Any, headers: Mapping[str, list[str]]) -> None:
        token = _bearer(headers.get("authorization"))
        try:
            record = self._lookup(token)
        except AuthError as exc:
            raise flight.FlightInternalError(f"cannot check tokens: {exc}") from None
        if record is None:
            raise flight.FlightUnauthenticatedError(f"invalid or revoked token ({_AUTH_HINT})")


@final
class _Headers(flight.ServerMiddleware):  # type: ignore[misc]  # pyarrow: no stubs
    """A call's headers, for the handlers (pyarrow's call context does not carry them)."""

    def __init__(self, headers: Mapping[str, list[str]]) -> None:
        super().__init__()
        self.headers = headers


@final
class _KeepHeaders(flight.ServerMiddlewareFactory):  # type: ignore[misc]  # pyarrow: no stubs
    def start_call(self, info: Any, headers: Mapping[str, list[str]]) -> _Headers:
        return _Headers(headers)


def _command(descriptor: Any) -> bytes:
    if descriptor.descriptor_type != flight.DescriptorType.CMD:
        raise TicketError("Flight SQL calls take a command descriptor (a protobuf Any)")
    command: bytes = descriptor.command
    return command


def _database(context: Any) -> str | None:
    """The database the call's headers name (Flight SQL), or None."""
    middleware = context.get_middleware("headers")
    return None if middleware is None else database_of(middleware.headers)


# -- the service ------------------------------------------------------------------------------


@contextlib.contextmanager
def _flight_errors(what: str, *, one_line: bool = False) -> Iterator[None]:
    """Our errors as Flight errors with the HTTP API's messages (``one_line``, for Flight SQL:
    on one line, as its clients show a status); anything else is a bug."""
    try:
        yield
    except flight.FlightError:
        raise
    except (EngineError, PluginManagerError) as exc:
        raise flight.FlightServerError(_one_line(str(exc)) if one_line else str(exc)) from None
    except Exception as exc:  # a bug here must not take the server down, nor hide
        _LOGGER.exception("Flight %s failed", what)
        message = f"internal server error: {type(exc).__name__}: {exc}"
        raise flight.FlightInternalError(_one_line(message)) from None


def _one_line(message: str) -> str:
    return " ".join(line.strip() for line in message.splitlines() if line.strip())


def _hydrate(batch: pa.RecordBatch, schema: pa.Schema) -> pa.RecordBatch:
    columns = [
        column.dictionary_decode() if pa.types.is_dictionary(column.type) else column
        for column in batch.columns
    ]
    return pa.RecordBatch.from_arrays(columns, schema=schema)


def _guarded(
    schema: pa.Schema,
    first: pa.RecordBatch | None,
    rest: Iterator[pa.RecordBatch],
    *,
    hydrate: bool,
    one_line: bool,
) -> Iterator[pa.RecordBatch]:
    """The batches as sent (``hydrate``: as `_hydrated` ``schema``), errors as `_flight_errors`."""
    batch = first
    while batch is not None:
        yield _hydrate(batch, schema) if hydrate else batch
        with _flight_errors("DoGet stream", one_line=one_line):
            batch = next(rest, None)


@final
class FlightService(flight.FlightServerBase):  # type: ignore[misc]  # pyarrow ships no stubs
    """InfluxDB 3's Flight query service over ``engine``; it serves once constructed.

    :param location: where to listen, e.g. ``grpc+unix:///run/flight.sock`` (`FlightFront`
        puts it behind the HTTP port).
    :param engine: the started engine whose store ``/api/v3/query_sql`` reads too.
    :param tokens: the token store; None serves without auth (``--without-auth``).
    :param influxql: runs ``query_type: "influxql"`` tickets; None answers
        `INFLUXQL_UNAVAILABLE_MESSAGE`.
    :param query_timeout: ``--query-timeout`` in seconds (None: none); a query past it stops
        at its next batch with the HTTP API's message.
    :param queries: where running queries are listed, so that shutdown stops them.
    """

    def __init__(
        self,
        location: str,
        *,
        engine: ProcessingEngine,
        tokens: TokenStore | None,
        influxql: InfluxQLRunner | None = None,
        query_timeout: float | None = None,
        queries: QueryRegistry | None = None,
        version: str = "unknown",
    ) -> None:
        middleware: dict[str, Any] = {"headers": _KeepHeaders()}
        if tokens is not None:
            middleware["auth"] = _TokenCheck(tokens)
        super().__init__(location, middleware=middleware)
        self._sql = FlightSql(engine, version=version)
        self._engine = engine
        self._influxql = influxql
        self._query_timeout = query_timeout
        self._queries = queries

    def do_get(self, context: Any, ticket: Any) -> Any:
        """Run the ticket's query; the first batch is computed before the answer starts, so an
        error in planning or in the first batch is the call's error, not a broken stream."""
        from .queries import QUERY_TIMEOUT_HINT

        guard = QueryGuard(self._query_timeout, timeout_hint=QUERY_TIMEOUT_HINT)
        if self._queries is not None:
            self._queries.add(guard)
        # Flight SQL, not InfluxDB 3's JSON (an oversized ticket is not even unpacked)
        sql = len(ticket.ticket) <= MAX_TICKET_BYTES and unpack_any(ticket.ticket) is not None
        try:
            with _flight_errors("DoGet", one_line=sql), guarding(guard):  # batches keep the guard
                schema, batches = self._run_ticket(ticket.ticket, context, sql=sql)
                first = next(batches, None)
        except BaseException:
            self._forget(guard)
            raise
        sent = hydrated_schema(schema)
        stream = _guarded(sent, first, batches, hydrate=not sent.equals(schema), one_line=sql)
        return flight.GeneratorStream(sent, self._until_done(stream, guard))

    def _until_done(
        self, stream: Iterator[pa.RecordBatch], guard: QueryGuard
    ) -> Iterator[pa.RecordBatch]:
        try:
            yield from stream
        finally:
            self._forget(guard)

    def _forget(self, guard: QueryGuard) -> None:
        if self._queries is not None:
            self._queries.remove(guard)

    def get_flight_info(self, context: Any, descriptor: Any) -> Any:
        """Flight SQL: the schema and ticket of a command (a query or a metadata listing)."""
        with _flight_errors("GetFlightInfo", one_line=True):
            return self._sql.flight_info(_command(descriptor), _database(context), descriptor)

    def get_schema(self, context: Any, descriptor: Any) -> Any:
        """Flight SQL: a command's result schema (planned, not run)."""
        with _flight_errors("GetSchema", one_line=True):
            info = self._sql.flight_info(_command(descriptor), _database(context), descriptor)
            return flight.SchemaResult(info.schema)

    def do_put(self, context: Any, descriptor: Any, reader: Any, writer: Any) -> None:
        """Flight SQL: parameters bound to a prepared statement (updates are refused)."""
        with _flight_errors("DoPut", one_line=True):
            writer.write(pa.py_buffer(self._sql.bind(_command(descriptor), reader.read_all())))

    def do_action(self, context: Any, action: Any) -> Iterator[Any]:
        """Flight SQL: create and close prepared statements (and sessions)."""
        with _flight_errors("DoAction", one_line=True):
            body = action.body.to_pybytes() if action.body is not None else b""
            results = self._sql.action(action.type, body, _database(context))
            return iter([flight.Result(result) for result in results])

    def list_actions(self, context: Any) -> list[tuple[str, str]]:
        return list(FLIGHT_SQL_ACTIONS.items())

    def _run_ticket(
        self, raw: bytes, context: Any, *, sql: bool
    ) -> tuple[pa.Schema, Iterator[pa.RecordBatch]]:
        """A Flight SQL ticket (``sql``: a protobuf Any) or InfluxDB 3's JSON ticket."""
        if len(raw) > MAX_TICKET_BYTES:
            message = (
                f"the Flight ticket is {len(raw)} bytes, over the {MAX_TICKET_BYTES} byte limit: "
                "send a shorter query (bind values with params rather than inlining them)"
            )
            raise TicketError(message)
        if sql:
            return self._sql.stream(raw, _database(context))
        return self._run(parse_ticket(raw))

    def _run(self, request: FlightTicket) -> tuple[pa.Schema, Iterator[pa.RecordBatch]]:
        if request.query_type == "sql":
            params = _sql_params(request.params)
            return self._engine.query_stream(request.database, request.query, params)
        if self._influxql is None:
            raise flight.FlightServerError(INFLUXQL_UNAVAILABLE_MESSAGE)
        table = self._influxql(request.database, request.query, params=request.params)
        return table.schema, iter(table.to_batches())
