"""``/ping``, ``/health`` and ``/api/v1/health`` as InfluxDB 3 answers them."""

from __future__ import annotations

import importlib.metadata
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from pluginmgr.server import BUILD, HEALTH_PATHS, ServerState, TokenStore, create_app
from tests.server.server_helpers import build_state

VERSION = importlib.metadata.version("pluginmgr")


@pytest.fixture
def guarded(tmp_path: Path, plugin_dir: Path) -> Iterator[TestClient]:
    """Auth on, one admin token (unused: `--disable-authz health,ping` lets these through)."""
    tokens = TokenStore(tmp_path / "tokens.json")
    tokens.create("admin")
    state, close = build_state(tmp_path, plugin_dir, tokens=tokens, authz_disabled=HEALTH_PATHS)
    with TestClient(create_app(state)) as client:
        yield client
    close()


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_ping_answers_the_version_in_the_body_and_headers(guarded: TestClient, method: str) -> None:
    response = guarded.request(method, "/ping")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.headers["x-influxdb-version"] == VERSION != "unknown"
    assert response.headers["x-influxdb-build"] == BUILD
    assert uuid.UUID(response.headers["request-id"]) == uuid.UUID(response.headers["x-request-id"])
    body = response.json()
    assert set(body) == {"product_name", "version", "revision", "process_id"}
    assert body["product_name"] == "pluginmgr"
    assert body["version"] == VERSION
    assert uuid.UUID(body["process_id"])


def test_ping_keeps_its_process_id_and_gives_each_request_its_own_id(guarded: TestClient) -> None:
    first, second = guarded.get("/ping"), guarded.get("/ping")
    assert first.json()["process_id"] == second.json()["process_id"]
    assert first.headers["request-id"] != second.headers["request-id"]


def test_ping_answers_head_with_the_headers_and_no_body(guarded: TestClient) -> None:
    response = guarded.head("/ping")
    assert response.status_code == 200 and response.content == b""
    assert response.headers["x-influxdb-version"] == VERSION


@pytest.mark.parametrize("path", ["/health", "/api/v1/health"])
def test_health_is_ok_without_a_token(guarded: TestClient, path: str) -> None:
    response = guarded.get(path)
    assert (response.status_code, response.text) == (200, "OK")
    assert guarded.get(path, headers={"Accept": "*/*"}).text == "OK"
    assert guarded.head(path).status_code == 200


def test_health_answers_influxdb_2s_object_to_a_json_only_client(guarded: TestClient) -> None:
    body = guarded.get("/health", headers={"Accept": "application/json"}).json()
    assert body["status"] == "pass" and body["version"] == VERSION
    assert set(body) == {"name", "message", "status", "checks", "version", "commit"}


def test_ping_and_health_need_a_token_by_default(tmp_path: Path, plugin_dir: Path) -> None:
    tokens = TokenStore(tmp_path / "tokens.json")
    token = tokens.create("admin")
    state, close = build_state(tmp_path, plugin_dir, tokens=tokens)  # Core's default
    with TestClient(create_app(state)) as client:
        for path in ("/ping", "/health", "/api/v1/health"):
            assert client.get(path).status_code == 401
        assert client.get("/ping", headers={"Authorization": f"Bearer {token}"}).is_success
    close()


def test_a_state_reports_the_installed_version_unless_told(state: ServerState) -> None:
    assert state.version == VERSION
    assert ServerState(**{**_fields(state), "version": "9.9.9"}).version == "9.9.9"


def _fields(state: ServerState) -> dict[str, object]:
    return {name: getattr(state, name) for name in state.__dataclass_fields__}
