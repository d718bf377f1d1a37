"""The server rows of `bench/deps.py`: a whole ``pluginmgr serve`` start with N triggers, and
creating N triggers in-process, with every uv process counted."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Final

from _common import check
from _deps_fixtures import plugin_name

from engine_runtime import Catalog, ProcessingEngine
from pluginmgr import PluginManager, Settings
from pluginmgr.deps.installers import InstallOptions
from pluginmgr.deps.venv import PluginEnv, default_venv_path
from pluginmgr.node.triggers import create_trigger, source_factory

__all__ = ["serve_seconds", "trigger_creation"]

_SPEC: Final = "all_tables"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=1) as answer:  # noqa: S310 - loopback
            return bool(answer.status == 200)
    except OSError:
        return False


def _triggers(url: str) -> list[dict[str, str]]:
    path = f"{url}/api/v3/configure/processing_engine_trigger?db=db"
    with urllib.request.urlopen(path, timeout=60) as answer:  # noqa: S310 - loopback
        listed: list[dict[str, str]] = json.loads(answer.read())
    return listed


def serve_seconds(root: Path, plugin_dir: Path, triggers: int, env: dict[str, str]) -> float:
    """Seconds from ``pluginmgr serve`` starting to ``/health`` answering, with ``triggers``
    triggers (one per plugin) in its catalog; checks every one of them runs."""
    data_dir = root / "data"
    shutil.rmtree(data_dir, ignore_errors=True)
    catalog = Catalog(data_dir / "catalog.json")
    catalog.create_database("db")
    for i in range(triggers):
        catalog.create_trigger("db", f"t{i:03d}", plugin_name(i), _SPEC)
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    args = ["--plugin-dir", str(plugin_dir), "--data-dir", str(data_dir), "--without-auth"]
    args += ["--cache-dir", str(root / "cache"), "--offline", "--http-bind", f"127.0.0.1:{port}"]
    log = root / "serve.log"
    with log.open("wb") as err:
        began = time.perf_counter()
        process = subprocess.Popen(
            [sys.executable, "-m", "pluginmgr", "serve", *args],
            stdout=subprocess.DEVNULL,
            stderr=err,
            env=env,
        )
        try:
            deadline = time.monotonic() + 600
            while not _healthy(url):
                check(process.poll() is None, f"serve exited: {log.read_text()[-2000:]}")
                check(time.monotonic() < deadline, "serve never answered /health")
                time.sleep(0.005)
            seconds = time.perf_counter() - began
            states = [t["state"] for t in _triggers(url)]
            check(states == ["running"] * triggers, f"not every trigger runs: {states}")
        finally:
            process.terminate()
            process.wait(timeout=120)
    text = log.read_text()
    check("missing dependencies" not in text, f"a trigger lacked its packages: {text[-2000:]}")
    return seconds


def _counting_uv(root: Path) -> Path:
    """Make every uv process of this process go through a wrapper that logs it."""
    import uv

    real = uv.find_uv_bin()
    log = root / "uv-calls.log"
    wrapper = root / "uv-wrapper"
    wrapper.write_text(f'#!/bin/sh\necho "$*" >> "{log}"\nexec "{real}" "$@"\n')
    wrapper.chmod(0o755)
    uv.find_uv_bin = lambda: str(wrapper)
    return log


def trigger_creation(
    root: Path, plugin_dir: Path, triggers: int, index_url: str
) -> tuple[float, int]:
    """Seconds to create ``triggers`` triggers (one per plugin, all already in the lock) the
    way the server's route does, and how many uv processes that started."""
    import uv

    real = uv.find_uv_bin
    log = _counting_uv(root)
    settings = Settings(
        plugin_dir=plugin_dir, cache_dir=root / "cache", lock_path=plugin_dir / "plugins.lock"
    )
    path = list(sys.path)
    try:
        with PluginManager(settings) as manager:
            env = PluginEnv(default_venv_path(plugin_dir))
            options = InstallOptions(index_url=index_url)
            engine = ProcessingEngine(
                Catalog(None),
                plugin_dir=plugin_dir,
                source_for=source_factory(manager, env, sources=options),
            )
            engine.start()
            engine.create_database("db")
            began = time.perf_counter()
            for i in range(triggers):
                create_trigger(
                    engine, manager, "db", f"t{i:03d}", plugin_name(i), _SPEC,
                    env=env, install_options=options,
                )  # fmt: skip
            seconds = time.perf_counter() - began
            engine.shutdown()
    finally:
        uv.find_uv_bin = real
        sys.path[:] = path  # create_trigger activates the venv in this process
    calls = log.read_text().splitlines() if log.exists() else []
    return seconds, len(calls)
