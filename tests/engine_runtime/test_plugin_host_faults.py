"""Plugin host faults: a host that dies, hangs or sends garbage fails only that run, and the
next run gets a fresh host."""

from __future__ import annotations

import os
import signal
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from engine_runtime.host import HostProtocolError, PluginHost, PluginHostError

from .host_helpers import StoreCallbacks, plugin


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


CRASHES = {
    "abort": ("import os; os.abort()", "signal SIGABRT"),
    "sigkill": ("import os, signal; os.kill(os.getpid(), signal.SIGKILL)", "signal SIGKILL"),
    "exit": ("import posix; posix._exit(3)", "exit status 3"),
}


@pytest.mark.parametrize("crash", sorted(CRASHES))
def test_a_host_that_dies_fails_only_that_run(
    host: PluginHost, plugin_dir: Path, crash: str
) -> None:
    code, how = CRASHES[crash]
    ok = plugin(plugin_dir, "ok.py", "def process_writes(api, batches, args=None):\n    pass\n")
    bad = plugin(
        plugin_dir, "bad.py", f"def process_writes(api, batches, args=None):\n    {code}\n"
    )
    payload: dict[str, object] = {"table_batches": []}
    assert host.run("first", "wal", ok, "process_writes", database="db", payload=payload).ok
    first_pid = host.pid
    assert first_pid is not None

    with pytest.raises(PluginHostError) as info:
        host.run("crasher", "wal", bad, "process_writes", database="db", payload=payload)

    assert str(info.value) == f"plugin host exited with {how} while running trigger crasher"
    assert host.pid is None and not _alive(first_pid)
    assert host.run("after", "wal", ok, "process_writes", database="db", payload=payload).ok
    assert host.pid not in (None, first_pid)


def test_a_run_past_its_deadline_kills_the_host(host: PluginHost, plugin_dir: Path) -> None:
    slow = plugin(
        plugin_dir,
        "slow.py",
        "import time\ndef process_writes(api, batches, args=None):\n    time.sleep(60)\n",
    )
    ok = plugin(plugin_dir, "ok.py", "def process_writes(api, batches, args=None):\n    pass\n")
    payload: dict[str, object] = {"table_batches": []}
    host.run("warm", "wal", ok, "process_writes", database="db", payload=payload)
    pid = host.pid
    assert pid is not None

    with pytest.raises(
        PluginHostError, match=r"trigger sleepy timed out after 0.3 s and did not stop within"
    ):
        host.run(
            "sleepy", "wal", slow, "process_writes", database="db", payload=payload, timeout=0.3
        )

    assert not _alive(pid)  # killed and reaped: no zombie either (kill(pid, 0) finds zombies)
    assert host.run("next", "wal", ok, "process_writes", database="db", payload=payload).ok


GARBAGE = {
    "oversized": ("struct.pack('>I', 2**31)", "a frame of 2147483648 bytes is over the limit"),
    "not-json": ("struct.pack('>I', 8) + b'not json'", "not a JSON message"),
    "bad-shape": (
        "(lambda b: struct.pack('>I', len(b)) + b)"
        '(b\'{"op": "query", "id": 1, "n": 1, "sql": 1}\')',
        "plugin host sent 'query' with a bad 'sql': 1",
    ),
}


@pytest.mark.parametrize("kind", sorted(GARBAGE))
def test_garbage_from_the_host_is_refused_and_the_host_replaced(
    host: PluginHost, plugin_dir: Path, kind: str
) -> None:
    frame, words = GARBAGE[kind]
    bad = plugin(
        plugin_dir,
        "garbage.py",
        f"""
        import json, os, struct, sys, time
        def process_writes(influxdb3_local, table_batches, args=None):
            fd = json.loads(sys.argv[-1])["fd"]
            os.write(fd, {frame})
            time.sleep(5)
        """,
    )
    ok = plugin(plugin_dir, "ok.py", "def process_writes(api, batches, args=None):\n    pass\n")
    payload: dict[str, object] = {"table_batches": []}

    with pytest.raises(HostProtocolError) as info:
        host.run("g", "wal", bad, "process_writes", database="db", payload=payload, timeout=4)

    assert words in str(info.value)
    assert str(info.value).endswith("(trigger g); the host was killed")
    assert host.run("next", "wal", ok, "process_writes", database="db", payload=payload).ok


def test_close_stops_the_host_and_refuses_runs(host: PluginHost, plugin_dir: Path) -> None:
    ok = plugin(plugin_dir, "ok.py", "def process_writes(api, batches, args=None):\n    pass\n")
    payload: dict[str, object] = {"table_batches": []}
    host.run("t", "wal", ok, "process_writes", database="db", payload=payload)
    pid = host.pid
    assert pid is not None

    host.close()

    assert not _alive(pid)
    with pytest.raises(PluginHostError, match="the plugin host is closed"):
        host.run("t", "wal", ok, "process_writes", database="db", payload=payload)


def test_a_host_that_died_between_runs_is_replaced_without_failing_a_run(
    host: PluginHost, plugin_dir: Path
) -> None:
    ok = plugin(plugin_dir, "ok.py", "def process_writes(api, batches, args=None):\n    pass\n")
    payload: dict[str, object] = {"table_batches": []}
    host.run("t", "wal", ok, "process_writes", database="db", payload=payload)
    pid = host.pid
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    _wait_dead(pid)

    assert host.run("t", "wal", ok, "process_writes", database="db", payload=payload).ok
    assert host.pid != pid and not _alive(pid)


def _wait_dead(pid: int) -> None:
    """Until ``pid`` is a zombie whose threads have all exited (its files are closed only
    then), or reaped (the host's reader thread reaps it), at most 5 s."""
    stat = Path(f"/proc/{pid}/stat")
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            zombie = stat.read_text().rpartition(")")[2].split()[0] == "Z"
            if zombie and len(list(Path(f"/proc/{pid}/task").iterdir())) == 1:
                return
        except FileNotFoundError:
            return
        time.sleep(0.01)
    raise AssertionError(f"{pid} is still running")


class _BrokenLog(StoreCallbacks):
    def log(self, trigger: str, level: str, text: str) -> None:
        raise RuntimeError("the log sink is broken")


def test_a_failing_callback_discards_the_host(host_python: Path, plugin_dir: Path) -> None:
    path = plugin(
        plugin_dir, "logs.py", "def process_writes(api, batches, args=None):\n    api.info('x')\n"
    )
    broken = PluginHost(host_python, plugin_dir, None, _BrokenLog())
    try:
        with pytest.raises(RuntimeError, match="the log sink is broken"):
            broken.run(
                "t", "wal", path, "process_writes", database="db", payload={"table_batches": []}
            )
        assert broken.pid is None
        with pytest.raises(ValueError, match="a wal run needs table_batches in its payload"):
            broken.run("t", "wal", path, "process_writes", database="db", payload={})
    finally:
        broken.close()


def test_a_missing_interpreter_or_unsendable_payload_is_a_clear_error(
    host: PluginHost, tmp_path: Path, plugin_dir: Path
) -> None:
    ok = plugin(plugin_dir, "ok.py", "def process_writes(api, batches, args=None):\n    pass\n")
    missing = PluginHost(
        tmp_path / "no-venv" / "bin" / "python", plugin_dir, None, StoreCallbacks()
    )
    with pytest.raises(PluginHostError, match=r"cannot start the plugin host .*no-venv"):
        missing.run("t", "wal", ok, "process_writes", database="db", payload={"table_batches": []})
    missing.close()

    host.run("t", "wal", ok, "process_writes", database="db", payload={"table_batches": []})
    pid = host.pid
    with pytest.raises(TypeError, match="cannot send a 'object'"):
        host.run(
            "t", "wal", ok, "process_writes", database="db", payload={"table_batches": [object()]}
        )
    assert host.pid == pid  # the host was not touched


def test_runs_of_different_triggers_proceed_at_once(
    host: PluginHost, plugin_dir: Path, callbacks: StoreCallbacks
) -> None:
    path = plugin(
        plugin_dir,
        "turns.py",
        """
        import time
        def process_writes(influxdb3_local, table_batches, args=None):
            influxdb3_local.info("start", args["n"])
            time.sleep(0.05)
            influxdb3_local.info("end", args["n"])
        """,
    )

    def one(n: int) -> bool:
        payload: dict[str, object] = {"table_batches": []}
        args = {"n": str(n)}
        return host.run(
            f"t{n}", "wal", path, "process_writes", database="db", payload=payload, args=args
        ).ok

    with ThreadPoolExecutor(4) as pool:
        assert all(pool.map(one, range(4)))

    texts = [text.split()[0] for _, _, text in callbacks.logs]
    assert sorted(texts) == ["end"] * 4 + ["start"] * 4
    assert texts[:2] == ["start", "start"]  # a second run started before the first ended
    for n in range(4):  # each run's own lines stay in order
        mine = [text for trigger, _, text in callbacks.logs if trigger == f"t{n}"]
        assert mine == [f"start {n}", f"end {n}"]
