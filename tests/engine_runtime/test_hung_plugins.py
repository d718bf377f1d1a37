"""Plugins that hang or spin must not drain the engine: real engines, real plugin files, real
plugin host processes. A run stuck in C gets its host replaced; a Python loop is interrupted in
place; stopping a trigger interrupts its call with ``KeyboardInterrupt``."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from engine_runtime import ProcessingEngine, TriggerSettings
from engine_runtime.host.pool import SHARED
from engine_runtime.observability import LogRing
from tests.engine_runtime.engine_helpers import plugin
from tests.engine_runtime.fault_helpers import alive, call, host_pid, served, texts
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
