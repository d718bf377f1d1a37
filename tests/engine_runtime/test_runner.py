"""Running events: one traceback per failed attempt, plugin frames only; ``disable`` on request
triggers; log lines that name ``db/trigger``. Real engine, real plugins, real threads."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from pathlib import Path

import pytest

from engine_runtime import ProcessingEngine, TriggerSettings
from tests.engine_runtime.engine_helpers import FAILS_UNTIL, plugin
from tests.helpers import wait_for

BAD_QUERY = """
def process_scheduled_call(influxdb3_local, call_time, args=None):
    influxdb3_local.query("SELECT * FROM not_here")
"""

FAILING_REQUEST = """
def process_request(influxdb3_local, query_parameters, request_headers, request_body, args=None):
    if query_parameters.get("fail"):
        raise ValueError("asked to fail")
    return "ok"
"""

_TRACEBACK = "Traceback (most recent call last):"


def texts(engine: ProcessingEngine, trigger: str, level: str) -> list[str]:
    return [r.text for r in engine.logs.records(trigger=trigger) if r.level == level]


def assert_only_plugin_frames(text: str, plugin_file: Path) -> None:
    assert text.count(_TRACEBACK) == 1, text
    assert "During handling of the above exception" not in text
    frames = re.findall(r'File "([^"]+)", line \d+', text)
    assert frames and all(frame == str(plugin_file) for frame in frames), frames
    assert "engine_runtime/" not in text and "pluginmgr/" not in text  # no frame of ours


def test_each_retry_logs_its_own_traceback_with_plugin_frames_only(
    make_engine: Callable[..., ProcessingEngine], plugin_dir: Path
) -> None:
    engine = make_engine()
    name = plugin(plugin_dir, "flaky.py", FAILS_UNTIL)
    retry = TriggerSettings(error_behavior="retry", retry_attempts=2, retry_backoff=0.01)
    engine.create_trigger(
        "db", "never", name, "all_tables", settings=retry, arguments={"succeed_on": "9"}
    )
    engine.write_lp("db", "cpu v=1i 1")
    wait_for(lambda: any("giving up" in t for t in texts(engine, "never", "ERROR")))
    warnings = texts(engine, "never", "WARN")
    errors = texts(engine, "never", "ERROR")
    assert len(warnings) == 2 and len(errors) == 2
    attempts = [*warnings, errors[0]]  # three attempts, three tracebacks
    for number, text in enumerate(attempts, start=1):
        assert text.startswith(f"error executing wal plugin: RuntimeError: run {number} failed\n")
        assert f"RuntimeError: run {number} failed" in text.split(_TRACEBACK)[1]
        assert f"run {number - 1} failed" not in text  # nothing of the attempt before
        assert_only_plugin_frames(text, plugin_dir / name)
        assert 'raise RuntimeError(f"run {runs} failed")' in text and "fail(runs)" in text
    assert "will retry in 0.01s (attempt 1 of 2)" in warnings[0]
    assert "will retry in 0.02s (attempt 2 of 2)" in warnings[1]
    assert errors[1] == "giving up after 3 attempts: RuntimeError: run 3 failed"
    assert engine.stats.get("db", "never").errors == 3


def test_an_error_raised_inside_the_plugin_api_shows_only_the_plugins_frame(
    make_engine: Callable[..., ProcessingEngine], plugin_dir: Path
) -> None:
    engine = make_engine()
    name = plugin(plugin_dir, "query.py", BAD_QUERY)
    retry = TriggerSettings(error_behavior="retry", retry_attempts=1, retry_backoff=0.0)
    engine.create_trigger("db", "q", name, "every:1s", settings=retry)
    wait_for(lambda: any("giving up" in t for t in texts(engine, "q", "ERROR")), timeout=10)
    failed = [*texts(engine, "q", "WARN"), texts(engine, "q", "ERROR")[0]]
    assert len(failed) == 2
    for text in failed:
        assert text.startswith("error executing schedule plugin: QueryError: ")
        assert_only_plugin_frames(text, plugin_dir / name)
        assert 'influxdb3_local.query("SELECT * FROM not_here")' in text


def test_a_retry_waiting_for_its_backoff_ends_when_the_trigger_is_disabled(
    make_engine: Callable[..., ProcessingEngine], plugin_dir: Path
) -> None:
    engine = make_engine()
    name = plugin(plugin_dir, "flaky.py", FAILS_UNTIL)
    slow = TriggerSettings(error_behavior="retry", retry_attempts=5, retry_backoff=30.0)
    engine.create_trigger(
        "db", "slow", name, "all_tables", settings=slow, arguments={"succeed_on": "9"}
    )
    engine.write_lp("db", "cpu v=1i 1")
    wait_for(lambda: texts(engine, "slow", "WARN"))
    engine.disable_trigger("db", "slow")  # does not wait out the 30 s back-off
    assert engine.trigger_state("db", "slow") == "disabled"
    assert len(texts(engine, "slow", "WARN")) == 1 and texts(engine, "slow", "ERROR") == []


def test_disable_on_a_request_trigger_answers_500_then_disables_it_for_good(
    make_engine: Callable[..., ProcessingEngine], plugin_dir: Path
) -> None:
    engine = make_engine()
    name = plugin(plugin_dir, "req.py", FAILING_REQUEST)
    settings = TriggerSettings(error_behavior="disable")
    engine.create_trigger("db", "req", name, "request:req", settings=settings)
    ok = engine.handle_request("req", query_params={}, headers={}, body=b"")
    assert ok.status == 200 and ok.body == b"ok"

    failed = engine.handle_request("req", query_params={"fail": "1"}, headers={}, body=b"")
    assert failed.status == 500
    assert json.loads(failed.body) == {
        "error": "Python function call failed: ValueError: asked to fail"
    }
    assert engine.catalog.get_trigger("db", "req").disabled
    assert engine.trigger_state("db", "req") == "disabled"
    assert engine.catalog.trigger_rows("db")[0]["disabled"] is True
    errors = texts(engine, "req", "ERROR")
    assert errors[0].startswith("error running request plugin: ValueError: asked to fail\n")
    assert errors[1] == "disabling trigger req due to error"
    after = engine.handle_request("req", query_params={}, headers={}, body=b"")
    assert after.status == 404
    engine.shutdown()

    again = make_engine()  # persisted: still disabled after a restart, until enabled
    assert again.trigger_state("db", "req") == "disabled"
    again.enable_trigger("db", "req")
    assert again.handle_request("req", query_params={}, headers={}, body=b"").status == 200


@pytest.mark.parametrize("behavior", ["log", "retry"])
def test_a_request_trigger_is_never_retried_nor_disabled_by_log_or_retry(
    make_engine: Callable[..., ProcessingEngine], plugin_dir: Path, behavior: str
) -> None:
    engine = make_engine()
    name = plugin(plugin_dir, "req.py", FAILING_REQUEST)
    settings = TriggerSettings(error_behavior=behavior, retry_backoff=0.0)  # type: ignore[arg-type]
    engine.create_trigger("db", "req", name, "request:req", settings=settings)
    failed = engine.handle_request("req", query_params={"fail": "1"}, headers={}, body=b"")
    assert failed.status == 500
    assert engine.stats.get("db", "req").invocations == 1  # one attempt
    assert engine.trigger_state("db", "req") == "running"
    assert texts(engine, "req", "WARN") == []


def test_trigger_log_lines_name_database_and_trigger(
    make_engine: Callable[..., ProcessingEngine],
    plugin_dir: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="engine_runtime.plugins")
    engine = make_engine()
    name = plugin(plugin_dir, "flaky.py", FAILS_UNTIL)
    engine.create_trigger("db", "t", name, "all_tables", arguments={"succeed_on": "9"})
    engine.write_lp("db", "cpu v=1i 1")
    wait_for(lambda: texts(engine, "t", "ERROR"))
    formatter = logging.Formatter("%(levelname)s %(message)s")
    lines = [formatter.format(r) for r in caplog.records if r.name == "engine_runtime.plugins"]
    assert "INFO db/t: starting execution of wal plugin." in lines
    failure = next(line for line in lines if line.startswith("ERROR "))
    assert failure.startswith("ERROR db/t: error executing wal plugin: RuntimeError: run 1 failed")
