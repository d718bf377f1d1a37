"""The idioms the official plugin library relies on (plugin-library.md §0, §4, §5), run through
the dry runner with small original plugins from ``fixtures/plugins/library/``."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from engine_runtime import DryRunner, LocalPluginSource

PLUGINS = Path(__file__).resolve().parents[2] / "fixtures" / "plugins"
CLOCK = 1_755_000_000.0  # 2025-08-12T12:00:00Z; "every:10m" then fires at 12:10:00
DB = "db"


def ns(hhmm: str) -> int:
    """Nanoseconds of ``hh:mm`` on 2025-08-12 (UTC)."""
    moment = datetime.fromisoformat(f"2025-08-12T{hhmm}:00+00:00")
    return int(moment.timestamp()) * 10**9


def source(name: str) -> LocalPluginSource:
    return LocalPluginSource(PLUGINS, f"library/{name}")


def plugin_lines(report: dict[str, Any]) -> list[str]:
    """The plugin's own log lines, between the framework's first and last lines."""
    assert report["log_lines"][0].startswith("INFO: starting execution"), report
    assert report["log_lines"][-1].startswith("INFO: finished execution in "), report
    return list(report["log_lines"][1:-1])


@pytest.fixture(autouse=True)
def _restore_environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    # the runner exports PLUGIN_DIR and runtime_behaviour.py sets a variable at import
    monkeypatch.setenv("PLUGIN_DIR", "")
    monkeypatch.setenv("LIBRARY_IDIOMS_IMPORTS", "0")
    yield


@pytest.fixture
def runner() -> DryRunner:
    return DryRunner(plugin_dir=PLUGINS, clock=lambda: CLOCK)


# -- 1. logging, args, TOML config --------------------------------------------------------------

TEMPS = "temps,host=a value=55 1\ntemps,host=b value=70.5 2\ntemps,host=c other=1i 3"


def test_logging_args_and_toml_config_via_plugin_dir(runner: DryRunner) -> None:
    args = {"config_file_path": "library/configs/logging_args.toml", "threshold": "60"}
    report = runner.wal(source("logging_args.py"), DB, TEMPS, args=args)
    assert report["errors"] == []
    assert plugin_lines(report) == [
        "INFO: args is None: False",
        "INFO: [toml-task] Preparing to check data "
        "{'threshold': 60.0, 'hosts': ['a', 'b'], 'arg_types': ['str']}",
        "WARN: [toml-task] above threshold: b 70.5",
        "ERROR: [toml-task] row without value in temps",
        "INFO: [toml-task] done 1 batches",
    ]
    assert report["database_writes"] == {}


def test_no_arguments_arrive_as_none(runner: DryRunner) -> None:
    report = runner.wal(source("logging_args.py"), DB, TEMPS)
    assert report["errors"] == []
    assert plugin_lines(report) == [
        "INFO: args is None: True",
        "INFO: [default-task] Preparing to check data "
        "{'threshold': 100.0, 'hosts': [], 'arg_types': []}",
        "ERROR: [default-task] row without value in temps",
        "INFO: [default-task] done 1 batches",
    ]


# -- 2. writes ----------------------------------------------------------------------------------

CHECKPOINT = '_system.model_checkpoints,plugin=writes model_data="scale=2.0",chunk_index=0i 1000'


def test_every_write_method_batch_lines_and_a_dotted_measurement(runner: DryRunner) -> None:
    lp = "cpu,host=a value=2.5 100\ncpu,host=b value=4 200\ncpu,host=c load=1i 300"
    report = runner.wal(source("writes.py"), DB, lp, args={"scale": "2"})
    assert report["errors"] == []
    assert plugin_lines(report) == [
        "INFO: checkpoints [{'plugin': 'writes', 'model_data': 'scale=2.0', "
        "'chunk_index': 0, 'time': 1000}]",
        "INFO: scaled rows readable 2",
    ]
    scaled = ["scaled,host=a value=5.0 100", "scaled,host=b value=8.0 200"]
    assert report["database_writes"] == {
        DB: [*scaled, CHECKPOINT, *scaled],  # sync writes first, then the queued ones
        "audit_db": ["audit,plugin=writes rows=2u"],
        "default": ["summary points=2i"],
    }
    assert list(report["database_writes"]) == [DB, "audit_db", "default"]
    assert runner.store.databases() == []  # captured, not persisted


def test_write_to_db_takes_the_target_from_args(runner: DryRunner) -> None:
    args = {"target_database": "reports"}
    report = runner.wal(source("writes.py"), DB, "cpu,host=a value=1 5", args=args)
    assert report["errors"] == []
    assert report["database_writes"]["reports"] == ["summary points=1i"]
    assert "default" not in report["database_writes"]


# -- 3. queries ---------------------------------------------------------------------------------


def seed_queries(runner: DryRunner) -> None:
    runner.seed(
        DB,
        "\n".join(
            [
                f"home,room=Kitchen temp=19,hum=40 {ns('11:05')}",
                f"home,room=Kitchen temp=20,hum=41 {ns('11:12')}",
                f"home,room=Living temp=21,hum=50 {ns('11:14')}",
                f"home,room=Kitchen temp=22,hum=42 {ns('11:15')}",
                f"home,room=Kitchen temp=24,hum=43 {ns('11:25')}",
                f"home,room=Kitchen temp=30,hum=60 {ns('12:10')}",
            ]
        ),
    )
    runner.seed(
        DB,
        "\n".join(
            [
                f"http_requests,host=a,status=200 latency=1.5 {ns('11:20')}",
                f"http_requests,host=a,status=200 latency=2.5 {ns('11:30')}",
                f"http_requests,host=a,status=500 latency=9.0 {ns('11:31')}",
                f"http_requests,host=b,status=200 latency=1.0 {ns('12:00')}",
                f"http_requests,host=b,status=200 latency=1.0 {ns('10:00')}",
                f"events,msg_id=m-1 size=1i {ns('11:30')}",
                f"events,msg_id=m-2 size=2i {ns('11:31')}",
                f"events,msg_id=m-3 size=3i {ns('10:00')}",
                f"events,msg_id=m-1 size=1i {ns('11:40')}",
            ]
        ),
    )
    # now() is the wall clock: checkpoints are placed relative to it
    hour = 3600 * 10**9
    now = time.time_ns()
    checkpoints = [
        ("river_anomaly_detector", "cpu.b", "blob-b", now - 2 * hour),
        ("river_anomaly_detector", "cpu.a", "blob-a", now - hour),
        ("river_anomaly_detector", "cpu.old", "blob-old", now - 48 * hour),
        ("river_forecaster", "cpu.x", "blob-x", now - hour),
    ]
    runner.seed(
        DB,
        "\n".join(
            f'_system.model_checkpoints,plugin={plugin},series_key={key} model_data="{data}",'
            f"chunk_index=0i,chunk_total=1i {at}"
            for plugin, key, data, at in checkpoints
        ),
    )


def test_representative_library_queries(runner: DryRunner) -> None:
    seed_queries(runner)
    report = runner.schedule(source("queries.py"), DB, "every:10m")
    assert report["errors"] == []
    assert report["trigger_time"] == "2025-08-12T12:10:00Z"
    assert plugin_lines(report) == [
        f"INFO: downsampled {{'_time': {ns('11:10')}, 'record_count': 2, "
        f"'time_from': {ns('11:12')}, 'time_to': {ns('11:15')}, 'temp_avg': 21.0, "
        "'hum_first_value': 41.0, 'room': 'Kitchen'}",
        f"INFO: downsampled {{'_time': {ns('11:20')}, 'record_count': 1, "
        f"'time_from': {ns('11:25')}, 'time_to': {ns('11:25')}, 'temp_avg': 24.0, "
        "'hum_first_value': 43.0, 'room': 'Kitchen'}",
        "INFO: Dictionary(Int32, Utf8) ['room']",
        "INFO: Float64 ['hum', 'temp']",
        "INFO: counts [('a', '200', 2), ('a', '500', 1), ('b', '200', 1)]",
        "INFO: checkpoint cpu.a blob-a int",
        "INFO: checkpoint cpu.b blob-b int",
        "INFO: already seen ['m-1']",
        "INFO: tables ['_system.model_checkpoints', 'events', 'home', 'http_requests']",
        "INFO: stats {'room': 'Kitchen', 'hum_first': 40.0, 'temp_med': 22.0, "
        "'temp_sd': 4.358898943540674}",
        "INFO: stats {'room': 'Living', 'hum_first': 50.0, 'temp_med': 21.0, 'temp_sd': None}",
        "INFO: time >= '2025-08-12T11:10:00+00:00' [{'count(*)': 5}]",
        "INFO: last home row at 1755000600",
    ]
    assert report["database_writes"] == {}


# -- 4. cache -----------------------------------------------------------------------------------


def test_cache_holds_live_objects_across_runs(runner: DryRunner) -> None:
    plugin = source("cache_window.py")

    def run(lp: str, cache_name: str, **args: str) -> list[str]:
        report = runner.wal(plugin, DB, lp, args={"window": "3", **args}, cache_name=cache_name)
        assert report["errors"] == []
        assert report["database_writes"] == {}
        return plugin_lines(report)

    assert run("m value=1 1\nm value=2 2", "mad") == [
        "INFO: window [1.0, 2.0] maxlen 3 same True",
        "INFO: calls 1",
    ]
    assert run("m value=3 3\nm value=4 4", "mad") == [
        "INFO: window [2.0, 3.0, 4.0] maxlen 3 same True",
        "INFO: calls 2",
    ]
    assert run("m value=9 9", "other") == [
        "INFO: window [9.0] maxlen 3 same True",
        "INFO: calls 1",
    ]
    assert run("m value=5 5", "mad", reset="true") == [
        "INFO: window [3.0, 4.0, 5.0] maxlen 3 same True",
        "INFO: calls 3",
        "INFO: delete window True",
        "INFO: delete again False",
        "INFO: after delete None []",
    ]
    assert run("m value=6 6", "mad") == [
        "INFO: window [6.0] maxlen 3 same True",
        "INFO: calls 4",
    ]


def test_the_cache_keeps_live_objects_between_runs() -> None:
    # expiry (a positional ttl, None as the test default of 30 minutes) is CacheStore's, tested
    # with a fake clock in test_cache.py; here: the same deque and stats object come back
    with DryRunner(plugin_dir=PLUGINS, clock=lambda: CLOCK) as runner:

        def run(lp: str) -> list[str]:
            report = runner.wal(source("cache_window.py"), DB, lp, cache_name="live")
            assert report["errors"] == []
            return plugin_lines(report)

        assert run("m value=1 1") == ["INFO: window [1.0] maxlen 3 same True", "INFO: calls 1"]
        assert run("m value=2 2") == [
            "INFO: window [1.0, 2.0] maxlen 3 same True",
            "INFO: calls 2",
        ]


# -- 5. runtime behaviour -----------------------------------------------------------------------


def test_runtime_behaviour_the_library_needs(runner: DryRunner) -> None:
    plugin = source("runtime_behaviour.py")
    args = {"hosts": "alpha,be"}
    first = runner.schedule(plugin, DB, "every:10m", args=args)
    second = runner.schedule(plugin, DB, "0 */10 * * * *", args=args)  # bare 6-field cron
    for report, imports in ((first, 1), (second, 2)):
        assert report["errors"] == []
        assert report["trigger_time"] == "2025-08-12T12:10:00Z"
        assert plugin_lines(report) == [
            "INFO: settings Settings(region='us-east', hosts=['alpha', 'be']) builtins builtins",
            f"INFO: imports {imports}",
            "INFO: naive True 2025-08-12T12:10:00",
            "INFO: aware 2025-08-12T12:10:00+00:00 1755000600",
            "INFO: asyncio ['slack-ok', 'http-ok']",
            "INFO: threads [5, 2]",
            "WARN: query failed: QueryError True",
            # print() in the plugin host: a line of the run's log, at INFO
            "INFO: runtime_behaviour printed 2025-08-12T12:10:00",
        ]
        assert report["database_writes"] == {}


# -- 6. request plugins -------------------------------------------------------------------------

NOTIFY_ARGS = {"token": "s3cret", "channels": "slack,http"}


def test_request_plugin_picks_its_action_from_query_parameters(runner: DryRunner) -> None:
    report = runner.request(
        source("notify_request.py"),
        DB,
        method="GET",
        query_string="action=status",
        args=NOTIFY_ARGS,
    )
    assert report["errors"] == []
    assert report["status"] == 200
    assert report["headers"] == {"Content-Type": "application/json"}
    assert json.loads(report["body"]) == {"status": "ok", "channels": ["slack", "http"]}
    assert plugin_lines(report) == []


def test_request_plugin_reads_json_body_and_headers_case_insensitively(
    runner: DryRunner,
) -> None:
    body = json.dumps({"senders": ["slack", "http"], "message": "disk full"}).encode()
    headers = [("X-Notify-Token", "s3cret"), ("Content-Type", "application/json")]
    report = runner.request(
        source("notify_request.py"),
        DB,
        query_string="action=notify",
        headers=headers,
        body=body,
        args=NOTIFY_ARGS,
    )
    assert report["errors"] == []
    assert report["status"] == 200
    assert report["headers"] == {"Content-Type": "application/json"}
    assert json.loads(report["body"]) == {
        "status": "success",
        "message": "Request processed",
        "results": {"slack": "sent", "http": "sent"},
        "ct": "application/json",
    }
    assert plugin_lines(report) == [
        "INFO: notification processed {'slack': 'sent', 'http': 'sent'}"
    ]
    assert report["database_writes"] == {
        DB: [
            'notifications,channel=slack message="disk full"',
            'notifications,channel=http message="disk full"',
        ]
    }


def test_request_plugin_errors_are_dicts_with_status_200(runner: DryRunner) -> None:
    headers = [("x-notify-token", "wrong"), ("Authorization", "Bearer s3cret")]
    report = runner.request(
        source("notify_request.py"), DB, headers=headers, body=b"{}", args=NOTIFY_ARGS
    )
    assert report["errors"] == []
    assert report["status"] == 200
    assert json.loads(report["body"]) == {"message": "Request failed. Error: invalid token"}
    assert plugin_lines(report) == [
        "WARN: rejected notification, token wrong",
        "INFO: header names ['x-notify-token']",  # lowercased, Authorization removed
    ]
    assert report["database_writes"] == {}


def test_community_tuple_shape_is_a_500(runner: DryRunner) -> None:
    runner.seed(DB, "readings,sensor=s1 v=1 1\nreadings,sensor=s2 v=2 2")
    report = runner.request(source("community_tuple.py"), DB)
    assert report["status"] == 500
    assert json.loads(report["body"]) == {"error": "expected a dictionary in header item"}
    assert report["errors"] == ["expected a dictionary in header item"]
    assert plugin_lines(report) == ["INFO: community plugin counted 2"]
    assert report["database_writes"] == {}


# -- 7. directory plugin ------------------------------------------------------------------------


def test_directory_plugin_with_relative_imports(runner: DryRunner) -> None:
    plugin = LocalPluginSource(PLUGINS, "library/dir_stats")
    lp = "cpu,host=a value=1 10\ncpu,host=b value=3 30\nmem,host=a value=5 20"
    for _ in range(2):  # loads again cleanly
        report = runner.wal(plugin, DB, lp, args={"prefix": "agg"})
        assert report["errors"] == []
        assert plugin_lines(report) == [
            "INFO: cpu Summary(count=2, mean=2.0, last_ns=30)",
            "INFO: mem Summary(count=1, mean=5.0, last_ns=20)",
        ]
        assert report["database_writes"] == {
            DB: ["agg_cpu count=2i,mean=2.0 30", "agg_mem count=1i,mean=5.0 20"]
        }
