"""Plugins that kill their plugin host, or send it too much: the run fails with a clear error,
the next run gets a fresh host (after a back-off when deaths come in a row), and a trigger whose
runs keep killing their host is failed. Real engines, real plugin files, real host processes."""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from engine_runtime import ProcessingEngine, TriggerSettings
from engine_runtime.host import PluginHost
from engine_runtime.host.deaths import RESTART_BACKOFF_MAX, restart_delay
from engine_runtime.host.pool import SHARED
from engine_runtime.running_trigger import HOST_DEATH_LIMIT
from tests.engine_runtime.engine_helpers import plugin
from tests.engine_runtime.fault_helpers import call, host_pid, host_pid_of, running, texts
from tests.helpers import wait_for

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
        child = int(pid_file.read_text())
        wait_for(lambda: not running(child))  # killed with its host's process group
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
    assert host._deaths.in_a_row == 0  # a success resets the count
    os.kill(host_pid_of(host), signal.SIGKILL)  # a death between runs counts too
    wait_for(lambda: host.pid is None)
    started = time.monotonic()
    assert host.run(
        "db/o", "wal", plugin_dir / ok, "process_writes", database="db", payload=payload
    ).ok
    assert time.monotonic() - started >= restart_delay(1) - 0.05
    assert host.starts == 4
