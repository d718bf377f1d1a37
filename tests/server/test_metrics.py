"""``GET /metrics``: Prometheus text, one registry per server, counters fed by the engine."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families
from starlette.testclient import TestClient

from engine_runtime import DurableStore
from pluginmgr.server import ServerState, TokenStore, create_app
from tests.server.server_helpers import TRIGGER, build_state, trigger_body, wait_for, write_plugin

FAILS_ON_ODD = """
def process_writes(influxdb3_local, table_batches, args=None):
    for batch in table_batches:
        for row in batch["rows"]:
            if row["v"] % 2:
                raise ValueError("odd")
"""


def samples(
    client: TestClient, **headers: str
) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of ``/metrics`` by (name, sorted labels)."""
    response = client.get("/metrics", headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    found = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def value(
    found: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str
) -> float:
    return found.get((name, tuple(sorted(labels.items()))), 0.0)


@pytest.fixture
def durable_client(tmp_path: Path, plugin_dir: Path) -> Iterator[TestClient]:
    store = DurableStore(tmp_path / "store", flush_interval=0.01)
    state, close = build_state(tmp_path, plugin_dir, store=store)
    with TestClient(create_app(state)) as client:
        yield client
    close()


def test_metrics_needs_a_token(tmp_path: Path, plugin_dir: Path) -> None:
    tokens = TokenStore(tmp_path / "tokens.json")
    token = tokens.create("reader", admin=False)
    state, close = build_state(tmp_path, plugin_dir, tokens=tokens)
    with TestClient(create_app(state)) as client:
        assert client.get("/metrics").status_code == 401
        found = samples(client, Authorization=f"Bearer {token}")  # any valid token
        assert (
            value(
                found,
                "pluginmgr_http_requests_total",
                endpoint="/metrics",
                method="GET",
                status="401",
            )
            == 1
        )
    close()


def test_writes_lines_queries_and_requests_are_counted(client: TestClient) -> None:
    assert client.post("/api/v3/write_lp?db=db", content="m v=1 1\nm v=2 2").status_code == 204
    assert client.post("/api/v3/write_lp?db=db", content="m v=3 3\nbad").status_code == 400
    assert client.post("/api/v3/write_lp?db=db", content="bad").status_code == 400
    assert client.get("/api/v3/query_sql", params={"db": "db", "q": "SELECT * FROM m"}).is_success
    client.get("/api/v3/query_sql", params={"db": "db", "q": "SELECT nope FROM m"})
    found = samples(client)
    assert value(found, "pluginmgr_writes_total", origin="client", result="ok") == 1
    assert value(found, "pluginmgr_writes_total", origin="client", result="partial") == 1
    assert value(found, "pluginmgr_writes_total", origin="client", result="rejected") == 1
    assert value(found, "pluginmgr_lines_written_total", origin="client") == 3
    assert value(found, "pluginmgr_lines_rejected_total", origin="client") == 2
    assert value(found, "pluginmgr_queries_total", result="ok") == 1
    assert value(found, "pluginmgr_queries_total", result="error") == 1
    write = {"endpoint": "/api/v3/write_lp", "method": "POST"}
    assert value(found, "pluginmgr_http_requests_total", **write, status="204") == 1
    assert value(found, "pluginmgr_http_requests_total", **write, status="400") == 2
    assert (
        value(found, "pluginmgr_http_request_duration_seconds_count", endpoint="/api/v3/write_lp")
        == 3
    )


def test_trigger_runs_and_failures_are_labelled_by_trigger_and_type(
    client: TestClient, plugin_dir: Path
) -> None:
    assert client.post("/api/v3/configure/database", json={"db": "db"}).status_code == 200
    plugin = write_plugin(plugin_dir, "odd.py", FAILS_ON_ODD)
    assert client.post(TRIGGER, json=trigger_body("odd", plugin, "all_tables")).status_code == 200
    for n in (1, 2, 3):
        client.post("/api/v3/write_lp?db=db", content=f"m v={n}i {n}")
    labels = {"database": "db", "trigger": "odd", "type": "wal"}
    wait_for(
        lambda: value(samples(client), "pluginmgr_trigger_runs_total", **labels) == 3, timeout=10
    )
    found = samples(client)
    assert value(found, "pluginmgr_trigger_failures_total", **labels) == 2
    assert value(found, "pluginmgr_trigger_host_deaths_total", **labels) == 0
    assert value(found, "pluginmgr_triggers", state="running") == 1
    client.request("DELETE", TRIGGER, json={"db": "db", "trigger_name": "odd", "force": True})
    assert ("pluginmgr_trigger_runs_total", tuple(sorted(labels.items()))) not in samples(client)


def test_unknown_paths_share_one_label_and_request_triggers_one_template(
    client: TestClient,
) -> None:
    for path in ("/nope", "/nope/again", "/api/v3/engine/a", "/api/v3/engine/b"):
        client.get(path)
    found = samples(client)
    assert (
        value(found, "pluginmgr_http_requests_total", endpoint="other", method="GET", status="404")
        == 2
    )
    engine = {
        labels: count
        for (name, labels), count in found.items()
        if name == "pluginmgr_http_requests_total" and "/api/v3/engine/" in dict(labels)["endpoint"]
    }
    assert list(engine.values()) == [2]  # one series for every request trigger path


def test_wal_flushes_are_timed(durable_client: TestClient) -> None:
    for n in range(3):
        assert (
            durable_client.post("/api/v3/write_lp?db=db", content=f"m v={n} {n}").status_code == 204
        )
    found = samples(durable_client)
    assert value(found, "pluginmgr_wal_flush_duration_seconds_count") >= 1
    assert value(found, "pluginmgr_wal_flush_duration_seconds_sum") > 0
    assert value(found, "pluginmgr_wal_flushed_records_total") >= 3  # the database record too
    assert value(found, "pluginmgr_wal_flush_failures_total") == 0


def test_every_server_counts_on_its_own(
    tmp_path: Path, plugin_dir: Path, state: ServerState
) -> None:
    other, close = build_state(tmp_path / "other", plugin_dir)
    with TestClient(create_app(state)) as first, TestClient(create_app(other)) as second:
        first.post("/api/v3/write_lp?db=db", content="m v=1 1")
        assert value(samples(first), "pluginmgr_lines_written_total", origin="client") == 1
        assert value(samples(second), "pluginmgr_lines_written_total", origin="client") == 0
        assert value(samples(second), "pluginmgr_build_info", version=state.version) == 1
    close()
