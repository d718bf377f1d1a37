"""A real `pluginmgr serve` app (uvicorn on 127.0.0.1:0, in a thread) for the CLI tests."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import uvicorn

from pluginmgr.deps.installers import InstallOptions
from pluginmgr.server import TokenStore, create_app
from tests.server.server_helpers import build_state, wait_for

__all__ = ["Live", "dead_url", "serving"]


@dataclass(frozen=True)
class Live:
    """A running server: its URL and its data dir (``tokens.json`` lives there)."""

    url: str
    data_dir: Path
    tokens: TokenStore | None


@contextmanager
def serving(
    tmp_path: Path,
    plugin_dir: Path,
    *,
    auth: bool = True,
    install_options: InstallOptions | None = None,
) -> Iterator[Live]:
    """Serve until exit; with ``auth``, tokens in ``DATA_DIR/tokens.json`` (none made yet)."""
    data_dir = tmp_path / "data"
    data_dir.mkdir(exist_ok=True)
    tokens = TokenStore(data_dir / "tokens.json") if auth else None
    state, close = build_state(tmp_path, plugin_dir, tokens=tokens, install_options=install_options)
    config = uvicorn.Config(create_app(state), host="127.0.0.1", port=0, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        wait_for(lambda: server.started, timeout=10)
        port = server.servers[0].sockets[0].getsockname()[1]
        yield Live(f"http://127.0.0.1:{port}", data_dir, tokens)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        close()


def dead_url() -> str:
    """A loopback URL nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"
