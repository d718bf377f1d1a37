"""What the server tests share: a server state over a plugin dir, trigger bodies, plugins."""

from __future__ import annotations

import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Collection, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from engine_runtime import Catalog, ProcessingEngine, Store
from pluginmgr import PluginManager, Settings
from pluginmgr.deps.installers import InstallOptions
from pluginmgr.deps.venv import PluginEnv, default_venv_path
from pluginmgr.node.triggers import source_factory
from pluginmgr.server import ServerState, TokenStore
from tests.helpers import wait_for

__all__ = [
    "ECHO",
    "TRIGGER",
    "Served",
    "build_state",
    "free_port",
    "serve",
    "trigger_body",
    "wait_for",
    "wait_healthy",
    "write_plugin",
]

TRIGGER = "/api/v3/configure/processing_engine_trigger"

ECHO = """
import json
def process_request(influxdb3_local, query_parameters, request_headers, request_body, args=None):
    if query_parameters.get("fail"):
        raise ValueError("asked to fail")
    return {"q": query_parameters, "h": request_headers, "b": request_body.decode()}
"""


def write_plugin(plugin_dir: Path, name: str, code: str) -> str:
    (plugin_dir / name).write_text(textwrap.dedent(code), encoding="utf-8")
    return name


def build_state(
    tmp_path: Path,
    plugin_dir: Path,
    *,
    tokens: TokenStore | None = None,
    authz_disabled: Collection[str] = (),
    install_options: InstallOptions | None = None,
    request_timeout: float | None = 30.0,
    store: Store | None = None,
) -> tuple[ServerState, Callable[[], None]]:
    """An engine, a manager and a venv over ``plugin_dir``; returns the state and a closer.

    :param store: the engine's store (closed by the closer when it has ``close``); a fresh
        `MemoryStore` by default.
    """
    settings = Settings(
        plugin_dir=plugin_dir, cache_dir=tmp_path / "cache", lock_path=plugin_dir / "plugins.lock"
    )
    manager = PluginManager(settings)
    engine = ProcessingEngine(
        Catalog(None), store=store, plugin_dir=plugin_dir, source_for=source_factory(manager)
    )
    engine.start()
    state = ServerState(
        engine=engine,
        manager=manager,
        plugin_dir=plugin_dir,
        env=PluginEnv(default_venv_path(plugin_dir)),
        install_options=install_options or InstallOptions(offline=True),
        tokens=tokens,
        authz_disabled=frozenset(authz_disabled),
        request_timeout=request_timeout,
    )

    def close() -> None:
        engine.shutdown()
        manager.close()
        closer = getattr(store, "close", None)
        if closer is not None:
            closer()

    return state, close


def trigger_body(name: str, plugin: str, spec: str, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "db": "db",
        "plugin_filename": plugin,
        "trigger_name": name,
        "trigger_specification": spec,
        "trigger_settings": {"run_async": False, "error_behavior": "log"},
        "trigger_arguments": None,
        "disabled": False,
    }
    body.update(extra)
    return body


def wait_healthy(url: str, process: subprocess.Popen[str], *, timeout: float = 60.0) -> None:
    """Poll ``url``/health until a `pluginmgr serve` process answers; fail with its stderr if
    it exits first or does not answer within ``timeout`` seconds.

    With auth on, ``/health`` needs a token (InfluxDB 3 Core's default) and these servers may
    have none yet: a 401 says the server is up just as well as a 200.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code in (200, 401):
                return
        except httpx.TransportError:
            time.sleep(0.05)
        if process.poll() is not None:
            _out, err = process.communicate()
            raise AssertionError(f"pluginmgr serve exited: {err}")
    raise AssertionError(f"pluginmgr serve did not start within {timeout:g}s")


def free_port() -> int:
    """A loopback port nobody listens on right now (for a `pluginmgr serve` subprocess)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Served:
    """A `pluginmgr serve` subprocess started by `serve`."""

    url: str
    process: subprocess.Popen[str]
    #: what it wrote to stderr, once `serve` has stopped it
    stderr: str = ""


@contextmanager
def serve(
    plugin_dir: Path, root: Path, *args: str, env: Mapping[str, str] | None = None
) -> Iterator[Served]:
    """`pluginmgr serve --without-auth` over ``plugin_dir`` on a free loopback port, its data
    and cache dirs under ``root``, with ``args`` added; yields once it answers /health, then
    stops it (SIGTERM, SIGKILL after 30 s) and keeps its stderr."""
    port = free_port()
    command = [sys.executable, "-m", "pluginmgr", "serve", "--plugin-dir", str(plugin_dir)]
    command += ["--data-dir", str(root / "data"), "--cache-dir", str(root / "cache")]
    command += ["--http-bind", f"127.0.0.1:{port}", "--without-auth", *args]
    process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True, env=env)
    served = Served(f"http://127.0.0.1:{port}", process)
    try:
        wait_healthy(served.url, process)
        yield served
    finally:
        if process.poll() is None:
            process.terminate()
        try:
            _out, served.stderr = process.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            _out, served.stderr = process.communicate()
