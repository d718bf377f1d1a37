"""Processes a plugin starts: reaped when they exit, killed when their trigger or the server
stops, with a real ``serve`` and real ``sleep`` children."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.server.server_helpers import TRIGGER, serve, trigger_body, write_plugin

#: starts a sleeper it never waits for, a shell with a sleeper of its own, a daemon, and forks a
#: child that exits at once (a zombie unless someone reaps it); answers their pids
_SPAWNER = """
import os, subprocess
def process_request(influxdb3_local, query_parameters, request_headers, request_body, args=None):
    sleeper = subprocess.Popen(["sleep", "300"])
    shell = subprocess.Popen(["sh", "-c", "sleep 300 & wait"], start_new_session=True)
    # a daemon: a session of its own, its parent (the shell) gone at once
    daemon = subprocess.run(
        ["sh", "-c", "setsid sleep 300 >/dev/null 2>&1 & echo $!"], capture_output=True, text=True
    )
    forked = os.fork()
    if forked == 0:
        os._exit(0)
    return {
        "sleeper": sleeper.pid, "shell": shell.pid, "daemon": int(daemon.stdout), "forked": forked
    }
"""


def _state(pid: int) -> str | None:
    """The process's state letter (``Z``: a zombie), None once it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return text.rsplit(")", 1)[1].split()[0]


def _gone(pid: int, timeout: float = 5.0) -> bool:
    """Whether ``pid`` is gone (killed and reaped, not a zombie) within ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _state(pid) is None:
            return True
        time.sleep(0.05)
    return False


def _spawn(url: str, name: str) -> dict[str, int]:
    """Run the spawner at ``name``; its pids, with the shell's own sleeper as ``grandchild``."""
    answer = httpx.get(f"{url}/api/v3/engine/{name}", timeout=30)
    assert answer.status_code == 200, answer.text
    pids: dict[str, int] = answer.json()
    assert _state(pids["sleeper"]) in ("S", "R"), pids
    shell = pids["shell"]
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and "grandchild" not in pids:
        below = Path(f"/proc/{shell}/task/{shell}/children").read_text().split()
        if below:
            pids["grandchild"] = int(below[0])
        time.sleep(0.02)
    assert "grandchild" in pids, pids
    return pids


def test_children_end_with_their_trigger_and_with_the_server(
    tmp_path: Path, plugin_dir: Path
) -> None:
    write_plugin(plugin_dir, "spawner.py", _SPAWNER)
    with serve(plugin_dir, tmp_path) as served:
        url = served.url
        assert httpx.post(f"{url}/api/v3/configure/database", json={"db": "db"}).is_success
        for name in ("a", "b"):
            body = trigger_body(name, "spawner.py", f"request:{name}")
            assert httpx.post(url + TRIGGER, json=body, timeout=30).is_success
        first, second = _spawn(url, "a"), _spawn(url, "b")
        disabled = httpx.post(
            f"{url}{TRIGGER}/disable", params={"db": "db", "trigger_name": "a"}, timeout=30
        )
        assert disabled.is_success, disabled.text
        for role in ("sleeper", "shell", "grandchild", "daemon"):
            assert _gone(first[role]), (role, _state(first[role]))
            assert _state(second[role]) == "S", role  # another trigger's children run on
        assert _gone(first["forked"])  # the zombie is reaped with its trigger
    assert served.process.returncode == 0, served.stderr
    for role in ("sleeper", "shell", "grandchild", "daemon", "forked"):
        assert _gone(second[role]), (role, _state(second[role]))


#: the reaper in a process of its own: `Children` sees every child of its process (in pytest's
#: it would take the servers other tests started for the trigger's and kill them)
_REAPER = """
import subprocess, sys, time
from pathlib import Path
from engine_runtime.host.guest.pluginmgr_guest import children
children.ZOMBIE_GRACE = 0.1

def state(pid):
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except FileNotFoundError:
        return None

tracker = children.Children()
tracker.begin()
exited = subprocess.Popen(["true"])  # never waited for by its "plugin"
running = subprocess.Popen(["sleep", "30"])
tracker.end("db/t")
try:
    deadline = time.monotonic() + 5
    while state(exited.pid) is not None and time.monotonic() < deadline:
        tracker.reap()
        time.sleep(0.05)
    assert state(exited.pid) is None, "a zombie is left"
    assert state(running.pid) == "S", "a running child was touched"
    assert tracker.end_trigger("db/other") == 0
    assert tracker.end_trigger("db/t") == 1, "the running one is the trigger's"
    assert state(running.pid) is None, "killed and reaped"
finally:
    running.kill()
assert exited.poll() == 0 and running.poll() is not None  # ECHILD: status 0
print("ok")
"""


def test_a_child_nobody_waits_for_is_reaped_after_the_grace() -> None:
    done = subprocess.run(
        [sys.executable, "-c", _REAPER], capture_output=True, text=True, timeout=60, check=False
    )
    assert (done.returncode, done.stdout.strip()) == (0, "ok"), done.stderr
