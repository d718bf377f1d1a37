"""Flight SQL on the HTTP port, through ADBC's Flight SQL driver (the Go driver that Grafana's
FlightSQL data source is built on) against a real uvicorn with `FlightFront`."""

from __future__ import annotations

from collections.abc import Iterator

import adbc_driver_flightsql.dbapi as flight_sql
import adbc_driver_manager
import pyarrow as pa
import pyarrow.flight as flight
import pytest
from adbc_driver_flightsql import DatabaseOptions

from pluginmgr.server import TokenStore
from pluginmgr.server.flight_sql_proto import (
    Fields,
    encode,
    encode_varint,
    pack_any,
    raw,
    unpack_any,
)
from pluginmgr.server.flight_sql_statements import (
    FlightSqlError,
    parameter_schema,
    parameters,
    placeholders,
    positional,
)
from tests.server.server_helpers import build_state
from tests.server.test_flight import LINES, Running, _serve

HEADER_DB = DatabaseOptions.RPC_CALL_HEADER_PREFIX.value + "database"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    """One server for the module (written once: the tests only read)."""
    tmp_path = tmp_path_factory.mktemp("flight_sql")
    plugin_dir = tmp_path / "plugins"
    plugin_dir.mkdir()
    tokens = TokenStore(tmp_path / "tokens.json")
    token = tokens.create("admin")
    state, close = build_state(tmp_path, plugin_dir, tokens=tokens)
    state.engine.write_lp("db", LINES)
    try:
        for url in _serve(state):
            yield Running(url, token, state)
    finally:
        close()


def _connect(
    server: Running, *, database: str | None = "db", token: str | None = None, header: str = ""
) -> flight_sql.Connection:
    options = {DatabaseOptions.AUTHORIZATION_HEADER.value: f"Bearer {token or server.token}"}
    if database is not None:
        name = header or "database"
        options[DatabaseOptions.RPC_CALL_HEADER_PREFIX.value + name] = database
    url = f"grpc://127.0.0.1:{server.port}"
    return flight_sql.connect(url, db_kwargs=options, autocommit=True)  # no transactions


def _error(server: Running, query: str, **connect: str | None) -> str:
    with _connect(server, **connect) as conn, conn.cursor() as cursor:  # type: ignore[arg-type]
        with pytest.raises(adbc_driver_manager.Error) as caught:
            cursor.execute(query)
            cursor.fetchall()
    return str(caught.value)


def test_select_1(server: Running) -> None:
    with _connect(server) as conn, conn.cursor() as cursor:
        cursor.execute("SELECT 1 AS one")
        assert cursor.fetchall() == [(1,)]


def test_a_statement_query_without_preparing(server: Running) -> None:
    """``CommandStatementQuery``: what ADBC sends when a statement is executed unprepared."""
    with _connect(server) as conn, conn.cursor() as cursor:
        statement = cursor.adbc_statement
        statement.set_sql_query("SELECT count FROM cpu ORDER BY time")
        handle, _ = statement.execute_query()
        table = pa.RecordBatchReader._import_from_c(handle.address).read_all()
    assert table.column("count").to_pylist() == [1, 2, 3]


def test_a_querys_schema_without_running_it(server: Running) -> None:
    """``GetSchema``: ADBC's ``execute_schema``."""
    with _connect(server) as conn, conn.cursor() as cursor:
        schema = cursor.adbc_execute_schema("SELECT host, usage FROM cpu")
    assert schema.names == ["host", "usage"]
    assert schema.field("host").type == pa.string()


@pytest.mark.parametrize("header", ["database", "bucket", "bucket-name", "iox-namespace-name"])
def test_a_query_over_written_data_with_each_database_header(server: Running, header: str) -> None:
    with _connect(server, header=header) as conn, conn.cursor() as cursor:
        cursor.execute("SELECT host, usage, time FROM cpu ORDER BY time")
        table = cursor.fetch_arrow_table()
    assert table.schema.field("host").type == pa.string()  # tags sent as strings
    assert table.column("usage").to_pylist() == [1.5, 2.25, 3.0]
    assert table.column("time").type == pa.timestamp("ns")


def test_parameters_bind_by_position_and_by_question_mark(server: Running) -> None:
    with _connect(server) as conn, conn.cursor() as cursor:
        cursor.execute("SELECT usage FROM cpu WHERE host = $1 AND count >= $2", ("a", 2))
        assert cursor.fetchall() == [(3.0,)]
        cursor.execute("SELECT count FROM cpu WHERE host = ? ORDER BY time", ("b",))
        assert cursor.fetchall() == [(2,)]
        cursor.execute("SELECT count FROM cpu WHERE host = ? ORDER BY time", ("a",))
        assert cursor.fetchall() == [(1,), (3,)]  # the same prepared statement, rebound


def test_a_string_parameter_is_coerced_where_it_is_used(server: Running) -> None:
    """Parameters are bound as strings: ``'2 seconds'`` becomes ``date_bin``'s interval."""
    query = "SELECT date_bin($1, time) AS bucket, count(*) AS n FROM cpu GROUP BY 1 ORDER BY 1"
    with _connect(server) as conn, conn.cursor() as cursor:
        cursor.execute(query, ("2 seconds",))
        table = cursor.fetch_arrow_table()
        cursor.execute("SELECT sum(count * CAST($1 AS BIGINT)) AS total FROM cpu", (2,))
        assert cursor.fetchall() == [(12,)]
    assert table.column("n").to_pylist() == [1, 2]


def test_catalog_listing_has_the_tables_and_their_columns(server: Running) -> None:
    with _connect(server) as conn:
        objects = conn.adbc_get_objects(depth="all").read_all().to_pylist()
        info = conn.adbc_get_info()
        types = conn.adbc_get_table_types()
    assert [c["catalog_name"] for c in objects] == ["public"]
    schemas = {s["db_schema_name"]: s for s in objects[0]["catalog_db_schemas"]}
    assert {"iox", "information_schema"} <= set(schemas)
    cpu = [t for t in schemas["iox"]["db_schema_tables"] if t["table_name"] == "cpu"]
    assert len(cpu) == 1 and cpu[0]["table_type"] == "BASE TABLE"
    columns = [c["column_name"] for c in cpu[0]["table_columns"]]
    assert set(columns) == {"host", "region", "usage", "count", "ok", "note", "time"}
    assert info["vendor_name"] == "pluginmgr"
    assert info["vendor_version"] == server.state.version
    assert types == ["BASE TABLE", "VIEW"]


def test_table_schema(server: Running) -> None:
    with _connect(server) as conn:
        schema = conn.adbc_get_table_schema("cpu", db_schema_filter="iox")
    assert schema.field("usage").type == pa.float64()
    assert schema.field("host").type == pa.string()
    assert schema.field("time").type == pa.timestamp("ns")


def test_bad_sql_is_one_line_without_a_traceback(server: Running) -> None:
    message = _error(server, "SELEC nonsense")
    assert "error while planning query" in message
    assert "Traceback" not in message and "\n" not in message


def test_a_multi_line_planning_error_is_sent_on_one_line(server: Running) -> None:
    message = _error(server, "SELECT nope FROM cpu")
    assert "No field named nope." in message and "Valid fields are cpu.host" in message
    assert "\n" not in message


def test_an_unknown_database_is_named(server: Running) -> None:
    message = _error(server, "SELECT 1", database="nosuchdb")
    assert "database not found: nosuchdb" in message
    assert "Traceback" not in message


def test_a_missing_database_header_says_which_header(server: Running) -> None:
    message = _error(server, "SELECT 1", database=None)
    assert "call header `database: <name>`" in message


def test_a_bad_token_is_unauthenticated(server: Running) -> None:
    message = _error(server, "SELECT 1", token="wrong")
    assert "UNAUTHENTICATED" in message.upper() and "invalid or revoked token" in message
    assert "Traceback" not in message


def test_a_missing_token_is_unauthenticated(server: Running) -> None:
    client = server.flight()
    with pytest.raises(flight.FlightUnauthenticatedError) as caught:
        client.get_flight_info(flight.FlightDescriptor.for_command(b"\x0a\x00"))
    assert "missing authorization header" in str(caught.value)


def test_updates_are_refused_as_read_only(server: Running) -> None:
    message = _error(server, "INSERT INTO cpu (host) VALUES ('c')")
    assert "DML not supported" in message
    assert "Traceback" not in message and "\n" not in message


def test_positional_rewrites_question_marks_outside_literals() -> None:
    assert positional("SELECT '?', \"?\" FROM t WHERE a = ? -- ?\nAND b = ?") == (
        "SELECT '?', \"?\" FROM t WHERE a = $1 -- ?\nAND b = $2"
    )


def test_placeholders_are_a_prepared_statements_parameters() -> None:
    query = "SELECT '$9' FROM t WHERE a = $2 AND b = $1 AND c = $host -- $x"
    assert placeholders(query) == ["1", "2", "host"]
    assert parameter_schema(query).names == ["1", "2", "host"]


def test_parameters_bind_by_position_and_name() -> None:
    table = pa.table({"host": ["a"], "1": [2.5], "flag": [True]})
    assert parameters(table) == {"1": "a", "host": "a", "2": "2.5", "3": "true", "flag": "true"}


def test_parameters_refuse_several_rows() -> None:
    with pytest.raises(FlightSqlError, match="one row"):
        parameters(pa.table({"a": [1, 2]}))


# -- what ADBC's DBAPI does not send: raw Flight SQL commands ---------------------------------


def _command(
    server: Running, name: str, *fields: tuple[int, bytes | str | None], extra: bytes = b""
) -> pa.Table:
    """GetFlightInfo then DoGet of its ticket, as JDBC does for ``name`` (``extra``: more
    encoded fields)."""
    client = server.flight()
    headers = [(b"authorization", f"Bearer {server.token}".encode()), (b"database", b"db")]
    options = flight.FlightCallOptions(headers=headers)
    descriptor = flight.FlightDescriptor.for_command(pack_any(name, encode(*fields) + extra))
    info = client.get_flight_info(descriptor, options)
    table = client.do_get(info.endpoints[0].ticket, options).read_all()
    assert table.schema.equals(info.schema)
    return table


def test_key_listings_are_empty_with_the_specs_schema(server: Running) -> None:
    keys = _command(server, "CommandGetPrimaryKeys", (3, "cpu"))
    assert keys.num_rows == 0 and "key_sequence" in keys.schema.names
    exported = _command(server, "CommandGetExportedKeys", (3, "cpu"))
    assert exported.num_rows == 0 and "fk_table_name" in exported.schema.names


def test_sql_info_answers_the_ids_asked_with_their_types(server: Running) -> None:
    ids = b"".join(encode_varint(1, n) for n in (3, 504, 541, 509, 9999))
    answer = _command(server, "CommandGetSqlInfo", extra=ids).to_pylist()
    values = {row["info_name"]: row["value"] for row in answer}
    assert values[3] is True and values[504] == '"' and values[541] == 0
    assert "abs" in values[509] and 9999 not in values


def test_xdbc_type_info_filters_by_type(server: Running) -> None:
    answer = _command(server, "CommandGetXdbcTypeInfo", extra=encode_varint(1, -5))
    assert answer.column("type_name").to_pylist() == ["BIGINT", "BIGINT UNSIGNED"]
    every = _command(server, "CommandGetXdbcTypeInfo")
    assert "TIMESTAMP" in every.column("type_name").to_pylist()


def test_tables_filtered_by_pattern_and_type(server: Running) -> None:
    table = _command(server, "CommandGetTables", (3, "c_u"), (4, "BASE TABLE"))
    assert table.to_pylist() == [
        {
            "catalog_name": "public",
            "db_schema_name": "iox",
            "table_name": "cpu",
            "table_type": "BASE TABLE",
        }
    ]


def test_a_table_hiding_expired_rows_is_still_a_base_table(server: Running) -> None:
    server.state.engine.create_database("aged", retention_seconds=3600)
    server.state.engine.write_lp("aged", LINES)  # 1970: every row has expired
    with _connect(server, database="aged") as conn:
        objects = conn.adbc_get_objects(depth="tables", table_types_filter=["BASE TABLE"])
        listed = objects.read_all().to_pylist()
        with conn.cursor() as cursor:
            cursor.execute("SELECT count(*) AS n FROM cpu")
            assert cursor.fetchall() == [(0,)]
    tables = [
        t["table_name"]
        for c in listed
        for s in c["catalog_db_schemas"]
        for t in s["db_schema_tables"]
    ]
    assert tables == ["cpu"]


def test_an_unsupported_action_is_named(server: Running) -> None:
    options = flight.FlightCallOptions(
        headers=[(b"authorization", f"Bearer {server.token}".encode())]
    )
    with pytest.raises(flight.FlightServerError) as caught:
        list(server.flight().do_action(flight.Action("BeginTransaction", b""), options))
    assert "unsupported Flight action 'BeginTransaction'" in str(caught.value)
    assert "Traceback" not in str(caught.value)
    listed = {action.type for action in server.flight().list_actions(options)}
    assert listed == {"CreatePreparedStatement", "ClosePreparedStatement", "CloseSession"}


def test_an_unsupported_command_is_one_line(server: Running) -> None:
    with pytest.raises(flight.FlightServerError) as caught:
        _command(server, "CommandStatementUpdate", (1, "DELETE FROM cpu"))
    message = str(caught.value).split(". gRPC client debug context")[0]
    assert "CommandStatementUpdate is not supported" in message
    assert "Traceback" not in message and "\n" not in message


def test_a_closed_prepared_statement_is_refused(server: Running) -> None:
    client = server.flight()
    options = flight.FlightCallOptions(
        headers=[(b"authorization", f"Bearer {server.token}".encode()), (b"database", b"db")]
    )
    request = pack_any("ActionCreatePreparedStatementRequest", encode((1, "SELECT 1")))
    result = list(client.do_action(flight.Action("CreatePreparedStatement", request), options))
    prepared = _unpack(result[0].body.to_pybytes())
    handle = raw(prepared, 1)
    assert pa.ipc.read_schema(pa.py_buffer(raw(prepared, 2))).names == ["Int64(1)"]
    assert pa.ipc.read_schema(pa.py_buffer(raw(prepared, 3))).names == []
    closing = pack_any("ActionClosePreparedStatementRequest", encode((1, handle)))
    list(client.do_action(flight.Action("ClosePreparedStatement", closing), options))
    descriptor = flight.FlightDescriptor.for_command(
        pack_any("CommandPreparedStatementQuery", encode((1, handle)))
    )
    with pytest.raises(flight.FlightServerError, match="unknown or closed prepared statement"):
        client.get_flight_info(descriptor, options)


def _unpack(data: bytes) -> Fields:
    unpacked = unpack_any(data)
    assert unpacked is not None and unpacked[0] == "ActionCreatePreparedStatementResult"
    return unpacked[1]
