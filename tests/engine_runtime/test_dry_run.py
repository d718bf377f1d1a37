"""The plugin API and the dry runner in-process: upstream's plugins/tests.rs cases and more."""

from __future__ import annotations

import hashlib
import json
import textwrap
from pathlib import Path
from typing import Any

import pytest

from engine_runtime import DryRunner, LocalPluginSource, MemoryStore, PluginCode

LP = "cpu,host=A,region=west usage=1i,system=23.2 100\nmem,host=B user=43.1 120"


class InlineSource:
    """A single-file plugin held in memory."""

    def __init__(self, code: str, name: str = "inline.py", *, dedent: bool = True) -> None:
        source = textwrap.dedent(code) if dedent else code
        digest = hashlib.sha256(source.encode()).hexdigest()
        self.code = PluginCode(name=name, kind="file", path=None, source=source, version=digest)

    def load(self) -> PluginCode:
        return self.code


def plugin_lines(report: dict[str, Any]) -> list[str]:
    assert report["log_lines"][-1].startswith("INFO: finished execution in "), report
    return list(report["log_lines"][1:-1])


@pytest.fixture
def runner() -> DryRunner:
    return DryRunner(clock=lambda: 1_700_000_000.5)


def schedule(runner: DryRunner, code: str, **kwargs: Any) -> dict[str, Any]:
    return runner.schedule(InlineSource(code), "test_db", **kwargs)


def test_api_surface_is_exactly_upstreams(runner: DryRunner) -> None:
    report = schedule(
        runner,
        """
        def process_scheduled_call(influxdb3_local, call_time, args=None):
            attrs = {name for name in dir(influxdb3_local) if not name.startswith("__")}
            influxdb3_local.info(sorted(attrs))
        """,
    )
    assert plugin_lines(report) == [
        "INFO: ['cache', 'error', 'info', 'query', 'warn', 'write', 'write_sync', "
        "'write_sync_to_db', 'write_to_db']"
    ]


def test_log_calls_join_arguments_and_refuse_keywords(runner: DryRunner) -> None:
    report = schedule(
        runner,
        """
        def process_scheduled_call(influxdb3_local, call_time, args=None):
            influxdb3_local.info("i", [{'host': 's2', 'region': 'us-east', 'usage': 0.89}], "s2")
            influxdb3_local.warn("w", 1, None)
            influxdb3_local.error("e")
            influxdb3_local.info()
            try:
                influxdb3_local.info("x", sep="-")
            except TypeError as exc:
                influxdb3_local.info("TypeError", type(exc).__name__ == "TypeError")
        """,
    )
    assert plugin_lines(report) == [
        "INFO: i [{'host': 's2', 'region': 'us-east', 'usage': 0.89}] s2",
        "WARN: w 1 None",
        "ERROR: e",
        "INFO: ",
        "INFO: TypeError True",
    ]


def test_query_errors_are_query_errors_with_upstreams_words(runner: DryRunner) -> None:
    report = schedule(
        runner,
        """
        def process_scheduled_call(influxdb3_local, call_time, args=None):
            for kwargs in ({"database": "bad db"}, {}):
                try:
                    influxdb3_local.query("SELECT foo FROM not_here", **kwargs)
                except Exception as exc:
                    influxdb3_local.info(type(exc).__name__, str(exc))
            try:
                influxdb3_local.query("SELECT 1", {"n": 1})
            except TypeError as exc:
                influxdb3_local.info("TypeError", "must be str" in str(exc))
        """,
    )
    lines = plugin_lines(report)
    assert lines[0].startswith("INFO: QueryError invalid database name provided: ")
    assert "bad db" in lines[0] and "contains invalid character" in lines[0]
    assert lines[1] == (
        "INFO: QueryError error: error while planning query: Error during planning: table "
        "'public.iox.not_here' not found executing query on test_db: SELECT foo FROM not_here"
    )
    assert lines[2] == "INFO: TypeError True"


def test_query_values_map_like_upstream(runner: DryRunner) -> None:
    runner.seed("test_db", 'cpu,host=a i=1i,u=2u,f=1.5,b=t,s="x" 1000\ncpu,host=b i=3i 2000')
    report = schedule(
        runner,
        """
        def process_scheduled_call(influxdb3_local, call_time, args=None):
            for row in influxdb3_local.query("SELECT * FROM cpu ORDER BY time"):
                influxdb3_local.info(row)
            influxdb3_local.info(influxdb3_local.query(query="SELECT count(*) FROM cpu"))
            influxdb3_local.info(influxdb3_local.query("SELECT 1 AS x WHERE false"))
        """,
    )
    assert plugin_lines(report) == [
        "INFO: {'host': 'a', 'b': True, 'f': 1.5, 'i': 1, 's': 'x', 'u': 2, 'time': 1000}",
        "INFO: {'host': 'b', 'b': None, 'f': None, 'i': 3, 's': None, 'u': None, 'time': 2000}",
        "INFO: [{'count(*)': 2}]",
        "INFO: []",
    ]


def test_sync_writes_come_first_are_readable_and_need_no_sync(runner: DryRunner) -> None:
    report = schedule(
        runner,
        """
        class Batch:
            def __init__(self, *lines):
                self.lines = lines
            def build(self):
                return "\\n".join(line.build() for line in self.lines)

        def process_scheduled_call(influxdb3_local, call_time, args=None):
            influxdb3_local.write(LineBuilder("queued").int64_field("v", 1))
            one = LineBuilder("state").int64_field("v", 1)
            two = LineBuilder("state").int64_field("v", 2).time_ns(5)
            influxdb3_local.write_sync(Batch(one, two), no_sync=False)
            influxdb3_local.info(influxdb3_local.query("SELECT count(*) AS n FROM state"))
            influxdb3_local.write_sync_to_db("other", LineBuilder("x").bool_field("ok", True), True)
            try:
                influxdb3_local.write_sync(LineBuilder("state").int64_field("v", 3))
            except TypeError:
                influxdb3_local.info("no_sync is required")
            try:
                text = LineBuilder("state").string_field("v", "text")
                influxdb3_local.write_sync(text, no_sync=True)
            except Exception as exc:
                prefix = "error writing line protocol to test_db: "
                influxdb3_local.info(type(exc).__name__, str(exc).startswith(prefix))
        """,
    )
    assert report["errors"] == []
    assert plugin_lines(report) == [
        "INFO: [{'n': 2}]",
        "INFO: no_sync is required",
        "INFO: Exception True",
    ]
    assert report["database_writes"] == {
        "test_db": ["state v=1i", "state v=2i 5", "queued v=1i"],
        "other": ["x ok=t"],
    }
    assert runner.store.databases() == []  # nothing persisted


def test_modules_rerun_and_state_lives_only_in_the_cache(runner: DryRunner) -> None:
    code = """
        counter = []

        def process_scheduled_call(influxdb3_local, call_time, args=None):
            counter.append(1)
            cache = influxdb3_local.cache
            runs = cache.get("runs", default=0) + 1
            cache.put("runs", runs)
            influxdb3_local.info(len(counter), runs, __name__)
        """
    first = schedule(runner, code, cache_name="mine")
    second = schedule(runner, code, cache_name="mine")
    other = schedule(runner, code, cache_name="yours")
    assert plugin_lines(first) == ["INFO: 1 1 builtins"]
    assert plugin_lines(second) == ["INFO: 1 2 builtins"]
    assert plugin_lines(other) == ["INFO: 1 1 builtins"]


def test_plugins_do_not_leak_into_main_or_each_other(runner: DryRunner) -> None:
    runner.wal(
        InlineSource(
            """
            def helper_a():
                return 42

            def process_writes(influxdb3_local, table_batches, args=None):
                influxdb3_local.info(f"plugin_a: helper_a() = {helper_a()}")
            """,
            name="plugin_a",
        ),
        "_testdb",
        LP,
    )
    report = runner.wal(
        InlineSource(
            """
            def helper_b():
                return 99

            def process_writes(influxdb3_local, table_batches, args=None):
                import __main__
                influxdb3_local.info(f"helper_a_leaked: {'helper_a' in dir(__main__)}")
                influxdb3_local.info(f"helper_b_leaked: {'helper_b' in dir(__main__)}")
                influxdb3_local.info(f"helper_a_visible: {'helper_a' in globals()}")
                influxdb3_local.info(f"plugin_b: helper_b() = {helper_b()}")
            """,
            name="plugin_b",
        ),
        "_testdb",
        LP,
    )
    assert plugin_lines(report) == [
        "INFO: helper_a_leaked: False",
        "INFO: helper_b_leaked: False",
        "INFO: helper_a_visible: False",
        "INFO: plugin_b: helper_b() = 99",
    ]


def test_args_are_none_without_arguments_and_strings_with_them(runner: DryRunner) -> None:
    code = """
        def process_writes(influxdb3_local, table_batches, args=None):
            influxdb3_local.info(repr(args))
        """
    assert plugin_lines(runner.wal(InlineSource(code), "db", LP)) == ["INFO: None"]
    report = runner.wal(InlineSource(code), "db", LP, args={"a": "1"})
    assert plugin_lines(report) == ["INFO: {'a': '1'}"]


def test_call_time_is_naive_utc_whole_seconds(runner: DryRunner) -> None:
    report = schedule(
        runner,
        """
        def process_scheduled_call(influxdb3_local, call_time, args=None):
            influxdb3_local.info(repr(call_time))
        """,
    )
    # clock 1_700_000_000.5 is 2023-11-14 22:13:20.5 UTC; the next whole second fires
    assert report["trigger_time"] == "2023-11-14T22:13:21Z"
    assert report["log_lines"][0] == (
        "INFO: starting execution with scheduled time 2023-11-14 22:13:21 UTC"
    )
    assert plugin_lines(report) == ["INFO: datetime.datetime(2023, 11, 14, 22, 13, 21)"]


def test_runs_share_the_test_cache_by_name() -> None:
    put = InlineSource(
        """
        def process_writes(influxdb3_local, table_batches, args=None):
            influxdb3_local.cache.put("k", "v")
        """
    )
    get = InlineSource(
        """
        def process_writes(influxdb3_local, table_batches, args=None):
            influxdb3_local.info(influxdb3_local.cache.get("k"))
        """
    )
    with DryRunner(store=MemoryStore()) as runner:
        runner.wal(put, "db", LP)
        assert plugin_lines(runner.wal(get, "db", LP)) == ["INFO: v"]
        assert plugin_lines(runner.wal(get, "db", LP, cache_name="other")) == ["INFO: None"]


# -- upstream's influxdb3/tests/cli/mod.rs dry-run cases, with their plugin code and strings --

UPSTREAM_WAL_ERRORS = [
    (
        "\n        lkjasdf9823\n        jjjjj / sss",
        "IndentationError: unexpected indent (<string>, line 2)",
    ),
    (
        "\ndef not_process_writes(influxdb3_local, table_batches, args=None):\n"
        '    influxdb3_local.info("done")',
        "the process_writes function is not present in the plugin. Should be defined as: "
        "process_writes(influxdb3_local, table_batches, args=None)",
    ),
    (
        '\ndef process_writes(influxdb3_local, table_batches):\n    influxdb3_local.info("done")\n',
        "TypeError: process_writes() takes 2 positional arguments but 3 were given",
    ),
    (
        '\ndef process_writes(influxdb3_local, args=None):\n    influxdb3_local.info("done")\n',
        "TypeError: process_writes() takes from 1 to 2 positional arguments but 3 were given",
    ),
    (
        '\ndef process_writes(table_batches, args=None):\n    influxdb3_local.info("done")\n',
        "TypeError: process_writes() takes from 1 to 2 positional arguments but 3 were given",
    ),
    (
        "\ndef process_writes(influxdb3_local, table_batches, args=None):\n"
        '    line = LineBuilder("some_table")\n    influxdb3_local.write(line)\n',
        "InvalidLineError: At least one field is required: some_table",
    ),
    (
        "\ndef process_writes(influxdb3_local, table_batches, args=None):\n"
        '    influxdb3_local.query("SELECT foo FROM not_here")\n',
        "QueryError: error: error while planning query: Error during planning: table "
        "'public.iox.not_here' not found executing query on foo: SELECT foo FROM not_here",
    ),
]


@pytest.mark.parametrize(("code", "error"), UPSTREAM_WAL_ERRORS)
def test_upstream_wal_plugin_errors(runner: DryRunner, code: str, error: str) -> None:
    runner.seed(
        "foo", "cpu,host=s1,region=us-east usage=0.9\ncpu,host=s2,region=us-east usage=0.89"
    )
    lp = "test_input,tag1=tag1_value,tag2=tag2_value field1=1i 500"
    # upstream writes the code with writeln!, so the file ends with a newline
    report = runner.wal(
        InlineSource(code + "\n", dedent=False),
        "foo",
        lp,
        args={"arg1": "arg1_value", "host": "s2"},
    )
    assert report["errors"] == [f"error executing plugin: {error}"]


def test_upstream_tag_query_behavior(runner: DryRunner) -> None:
    runner.seed(
        "foo",
        "foo,tag1=bar,tag2=blep val1=5,val2=99\nfoo,tag1=bar,tag2=blep val1=10,val2=99\n"
        "foo,tag1=bar,tag2=blep val1=10,val2=199\nfoo,tag1=bar,tag2=mlem val1=10,val2=199\n"
        "foo,tag1=bar,tag2=mloem val1=5,val2=199",
    )
    report = schedule_in(
        runner,
        "foo",
        """
        def process_scheduled_call(influxdb3_local, time, args=None):
            influxdb3_local.query("SELECT val1,val2,tag1 FROM foo")
            influxdb3_local.info("successfully queried")
        """,
    )
    assert report["errors"] == []
    assert plugin_lines(report) == ["INFO: successfully queried"]


def test_upstream_schedule_plugin_with_strftime(runner: DryRunner) -> None:
    report = schedule_in(
        runner,
        "foo",
        """
        import datetime
        def process_scheduled_call(influxdb3_local, schedule_time, args=None):
            timestamp = datetime.datetime.now().strftime('%Y%m%d%H%M%S')
            influxdb3_local.info(f"Current timestamp: {timestamp}")
            influxdb3_local.info(f"args are {args}")
            influxdb3_local.info("Successfully called")
        """,
        schedule="*/5 * * * * *",
        args={"region": "us-east"},
    )
    assert "T" in report["trigger_time"]
    lines = plugin_lines(report)
    assert len(lines) == 3 and lines[0].startswith("INFO: Current timestamp:")
    assert lines[1:] == ["INFO: args are {'region': 'us-east'}", "INFO: Successfully called"]
    assert (report["database_writes"], report["errors"]) == ({}, [])


def schedule_in(runner: DryRunner, database: str, code: str, **kwargs: Any) -> dict[str, Any]:
    return runner.schedule(InlineSource(code), database, **kwargs)


UPSTREAM_REQUEST_PLUGIN = """
import json

def process_request(influxdb3_local, query_parameters, request_headers, request_body, args=None):
    for k, v in query_parameters.items():
        influxdb3_local.info(f"query_parameters: {k}={v}")
    for k, v in request_headers.items():
        influxdb3_local.info(f"request_headers: {k}={v}")

    request_data = json.loads(request_body)

    influxdb3_local.info("parsed JSON request body:", request_data)

    # write the data to the database
    line = LineBuilder("request_data").tag("tag1", "tag1_value").int64_field("field1", 1)
    # get a string of the line to return as the body
    line_str = line.build()

    influxdb3_local.write(line)

    return {"status": "ok", "line": line_str}
"""


def test_upstream_request_plugin_and_hot_reload(runner: DryRunner, tmp_path: Path) -> None:
    plugin = tmp_path / "request_plugin.py"
    plugin.write_text(UPSTREAM_REQUEST_PLUGIN)
    source = LocalPluginSource(tmp_path, "request_plugin.py")
    headers = [("Content-Type", "application/json"), ("Authorization", "Bearer t")]
    report = runner.request(
        source,
        "foo",
        query_string="q1=whatevs",
        headers=headers,
        body=b'{"hello": "world"}',
        args={"test_arg": "hello"},
    )
    assert (report["status"], report["headers"]) == (200, {"Content-Type": "application/json"})
    assert json.loads(report["body"]) == {
        "status": "ok",
        "line": "request_data,tag1=tag1_value field1=1i",
    }
    assert plugin_lines(report) == [
        "INFO: query_parameters: q1=whatevs",
        "INFO: request_headers: content-type=application/json",
        "INFO: parsed JSON request body: {'hello': 'world'}",
    ]
    assert report["database_writes"] == {"foo": ["request_data,tag1=tag1_value field1=1i"]}

    plugin.write_text(
        "def process_request(influxdb3_local, query_parameters, request_headers, request_body,"
        ' args=None):\n    return {"status": "updated"}\n'
    )
    report = runner.request(source, "foo", query_string="q1=whatevs", body=b"{}")
    assert json.loads(report["body"]) == {"status": "updated"}


def test_a_dry_run_runs_on_the_venvs_interpreter_as_a_trigger_would(tmp_path: Path) -> None:
    from .host_helpers import VENV_MODULE, make_host_venv

    venv = make_host_venv(tmp_path).parent.parent
    (site_packages,) = venv.glob("lib/python*/site-packages")
    source = InlineSource(
        f"""
        import os, sys
        import {VENV_MODULE}
        def process_request(influxdb3_local, query_parameters, request_headers, request_body,
                            args=None):
            return {{"prefix": sys.prefix, "venv": os.environ.get("VIRTUAL_ENV"),
                    "module": {VENV_MODULE}.NAME}}
        """
    )
    with DryRunner(site_packages=site_packages) as runner:
        report = runner.request(source, "db")
    assert report["errors"] == []
    assert json.loads(report["body"]) == {
        "prefix": str(venv),
        "venv": str(venv),
        "module": "from the venv",
    }
