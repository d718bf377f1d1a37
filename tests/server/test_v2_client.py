"""The InfluxDB 2 Python client (``influxdb-client``), unchanged, against a real uvicorn server.

Every write goes through ``/api/v2/write`` with the client's own encoding (gzip or not), batching
and precision handling; every point is read back exactly through ``/api/v3/query_sql``.
"""

from __future__ import annotations

import importlib.metadata
from typing import Any

import httpx
import pytest
from influxdb_client import InfluxDBClient, Point, WritePrecision
from influxdb_client.client.write_api import SYNCHRONOUS, WriteOptions

#: ns per unit of each precision
SCALE = {
    WritePrecision.NS: 1,
    WritePrecision.US: 1_000,
    WritePrecision.MS: 1_000_000,
    WritePrecision.S: 1_000_000_000,
}
#: a time in 2024 that each precision can carry exactly (whole seconds plus a little)
BASE_S = 1_717_000_000


def stamp(precision: str, index: int) -> int:
    """Point ``index``'s time in ``precision`` units: distinct, and exact in every unit."""
    return BASE_S * (1_000_000_000 // SCALE[precision]) + index


def query(url: str, token: str, sql: str, db: str) -> list[dict[str, Any]]:
    response = httpx.get(
        f"{url}/api/v3/query_sql",
        params={"db": db, "q": sql},
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    rows: list[dict[str, Any]] = response.json()
    return rows


def read_back(url: str, token: str, db: str, table: str) -> list[tuple[Any, ...]]:
    sql = f"SELECT host, n, v, ok, s, CAST(time AS BIGINT) AS t FROM {table} ORDER BY t"  # noqa: S608 - test table names
    return [tuple(row.values()) for row in query(url, token, sql, db)]


def points(table: str, precision: str, count: int) -> list[Point]:
    return [
        Point(table)
        .tag("host", f"h{i % 3}")
        .field("n", i)
        .field("v", i + 0.25)
        .field("ok", i % 2 == 0)
        .field("s", f'say "{i}", ok')
        .time(stamp(precision, i), precision)
        for i in range(count)
    ]


def expected(precision: str, count: int) -> list[tuple[Any, ...]]:
    return [
        (
            f"h{i % 3}",
            i,
            i + 0.25,
            i % 2 == 0,
            f'say "{i}", ok',
            stamp(precision, i) * SCALE[precision],
        )
        for i in range(count)
    ]


@pytest.mark.parametrize("gzip", [True, False], ids=["gzip", "plain"])
@pytest.mark.parametrize("precision", list(SCALE))
def test_synchronous_writes_in_every_precision_read_back_exactly(
    live_server: tuple[str, str], precision: str, gzip: bool
) -> None:
    url, token = live_server
    with InfluxDBClient(url=url, token=token, org="x", enable_gzip=gzip) as client:
        write_api = client.write_api(write_options=SYNCHRONOUS)
        write_api.write(
            bucket="db", record=points("sync", precision, 20), write_precision=precision
        )
    assert read_back(url, token, "db", "sync") == expected(precision, 20)


@pytest.mark.parametrize("gzip", [True, False], ids=["gzip", "plain"])
def test_the_batching_writer_delivers_every_point_on_flush(
    live_server: tuple[str, str], gzip: bool
) -> None:
    url, token = live_server
    errors: list[Any] = []
    batches: list[Any] = []
    # the client's scheduler thread keeps its flush timer past close(), and the interpreter
    # waits for it at exit: a long interval held every test run up by that long
    options = WriteOptions(batch_size=250, flush_interval=2_000, max_retries=0)
    with InfluxDBClient(url=url, token=token, org="x", enable_gzip=gzip) as client:
        write_api = client.write_api(
            write_options=options,
            success_callback=lambda conf, data: batches.append(conf),
            error_callback=lambda conf, data, exc: errors.append(exc),
        )
        for precision in SCALE:
            write_api.write(
                "db", record=points(f"batch_{precision}", precision, 600), write_precision=precision
            )
        write_api.close()  # influxdb-client's flush: sends what is buffered, then stops
    assert errors == []
    assert len(batches) >= 4 * 600 // 250
    for precision in SCALE:
        assert read_back(url, token, "db", f"batch_{precision}") == expected(precision, 600)


def test_ping_version_build_and_health(live_server: tuple[str, str]) -> None:
    url, token = live_server
    with InfluxDBClient(url=url, token=token, org="x") as client:
        assert client.ping() is True
        assert client.version() == importlib.metadata.version("pluginmgr")
        assert client.build() == "pluginmgr"
        with pytest.warns(DeprecationWarning, match="Call 'ping"):  # the client's, not ours
            health = client.health()
        assert health.status == "pass", health.message


def test_a_bad_token_is_an_error_the_client_reports(live_server: tuple[str, str]) -> None:
    url, _ = live_server
    with InfluxDBClient(url=url, token="apiv3_wrong", org="x") as client:
        write_api = client.write_api(write_options=SYNCHRONOUS)
        with pytest.raises(Exception, match="401"):
            write_api.write(bucket="db", record="m v=1 1")
