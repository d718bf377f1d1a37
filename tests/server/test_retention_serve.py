"""Retention periods through ``pluginmgr serve`` with a data dir: the period survives a restart,
Flight queries do not see expired rows, and the persist at shutdown writes none of them."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pyarrow.parquet as pq  # type: ignore[import-untyped]  # pyarrow ships no stubs
import pytest
from influxdb_client_3 import InfluxDBClient3

from tests.server.server_helpers import serve

HOUR = 3600 * 10**9


def _count(url: str, database: str) -> int:
    params = {"db": database, "q": "SELECT v FROM cpu"}
    answer = httpx.get(f"{url}/api/v3/query_sql", params=params, timeout=30)
    assert answer.status_code == 200, answer.text
    return len(answer.json())


@pytest.mark.slow
def test_period_survives_a_restart_and_expired_rows_never_reach_the_files(
    plugin_dir: Path, tmp_path: Path
) -> None:
    now = time.time_ns()
    with serve(plugin_dir, tmp_path) as served:
        created = httpx.post(
            f"{served.url}/api/v3/configure/database",
            json={"db": "logs", "retention_period": "1h"},
            timeout=30,
        )
        assert created.status_code == 200, created.text
        lines = "\n".join(f"cpu,host=h{h} v={h} {now - h * HOUR}" for h in (0, 2, 30))
        written = httpx.post(
            f"{served.url}/api/v3/write_lp", params={"db": "logs"}, content=lines, timeout=30
        )
        assert written.status_code == 204, written.text
        assert _count(served.url, "logs") == 1
        client = InfluxDBClient3(host=served.url, token="unused", database="logs")  # type: ignore[no-untyped-call]  # the client has no annotations
        with client:
            assert client.query("SELECT v FROM cpu").num_rows == 1  # Flight
    files = sorted(tmp_path.rglob("*.parquet"))
    assert files, "the shutdown persisted nothing"
    kept = [pq.read_table(path) for path in files]
    assert sum(table.num_rows for table in kept) == 1
    with serve(plugin_dir, tmp_path) as served:
        sql = "SELECT retention_period_ns FROM system.databases WHERE database_name = 'logs'"
        answer = httpx.get(
            f"{served.url}/api/v3/query_sql", params={"db": "_internal", "q": sql}, timeout=30
        )
        assert answer.json() == [{"retention_period_ns": HOUR}]
        cleared = httpx.put(f"{served.url}/api/v3/configure/database", json={"db": "logs"})
        assert cleared.status_code == 200, cleared.text
        assert _count(served.url, "logs") == 1  # dropped from storage, not only hidden
