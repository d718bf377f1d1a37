"""``pluginmgr test wal_plugin|schedule_plugin|request_plugin``: real plugins, real store, offline.

The plugins are the fixtures in `fixtures/plugins/` (copied into a private plugin dir) and the
`gh:` example served by a loopback repository. Strings are upstream's (engine-behavior.md §6).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from pluginmgr.testing import RepoServer
from tests.conftest import FIXTURES, WAL_PLUGIN
from tests.git_helpers import make_origin
from tests.helpers import CliResult, run_cli

UPSTREAM_LP = "cpu,host=A,region=west usage=1i,system=23.2 100\nmem,host=B user=43.1 120"


@pytest.fixture
def plugins(plugin_dir: Path) -> Path:
    shutil.copytree(FIXTURES / "plugins", plugin_dir, dirs_exist_ok=True)
    return plugin_dir


def run_test(
    capsys: pytest.CaptureFixture[str], plugins: Path, kind: str, ref: str, *args: str
) -> tuple[CliResult, dict[str, Any]]:
    cache = plugins.parent / "cache"
    result = run_cli(
        capsys, "test", kind, ref, "--plugin-dir", str(plugins), "--cache-dir", str(cache), *args
    )
    report = json.loads(result.out) if result.out.strip() else {}
    return result, report


def framed(report: dict[str, Any], first: str) -> list[str]:
    """The plugin's own log lines, after checking the framework's first and last lines."""
    lines = report["log_lines"]
    assert lines[0] == first
    assert lines[-1].startswith("INFO: finished execution in ")
    return list(lines[1:-1])


# -- wal_plugin ------------------------------------------------------------------------------------


def test_wal_plugin_logs_rows_and_captures_writes_like_upstream(
    capsys: pytest.CaptureFixture[str], plugins: Path
) -> None:
    result, report = run_test(
        capsys,
        plugins,
        "wal_plugin",
        "wal_rows.py",
        "-d",
        "_testdb",
        "--lp",
        UPSTREAM_LP,
        "--input-arguments",
        "arg1=val1",
    )
    assert result.code == 0, result.err
    assert list(report) == ["log_lines", "database_writes", "errors"]
    assert framed(report, "INFO: starting execution of wal plugin.") == [
        "INFO: arg1: val1",
        "INFO: table: cpu",
        "INFO: row: {'host': 'A', 'region': 'west', 'usage': 1, 'system': 23.2, 'time': 100}",
        "INFO: table: mem",
        "INFO: row: {'host': 'B', 'user': 43.1, 'time': 120}",
        "INFO: done",
    ]
    assert report["database_writes"] == {
        "_testdb": [
            'some_table,tag1=tag1_value,tag2=tag2_value field1=1i,field2=2.0,field3="number three"'
        ],
        "mytestdb": ["other_table other_field=1i,other_field2=3.14 1302"],
    }
    assert report["errors"] == []
    assert result.out.startswith('{\n  "log_lines": [\n')  # pretty JSON, 2-space indent


def test_wal_plugin_reads_lp_from_a_file(
    capsys: pytest.CaptureFixture[str], plugins: Path, tmp_path: Path
) -> None:
    lp_file = tmp_path / "input.lp"
    lp_file.write_text(UPSTREAM_LP + "\n", encoding="utf-8")
    result, report = run_test(
        capsys, plugins, "wal_plugin", "cache_counter.py", "-d", "db", "--file", str(lp_file)
    )
    assert result.code == 0, result.err
    assert "INFO: total rows 2" in report["log_lines"]


def test_wal_plugin_queries_the_rows_it_was_handed(
    capsys: pytest.CaptureFixture[str], plugins: Path
) -> None:
    result, report = run_test(
        capsys, plugins, "wal_plugin", "wal_query.py", "-d", "db", "--lp", UPSTREAM_LP
    )
    assert result.code == 0, result.err
    assert framed(report, "INFO: starting execution of wal plugin.") == [
        "INFO: tables: ['cpu', 'mem']",
        "INFO: tags of cpu ['host', 'region']",
        "INFO: rows in cpu 1",
        "INFO: tags of mem ['host']",
        "INFO: rows in mem 1",
        "INFO: read back [{'tables': 2}]",
    ]
    assert report["database_writes"] == {"db": ["_meta.seen tables=2i"]}


def test_wal_plugin_from_a_gh_reference(
    capsys: pytest.CaptureFixture[str], plugins: Path, repo_server: RepoServer
) -> None:
    result, report = run_test(
        capsys,
        plugins,
        "wal_plugin",
        WAL_PLUGIN,
        "--plugin-repo",
        repo_server.url,
        "-d",
        "foo",
        "--lp",
        "test_input,tag1=tag1_value,tag2=tag2_value field1=1i 500",
    )
    assert result.code == 0, result.err
    assert "INFO: wal_plugin.py done" in report["log_lines"]
    assert report["database_writes"] == {
        "foo": ["write_reports,table_name=test_input row_count=1i"]
    }


def test_directory_plugin_imports_its_sibling_module(
    capsys: pytest.CaptureFixture[str], plugins: Path
) -> None:
    result, report = run_test(
        capsys, plugins, "wal_plugin", "pkg_report", "-d", "db", "--lp", UPSTREAM_LP
    )
    assert result.code == 0, result.err
    assert "INFO: cpu: 1 rows (from summary)" in report["log_lines"]


@pytest.mark.parametrize(
    ("plugin", "error"),
    [
        ("errors/indentation.py", "IndentationError: unexpected indent (<string>, line 2)"),
        (
            "errors/no_entry_point.py",
            "the process_writes function is not present in the plugin. Should be defined as: "
            "process_writes(influxdb3_local, table_batches, args=None)",
        ),
        (
            "errors/wrong_signature.py",
            "TypeError: process_writes() takes 2 positional arguments but 3 were given",
        ),
        ("errors/no_fields.py", "InvalidLineError: At least one field is required: some_table"),
        (
            "errors/missing_table.py",
            "QueryError: error: error while planning query: Error during planning: table "
            "'public.iox.not_here' not found executing query on foo: SELECT foo FROM not_here",
        ),
        (
            "errors/import_missing.py",
            "ModuleNotFoundError: No module named 'totally_missing_dep_xyz'",
        ),
    ],
)
def test_wal_plugin_errors_use_upstreams_strings(
    capsys: pytest.CaptureFixture[str], plugins: Path, plugin: str, error: str
) -> None:
    result, report = run_test(
        capsys, plugins, "wal_plugin", plugin, "-d", "foo", "--lp", "cpu,host=A usage=1i 100"
    )
    assert result.code == 1
    assert report["errors"] == [f"error executing plugin: {error}"]
    assert report["database_writes"] == {}
    assert report["log_lines"][0] == "INFO: starting execution of wal plugin."
    if "function is not present" not in error:
        last = report["traceback"].splitlines()[-1]  # the real cause, with the real file name
        assert last.endswith(error.split(" (")[0])


def test_a_raising_plugin_keeps_its_logs_and_sync_writes_but_not_queued_ones(
    capsys: pytest.CaptureFixture[str], plugins: Path
) -> None:
    result, report = run_test(
        capsys, plugins, "wal_plugin", "errors/raises.py", "-d", "db", "--lp", UPSTREAM_LP
    )
    assert result.code == 1
    assert report["log_lines"] == [
        "INFO: starting execution of wal plugin.",
        "INFO: working on 2 tables",
    ]
    assert report["errors"] == ["error executing plugin: RuntimeError: the plugin failed halfway"]
    assert report["database_writes"] == {"db": ["progress step=1i"]}
    assert 'raise RuntimeError("the plugin failed halfway")' in report["traceback"]


def test_output_lines_are_validated_against_the_seeded_schema(
    capsys: pytest.CaptureFixture[str], plugins: Path, tmp_path: Path
) -> None:
    seed = tmp_path / "seed.lp"
    seed.write_text("cpu,host=A f1=10i 100\n", encoding="utf-8")
    result, report = run_test(
        capsys,
        plugins,
        "wal_plugin",
        "errors/conflicting_writes.py",
        "-d",
        "foodb",
        "--seed-lp",
        str(seed),
        "--lp",
        "other,host=B v=1i 5",
    )
    assert result.code == 1
    assert report["database_writes"] == {
        "foodb": ["cpu,host=A f1=10i,f2=20u,f3=t", 'cpu,host=A f1="not_an_int"']
    }
    assert len(report["errors"]) == 1
    assert report["errors"][0].startswith("Failed to validate output lines to db foodb: ")
    assert "f1" in report["errors"][0]


def test_wal_plugin_input_errors(
    capsys: pytest.CaptureFixture[str], plugins: Path, tmp_path: Path
) -> None:
    result, _ = run_test(capsys, plugins, "wal_plugin", "wal_rows.py", "-d", "db")
    assert result.code == 2
    assert "either --lp or --file must be provided" in result.err

    missing = tmp_path / "nope.lp"
    result, _ = run_test(
        capsys, plugins, "wal_plugin", "wal_rows.py", "-d", "db", "--file", str(missing)
    )
    assert result.code == 1
    assert result.err.startswith(f"error: unable to read input file {missing}")

    result, _ = run_test(
        capsys, plugins, "wal_plugin", "wal_rows.py", "-d", "db", "--lp", "x", "--input-arguments",
        "novalue",
    )  # fmt: skip
    assert result.code == 1
    assert 'must be formatted as "key=value"' in result.err

    result, report = run_test(
        capsys, plugins, "wal_plugin", "wal_rows.py", "-d", "db", "--lp", "cpu usage=oops 1"
    )
    assert result.code == 1
    assert report["log_lines"] == []
    assert len(report["errors"]) == 1 and "usage" in report["errors"][0]


def test_invalid_database_name_and_missing_plugin(
    capsys: pytest.CaptureFixture[str], plugins: Path
) -> None:
    result, report = run_test(
        capsys, plugins, "wal_plugin", "wal_rows.py", "-d", "bad db", "--lp", "cpu v=1i 1"
    )
    assert result.code == 1
    assert len(report["errors"]) == 1
    assert "bad db" in report["errors"][0]
    assert "contains invalid character" in report["errors"][0]

    result, _ = run_test(capsys, plugins, "wal_plugin", "absent.py", "-d", "db", "--lp", "c v=1i")
    assert result.code == 1
    assert result.out == ""
    assert "absent.py" in result.err


# -- schedule_plugin -------------------------------------------------------------------------------


def test_schedule_plugin_bare_cron_and_every_spec(
    capsys: pytest.CaptureFixture[str], plugins: Path, tmp_path: Path
) -> None:
    seed = tmp_path / "seed.lp"
    seed.write_text("cpu,host=a usage=1.0 1\ncpu,host=a usage=3.0 2\ncpu,host=b usage=5.0 3\n")
    for schedule in ("* * * * * *", "every:10s", "cron:0 */5 * * * *", "*/5 * * * *"):
        result, report = run_test(
            capsys,
            plugins,
            "schedule_plugin",
            "schedule_report.py",
            "-d",
            "db",
            "--schedule",
            schedule,
            "--seed-lp",
            str(seed),
            "--input-arguments",
            "region=us-east",
        )
        assert result.code == 0, result.err
        assert list(report) == ["trigger_time", "log_lines", "database_writes", "errors"]
        trigger_time = report["trigger_time"]
        assert "T" in trigger_time and trigger_time.endswith("Z")
        wall = trigger_time[:10] + " " + trigger_time[11:19]
        lines = framed(report, f"INFO: starting execution with scheduled time {wall} UTC")
        assert lines[0] == "INFO: args are {'region': 'us-east'}"
        assert lines[1] == f"INFO: call_time {trigger_time[:19]} tzinfo None"
        assert lines[3:] == ["INFO: host a usage 2.0", "INFO: host b usage 5.0"]
        assert report["database_writes"]["db"][0].startswith("schedule_report run=1i ")


def test_schedule_plugin_default_is_every_second(
    capsys: pytest.CaptureFixture[str], plugins: Path
) -> None:
    result, report = run_test(
        capsys, plugins, "schedule_plugin", "linebuilder_escaping.py", "-d", "db"
    )
    assert result.code == 0, result.err
    assert report["database_writes"] == {
        "db": [
            "metrics,host=server01,region=us-west cpu=42i,memory_bytes=8589934592u,load=86.5,"
            'status="online",healthy=t 1609459200000000000',
            r"system_metrics,server=app\ server\ 1,datacenter=us\ west count=1i",
            r"formulas,equation=y\=mx+b,result=a\=b\=c value=3.14159",
        ]
    }


@pytest.mark.parametrize(
    ("schedule", "error"),
    [
        ("not a cron", "invalid cron syntax"),
        ("every:0s", "every schedules must be at least 1ms"),
        ("table:cpu", "invalid cron syntax"),
        ("cron:61 * * * * *", "invalid cron syntax"),
    ],
)
def test_schedule_plugin_bad_schedules(
    capsys: pytest.CaptureFixture[str], plugins: Path, schedule: str, error: str
) -> None:
    result, report = run_test(
        capsys, plugins, "schedule_plugin", "schedule_report.py", "-d", "db", "--schedule", schedule
    )
    assert result.code == 1
    assert report["trigger_time"] is None
    assert len(report["errors"]) == 1 and error in report["errors"][0]


# -- request_plugin --------------------------------------------------------------------------------


def request(
    capsys: pytest.CaptureFixture[str], plugins: Path, shape: str, *extra: str
) -> tuple[CliResult, dict[str, Any]]:
    return run_test(
        capsys,
        plugins,
        "request_plugin",
        "request_returns.py",
        "-d",
        "db",
        "--query",
        f"shape=ignored&shape={shape}",
        *extra,
    )


@pytest.mark.parametrize(
    ("shape", "status", "content_type", "body"),
    [
        ("string", 200, "text/html", "Hello, World!"),
        ("list", 200, "application/json", '[1, "two", {"three": 3}]'),
        ("tuple1", 200, "text/html", "only a body"),
        ("status", 201, "text/html", "Created successfully"),
        ("headers", 200, "text/plain", "Plain text"),
        ("status_headers", 404, "text/plain", "Not Found"),
        ("dict_status", 404, "application/json", '{"error": "missing"}'),
        ("iterator", 200, "text/html", "line one\nline two\n"),
        ("flask", 202, "text/custom", "custom body"),
    ],
)
def test_request_plugin_return_shapes(
    capsys: pytest.CaptureFixture[str],
    plugins: Path,
    shape: str,
    status: int,
    content_type: str,
    body: str,
) -> None:
    result, report = request(capsys, plugins, shape)
    assert result.code == 0, result.err
    assert (report["status"], report["body"]) == (status, body)
    assert report["headers"]["Content-Type"] == content_type
    assert report["database_writes"] == {"db": [f"requests,shape={shape} n=1i"]}


def test_request_plugin_body_headers_and_authorization(
    capsys: pytest.CaptureFixture[str], plugins: Path
) -> None:
    result, report = request(
        capsys,
        plugins,
        "dict",
        "--body",
        '{"a": 1}',
        "--header",
        "X-Trace: abc",
        "--header",
        "Authorization: Bearer secret",
    )
    assert result.code == 0, result.err
    assert report["status"] == 200
    assert json.loads(report["body"]) == {"message": "Hello", "received": {"a": 1}}
    assert report["headers"] == {"Content-Type": "application/json"}
    assert "INFO: shape dict headers ['x-trace']" in report["log_lines"]


@pytest.mark.parametrize(
    ("shape", "message"),
    [
        ("raise", "Python function call failed: ValueError: the plugin gave up"),
        ("none", "Unsupported return type from Python function"),
        ("bad_headers", "expected a dictionary in header item"),
    ],
)
def test_request_plugin_errors_answer_500(
    capsys: pytest.CaptureFixture[str], plugins: Path, shape: str, message: str
) -> None:
    result, report = request(capsys, plugins, shape)
    assert result.code == 1
    assert report["status"] == 500
    assert json.loads(report["body"]) == {"error": message}
    assert report["database_writes"] == {}  # queued writes are flushed only on success
    assert report["log_lines"][0] == "INFO: starting execution of request plugin."


def test_plugin_print_goes_into_the_report_log_not_onto_stdout(
    capsys: pytest.CaptureFixture[str], plugins: Path
) -> None:
    (plugins / "printer.py").write_text(
        "def process_writes(influxdb3_local, table_batches, args=None):\n"
        "    print('hello from the plugin')\n"
    )
    result, report = run_test(
        capsys, plugins, "wal_plugin", "printer.py", "-d", "db", "--lp", "c v=1i"
    )
    assert result.code == 0
    assert report["errors"] == []  # stdout parsed as JSON
    # the plugin runs in a plugin host, whose stdout is a line of the run's log
    assert "INFO: hello from the plugin" in report["log_lines"]
    assert "hello from the plugin" not in result.err


def test_bad_seed_header_and_missing_database(
    capsys: pytest.CaptureFixture[str], plugins: Path, tmp_path: Path
) -> None:
    seed = tmp_path / "seed.lp"
    seed.write_text("cpu v=1i 1\ncpu v=oops 2\n", encoding="utf-8")
    result, _ = run_test(
        capsys, plugins, "wal_plugin", "wal_rows.py", "-d", "db", "--lp", "c v=1i",
        "--seed-lp", str(seed),
    )  # fmt: skip
    assert result.code == 1 and result.out == ""
    assert result.err.startswith(f"error: --seed-lp {seed} was not written: ")
    assert "line 2" in result.err and "nothing was written" in result.err

    result, _ = run_test(
        capsys, plugins, "request_plugin", "request_returns.py", "-d", "db", "--header", "nocolon"
    )
    assert result.code == 1
    assert "invalid --header 'nocolon': use NAME:VALUE" in result.err

    result, _ = run_test(capsys, plugins, "schedule_plugin", "schedule_report.py")
    assert result.code == 2
    assert "Missing option '-d' / '--database'" in result.err


def test_directory_plugin_from_a_git_reference(
    capsys: pytest.CaptureFixture[str], plugins: Path, tmp_path: Path
) -> None:
    origin = make_origin(tmp_path / "origin")
    sha = origin.commit(
        "wal package",
        {
            "plugins/walpkg/__init__.py": b"from .util import describe\n\n"
            b"def process_writes(influxdb3_local, table_batches, args=None):\n"
            b"    influxdb3_local.info(describe(table_batches))\n",
            "plugins/walpkg/util.py": b"def describe(batches):\n"
            b"    return ','.join(b['table_name'] for b in batches)\n",
        },
    )
    ref = f"git+{origin.url}@{sha}#path=plugins/walpkg"
    result, report = run_test(capsys, plugins, "wal_plugin", ref, "-d", "db", "--lp", UPSTREAM_LP)
    assert result.code == 0, result.err
    assert framed(report, "INFO: starting execution of wal plugin.") == ["INFO: cpu,mem"]


# -- a server from INFLUXDB3_HOST_URL ------------------------------------------------------------


def test_request_plugin_with_the_host_from_the_environment_says_what_is_wrong(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("INFLUXDB3_HOST_URL", "http://127.0.0.1:9")
    result = run_cli(capsys, "test", "request_plugin", "request_returns.py", "-d", "db")
    assert result.code == 1
    assert result.err == (
        "error: test request_plugin runs locally only, but INFLUXDB3_HOST_URL is set "
        "(http://127.0.0.1:9) and no --plugin-dir was given, so the test would go to that "
        "server (hint: pass --plugin-dir DIR (the plugin directory) or unset "
        "INFLUXDB3_HOST_URL)\n"
    )
    assert "-H" not in result.err


def test_request_plugin_with_an_explicit_host_names_it(
    capsys: pytest.CaptureFixture[str],
) -> None:
    result = run_cli(
        capsys, "test", "request_plugin", "request_returns.py", "-d", "db", "-H", "http://h:1"
    )
    assert result.code == 1
    assert result.err.startswith(
        "error: test request_plugin runs locally only, not on the server given by -H/--host"
    )


def test_seed_lp_with_the_host_from_the_environment_says_what_is_wrong(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("INFLUXDB3_HOST_URL", "http://127.0.0.1:9")
    seed = tmp_path / "seed.lp"
    seed.write_text("cpu v=1 1\n")
    result = run_cli(
        capsys, "test", "wal_plugin", "wal_rows.py", "-d", "db", "--lp", "cpu v=1 1",
        "--seed-lp", str(seed),
    )  # fmt: skip
    assert result.code == 1
    assert result.err.startswith("error: --seed-lp runs locally only, but INFLUXDB3_HOST_URL")


def test_wal_plugin_on_the_server_from_the_environment_is_announced(
    capsys: pytest.CaptureFixture[str],
    plugins: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from tests.cli.live import serving

    with serving(tmp_path, plugins, auth=False) as live:
        monkeypatch.setenv("INFLUXDB3_HOST_URL", live.url)
        result = run_cli(capsys, "test", "wal_plugin", "wal_rows.py", "-d", "db", "--lp", "c v=1 1")
    assert result.code == 0, result.err
    assert result.err == f"note: using the server at {live.url} (INFLUXDB3_HOST_URL)\n"
    assert "INFO: table: c" in json.loads(result.out)["log_lines"]
