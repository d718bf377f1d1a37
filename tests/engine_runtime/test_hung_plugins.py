"""Plugins that hang, spin, crash their plugin host or send it too much must not drain the
engine: real engines, real plugin files, real host processes. A run stuck in C gets its host
replaced; a Python loop is interrupted in place; a trigger whose runs keep killing their host is
failed; a message too large for the channel fails its call."""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from engine_runtime import ProcessingEngine, TriggerSettings
from engine_runtime.host import PluginHost
from engine_runtime.host.host import RESTART_BACKOFF_MAX, restart_delay
from engine_runtime.host.pool import SHARED
from engine_runtime.observability import LogRing
from engine_runtime.runner import HOST_DEATH_LIMIT
from tests.engine_runtime.engine_helpers import plugin
from tests.helpers import wait_for

TIMEOUT = 0.5
GRACE = 0.3
HANGS_ON_REQUEST = """
import time
def process_request(influxdb3_local, query_parameters, request_headers, request_body, args=None):
    if query_parameters.get("hang"):
        time.sleep(1e6)  # a C call: the interrupt cannot get in
    return "ok"
"""
SPINS_ON_REQUEST = """
def process_request(influxdb3_local, query_parameters, request_headers, request_body, args=None):
    if query_parameters.get("spin"):
        while True:  # pure Python: interrupted between two bytecodes
            pass
    return "ok"
"""
EXCEEDED = f"Python function call failed: PluginTimeout: plugin execution exceeded the {TIMEOUT:g}s"
REPLACED = "did not stop within 0.3 s (stuck in a C call?): its plugin host was replaced"


def texts(engine: ProcessingEngine, trigger: str, level: str) -> list[str]:
    return [r.text for r in engine.logs.records("db", trigger) if r.level == level]


def call(engine: ProcessingEngine, path: str, **query: str) -> tuple[int, str, float]:
    started = time.monotonic()
    answer = engine.handle_request(path, query_params=query, headers={}, body=b"")
    return answer.status, answer.body.decode(), time.monotonic() - started


def served(engine: ProcessingEngine, path: str) -> None:
    """A call of ``path`` answers ``ok``; the first after a host was replaced may time out on
    a loaded machine (the fresh host's start counts against the run's 0.5 s)."""
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


@pytest.mark.parametrize("run_async", [False, True])
def test_a_hung_request_answers_500_at_the_deadline_and_the_next_call_runs(
    make_engine: Callable[..., ProcessingEngine], plugin_dir: Path, run_async: bool
) -> None:
    engine = make_engine(execution_timeout=TIMEOUT, timeout_grace=GRACE)
    name = plugin(plugin_dir, "hang.py", HANGS_ON_REQUEST)
    settings = TriggerSettings(run_async=run_async)
    engine.create_trigger("db", "hang", name, "request:hang", settings=settings)
    first = host_pid(engine)

    status, body, took = call(engine, "hang", hang="1")
    assert status == 500 and json.loads(body)["error"].startswith(EXCEEDED)
    assert TIMEOUT <= took < TIMEOUT + 2
    if run_async:  # served at once, beside the stuck run, by the same host
        assert call(engine, "hang")[:2] == (200, "ok")
    # the host is replaced after the grace, and killed: the next call runs on a fresh one
    [replaced] = wait_for(lambda: [t for t in texts(engine, "hang", "ERROR") if "replaced" in t])
    assert replaced.startswith("error running request plugin: ")
    assert replaced.endswith(f"trigger db/hang timed out after {TIMEOUT:g} s and {REPLACED}")
    wait_for(lambda: not alive(first))
    served(engine, "hang")
    assert host_pid(engine) != first
    assert engine.stats.get("db", "hang").host_deaths == 0
    assert engine.trigger_state("db", "hang") == "running"


def test_many_concurrent_hung_requests_leave_writes_and_queries_working(
    make_engine: Callable[..., ProcessingEngine], plugin_dir: Path
) -> None:
    engine = make_engine(execution_timeout=TIMEOUT, timeout_grace=GRACE)
    engine.create_trigger("db", "hang", plugin(plugin_dir, "h.py", HANGS_ON_REQUEST), "request:h")
    with ThreadPoolExecutor(max_workers=50) as pool:
        answers = list(pool.map(lambda _: call(engine, "h", hang="1"), range(50)))
    for status, body, took in answers:
        assert took < TIMEOUT + 2, answers
        assert status == 500 and EXCEEDED in body, answers
    started = time.monotonic()
    engine.write_lp("db", "cpu v=1i 1")
    assert engine.query("db", "SELECT v FROM cpu") == [{"v": 1}]
    assert time.monotonic() - started < TIMEOUT + 2
    # the calls queued behind the stuck one were answered at their deadline and dropped, not
    # run: one run got its host replaced, and the trigger serves again
    wait_for(lambda: any("replaced" in t for t in texts(engine, "hang", "ERROR")))
    served(engine, "h")


def test_a_python_busy_loop_is_interrupted_in_its_host_without_replacing_it(
    make_engine: Callable[..., ProcessingEngine], plugin_dir: Path
) -> None:
    engine = make_engine(execution_timeout=TIMEOUT, timeout_grace=GRACE)
    engine.create_trigger("db", "spin", plugin(plugin_dir, "s.py", SPINS_ON_REQUEST), "request:s")
    pid = host_pid(engine)
    status, body, took = call(engine, "s", spin="1")
    assert status == 500 and json.loads(body)["error"].startswith(EXCEEDED)
    assert took < TIMEOUT + 1
    assert call(engine, "s")[:2] == (200, "ok")
    assert engine.hosts.pids() == {SHARED: pid}  # the same host served both
    errors = texts(engine, "spin", "ERROR")
    assert not any("replaced" in t for t in errors)
    timed_out = (
        f"error running request plugin: PluginTimeout: plugin execution exceeded the {TIMEOUT:g}s"
    )
    assert any(t.startswith(timed_out) for t in errors)


def test_a_run_stuck_in_c_replaces_its_host_while_other_triggers_runs_complete(
    make_engine: Callable[..., ProcessingEngine], plugin_dir: Path
) -> None:
    engine = make_engine(execution_timeout=TIMEOUT, timeout_grace=GRACE)
    engine.create_trigger("db", "hang", plugin(plugin_dir, "h.py", HANGS_ON_REQUEST), "request:h")
    slow = plugin(
        plugin_dir,
        "slow.py",
        """
        import time
        def process_request(influxdb3_local, query_parameters, request_headers, request_body,
                            args=None):
            time.sleep(float(query_parameters.get("s", "0")))
            return "slow ok"
        """,
    )
    settings = TriggerSettings(execution_timeout=5.0)
    engine.create_trigger("db", "slow", slow, "request:slow", settings=settings)
    first = host_pid(engine)
    with ThreadPoolExecutor(max_workers=2) as pool:
        hung = pool.submit(call, engine, "h", hang="1")
        time.sleep(0.1)
        # runs on the same host until past the hung run's grace: the retired host keeps it
        slower = pool.submit(call, engine, "slow", s=str(TIMEOUT + GRACE + 0.5))
        assert hung.result()[0] == 500
        assert slower.result()[:2] == (200, "slow ok")
    assert call(engine, "slow")[:2] == (200, "slow ok")
    assert host_pid(engine) != first
    wait_for(lambda: not alive(first))  # killed once its last run ended
    assert any(REPLACED in t for t in texts(engine, "hang", "ERROR"))
    assert texts(engine, "slow", "ERROR") == []


@pytest.mark.parametrize("code", [HANGS_ON_REQUEST, SPINS_ON_REQUEST], ids=["c", "python"])
def test_error_behavior_disable_disables_a_trigger_at_its_first_timeout(
    make_engine: Callable[..., ProcessingEngine], plugin_dir: Path, code: str
) -> None:
    engine = make_engine(execution_timeout=TIMEOUT, timeout_grace=GRACE)
    settings = TriggerSettings(error_behavior="disable")
    name = plugin(plugin_dir, "h.py", code)
    engine.create_trigger("db", "hang", name, "request:h", settings=settings)
    assert call(engine, "h", hang="1", spin="1")[0] == 500
    wait_for(lambda: engine.trigger_state("db", "hang") == "disabled")
    assert engine.catalog.get_trigger("db", "hang").disabled
    assert texts(engine, "hang", "ERROR")[-1] == "disabling trigger hang due to error"
    assert call(engine, "h")[0] == 404


#: loops (in Python and in C, by turns) until interrupted; says so in its log and a file
INTERRUPTIBLE = """
import time
def process_writes(influxdb3_local, table_batches, args=None):
    influxdb3_local.info("looping")
    try:
        while True:
            time.sleep(0.01)
    except KeyboardInterrupt:
        influxdb3_local.warn("interrupted by KeyboardInterrupt")
        with open(args["marker"], "w") as marker:
            marker.write("KeyboardInterrupt")
        raise
"""


@pytest.mark.parametrize("how", ["disable", "delete"])
def test_stopping_a_trigger_interrupts_its_running_call_with_keyboard_interrupt(
    make_engine: Callable[..., ProcessingEngine], plugin_dir: Path, tmp_path: Path, how: str
) -> None:
    engine = make_engine(execution_timeout=30.0, timeout_grace=GRACE)
    marker = tmp_path / "marker"
    name = plugin(plugin_dir, "loop.py", INTERRUPTIBLE)
    engine.create_trigger("db", "loop", name, "all_tables", arguments={"marker": str(marker)})
    pid = host_pid(engine)
    engine.write_lp("db", "cpu v=1i 1")
    wait_for(lambda: "looping" in texts(engine, "loop", "INFO"))
    started = time.monotonic()
    if how == "disable":
        engine.disable_trigger("db", "loop")
    else:
        engine.delete_trigger("db", "loop", force=True)
    assert time.monotonic() - started < 1.0
    assert marker.read_text() == "KeyboardInterrupt"
    if how == "disable":
        assert engine.trigger_state("db", "loop") == "disabled"
        assert "interrupted by KeyboardInterrupt" in texts(engine, "loop", "WARN")
        assert texts(engine, "loop", "ERROR") == []  # a stopped run's outcome is dropped
    assert engine.hosts.pids() == {SHARED: pid}  # it stopped: no host replaced


def test_stopping_a_trigger_stuck_in_c_replaces_its_host_within_the_grace(
    make_engine: Callable[..., ProcessingEngine], plugin_dir: Path
) -> None:
    engine = make_engine(execution_timeout=30.0, timeout_grace=GRACE)
    name = plugin(
        plugin_dir,
        "stuck.py",
        """
        import time
        def process_writes(influxdb3_local, table_batches, args=None):
            influxdb3_local.info("sleeping")
            time.sleep(1e6)
        """,
    )
    engine.create_trigger("db", "stuck", name, "all_tables")
    first = host_pid(engine)
    engine.write_lp("db", "cpu v=1i 1")
    wait_for(lambda: "sleeping" in texts(engine, "stuck", "INFO"))
    started = time.monotonic()
    engine.disable_trigger("db", "stuck")
    assert GRACE <= time.monotonic() - started < GRACE + 1
    [error] = texts(engine, "stuck", "ERROR")
    assert error.endswith(f"trigger db/stuck was cancelled and {REPLACED}")
    wait_for(lambda: not alive(first))
    assert engine.stats.get("db", "stuck").host_deaths == 0  # replaced, not died


CRASHES = """
import os
def process_writes(influxdb3_local, table_batches, args=None):
    if table_batches[0]["table_name"] == "crash":
        os.abort()
    influxdb3_local.info("served", table_batches[0]["table_name"])
"""


def test_a_trigger_whose_host_dies_three_times_is_failed_until_enabled(
    make_engine: Callable[..., ProcessingEngine], plugin_dir: Path
) -> None:
    engine = make_engine()
    engine.create_trigger("db", "crash", plugin(plugin_dir, "c.py", CRASHES), "all_tables")
    ok = plugin(plugin_dir, "ok.py", "def process_writes(i, b, args=None):\n    i.info('ok')\n")
    engine.create_trigger("db", "other", ok, "table:fine")
    for _ in range(HOST_DEATH_LIMIT):
        engine.write_lp("db", "crash v=1i 1")
    state = wait_for(lambda: (s := engine.trigger_state("db", "crash")).startswith("failed") and s)
    assert state == (
        f"failed: its plugin host died {HOST_DEATH_LIMIT} times within 5m while running it: fix "
        "the plugin, then enable the trigger again"
    )
    errors = texts(engine, "crash", "ERROR")
    died = "plugin host exited with signal SIGABRT while running trigger db/crash"
    assert sum(died in t for t in errors) == HOST_DEATH_LIMIT
    assert errors[-1] == f"trigger {state}"
    assert engine.stats.get("db", "crash").host_deaths == HOST_DEATH_LIMIT
    rows = engine.query(
        "db",
        "SELECT trigger_name, host_deaths FROM system.processing_engine_trigger_stats "
        "ORDER BY trigger_name",
    )
    assert rows == [{"trigger_name": "crash", "host_deaths": HOST_DEATH_LIMIT}]
    engine.write_lp("db", "fine v=1i 1")  # the other trigger runs on a fresh host
    wait_for(lambda: "ok" in texts(engine, "other", "INFO"))
    engine.shutdown()

    again = make_engine()  # the same catalog: the failure is persisted
    assert again.trigger_state("db", "crash") == state
    again.enable_trigger("db", "crash")
    assert again.trigger_state("db", "crash") == "running"
    assert again.catalog.get_trigger("db", "crash").failure is None
    again.write_lp("db", "next v=1i 1")
    wait_for(lambda: "served next" in texts(again, "crash", "INFO"))


def test_one_host_death_under_several_runs_of_a_trigger_counts_once(
    make_engine: Callable[..., ProcessingEngine], plugin_dir: Path
) -> None:
    engine = make_engine()
    name = plugin(
        plugin_dir,
        "a.py",
        """
        import os, time
        def process_writes(influxdb3_local, table_batches, args=None):
            time.sleep(0.2)
            if table_batches[0]["table_name"] == "crash":
                os.abort()
            time.sleep(1)
        """,
    )
    settings = TriggerSettings(run_async=True)
    engine.create_trigger("db", "a", name, "all_tables", settings=settings)
    host_pid(engine)
    for table in ("slow", "slow", "slow", "crash"):  # four runs at once in the host
        engine.write_lp("db", f"{table} v=1i 1")
    wait_for(lambda: engine.stats.get("db", "a").invocations == 4)
    died = "plugin host exited with signal SIGABRT while running trigger db/a"
    assert sum(died in t for t in texts(engine, "a", "ERROR")) == 4
    assert engine.stats.get("db", "a").host_deaths == 1
    assert engine.trigger_state("db", "a") == "running"


def test_a_host_that_dies_is_noticed_though_a_process_it_forked_holds_its_channel(
    make_engine: Callable[..., ProcessingEngine], plugin_dir: Path, tmp_path: Path
) -> None:
    engine = make_engine()  # no timeout: only the host's exit can end the run
    name = plugin(
        plugin_dir,
        "forks.py",
        """
        import os, time
        def process_request(influxdb3_local, query_parameters, request_headers, request_body,
                            args=None):
            child = os.fork()
            if child == 0:
                time.sleep(30)  # holds the host's end of the channel
                os._exit(0)
            with open(args["pid_file"], "w") as pid_file:
                pid_file.write(str(child))
            os.abort()
        """,
    )
    pid_file = tmp_path / "child.pid"
    engine.create_trigger("db", "f", name, "request:f", arguments={"pid_file": str(pid_file)})
    try:
        status, body, took = call(engine, "f")
        assert status == 500 and took < 2, (body, took)
        assert "plugin host exited with signal SIGABRT while running trigger db/f" in body
        assert engine.stats.get("db", "f").host_deaths == 1
    finally:
        if pid_file.exists():
            os.kill(int(pid_file.read_text()), signal.SIGKILL)


def test_a_message_over_the_channels_limit_fails_its_call_not_the_host(
    make_engine: Callable[..., ProcessingEngine], plugin_dir: Path
) -> None:
    engine = make_engine()
    name = plugin(
        plugin_dir,
        "big.py",
        """
        def process_request(influxdb3_local, query_parameters, request_headers, request_body,
                            args=None):
            if query_parameters.get("log"):
                try:
                    influxdb3_local.info("y" * 2**26)
                except ValueError as exc:
                    return {"log": str(exc)}
            if query_parameters.get("response"):
                return "x" * 2**26
            return "ok"
        """,
    )
    engine.create_trigger("db", "big", name, "request:big")
    pid = host_pid(engine)
    over = "bytes is over the channel's limit of 67108864 bytes"
    status, body, _ = call(engine, "big", log="1")
    assert status == 200 and over in json.loads(body)["log"]
    status, body, _ = call(engine, "big", response="1")
    assert status == 500 and over in json.loads(body)["error"]
    assert json.loads(body)["error"].startswith("Python function call failed: ValueError: ")
    assert call(engine, "big")[:2] == (200, "ok")
    assert engine.hosts.pids() == {SHARED: pid}  # the host kept its channel


def test_host_restarts_back_off_after_deaths_in_a_row(host: PluginHost, plugin_dir: Path) -> None:
    assert [restart_delay(n) for n in range(4)] == [0.0, 0.1, 0.2, 0.4]
    assert restart_delay(100) == RESTART_BACKOFF_MAX
    crash = plugin(plugin_dir, "crash.py", "import os\nos.abort()\n")
    ok = plugin(plugin_dir, "ok.py", "def process_writes(i, b, args=None):\n    pass\n")
    payload: dict[str, object] = {"table_batches": []}
    for _ in range(2):
        with pytest.raises(Exception, match="signal SIGABRT"):
            host.run(
                "db/c", "wal", plugin_dir / crash, "process_writes", database="db", payload=payload
            )
    started = time.monotonic()
    assert host.run(
        "db/o", "wal", plugin_dir / ok, "process_writes", database="db", payload=payload
    ).ok
    assert time.monotonic() - started >= restart_delay(2) - 0.05  # two deaths in a row
    assert host._deaths_in_a_row == 0  # a success resets the count
    os.kill(host_pid_of(host), signal.SIGKILL)  # a death between runs counts too
    wait_for(lambda: host.pid is None)
    started = time.monotonic()
    assert host.run(
        "db/o", "wal", plugin_dir / ok, "process_writes", database="db", payload=payload
    ).ok
    assert time.monotonic() - started >= restart_delay(1) - 0.05
    assert host.starts == 4


def test_a_chatty_trigger_does_not_evict_another_triggers_logs(
    make_engine: Callable[..., ProcessingEngine], plugin_dir: Path
) -> None:
    engine = make_engine()
    quiet = plugin(
        plugin_dir,
        "quiet.py",
        """
        def process_writes(influxdb3_local, table_batches, args=None):
            influxdb3_local.info("quiet line")
        """,
    )
    chatty = plugin(
        plugin_dir,
        "chatty.py",
        """
        def process_writes(influxdb3_local, table_batches, args=None):
            for n in range(12_000):
                influxdb3_local.info("chatter", n)
        """,
    )
    engine.create_trigger("db", "quiet", quiet, "table:q")
    engine.write_lp("db", "q v=1i 1")
    wait_for(lambda: engine.stats.get("db", "quiet").invocations == 1)
    engine.create_trigger("db", "chatty", chatty, "table:c")
    engine.write_lp("db", "c v=1i 1")
    wait_for(lambda: engine.stats.get("db", "chatty").invocations == 1, timeout=20)
    assert "quiet line" in texts(engine, "quiet", "INFO")
    chatter = texts(engine, "chatty", "INFO")
    assert len(chatter) == engine.logs.maxlen and chatter[-2] == "chatter 11999"
    rows = engine.query(
        "db", "SELECT log_text FROM system.processing_engine_logs WHERE trigger_name = 'quiet'"
    )
    assert {"log_text": "quiet line"} in rows


def test_log_rings_are_per_trigger_and_merge_in_order() -> None:
    ring = LogRing(3)
    ring.add("db", "quiet", "INFO", "q1")
    for n in range(10):
        ring.add("db", "chatty", "INFO", f"c{n}")
    ring.add("db", "quiet", "INFO", "q2")
    assert [r.text for r in ring.records()] == ["q1", "c7", "c8", "c9", "q2"]
    assert len(ring) == 5
    ring.drop("db", "chatty")
    assert [r.text for r in ring.records("db")] == ["q1", "q2"]
