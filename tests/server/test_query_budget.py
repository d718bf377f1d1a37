"""One ``/query`` request of up to 100 InfluxQL statements is one query: the statements share
the ``--query-timeout`` and one result budget (`DEFAULT_QUERY_RESULT_BYTES`), so a small
request of many statements can neither run on past the timeout nor fill the memory."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.server.server_helpers import build_state
from tests.server.test_query_limits import Live, _serve

_ROWS = 40_000


@pytest.fixture
def live(tmp_path: Path, plugin_dir: Path) -> Iterator[Live]:
    """A server with an 8 MiB result budget and a 1 s query timeout, ``m`` of 40,000 rows."""
    built, close = build_state(tmp_path, plugin_dir)
    state = dataclasses.replace(built, query_timeout=1.0, query_result_bytes=8 * 2**20)
    state.engine.write_lp("db", "\n".join(f"m,host=h{i % 7} v={i} {i}" for i in range(_ROWS)))
    server, thread, url = _serve(state)
    try:
        yield Live(url, state, server)
    finally:
        server.should_exit = True
        state.queries.cancel_all()
        thread.join(timeout=20)
        close()


def _influxql(url: str, q: str) -> httpx.Response:
    return httpx.post(f"{url}/query", data={"db": "db", "q": q}, timeout=30)


def test_statements_share_one_result_budget(live: Live) -> None:
    one = _influxql(live.url, "SELECT v FROM m")  # 80,000 values: 5 MB at 64 bytes a value
    assert one.status_code == 200, one.text[:200]
    assert len(one.json()["results"][0]["series"][0]["values"]) == _ROWS
    answer = _influxql(live.url, "; ".join(["SELECT v FROM m"] * 100))
    assert answer.status_code == 413, answer.text[:200]
    message = answer.json()["error"]
    assert "query results exceed the limit of 8 MiB per request" in message
    sql = httpx.post(
        f"{live.url}/api/v3/query_sql",
        json={"db": "db", "q": "SELECT * FROM m a CROSS JOIN (SELECT 1) b"},
        timeout=30,
    )
    assert sql.status_code == 413, sql.text[:200]  # SQL answers are held in memory too


def test_statements_share_one_timeout(live: Live) -> None:
    slow = "SELECT percentile(v, 50) FROM m WHERE v > 0 GROUP BY host"
    started = time.monotonic()
    answer = _influxql(live.url, "; ".join([slow] * 100))
    elapsed = time.monotonic() - started
    assert answer.status_code == 500, answer.text[:200]
    assert "query timeout of 1s (--query-timeout)" in answer.json()["error"]
    assert elapsed < 2.5, elapsed
    time.sleep(0.5)
    assert live.state.queries.running() == 0
    before = time.process_time()
    time.sleep(0.5)
    assert time.process_time() - before < 0.1  # no statement runs on after the answer
