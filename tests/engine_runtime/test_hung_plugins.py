"""Plugins that hang (in a C call) or leak threads must not drain the engine: real engines,
real plugin files, real threads. Stuck threads sleep for good; they are daemon threads."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from engine_runtime import ProcessingEngine, TriggerSettings
from engine_runtime.dispatch import WorkerPool
from engine_runtime.observability import LogRing
from engine_runtime.runner import STUCK_THREAD_LIMIT
from tests.engine_runtime.engine_helpers import plugin
from tests.helpers import wait_for

TIMEOUT = 0.5
GRACE = 0.3
HANGS_ON_REQUEST = """
import time
def process_request(influxdb3_local, query_parameters, request_headers, request_body, args=None):
    if query_parameters.get("hang"):
        time.sleep(1e6)  # a C call: the watchdog's exception cannot get in
    return "ok"
"""
EXCEEDED = f"Python function call failed: PluginTimeout: plugin execution exceeded the {TIMEOUT:g}s"


def texts(engine: ProcessingEngine, trigger: str, level: str) -> list[str]:
    return [r.text for r in engine.logs.records("db", trigger) if r.level == level]


def call(engine: ProcessingEngine, path: str, **query: str) -> tuple[int, str, float]:
    started = time.monotonic()
    answer = engine.handle_request(path, query_params=query, headers={}, body=b"")
    return answer.status, answer.body.decode(), time.monotonic() - started


@pytest.mark.parametrize("run_async", [False, True])
def test_a_hung_request_answers_500_at_the_deadline_and_the_next_call_runs(
    make_engine: Callable[..., ProcessingEngine], plugin_dir: Path, run_async: bool
) -> None:
    engine = make_engine(execution_timeout=TIMEOUT, timeout_grace=GRACE)
    name = plugin(plugin_dir, "hang.py", HANGS_ON_REQUEST)
    settings = TriggerSettings(run_async=run_async)
    engine.create_trigger("db", "hang", name, "request:hang", settings=settings)

    status, body, took = call(engine, "hang", hang="1")
    assert status == 500 and json.loads(body)["error"].startswith(EXCEEDED)
    assert TIMEOUT <= took < TIMEOUT + 2
    # the stuck thread is replaced: the next call is served
    status, body, took = call(engine, "hang")
    assert (status, body) == (200, "ok") and took < TIMEOUT + GRACE + 2
    stats = wait_for(lambda: (s := engine.stats.get("db", "hang")).stuck_threads == 1 and s)
    assert stats.errors == 1 and stats.invocations == 2
    [stuck] = [t for t in texts(engine, "hang", "ERROR") if "abandoned" in t]
    assert stuck.startswith("error running request plugin: PluginTimeout: plugin execution")
    assert stuck.endswith("(1 stuck)")
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
        assert (status == 500 and EXCEEDED in body) or status == 404, answers
    started = time.monotonic()
    engine.write_lp("db", "cpu v=1i 1")
    assert engine.query("db", "SELECT v FROM cpu") == [{"v": 1}]
    assert time.monotonic() - started < TIMEOUT + 2
    # the calls queued behind the stuck one were answered at their deadline and dropped, not
    # run: one thread is stuck, and the trigger serves again
    wait_for(lambda: engine.stats.get("db", "hang").stuck_threads == 1)
    assert call(engine, "h")[:2] == (200, "ok")
    assert engine.stats.get("db", "hang").stuck_threads == 1


def test_a_trigger_with_too_many_stuck_threads_is_failed_until_enabled(
    make_engine: Callable[..., ProcessingEngine], plugin_dir: Path
) -> None:
    engine = make_engine(execution_timeout=TIMEOUT, timeout_grace=GRACE)
    engine.create_trigger("db", "hang", plugin(plugin_dir, "h.py", HANGS_ON_REQUEST), "request:h")
    for _ in range(STUCK_THREAD_LIMIT):
        assert call(engine, "h", hang="1")[0] == 500
    state = wait_for(lambda: (s := engine.trigger_state("db", "hang")).startswith("failed") and s)
    assert state == (
        f"failed: {STUCK_THREAD_LIMIT} runs are stuck past the 0.5s execution timeout (in a C "
        "call?), each holding a thread: fix the plugin, then enable the trigger again"
    )
    definition = engine.catalog.get_trigger("db", "hang")
    assert definition.disabled and definition.failure == state.removeprefix("failed: ")
    assert call(engine, "h")[0] == 404  # it drains nothing more
    assert texts(engine, "hang", "ERROR")[-1] == f"trigger {state}"
    engine.shutdown()

    again = make_engine(execution_timeout=TIMEOUT, timeout_grace=GRACE)  # persisted
    assert again.trigger_state("db", "hang") == state
    again.enable_trigger("db", "hang")
    assert again.trigger_state("db", "hang") == "running"
    assert again.catalog.get_trigger("db", "hang").failure is None
    assert call(again, "h")[:2] == (200, "ok")


def test_error_behavior_disable_disables_a_trigger_at_its_first_stuck_run(
    make_engine: Callable[..., ProcessingEngine], plugin_dir: Path
) -> None:
    engine = make_engine(execution_timeout=TIMEOUT, timeout_grace=GRACE)
    settings = TriggerSettings(error_behavior="disable")
    name = plugin(plugin_dir, "h.py", HANGS_ON_REQUEST)
    engine.create_trigger("db", "hang", name, "request:h", settings=settings)
    assert call(engine, "h", hang="1")[0] == 500
    wait_for(lambda: engine.trigger_state("db", "hang") == "disabled")
    assert engine.catalog.get_trigger("db", "hang").disabled
    assert texts(engine, "hang", "ERROR")[-1] == "disabling trigger hang due to error"


def test_a_hung_wal_run_is_counted_logged_shown_and_the_next_write_served(
    make_engine: Callable[..., ProcessingEngine], plugin_dir: Path
) -> None:
    engine = make_engine(execution_timeout=TIMEOUT, timeout_grace=GRACE)
    name = plugin(
        plugin_dir,
        "sleepy.py",
        """
        import time
        def process_writes(influxdb3_local, table_batches, args=None):
            if table_batches[0]["table_name"] == "hang":
                time.sleep(1e6)
            influxdb3_local.info("served", table_batches[0]["table_name"])
        """,
    )
    engine.create_trigger("db", "w", name, "all_tables")
    engine.write_lp("db", "hang v=1i 1")
    engine.write_lp("db", "next v=1i 1")
    wait_for(lambda: "served next" in texts(engine, "w", "INFO"), timeout=TIMEOUT + GRACE + 3)
    [stuck] = [t for t in texts(engine, "w", "ERROR") if "abandoned" in t]
    assert stuck.startswith("error executing wal plugin: PluginTimeout: plugin execution")
    rows = engine.query(
        "db",
        "SELECT invocations, errors, stuck_threads FROM system.processing_engine_trigger_stats",
    )
    assert rows == [{"invocations": 2, "errors": 1, "stuck_threads": 1}]


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


def test_threads_a_plugin_starts_are_counted_and_live_ones_shown(
    make_engine: Callable[..., ProcessingEngine], plugin_dir: Path
) -> None:
    engine = make_engine()
    name = plugin(
        plugin_dir,
        "threads.py",
        """
        import threading, time
        def nested():
            threading.Thread(target=time.sleep, args=(0.01,)).start()
        def process_writes(influxdb3_local, table_batches, args=None):
            threading.Thread(target=nested).start()
            threading.Thread(target=time.sleep, args=(1.5,), daemon=True).start()
        """,
    )
    engine.create_trigger("db", "t", name, "all_tables")
    other = plugin(plugin_dir, "none.py", "def process_writes(i, b, args=None):\n    pass\n")
    engine.create_trigger("db", "other", other, "all_tables")
    engine.write_lp("db", "cpu v=1i 1")
    wait_for(lambda: engine.stats.get("db", "t").threads_started == 3)
    assert engine.stats.get("db", "t").live_plugin_threads >= 1  # the 1.5 s sleeper
    wait_for(lambda: engine.stats.get("db", "t").live_plugin_threads == 0, timeout=10)
    assert engine.stats.get("db", "other").threads_started == 0
    rows = engine.query(
        "db",
        "SELECT trigger_name, threads_started FROM system.processing_engine_trigger_stats "
        "ORDER BY trigger_name",
    )
    assert rows == [
        {"trigger_name": "other", "threads_started": 0},
        {"trigger_name": "t", "threads_started": 3},
    ]


def test_the_worker_pool_replaces_a_stuck_thread_and_shuts_down_without_it() -> None:
    pool = WorkerPool(1, name="test-pool")
    done: list[str] = []
    pool.submit(time.sleep, 1e6)
    wait_for(lambda: pool._threads and pool._threads[0].ident is not None)
    stuck = pool._threads[0]
    assert pool.replace_thread(stuck.ident or 0)
    pool.submit(done.append, "served")
    wait_for(lambda: done == ["served"])
    started = time.monotonic()
    pool.shutdown(timeout=5)
    assert time.monotonic() - started < 5 and stuck.daemon and stuck.is_alive()
