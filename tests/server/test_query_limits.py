"""Queries under hostile load on a real uvicorn server: ``--query-timeout``, a client that
goes away mid-query, shutdown, and a write to one database while another is busy."""

from __future__ import annotations

import dataclasses
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pyarrow.flight as flight  # type: ignore[import-untyped]  # pyarrow ships no stubs
import pytest
import uvicorn

from pluginmgr.server import ServerState, create_app
from pluginmgr.server.app import cancel_queries_on_exit
from pluginmgr.server.flight import FlightService
from tests.server.server_helpers import build_state, wait_for

#: a cross join of 80,000 x 80,000 rows: minutes of CPU, a result batch every few ms
_ROWS = 80_000
_CROSS_JOIN = "SELECT a.v FROM a CROSS JOIN b WHERE (a.v * b.v) % 1000 = 7"
_QUICK = "SELECT count(*) AS n FROM a"


@dataclasses.dataclass
class Live:
    url: str
    state: ServerState
    server: uvicorn.Server


def _serve(state: ServerState) -> tuple[uvicorn.Server, threading.Thread, str]:
    config = uvicorn.Config(create_app(state), host="127.0.0.1", port=0, log_level="warning")
    server = uvicorn.Server(config)
    cancel_queries_on_exit(server, state)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_for(lambda: server.started, timeout=20)
    port = server.servers[0].sockets[0].getsockname()[1]
    return server, thread, f"http://127.0.0.1:{port}"


def _live_state(
    tmp_path: Path, plugin_dir: Path, timeout: float | None = None
) -> Iterator[ServerState]:
    built, close = build_state(tmp_path, plugin_dir)
    state = dataclasses.replace(built, query_timeout=timeout)
    for table in ("a", "b"):
        lines = "\n".join(f"{table} v={i}i {i}" for i in range(_ROWS))
        state.engine.write_lp("db", lines)
    try:
        yield state
    finally:
        close()


def _live(tmp_path: Path, plugin_dir: Path, timeout: float | None) -> Iterator[Live]:
    states = _live_state(tmp_path, plugin_dir, timeout)
    state = next(states)
    server, thread, url = _serve(state)
    yield Live(url, state, server)
    server.should_exit = True
    state.queries.cancel_all()
    thread.join(timeout=20)
    states.close()  # closes the engine


@pytest.fixture
def timed(tmp_path: Path, plugin_dir: Path) -> Iterator[Live]:
    """A server with ``--query-timeout 1s``."""
    yield from _live(tmp_path, plugin_dir, 1.0)


@pytest.fixture
def unlimited(tmp_path: Path, plugin_dir: Path) -> Iterator[Live]:
    """A server with ``--query-timeout 0`` (no limit)."""
    yield from _live(tmp_path, plugin_dir, None)


def _query(url: str, sql: str, *, timeout: float = 30.0) -> httpx.Response:
    return httpx.post(f"{url}/api/v3/query_sql", json={"db": "db", "q": sql}, timeout=timeout)


def _cpu_seconds_over(window: float) -> float:
    """CPU this process used during ``window`` seconds of wall time (all its threads)."""
    start = time.process_time()
    time.sleep(window)
    return time.process_time() - start


def _assert_cpu_released() -> None:
    # a cross join still running burns about one core per partition; idle is near zero
    wait_for(lambda: _cpu_seconds_over(1.0) < 0.5, timeout=10)


def test_query_timeout_answers_500_naming_the_flag(timed: Live) -> None:
    started = time.monotonic()
    response = _query(timed.url, _CROSS_JOIN)
    elapsed = time.monotonic() - started
    assert response.status_code == 500, response.text
    message = response.json()["error"]
    assert "query timeout of 1s" in message
    assert "--query-timeout" in message
    assert elapsed < 10, elapsed  # the whole join takes far longer
    assert timed.state.queries.timed_out == 1
    _assert_cpu_released()
    quick = _query(timed.url, _QUICK, timeout=10)
    assert quick.status_code == 200, quick.text
    assert quick.json() == [{"n": _ROWS}]


def test_influxql_runs_under_the_guard(timed: Live) -> None:
    quick = httpx.post(
        f"{timed.url}/api/v3/query_influxql",
        json={"db": "db", "q": "SELECT count(v) FROM a"},
        timeout=30,
    )
    assert quick.status_code == 200, quick.text  # runs under the guard, and answers
    assert quick.json()[0]["count"] == _ROWS


def test_client_disconnect_cancels_the_query(unlimited: Live) -> None:
    with pytest.raises(httpx.ReadTimeout):
        _query(unlimited.url, _CROSS_JOIN, timeout=1.0)
    wait_for(lambda: unlimited.state.queries.disconnected == 1, timeout=10)
    wait_for(lambda: unlimited.state.queries.running() == 0, timeout=10)
    _assert_cpu_released()
    quick = _query(unlimited.url, _QUICK, timeout=10)
    assert quick.status_code == 200, quick.text


def test_shutdown_stops_a_running_query(unlimited: Live) -> None:
    answers: list[httpx.Response] = []
    thread = threading.Thread(target=lambda: answers.append(_query(unlimited.url, _CROSS_JOIN)))
    thread.start()
    wait_for(lambda: unlimited.state.queries.running() == 1, timeout=10)
    unlimited.server.handle_exit(2, None)  # what uvicorn's SIGINT handler calls
    thread.join(timeout=15)
    assert not thread.is_alive()
    assert answers[0].status_code == 503, answers[0].text
    assert "shutting down" in answers[0].json()["error"]


def test_write_to_one_database_while_another_is_queried(unlimited: Live) -> None:
    """A long query on ``db`` (planned and running) does not hold up a write to ``other``."""

    def query_until_the_client_gives_up() -> None:
        with pytest.raises(httpx.ReadTimeout):
            _query(unlimited.url, _CROSS_JOIN, timeout=4.0)

    busy = threading.Thread(target=query_until_the_client_gives_up)
    busy.start()
    try:
        wait_for(lambda: unlimited.state.queries.running() == 1, timeout=10)
        started = time.monotonic()
        write = httpx.post(
            f"{unlimited.url}/api/v3/write_lp?db=other", content="m v=1i 1", timeout=10
        )
        assert write.status_code == 204, write.text
        assert time.monotonic() - started < 3  # the cross join is still running
        assert unlimited.state.queries.running() == 1
    finally:
        busy.join(timeout=20)


def test_flight_query_stops_at_the_timeout(tmp_path: Path, plugin_dir: Path) -> None:
    states = _live_state(tmp_path, plugin_dir)
    live = next(states)
    service = FlightService(
        "grpc://127.0.0.1:0",
        engine=live.engine,
        tokens=None,
        query_timeout=1.0,
        queries=live.queries,
    )
    try:
        client = flight.FlightClient(f"grpc://127.0.0.1:{service.port}")
        ticket = flight.Ticket(json.dumps({"database": "db", "sql_query": _CROSS_JOIN}))
        started = time.monotonic()
        with pytest.raises(flight.FlightError) as caught:
            client.do_get(ticket).read_all()
        assert time.monotonic() - started < 10
        assert "query timeout of 1s" in str(caught.value)
        assert "--query-timeout" in str(caught.value)
        wait_for(lambda: live.queries.running() == 0, timeout=10)
        _assert_cpu_released()
    finally:
        service.shutdown()
        states.close()  # closes the engine


def test_serve_takes_the_timeout_from_its_environment(tmp_path: Path) -> None:
    """`pluginmgr serve` with ``INFLUXDB3_QUERY_TIMEOUT=1s``: the cross join answers 500."""
    from tests.server.test_serve_flags import server_env, serving

    env = server_env(INFLUXDB3_QUERY_TIMEOUT="1s")
    args = ["--without-auth", "--object-store", "memory", "--plugin-dir", str(tmp_path / "p")]
    with serving(args, env) as running:
        for table in ("a", "b"):
            lines = "\n".join(f"{table} v={i}i {i}" for i in range(_ROWS))
            write = httpx.post(f"{running.url}/api/v3/write_lp?db=db", content=lines, timeout=60)
            assert write.status_code == 204, write.text
        response = _query(running.url, _CROSS_JOIN)
        assert response.status_code == 500, response.text
        assert "query timeout of 1s (--query-timeout)" in response.json()["error"]
    assert running.code == 0, running.stderr
