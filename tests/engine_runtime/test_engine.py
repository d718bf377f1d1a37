"""The processing engine end to end in-process: real plugins, the real store, real threads."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from engine_runtime import ProcessingEngine, TriggerSettings
from engine_runtime.errors import EngineError
from tests.engine_runtime.engine_helpers import FAILS_UNTIL, plugin
from tests.helpers import wait_for

# upstream's WRITE_REPORTS_PLUGIN_CODE (influxdb3/tests/cli/mod.rs), one condition reflowed
WRITE_REPORTS = """
def process_writes(influxdb3_local, table_batches, args=None):
    for table_batch in table_batches:
        # Skip if table_name is write_reports
        if table_batch["table_name"] == "write_reports":
            continue

        row_count = len(table_batch["rows"])

        # Double row count if table name matches args table_name
        if args and "double_count_table" in args and \
                table_batch["table_name"] == args["double_count_table"]:
            row_count *= 2

        line = LineBuilder("write_reports")\\
            .tag("table_name", table_batch["table_name"])\\
            .int64_field("row_count", row_count)
        influxdb3_local.write(line)
"""


def messages(engine: ProcessingEngine, trigger: str) -> list[str]:
    return [f"{r.level}: {r.text}" for r in engine.logs.records(trigger=trigger)]


def test_write_trigger_reports_rows_like_upstreams_create_trigger_and_run(
    make_engine: Callable[..., ProcessingEngine], plugin_dir: Path
) -> None:
    engine = make_engine()
    engine.create_database("foo")
    name = plugin(plugin_dir, "write_reports.py", WRITE_REPORTS)
    engine.create_trigger(
        "foo", "test_trigger", name, "all_tables", arguments={"double_count_table": "cpu"}
    )
    engine.write_lp("foo", "cpu,host=s1 usage=0.9\ncpu,host=s2 usage=0.89\nmem,host=s1 usage=0.5")
    sql = "SELECT table_name, row_count FROM write_reports ORDER BY table_name"
    rows = wait_for(
        lambda: "write_reports" in engine.store.tables("foo") and engine.query("foo", sql)
    )
    assert rows == [{"table_name": "cpu", "row_count": 4}, {"table_name": "mem", "row_count": 1}]
    log = messages(engine, "test_trigger")
    assert log[0] == "INFO: starting execution of wal plugin."
    assert log[1].startswith("INFO: finished execution in ")


def test_rows_are_queryable_before_the_trigger_runs_and_table_triggers_filter(
    make_engine: Callable[..., ProcessingEngine], plugin_dir: Path
) -> None:
    engine = make_engine()
    name = plugin(
        plugin_dir,
        "seen.py",
        """
        def process_writes(influxdb3_local, table_batches, args=None):
            for batch in table_batches:
                n = influxdb3_local.query(f"SELECT count(*) AS n FROM '{batch['table_name']}'")
                influxdb3_local.info(batch["table_name"], batch["rows"], n[0]["n"])
        """,
    )
    # a table: trigger on a table that does not exist yet simply waits for it
    engine.create_trigger("db", "later", name, "table:later")
    engine.write_lp("db", "other v=1i 1")
    engine.write_lp("db", "later,host=a v=2i 5")
    wait_for(lambda: len(messages(engine, "later")) >= 2)
    assert messages(engine, "later")[1] == "INFO: later [{'host': 'a', 'v': 2, 'time': 5}] 1"


def test_request_trigger_answers_and_errors_are_500(
    make_engine: Callable[..., ProcessingEngine], plugin_dir: Path
) -> None:
    engine = make_engine()
    name = plugin(
        plugin_dir,
        "req.py",
        """
        import json
        def process_request(influxdb3_local, query_parameters, request_headers, body, args=None):
            if query_parameters.get("fail"):
                raise ValueError("asked to fail")
            influxdb3_local.write(LineBuilder("hits").int64_field("n", 1))
            return {"q": query_parameters, "h": sorted(request_headers), "b": json.loads(body)}
        """,
    )
    engine.create_trigger("db", "req", name, "request:hello")
    ok = engine.handle_request(
        "hello",
        query_params={"a": "1"},
        headers={"X-One": "1", "Authorization": "Bearer secret"},
        body=b'{"k": 2}',
    )
    assert ok.status == 200 and ok.headers == {"Content-Type": "application/json"}
    assert json.loads(ok.body) == {"q": {"a": "1"}, "h": ["x-one"], "b": {"k": 2}}
    assert engine.query("db", "SELECT n FROM hits") == [{"n": 1}]
    failed = engine.handle_request("hello", query_params={"fail": "1"}, headers={}, body=b"")
    assert failed.status == 500
    error = json.loads(failed.body)["error"]
    assert error == "Python function call failed: ValueError: asked to fail"
    logged = [m for m in messages(engine, "req") if m.startswith("ERROR")]
    assert logged[0].startswith("ERROR: error running request plugin: ValueError: asked to fail")
    assert 'raise ValueError("asked to fail")' in logged[0]  # the traceback is kept
    missing = engine.handle_request("nope", query_params={}, headers={}, body=b"")
    assert missing.status == 404


def test_retry_is_bounded_and_backs_off(
    make_engine: Callable[..., ProcessingEngine], plugin_dir: Path
) -> None:
    engine = make_engine()
    name = plugin(plugin_dir, "flaky.py", FAILS_UNTIL)
    retry = TriggerSettings(error_behavior="retry", retry_attempts=2, retry_backoff=0.01)
    engine.create_trigger(
        "db", "ok", name, "table:a", settings=retry, arguments={"succeed_on": "3"}
    )
    engine.create_trigger(
        "db", "never", name, "table:b", settings=retry, arguments={"succeed_on": "9"}
    )
    engine.write_lp("db", "a v=1i 1\nb v=1i 1")
    wait_for(lambda: "INFO: succeeded on run 3" in messages(engine, "ok"))
    wait_for(lambda: any("giving up after 3 attempts" in m for m in messages(engine, "never")))
    warnings = [m for m in messages(engine, "never") if m.startswith("WARN")]
    assert len(warnings) == 2 and "will retry in 0.01s (attempt 1 of 2)" in warnings[0]
    assert engine.stats.get("db", "never").errors == 3


def test_disable_on_error_persists_across_restart_and_enable_restarts(
    make_engine: Callable[..., ProcessingEngine], plugin_dir: Path
) -> None:
    engine = make_engine()
    name = plugin(plugin_dir, "flaky.py", FAILS_UNTIL)
    settings = TriggerSettings(error_behavior="disable")
    engine.create_trigger(
        "db", "t", name, "all_tables", settings=settings, arguments={"succeed_on": "2"}
    )
    engine.write_lp("db", "a v=1i 1")
    wait_for(lambda: engine.trigger_state("db", "t") == "disabled")
    assert engine.catalog.get_trigger("db", "t").disabled
    assert "ERROR: disabling trigger t due to error" in messages(engine, "t")
    engine.shutdown()

    again = make_engine()
    assert again.trigger_state("db", "t") == "disabled"
    again.enable_trigger("db", "t")
    assert again.trigger_state("db", "t") == "running"
    again.write_lp("db", "a v=2i 2")
    # the cache was dropped on disable, so the count starts over and the first run fails again
    wait_for(lambda: again.stats.get("db", "t").invocations >= 1)


def test_restart_keeps_triggers_and_cache(
    make_engine: Callable[..., ProcessingEngine], plugin_dir: Path
) -> None:
    engine = make_engine(persist_cache=True)
    name = plugin(
        plugin_dir,
        "count.py",
        """
        def process_writes(influxdb3_local, table_batches, args=None):
            total = influxdb3_local.cache.get("total", default=0) + 1
            influxdb3_local.cache.put("total", total)
            influxdb3_local.cache.put("lock", __import__("threading").Lock())  # unpicklable
            influxdb3_local.info("total", total)
        """,
    )
    engine.create_trigger("db", "count", name, "all_tables")
    engine.create_trigger("db", "off", name, "all_tables", disabled=True)
    engine.write_lp("db", "a v=1i 1")
    wait_for(lambda: "INFO: total 1" in messages(engine, "count"))
    engine.shutdown()

    again = make_engine(persist_cache=True)
    assert again.trigger_state("db", "count") == "running"
    assert again.trigger_state("db", "off") == "disabled"
    again.write_lp("db", "a v=1i 2")
    wait_for(lambda: "INFO: total 2" in messages(again, "count"))


def test_a_runaway_plugin_is_interrupted_and_the_trigger_keeps_serving(
    make_engine: Callable[..., ProcessingEngine], plugin_dir: Path
) -> None:
    engine = make_engine(execution_timeout=0.3)
    name = plugin(
        plugin_dir,
        "spin.py",
        """
        def process_writes(influxdb3_local, table_batches, args=None):
            if table_batches[0]["table_name"] == "spin":
                while True:
                    try:
                        pass
                    except Exception:
                        pass
            influxdb3_local.info("served", table_batches[0]["table_name"])
        """,
    )
    engine.create_trigger("db", "t", name, "all_tables")
    engine.write_lp("db", "spin v=1i 1")
    engine.write_lp("db", "next v=1i 1")
    wait_for(lambda: "INFO: served next" in messages(engine, "t"))
    errors = [m for m in messages(engine, "t") if m.startswith("ERROR")]
    assert errors[0].startswith("ERROR: error executing wal plugin: PluginTimeout")


def test_synchronous_triggers_run_one_event_at_a_time_and_async_overlap(
    make_engine: Callable[..., ProcessingEngine], plugin_dir: Path
) -> None:
    engine = make_engine()
    name = plugin(
        plugin_dir,
        "slow.py",
        """
        import time
        from shared_lock import LOCK as lock  # imported once per host: one lock for all runs
        def process_writes(influxdb3_local, table_batches, args=None):
            cache = influxdb3_local.cache
            with lock:
                active = cache.get("active", default=0) + 1
                cache.put("active", active)
                cache.put("peak", max(active, cache.get("peak", default=0)))
            time.sleep(0.05)
            with lock:
                cache.put("active", cache.get("active") - 1)
            influxdb3_local.info("peak", cache.get("peak"))
        """,
    )
    (plugin_dir / "shared_lock.py").write_text("import threading\nLOCK = threading.Lock()\n")
    engine.create_trigger("db", "sync", name, "table:s")
    async_settings = TriggerSettings(run_async=True)
    engine.create_trigger("db", "async", name, "table:a", settings=async_settings)
    for i in range(4):
        engine.write_lp("db", f"s v={i}i {i}\na v={i}i {i}")
    wait_for(lambda: engine.stats.get("db", "sync").invocations == 4)
    wait_for(lambda: engine.stats.get("db", "async").invocations == 4)

    def peak(trigger: str) -> int:
        return max(int(m.split()[-1]) for m in messages(engine, trigger) if "peak" in m)

    assert peak("sync") == 1
    assert peak("async") > 1


def test_lifecycle_errors_use_upstreams_words(
    make_engine: Callable[..., ProcessingEngine], plugin_dir: Path
) -> None:
    engine = make_engine()
    name = plugin(plugin_dir, "write_reports.py", WRITE_REPORTS)
    engine.create_trigger("db", "test_trigger", name, "all_tables")
    with pytest.raises(EngineError, match="attempted to create a resource that already exists"):
        engine.create_trigger("db", "test_trigger", name, "all_tables")
    with pytest.raises(
        EngineError,
        match=r"Cannot delete running plugin test_trigger\. Disable it first or use --force\.",
    ):
        engine.delete_trigger("db", "test_trigger")
    engine.delete_trigger("db", "test_trigger", force=True)
    with pytest.raises(EngineError, match="the requested resource was not found: test_trigger"):
        engine.enable_trigger("db", "test_trigger")


def test_a_plugin_that_cannot_load_is_reported_and_others_run(
    make_engine: Callable[..., ProcessingEngine], plugin_dir: Path
) -> None:
    engine = make_engine()
    broken = plugin(plugin_dir, "broken.py", "def process_writes(:\n")
    good = plugin(plugin_dir, "write_reports.py", WRITE_REPORTS)
    engine.create_trigger("db", "broken", broken, "all_tables")
    engine.create_trigger("db", "good", good, "all_tables")
    engine.write_lp("db", "cpu v=1i 1")
    wait_for(
        lambda: engine.query("db", "SHOW TABLES") and "write_reports" in engine.store.tables("db")
    )

    def errors() -> list[str]:  # the two triggers run apart: the broken one may log later
        return [m for m in messages(engine, "broken") if m.startswith("ERROR")]

    wait_for(errors)
    assert errors()[0].startswith("ERROR: error executing wal plugin: SyntaxError")


def test_system_tables_show_triggers_logs_and_stats(
    make_engine: Callable[..., ProcessingEngine], plugin_dir: Path
) -> None:
    engine = make_engine()
    name = plugin(plugin_dir, "write_reports.py", WRITE_REPORTS)
    engine.create_trigger("db", "t", name, "table:cpu", arguments={"k": "v"})
    engine.write_lp("db", "cpu v=1i 1")
    wait_for(lambda: engine.stats.get("db", "t").invocations == 1)
    assert engine.query(
        "db",
        "SELECT trigger_name, trigger_specification, disabled "
        "FROM system.processing_engine_triggers",
    ) == [
        {
            "trigger_name": "t",
            "trigger_specification": '{"single_table_wal_write":{"table_name":"cpu"}}',
            "disabled": False,
        }
    ]
    assert engine.query(
        "db", "SELECT argument_key, argument_value FROM system.processing_engine_trigger_arguments"
    ) == [{"argument_key": "k", "argument_value": "v"}]
    logs = engine.query(
        "db", "SELECT log_level, log_text FROM system.processing_engine_logs ORDER BY event_time"
    )
    assert logs[0] == {"log_level": "INFO", "log_text": "starting execution of wal plugin."}
    stats = engine.query(
        "db", "SELECT invocations, errors FROM system.processing_engine_trigger_stats"
    )
    assert stats == [{"invocations": 1, "errors": 0}]


def test_a_plugin_stuck_in_a_c_call_loses_its_host_not_its_trigger(
    make_engine: Callable[..., ProcessingEngine], plugin_dir: Path
) -> None:
    engine = make_engine(execution_timeout=0.2, timeout_grace=0.2)
    name = plugin(
        plugin_dir,
        "sleepy.py",
        """
        import time
        def process_writes(influxdb3_local, table_batches, args=None):
            if table_batches[0]["table_name"] == "sleep":
                time.sleep(3)  # an async exception cannot interrupt a C call
            influxdb3_local.info("served", table_batches[0]["table_name"])
        """,
    )
    engine.create_trigger("db", "t", name, "all_tables")
    engine.write_lp("db", "sleep v=1i 1")
    engine.write_lp("db", "next v=1i 1")
    # the stuck run's host is replaced after timeout + grace and a fresh one serves the queue
    wait_for(lambda: "INFO: served next" in messages(engine, "t"), timeout=2.5)


def test_schedule_trigger_runs_on_the_grid_with_naive_utc_call_time(
    make_engine: Callable[..., ProcessingEngine], plugin_dir: Path
) -> None:
    engine = make_engine()
    name = plugin(
        plugin_dir,
        "tick.py",
        """
        def process_scheduled_call(influxdb3_local, call_time, args=None):
            influxdb3_local.info(call_time.tzinfo, call_time.microsecond, args)
            influxdb3_local.write(LineBuilder("ticks").int64_field("n", 1))
        """,
    )
    engine.create_trigger("db", "tick", name, "every:200ms", arguments={"a": "b"})
    wait_for(lambda: engine.stats.get("db", "tick").invocations >= 2)
    log = messages(engine, "tick")
    assert log[0].startswith("INFO: starting execution with scheduled time ")
    assert log[0].endswith(" UTC")
    assert log[1] == "INFO: None 0 {'a': 'b'}"
    wait_for(lambda: "ticks" in engine.store.tables("db"))


#: logs what its cache held, then counts the runs there
REMEMBER = """
def process_writes(influxdb3_local, table_batches, args=None):
    seen = influxdb3_local.cache.get("seen")
    influxdb3_local.info("seen", seen)
    influxdb3_local.cache.put("seen", (seen or 0) + 1)
"""


def test_disable_then_enable_clears_the_trigger_cache(
    make_engine: Callable[..., ProcessingEngine], plugin_dir: Path
) -> None:
    engine = make_engine()
    name = plugin(plugin_dir, "remember.py", REMEMBER)
    engine.create_trigger("db", "t", name, "table:m")
    for expected in ("INFO: seen None", "INFO: seen 1"):
        engine.write_lp("db", "m v=1")
        wait_for(lambda e=expected: e in messages(engine, "t"))
    engine.disable_trigger("db", "t")
    assert engine.trigger_state("db", "t") == "disabled"
    engine.enable_trigger("db", "t")
    assert engine.trigger_state("db", "t") == "running"
    engine.write_lp("db", "m v=1")
    wait_for(lambda: messages(engine, "t").count("INFO: seen None") == 2)  # the cache was dropped


def test_deleting_a_database_stops_its_triggers(
    make_engine: Callable[..., ProcessingEngine], plugin_dir: Path
) -> None:
    engine = make_engine()
    name = plugin(plugin_dir, "remember.py", REMEMBER)
    engine.create_trigger("db", "t", name, "table:m")
    engine.write_lp("db", "m v=1")
    wait_for(lambda: "INFO: seen None" in messages(engine, "t"))
    engine.delete_database("db")
    assert engine.trigger_state("db", "t") == "disabled"
    assert engine.catalog.triggers() == []
    engine.create_database("db")
    engine.create_trigger("db", "t", name, "table:m")
    engine.write_lp("db", "m v=1")
    wait_for(lambda: messages(engine, "t").count("INFO: seen None") == 2)  # the cache was dropped


def test_a_full_queue_pushes_back_on_the_writer(
    make_engine: Callable[..., ProcessingEngine], plugin_dir: Path
) -> None:
    engine = make_engine(queue_size=1)
    name = plugin(
        plugin_dir,
        "slow.py",
        """
        import time
        def process_writes(influxdb3_local, table_batches, args=None):
            time.sleep(0.1)
        """,
    )
    engine.create_trigger("db", "t", name, "all_tables")
    start = time.monotonic()
    for i in range(4):  # one running, one queued, then each write waits for room
        engine.write_lp("db", f"a v={i}i {i}")
    assert time.monotonic() - start >= 0.15
    wait_for(lambda: engine.stats.get("db", "t").invocations == 4)


def test_the_cache_is_saved_periodically_and_routes_go_with_their_trigger(
    make_engine: Callable[..., ProcessingEngine], plugin_dir: Path, tmp_path: Path
) -> None:
    engine = make_engine(persist_cache=True, cache_save_interval=0.1)
    name = plugin(
        plugin_dir,
        "req.py",
        """
        def process_request(influxdb3_local, query_parameters, request_headers, body, args=None):
            influxdb3_local.cache.put("seen", True)
            return "ok"
        """,
    )
    engine.create_trigger("db", "r", name, "request:ping")
    assert engine.handle_request("ping", query_params={}, headers={}, body=b"").status == 200
    wait_for(lambda: (tmp_path / "data" / "cache.pickle").exists())  # no shutdown needed
    engine.delete_trigger("db", "r", force=True)
    assert engine.handle_request("ping", query_params={}, headers={}, body=b"").status == 404


def test_sys_exit_in_a_plugin_is_an_error_not_an_exit(
    make_engine: Callable[..., ProcessingEngine], plugin_dir: Path
) -> None:
    engine = make_engine()
    name = plugin(
        plugin_dir,
        "quitter.py",
        """
        import sys
        def process_writes(influxdb3_local, table_batches, args=None):
            if table_batches[0]["table_name"] == "quit":
                sys.exit(3)
            influxdb3_local.info("still here")
        """,
    )
    engine.create_trigger("db", "t", name, "all_tables")
    engine.write_lp("db", "quit v=1i 1")
    engine.write_lp("db", "next v=1i 1")
    wait_for(lambda: "INFO: still here" in messages(engine, "t"))
    assert any(
        m.startswith("ERROR: error executing wal plugin: SystemExit: 3")
        for m in messages(engine, "t")
    )


def test_a_trigger_whose_plugin_is_missing_is_reported_and_the_rest_start(
    make_engine: Callable[..., ProcessingEngine], plugin_dir: Path
) -> None:
    engine = make_engine()
    name = plugin(plugin_dir, "write_reports.py", WRITE_REPORTS)
    engine.create_trigger("db", "good", name, "all_tables")
    engine.create_trigger("db", "gone", "gone.py", "all_tables")
    assert engine.trigger_state("db", "gone").startswith("failed: ")
    assert "gone.py" in engine.trigger_state("db", "gone")
    assert engine.trigger_state("db", "good") == "running"
    assert messages(engine, "gone")[0].startswith("ERROR: trigger not started: ")
