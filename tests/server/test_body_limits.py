"""Every request body the server reads is capped (``--max-http-request-size``: 413), sent
with a Content-Length or chunked, and deeply nested JSON answers 400, never 500."""

from __future__ import annotations

import contextlib
import dataclasses
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn

from pluginmgr.server import create_app
from tests.server.server_helpers import build_state, wait_for

_CAP = 4096
#: (method, path) of every endpoint kind that reads a body
_BODY_ENDPOINTS = [
    ("POST", "/api/v3/write_lp?db=db"),
    ("POST", "/api/v2/write?bucket=db"),
    ("POST", "/write?db=db"),
    ("POST", "/api/v3/query_sql"),
    ("POST", "/query?db=db"),
    ("POST", "/api/v3/query_influxql"),
    ("POST", "/api/v3/configure/database"),
    ("DELETE", "/api/v3/configure/database"),
    ("POST", "/api/v3/configure/table"),
    ("POST", "/api/v3/configure/processing_engine_trigger"),
    ("POST", "/api/v3/plugin_test/wal"),
    ("POST", "/api/v3/plugins/files"),
    ("POST", "/api/v3/engine/hook"),
]
#: JSON endpoints: a body of 100,000 nested arrays must answer 400
_JSON_ENDPOINTS = [
    "/api/v3/query_sql",
    "/api/v3/query_influxql",
    "/api/v3/configure/database",
    "/api/v3/configure/table",
    "/api/v3/configure/processing_engine_trigger",
    "/api/v3/plugin_test/wal",
    "/api/v3/plugins/files",
    "/api/v3/configure/plugin_environment/install_packages",
]
_DEEP = "[" * 100_000 + "]" * 100_000


@contextlib.contextmanager
def _serving(tmp_path: Path, plugin_dir: Path, cap: int) -> Iterator[str]:
    """A real uvicorn server without auth whose bodies are capped at ``cap`` bytes."""
    built, close = build_state(tmp_path, plugin_dir)
    state = dataclasses.replace(built, max_request_bytes=cap)
    config = uvicorn.Config(create_app(state), host="127.0.0.1", port=0, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_for(lambda: server.started, timeout=20)
    try:
        yield f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=20)
        close()


@pytest.fixture
def url(tmp_path: Path, plugin_dir: Path) -> Iterator[str]:
    """A server capped at ``_CAP`` bytes."""
    with _serving(tmp_path, plugin_dir, _CAP) as base:
        yield base


@pytest.fixture
def deep_url(tmp_path: Path, plugin_dir: Path) -> Iterator[str]:
    """As `url`, capped at 1 MiB so that 200,000 brackets are read and parsed."""
    with _serving(tmp_path, plugin_dir, 1024 * 1024) as base:
        yield base


@pytest.mark.parametrize(("method", "path"), _BODY_ENDPOINTS)
def test_body_over_the_cap_answers_413(url: str, method: str, path: str) -> None:
    body = b'{"db": "' + b"x" * (_CAP * 2) + b'"}'
    response = httpx.request(method, f"{url}{path}", content=body, timeout=30)
    assert response.status_code == 413, response.text
    assert "--max-http-request-size" in response.json()["error"]


@pytest.mark.parametrize(("method", "path"), _BODY_ENDPOINTS)
def test_chunked_body_over_the_cap_answers_413(url: str, method: str, path: str) -> None:
    """No Content-Length: the cap counts what is read, and stops reading there."""

    def chunks() -> Iterator[bytes]:
        for _ in range(64):
            yield b"m v=1i\n" * 100

    headers = {"content-type": "application/json"}
    response = httpx.request(method, f"{url}{path}", content=chunks(), headers=headers, timeout=30)
    assert response.status_code == 413, response.text


@pytest.mark.parametrize("path", _JSON_ENDPOINTS)
def test_deeply_nested_json_answers_400(deep_url: str, path: str) -> None:
    headers = {"content-type": "application/json"}
    response = httpx.post(f"{deep_url}{path}", content=_DEEP, headers=headers, timeout=30)
    assert response.status_code == 400, response.text
    assert "nested too deeply" in response.json()["error"]


def test_deeply_nested_query_params_answer_400(deep_url: str) -> None:
    nested = '{"a": ' * 50_000 + "1" + "}" * 50_000
    sql = httpx.post(
        f"{deep_url}/api/v3/query_sql",
        json={"db": "db", "q": "SELECT 1", "params": nested},  # params as a JSON string
        timeout=30,
    )
    v1 = httpx.post(
        f"{deep_url}/query", data={"db": "db", "q": "SELECT 1", "params": nested}, timeout=30
    )
    for response in (sql, v1):
        assert response.status_code == 400, response.text
        assert "nested too deeply" in response.json()["error"]
