"""What the fault tests of the engine share: calling a request trigger, reading a trigger's
log, the shared plugin host's pid."""

from __future__ import annotations

import os
import time
from pathlib import Path

from engine_runtime import ProcessingEngine
from engine_runtime.host import PluginHost
from engine_runtime.host.pool import SHARED
from tests.helpers import wait_for


def texts(engine: ProcessingEngine, trigger: str, level: str) -> list[str]:
    return [r.text for r in engine.logs.records("db", trigger) if r.level == level]


def call(engine: ProcessingEngine, path: str, **query: str) -> tuple[int, str, float]:
    started = time.monotonic()
    answer = engine.handle_request(path, query_params=query, headers={}, body=b"")
    return answer.status, answer.body.decode(), time.monotonic() - started


def served(engine: ProcessingEngine, path: str) -> None:
    """A call of ``path`` answers ``ok``; the first after a host was replaced may time out on
    a loaded machine (the fresh host's start counts against the run's timeout)."""
    wait_for(lambda: call(engine, path)[:2] == (200, "ok"), timeout=15)


def host_pid(engine: ProcessingEngine) -> int:
    return int(wait_for(lambda: engine.hosts.pids().get(SHARED)))


def host_pid_of(host: PluginHost) -> int:
    pid = host.pid
    assert pid is not None
    return pid


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def running(pid: int) -> bool:
    """Whether ``pid`` runs: neither gone nor a zombie (a container's init may never reap)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rpartition(")")[2].split()[0] not in ("Z", "X")
