"""Server fixtures: a state and an in-process client, and a real uvicorn server."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn
from starlette.testclient import TestClient

from pluginmgr.server import ServerState, TokenStore, create_app
from tests.server.server_helpers import build_state, wait_for

__all__ = ["client", "live_server", "state"]


@pytest.fixture
def state(tmp_path: Path, plugin_dir: Path) -> Iterator[ServerState]:
    built, close = build_state(tmp_path, plugin_dir)
    yield built
    close()


@pytest.fixture
def client(state: ServerState) -> Iterator[TestClient]:
    with TestClient(create_app(state)) as test_client:
        yield test_client


@pytest.fixture
def live_server(tmp_path: Path, plugin_dir: Path) -> Iterator[tuple[str, str]]:
    """uvicorn on 127.0.0.1:0 in a thread, with auth on; yields (base URL, admin token)."""
    tokens = TokenStore(tmp_path / "tokens.json")
    token = tokens.create("admin")
    state, close = build_state(tmp_path, plugin_dir, tokens=tokens)
    config = uvicorn.Config(create_app(state), host="127.0.0.1", port=0, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_for(lambda: server.started, timeout=10)
    port = server.servers[0].sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}", token
    server.should_exit = True
    thread.join(timeout=10)
    close()
