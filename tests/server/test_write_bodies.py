"""Write bodies as real clients send them: gzip, size caps, precisions (``auto`` by magnitude)."""

from __future__ import annotations

import dataclasses
import gzip
import zlib
from collections.abc import Iterator

import httpx
import pytest
from starlette.testclient import TestClient

from pluginmgr.server import ServerState, create_app

WRITE_ENDPOINTS = ["/api/v3/write_lp?db=db", "/api/v2/write?bucket=db"]


def _times(client: TestClient) -> list[str]:
    sql = "SELECT time FROM cpu ORDER BY time"
    response = client.get("/api/v3/query_sql", params={"db": "db", "q": sql})
    assert response.status_code == 200, response.text
    return [row["time"] for row in response.json()]


def _count(client: TestClient) -> int:
    sql = "SELECT count(*) AS n FROM cpu"
    response = client.get("/api/v3/query_sql", params={"db": "db", "q": sql})
    if response.status_code != 200:  # no such table: nothing was written
        return 0
    return int(response.json()[0]["n"])


@pytest.fixture
def small_limit_client(state: ServerState) -> Iterator[TestClient]:
    limited = dataclasses.replace(state, max_request_bytes=4096)
    with TestClient(create_app(limited)) as test_client:
        yield test_client


# -- Content-Encoding -------------------------------------------------------------------------


@pytest.mark.parametrize("url", WRITE_ENDPOINTS)
@pytest.mark.parametrize("encoding", ["gzip", "x-gzip", "GZIP", "identity, gzip"])
def test_gzip_body_is_written_exactly(client: TestClient, url: str, encoding: str) -> None:
    lp = "\n".join(f"cpu,host=h{i % 3} usage={i}.5 {1_700_000_000 + i}" for i in range(500))
    response = client.post(
        url + "&precision=s",
        content=gzip.compress(lp.encode()),
        headers={"Content-Encoding": encoding},
    )
    assert response.status_code == 204, response.text
    rows = client.get(
        "/api/v3/query_sql",
        params={"db": "db", "q": "SELECT host, usage, time FROM cpu ORDER BY time"},
    ).json()
    assert len(rows) == 500
    assert rows[0] == {"host": "h0", "usage": 0.5, "time": "2023-11-14T22:13:20"}
    assert rows[-1] == {"host": "h1", "usage": 499.5, "time": "2023-11-14T22:21:39"}


def test_identity_and_concatenated_gzip_members(client: TestClient) -> None:
    plain = client.post(
        "/api/v3/write_lp?db=db", content=b"cpu v=1 1", headers={"Content-Encoding": "identity"}
    )
    assert plain.status_code == 204, plain.text
    members = gzip.compress(b"cpu v=2 2\n") + gzip.compress(b"cpu v=3 3\n")
    both = client.post(
        "/api/v3/write_lp?db=db&precision=ns", content=members, headers={"Content-Encoding": "gzip"}
    )
    assert both.status_code == 204, both.text
    assert _count(client) == 3


def test_gzip_applied_twice_is_inflated_twice(client: TestClient) -> None:
    twice = gzip.compress(gzip.compress(b"cpu v=1 1"))
    response = client.post(
        "/api/v3/write_lp?db=db", content=twice, headers={"Content-Encoding": "gzip, gzip"}
    )
    assert response.status_code == 204, response.text
    assert _count(client) == 1


def test_gzip_over_a_real_socket_in_chunks(live_server: tuple[str, str]) -> None:
    base, token = live_server
    lp = "\n".join(f"cpu v={i} {i}" for i in range(20_000)).encode()
    compressed = gzip.compress(lp)

    def chunks() -> Iterator[bytes]:  # sent chunked: no Content-Length, inflated as it arrives
        for start in range(0, len(compressed), 1000):
            yield compressed[start : start + 1000]

    headers = {"Authorization": f"Bearer {token}", "Content-Encoding": "gzip"}
    with httpx.Client(base_url=base, headers=headers, timeout=30) as http:
        response = http.post("/api/v3/write_lp?db=db&precision=ns", content=chunks())
        assert response.status_code == 204, response.text
        counted = http.get(
            "/api/v3/query_sql", params={"db": "db", "q": "SELECT count(*) AS n FROM cpu"}
        )
        assert counted.json() == [{"n": 20_000}]


@pytest.mark.parametrize("url", WRITE_ENDPOINTS)
def test_unknown_encoding_is_415(client: TestClient, url: str) -> None:
    response = client.post(url, content=b"cpu v=1", headers={"Content-Encoding": "br"})
    assert response.status_code == 415
    assert "'br'" in response.json()["error"]
    assert "gzip or identity" in response.json()["error"]
    assert _count(client) == 0


@pytest.mark.parametrize(
    "body",
    [
        b"cpu v=1 1",  # not gzip at all
        gzip.compress(b"cpu v=1 1")[:-12],  # cut mid-stream
        gzip.compress(b"cpu v=1 1")[:-4] + b"\0\0\0\0",  # wrong length in the trailer
    ],
    ids=["plain", "truncated", "bad-trailer"],
)
def test_corrupt_gzip_is_400_and_writes_nothing(client: TestClient, body: bytes) -> None:
    response = client.post(
        "/api/v3/write_lp?db=db", content=body, headers={"Content-Encoding": "gzip"}
    )
    assert response.status_code == 400
    assert "not valid gzip data" in response.json()["error"]
    assert _count(client) == 0


# -- size caps --------------------------------------------------------------------------------


def test_gzip_bomb_at_the_default_limit_is_413_and_writes_nothing(client: TestClient) -> None:
    # 10 MiB + 1 of one repeated line: ~10 KB compressed, one byte over the cap once inflated
    line = b"cpu v=1 1\n"
    inflated = line * (10 * 1024 * 1024 // len(line)) + b"\n" * (10 * 1024 * 1024 % len(line) + 1)
    bomb = zlib.compress(inflated, 9, wbits=31)
    assert len(bomb) < 64 * 1024
    response = client.post(
        "/api/v3/write_lp?db=db", content=bomb, headers={"Content-Encoding": "gzip"}
    )
    assert response.status_code == 413
    assert "10485760 bytes (--max-http-request-size)" in response.json()["error"]
    assert _count(client) == 0
    # exactly at the cap is accepted
    at_cap = zlib.compress(inflated[:-1], 9, wbits=31)
    ok = client.post("/api/v3/write_lp?db=db", content=at_cap, headers={"Content-Encoding": "gzip"})
    assert ok.status_code == 204, ok.text


@pytest.mark.parametrize("url", WRITE_ENDPOINTS)
def test_plain_body_over_the_limit_is_413(small_limit_client: TestClient, url: str) -> None:
    body = b"cpu v=1 1\n" * 410  # 4100 bytes
    response = small_limit_client.post(url, content=body)
    assert response.status_code == 413
    assert "more than 4096 bytes" in response.json()["error"]

    def stream() -> Iterator[bytes]:  # no Content-Length: counted as it arrives
        yield body[:2000]
        yield body[2000:]

    chunked = small_limit_client.post(url, content=stream())
    assert chunked.status_code == 413
    assert _count(small_limit_client) == 0
    assert small_limit_client.post(url, content=body[:4090]).status_code == 204


def test_json_bodies_are_decoded_and_capped_too(small_limit_client: TestClient) -> None:
    created = small_limit_client.post(
        "/api/v3/configure/database",
        content=gzip.compress(b'{"db": "zipped"}'),
        headers={"Content-Encoding": "gzip", "Content-Type": "application/json"},
    )
    assert created.status_code in (200, 201, 204), created.text
    big = small_limit_client.post(
        "/api/v3/configure/database", content=b'{"db": "' + b"x" * 5000 + b'"}'
    )
    assert big.status_code == 413


# -- precision --------------------------------------------------------------------------------


def test_auto_precision_is_the_v3_default_and_guesses_by_magnitude(client: TestClient) -> None:
    # the docs' example: seconds, stored at 2023-11-14T22:13:20, not 1970-01-01T00:00:01.7
    lp = "\n".join(
        [
            "cpu,u=s v=1 1700000000",
            "cpu,u=ms v=1 1700000000001",
            "cpu,u=us v=1 1700000000000002",
            "cpu,u=ns v=1 1700000000000000003",
        ]
    )
    response = client.post("/api/v3/write_lp?db=db", content=lp)
    assert response.status_code == 204, response.text
    assert _times(client) == [
        "2023-11-14T22:13:20",
        "2023-11-14T22:13:20.000000003",
        "2023-11-14T22:13:20.000002",
        "2023-11-14T22:13:20.001",
    ]


@pytest.mark.parametrize(
    ("stamp", "expected"),
    [
        ("4999999999", "2128-06-11T08:53:19"),  # the largest seconds guess
        ("5000000000", "1970-02-27T20:53:20"),  # the smallest milliseconds guess
        ("4999999999999", "2128-06-11T08:53:19.999"),
        ("5000000000000", "1970-02-27T20:53:20"),  # the smallest microseconds guess
        ("4999999999999999", "2128-06-11T08:53:19.999999"),
        ("5000000000000000", "1970-02-27T20:53:20"),  # the smallest nanoseconds guess
        ("-1", "1969-12-31T23:59:59"),
    ],
)
def test_auto_precision_boundaries_over_http(client: TestClient, stamp: str, expected: str) -> None:
    response = client.post("/api/v3/write_lp?db=db&precision=auto", content=f"cpu v=1 {stamp}")
    assert response.status_code == 204, response.text
    assert _times(client) == [expected]


@pytest.mark.parametrize("url", WRITE_ENDPOINTS)
@pytest.mark.parametrize(
    ("precision", "stamp"),
    [
        ("s", "1700000000"),
        ("second", "1700000000"),
        ("ms", "1700000000000"),
        ("millisecond", "1700000000000"),
        ("us", "1700000000000000"),
        ("u", "1700000000000000"),
        ("microsecond", "1700000000000000"),
        ("ns", "1700000000000000000"),
        ("n", "1700000000000000000"),
        ("nanosecond", "1700000000000000000"),
        ("auto", "1700000000"),
    ],
)
def test_every_precision_name_on_every_write_endpoint(
    client: TestClient, url: str, precision: str, stamp: str
) -> None:
    response = client.post(f"{url}&precision={precision}", content=f"cpu v=1 {stamp}")
    assert response.status_code == 204, response.text
    assert _times(client) == ["2023-11-14T22:13:20"]


def test_v2_default_precision_stays_nanoseconds(client: TestClient) -> None:
    response = client.post("/api/v2/write?bucket=db", content="cpu v=1 1700000000")
    assert response.status_code == 204, response.text
    assert _times(client) == ["1970-01-01T00:00:01.700"]
