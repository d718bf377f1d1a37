"""Arrow Flight queries on the HTTP port, as the official v3 clients send them.

A real uvicorn (in a thread, on 127.0.0.1:0) runs with `FlightFront` exactly as
``pluginmgr serve`` wires it; the last test runs ``pluginmgr serve`` itself.
"""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import adbc_driver_flightsql.dbapi as flight_sql
import httpx
import pandas as pd
import pyarrow as pa
import pyarrow.flight as flight
import pytest
import uvicorn
from influxdb_client_3 import InfluxDBClient3
from influxdb_client_3.exceptions import InfluxDB3ClientQueryError

from pluginmgr.server import ServerState, TokenStore, create_app
from pluginmgr.server.flight import INFLUXQL_UNAVAILABLE_MESSAGE, MAX_TICKET_BYTES, FlightService
from pluginmgr.server.front import HTTP2_PREFACE, FlightFront
from tests.server.server_helpers import build_state, free_port, wait_for, wait_healthy

LINES = "\n".join(
    [
        'cpu,host=a,region=eu usage=1.5,count=1i,ok=true,note="x" 1000000000',
        'cpu,host=b,region=us usage=2.25,count=2i,ok=false,note="y z" 2000000000',
        'cpu,host=a,region=eu usage=3.0,count=3i,ok=true,note="" 3000000000',
    ]
)
EXPECTED = pa.table(
    {
        "host": pa.array(["a", "b", "a"], pa.string()),
        "usage": pa.array([1.5, 2.25, 3.0], pa.float64()),
        "count": pa.array([1, 2, 3], pa.int64()),
        "ok": pa.array([True, False, True], pa.bool_()),
        "note": pa.array(["x", "y z", ""], pa.string()),
        "time": pa.array([1_000_000_000, 2_000_000_000, 3_000_000_000], pa.timestamp("ns")),
    }
)
SELECT = "SELECT host, usage, count, ok, note, time FROM cpu ORDER BY time"


@dataclass(frozen=True)
class Running:
    """A server on one port: HTTP and Flight."""

    url: str
    token: str
    state: ServerState

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])

    def client(self, *, token: str | None = None, **options: object) -> InfluxDBClient3:
        return InfluxDBClient3(host=self.url, token=token or self.token, database="db", **options)

    def flight(self) -> flight.FlightClient:
        return flight.FlightClient(f"grpc+tcp://127.0.0.1:{self.port}")

    def options(self) -> flight.FlightCallOptions:
        header = (b"authorization", f"Bearer {self.token}".encode())
        return flight.FlightCallOptions(headers=[header])

    def http_error(self, db: str, query: str, *, path: str = "/api/v3/query_sql") -> str:
        answer = httpx.get(
            f"{self.url}{path}",
            params={"db": db, "q": query},
            headers={"Authorization": f"Bearer {self.token}"},
        )
        assert answer.status_code >= 400
        message: str = answer.json()["error"]
        return message


def _serve(state: ServerState) -> Iterator[str]:
    front = FlightFront(state)
    config = uvicorn.Config(
        create_app(state), host="127.0.0.1", port=0, log_level="warning", http=front.protocol
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_for(lambda: server.started, timeout=10)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=20)
        front.close()
        assert not thread.is_alive(), "uvicorn did not stop"
        assert not front.socket_path.exists()


@pytest.fixture
def running(tmp_path: Path, plugin_dir: Path) -> Iterator[Running]:
    tokens = TokenStore(tmp_path / "tokens.json")
    token = tokens.create("admin")
    state, close = build_state(tmp_path, plugin_dir, tokens=tokens)
    try:
        for url in _serve(state):
            yield Running(url, token, state)
    finally:
        close()


@pytest.fixture
def written(running: Running) -> Running:
    running.state.engine.write_lp("db", LINES)
    return running


def _flight_error(call: Callable[[], object]) -> str:
    with pytest.raises(flight.FlightError) as caught:
        call()
    return str(caught.value)


def _accepts(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return False
    return True


def _ticket(**fields: object) -> flight.Ticket:
    return flight.Ticket(json.dumps(fields).encode())


# -- the Python v3 client ---------------------------------------------------------------------


def test_client_write_then_query_reads_back_exactly(running: Running) -> None:
    with running.client() as client:
        client.write(LINES)  # /api/v2/write, the client's default
        table = client.query(SELECT)
    assert table.equals(EXPECTED), table


def test_client_writes_over_write_lp_and_queries_in_pandas_mode(running: Running) -> None:
    with running.client(write_use_v2_api=False) as client:
        client.write(LINES)  # /api/v3/write_lp
        frame = client.query(SELECT, mode="pandas")
    pd.testing.assert_frame_equal(frame, EXPECTED.to_pandas())


def test_client_query_parameters_bind_like_query_sql(written: Running) -> None:
    with written.client() as client:
        table = client.query(
            "SELECT usage FROM cpu WHERE host = $host AND count >= $min ORDER BY time",
            query_parameters={"host": "a", "min": 2},
        )
    assert table.column("usage").to_pylist() == [3.0]


def test_client_influxql_reads_back_in_influxdb3s_shape(written: Running) -> None:
    with written.client() as client:
        table = client.query("SELECT usage, note FROM cpu", language="influxql")
        grouped = client.query(
            "SELECT max(count) FROM cpu WHERE usage > $min GROUP BY host",
            language="influxql",
            query_parameters={"min": 1.0},
        )
    assert table.schema.names == ["iox::measurement", "time", "usage", "note"]
    assert table.column("usage").to_pylist() == [1.5, 2.25, 3.0]
    assert table.column("time").type == pa.timestamp("ns")
    assert grouped.schema.field("host").type == pa.string()  # sent hydrated, as tags over SQL
    assert grouped.select(["host", "max"]).to_pylist() == [
        {"host": "a", "max": 3},
        {"host": "b", "max": 2},
    ]


@pytest.mark.parametrize(
    "query",
    [pytest.param("SELEC usage FROM cpu", id="syntax"), pytest.param("SHOW BOGUS", id="bogus")],
)
def test_client_influxql_errors_give_the_http_message(written: Running, query: str) -> None:
    expected = written.http_error("db", query, path="/api/v3/query_influxql")
    with written.client() as client, pytest.raises(InfluxDB3ClientQueryError) as caught:
        client.query(query, language="influxql")
    assert expected in str(caught.value)


def test_a_service_without_influxql_says_so(running: Running) -> None:
    service = FlightService("grpc://127.0.0.1:0", engine=running.state.engine, tokens=None)
    try:
        bare = flight.FlightClient(f"grpc://127.0.0.1:{service.port}")
        ticket = _ticket(database="db", sql_query="SELECT 1", query_type="influxql")
        assert INFLUXQL_UNAVAILABLE_MESSAGE in _flight_error(lambda: bare.do_get(ticket).read_all())
    finally:
        service.shutdown()


def test_wrong_token_is_refused_with_a_clear_error(written: Running) -> None:
    with written.client(token="apiv3_wrong") as client:
        with pytest.raises(InfluxDB3ClientQueryError) as caught:
            client.query(SELECT)
    message = str(caught.value)
    assert "invalid or revoked token" in message
    assert "pluginmgr create token" in message
    assert "UNAUTHENTICATED" in message


def test_unknown_database_gives_the_http_message(written: Running) -> None:
    expected = written.http_error("nope", SELECT)
    assert expected == "database not found: nope"
    with written.client() as client, pytest.raises(InfluxDB3ClientQueryError) as caught:
        client.query(SELECT, database="nope")
    assert expected in str(caught.value)


@pytest.mark.parametrize(
    "sql",
    [
        pytest.param("SELEKT 1", id="parse"),
        pytest.param("SELECT nope FROM cpu", id="plan"),
        pytest.param("SELECT 1 / 0 AS x FROM cpu", id="execute"),
    ],
)
def test_bad_sql_gives_the_http_message(written: Running, sql: str) -> None:
    expected = written.http_error("db", sql)
    assert expected.startswith("error while")
    with written.client() as client, pytest.raises(InfluxDB3ClientQueryError) as caught:
        client.query(sql)
    assert expected in str(caught.value)


# -- the raw Flight protocol ------------------------------------------------------------------


def test_raw_ticket_with_params_and_the_sent_schema(written: Running) -> None:
    ticket = _ticket(
        database="db",
        sql_query="SELECT host, usage FROM cpu WHERE region = $region ORDER BY time",
        query_type="sql",
        params={"region": "eu"},
    )
    reader = written.flight().do_get(ticket, written.options())
    table = reader.read_all()
    assert table.schema == pa.schema([("host", pa.string()), ("usage", pa.float64())])
    assert table.to_pylist() == [{"host": "a", "usage": 1.5}, {"host": "a", "usage": 3.0}]


def test_empty_result_still_has_its_schema(written: Running) -> None:
    ticket = _ticket(database="db", sql_query="SELECT host, count FROM cpu WHERE count > 99")
    table = written.flight().do_get(ticket, written.options()).read_all()
    assert table.num_rows == 0
    assert table.schema == pa.schema([("host", pa.string()), ("count", pa.int64())])


def test_large_result_arrives_as_a_stream_of_batches(running: Running) -> None:
    rows = 200_000
    lines = "\n".join(f"m,t=t{i % 7} v={i}i {i}" for i in range(rows))
    running.state.engine.write_lp("db", lines)
    ticket = _ticket(database="db", sql_query="SELECT v, t FROM m ORDER BY time")
    reader = running.flight().do_get(ticket, running.options())
    chunks = list(reader)
    assert len(chunks) > 1
    values = pa.Table.from_batches([c.data for c in chunks])
    assert values.num_rows == rows
    assert values.column("v").to_pylist() == list(range(rows))
    assert values.column("t").type == pa.string()


def test_missing_authorization_header_is_unauthenticated(written: Running) -> None:
    ticket = _ticket(database="db", sql_query=SELECT)
    with pytest.raises(flight.FlightUnauthenticatedError) as caught:
        written.flight().do_get(ticket).read_all()
    assert "missing authorization header" in str(caught.value)


def test_malformed_authorization_header_is_unauthenticated(written: Running) -> None:
    options = flight.FlightCallOptions(headers=[(b"authorization", b"Basic Zm9vOmJhcg==")])
    ticket = _ticket(database="db", sql_query=SELECT)
    with pytest.raises(flight.FlightUnauthenticatedError) as caught:
        written.flight().do_get(ticket, options).read_all()
    assert "expected 'Bearer <token>'" in str(caught.value)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        pytest.param(b"SELECT 1", "the Flight ticket is not valid JSON", id="not-json"),
        pytest.param(b"\xff\xfe", "the Flight ticket is not valid JSON", id="not-utf8"),
        pytest.param(b"[1, 2]", "the Flight ticket must be a JSON object, got list", id="list"),
        pytest.param(
            b'{"sql_query": "SELECT 1"}',
            "missing field 'database' in the Flight ticket",
            id="no-database",
        ),
        pytest.param(
            b'{"database": "db"}', "missing field 'sql_query' in the Flight ticket", id="no-sql"
        ),
        pytest.param(
            b'{"database": "db", "sql_query": " "}',
            "field 'sql_query' of the Flight ticket is empty",
            id="empty-sql",
        ),
        pytest.param(
            b'{"database": 7, "sql_query": "SELECT 1"}',
            "field 'database' of the Flight ticket must be a string, got 7",
            id="database-not-a-string",
        ),
        pytest.param(
            b'{"database": "db", "sql_query": "SELECT 1", "query_type": "flux"}',
            "unsupported query_type \"flux\" in the Flight ticket: use 'sql' or 'influxql'",
            id="unknown-query-type",
        ),
        pytest.param(
            b'{"database": "db", "sql_query": "SELECT 1", "params": [1]}',
            "field 'params' of the Flight ticket must be a JSON object",
            id="params-not-an-object",
        ),
        pytest.param(
            b'{"database": "db", "sql_query": "SELECT 1", "params": {"a": null}}',
            "the value of 'a' must be a string or a number",
            id="param-null",
        ),
    ],
)
def test_bad_tickets_are_refused_by_name(written: Running, raw: bytes, message: str) -> None:
    client = written.flight()
    error = _flight_error(lambda: client.do_get(flight.Ticket(raw), written.options()).read_all())
    assert message in error
    assert "Traceback" not in error


def test_query_type_defaults_to_sql_and_namespace_name_is_accepted(written: Running) -> None:
    ticket = _ticket(namespace_name="db", sql_query="SELECT count(*) AS n FROM cpu")
    table = written.flight().do_get(ticket, written.options()).read_all()
    assert table.to_pylist() == [{"n": 3}]


# -- one port -----------------------------------------------------------------------------------


def test_http_and_flight_share_the_port(written: Running) -> None:
    auth = {"Authorization": f"Bearer {written.token}"}
    assert httpx.get(f"{written.url}/health", headers=auth).text == "OK"
    client = written.flight()  # one gRPC connection, many calls, HTTP requests in between
    for _ in range(3):
        ticket = _ticket(database="db", sql_query="SELECT count(*) AS n FROM cpu")
        assert client.do_get(ticket, written.options()).read_all().to_pylist() == [{"n": 3}]
        answer = httpx.get(
            f"{written.url}/api/v3/query_sql",
            params={"db": "db", "q": "SELECT count(*) AS n FROM cpu"},
            headers={"Authorization": f"Bearer {written.token}"},
        )
        assert answer.json() == [{"n": 3}]


def test_half_a_preface_then_http_is_answered_as_http(written: Running) -> None:
    with socket.create_connection(("127.0.0.1", written.port), timeout=10) as sock:
        sock.sendall(b"PRI * HTTP/1.1\r\nHost: x\r\n\r\n")  # a preface prefix, then not
        answer = sock.recv(4096)
    assert answer.startswith(b"HTTP/1.1 ")
    with socket.create_connection(("127.0.0.1", written.port), timeout=10) as sock:
        sock.sendall(HTTP2_PREFACE[:10])  # undecided, then gone
    auth = {"Authorization": f"Bearer {written.token}"}
    assert httpx.get(f"{written.url}/health", headers=auth).text == "OK"


def test_shutdown_lets_a_running_stream_finish(tmp_path: Path, plugin_dir: Path) -> None:
    state, close = build_state(tmp_path, plugin_dir, tokens=None)
    rows = 300_000
    state.engine.write_lp("db", "\n".join(f"m v={i}i {i}" for i in range(rows)))
    try:
        serving = _serve(state)
        url = next(serving)
        port = int(url.rsplit(":", 1)[1])
        bare = flight.FlightClient(f"grpc+tcp://127.0.0.1:{port}")
        idle = flight.FlightClient(f"grpc+tcp://127.0.0.1:{port}")  # an open, idle connection
        ticket = _ticket(database="db", sql_query="SELECT v FROM m")
        assert idle.do_get(ticket).read_chunk().data.num_rows > 0
        reader = bare.do_get(ticket)
        received = reader.read_chunk().data.num_rows
        stopping = threading.Thread(target=next, args=(serving, None))  # shuts the server down
        stopping.start()
        wait_for(lambda: not _accepts(port), timeout=10)  # uvicorn is shutting down
        time.sleep(0.3)  # past its shutdown() of every connection (0.1 s)
        received += sum(chunk.data.num_rows for chunk in reader)
        stopping.join(timeout=20)
        assert not stopping.is_alive()
        assert received == rows
    finally:
        close()


def test_a_tmpdir_too_long_for_a_socket_falls_back_to_tmp(
    written: Running, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    deep = tmp_path / ("d" * 120)
    deep.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(deep))
    front = FlightFront(written.state)
    try:
        assert front.socket_path.parent.parent == Path("/tmp")
        bare = flight.FlightClient(f"grpc+unix://{front.socket_path}")
        ticket = _ticket(database="db", sql_query="SELECT 1 AS one")
        options = written.options()
        assert bare.do_get(ticket, options).read_all().to_pylist() == [{"one": 1}]
    finally:
        front.close()
    assert not front.socket_path.parent.exists()


def test_without_auth_flight_needs_no_token(tmp_path: Path, plugin_dir: Path) -> None:
    state, close = build_state(tmp_path, plugin_dir, tokens=None)
    try:
        for url in _serve(state):
            with InfluxDBClient3(host=url, token="ignored", database="db") as client:
                client.write(LINES)
            port = int(url.rsplit(":", 1)[1])
            bare = flight.FlightClient(f"grpc+tcp://127.0.0.1:{port}")
            table = bare.do_get(_ticket(database="db", sql_query=SELECT)).read_all()
            assert table.equals(EXPECTED)
    finally:
        close()


def test_pluginmgr_serve_answers_flight_and_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    data_dir, plugin_dir = tmp_path / "data", tmp_path / "plugins"
    plugin_dir.mkdir()
    create = [
        sys.executable, "-m", "pluginmgr", "create", "token", "--admin",
        "--data-dir", str(data_dir), "--format", "json",
    ]  # fmt: skip
    made = subprocess.run(
        create,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    token = json.loads(made.stdout)["token"]
    port = free_port()
    serve = [
        sys.executable, "-m", "pluginmgr", "serve", "--plugin-dir", str(plugin_dir),
        "--data-dir", str(data_dir), "--cache-dir", str(tmp_path / "cache"), "--offline",
        "--http-bind", f"127.0.0.1:{port}", "--wal-flush-interval", "10ms",
    ]  # fmt: skip
    process = subprocess.Popen(
        serve,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        wait_healthy(url, process, timeout=30)
        client = InfluxDBClient3(host=url, token=token, database="db")
        client.write(LINES)
        assert client.query(SELECT).equals(EXPECTED)  # its gRPC connection stays open
        options = {  # and Flight SQL, through ADBC's driver
            "adbc.flight.sql.authorization_header": f"Bearer {token}",
            "adbc.flight.sql.rpc.call_header.database": "db",
        }
        with flight_sql.connect(
            f"grpc://127.0.0.1:{port}", db_kwargs=options, autocommit=True
        ) as conn:
            with conn.cursor() as cursor:
                cursor.execute(SELECT)
                assert cursor.fetch_arrow_table().equals(EXPECTED)
        process.send_signal(signal.SIGTERM)
        code = process.wait(timeout=30)
        _out, err = process.communicate()
        assert code == 0, err
        assert "stopped cleanly" in err
        client.close()
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()


def test_a_ticket_over_the_cap_is_refused_by_its_size(written: Running) -> None:
    client = written.flight()
    query = "SELECT 1 -- " + "a" * MAX_TICKET_BYTES  # a comment as long as the cap
    started = time.monotonic()
    error = _flight_error(
        lambda: client.do_get(_ticket(database="db", sql_query=query), written.options()).read_all()
    )
    assert f"over the {MAX_TICKET_BYTES} byte limit" in error, error[:300]
    assert "Traceback" not in error
    assert time.monotonic() - started < 5
    fits = _ticket(database="db", sql_query="SELECT count(*) AS n FROM cpu")
    assert client.do_get(fits, written.options()).read_all().num_rows == 1


def test_an_influxql_ticket_nested_too_deeply_is_a_clean_error(written: Running) -> None:
    query = "SELECT usage FROM cpu WHERE " + "(" * 300 + "usage > 1" + ")" * 300
    ticket = _ticket(database="db", sql_query=query, query_type="influxql")
    client = written.flight()
    error = _flight_error(lambda: client.do_get(ticket, written.options()).read_all())
    assert "InfluxQL: expression nested too deeply" in error, error[:300]
    assert "INTERNAL" not in error and "RecursionError" not in error and "Traceback" not in error
