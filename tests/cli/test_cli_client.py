"""The server commands (create/enable/disable/delete/show/write/query) against a loopback server
that records each request and answers canned JSON per path."""

from __future__ import annotations

import csv
import io
import json
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.helpers import CliResult, run_cli

TRIGGER_PATH = "/api/v3/configure/processing_engine_trigger"
PLUGINS_PATH = "/api/v3/pluginmgr/plugins"
TRIGGERS = [
    {
        "trigger_name": "t_wal",
        "plugin_filename": "wal.py",
        "trigger_specification": "table:cpu",
        "disabled": False,
        "error_behavior": "log",
        "state": "running",
    },
    {
        "trigger_name": "t_cron",
        "plugin_filename": "sched.py",
        "trigger_specification": "cron:0 * * * * *",
        "disabled": True,
        "error_behavior": "retry",
        "state": "disabled",
    },
    {
        "trigger_name": "t_every",
        "plugin_filename": "sched.py",
        "trigger_specification": "every:10s",
        "disabled": False,
        "error_behavior": "disable",
        "state": "running",
    },
]


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    body: Any
    authorization: str | None
    content_type: str | None


@dataclass
class FakeServer:
    url: str
    requests: list[Request] = field(default_factory=list)
    #: (method, path) -> (status, body); anything else answers 200 with an empty body
    replies: dict[tuple[str, str], tuple[int, str]] = field(default_factory=dict)

    def reply(self, method: str, path: str, body: Any, status: int = 200) -> None:
        self.replies[(method, path)] = (status, body if isinstance(body, str) else json.dumps(body))

    @property
    def only(self) -> Request:
        assert len(self.requests) == 1, self.requests
        return self.requests[0]


def _handler(server: FakeServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _handle(self) -> None:
            url = urlsplit(self.path)
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
            kind = self.headers.get("Content-Type")
            body: Any = json.loads(raw) if raw and kind == "application/json" else raw
            query = {k: v[-1] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
            auth = self.headers.get("Authorization")
            server.requests.append(Request(self.command, url.path, query, body, auth, kind))
            status, reply = server.replies.get((self.command, url.path), (200, ""))
            data = reply.encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_DELETE = _handle

        def log_message(self, *args: object) -> None:
            pass

    return Handler


@pytest.fixture
def server() -> Iterator[FakeServer]:
    fake = FakeServer("")
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(fake))
    fake.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        httpd.shutdown()
        httpd.server_close()


def cli(capsys: pytest.CaptureFixture[str], server: FakeServer, *args: str) -> CliResult:
    return run_cli(capsys, *args, "-H", server.url)


# -- create ---------------------------------------------------------------------------------------


def test_create_trigger_sends_upstreams_body(
    capsys: pytest.CaptureFixture[str], server: FakeServer
) -> None:
    result = cli(
        capsys, server, "create", "trigger", "foo", "--trigger-spec", " every:1h30m ",
        "--plugin-filename", "gh:examples/wal_plugin/wal_plugin.py", "-d", "db1",
        "--trigger-arguments", "query_path=/metrics?format=json,whatever=hello,a=1,a=2",
        "--run-asynchronous", "--error-behavior", "retry", "--disabled",
    )  # fmt: skip
    assert result.code == 0, result.err
    assert result.out == "Trigger foo created successfully\n"
    request = server.only
    assert (request.method, request.path, request.query) == ("POST", TRIGGER_PATH, {})
    assert request.authorization is None
    assert request.body == {
        "db": "db1",
        "plugin_filename": "gh:examples/wal_plugin/wal_plugin.py",
        "trigger_name": "foo",
        "trigger_specification": "every:1h 30m",
        "trigger_settings": {"run_async": True, "error_behavior": "retry"},
        "trigger_arguments": {"query_path": "/metrics?format=json", "whatever": "hello", "a": "2"},
        "disabled": True,
    }


def test_create_trigger_defaults(capsys: pytest.CaptureFixture[str], server: FakeServer) -> None:
    result = cli(
        capsys, server, "create", "trigger", "foo", "--trigger-spec", "all_tables",
        "--plugin-filename", "wal.py", "-d", "db1",
    )  # fmt: skip
    assert result.code == 0, result.err
    assert server.only.body == {
        "db": "db1",
        "plugin_filename": "wal.py",
        "trigger_name": "foo",
        "trigger_specification": "all_tables",
        "trigger_settings": {"run_async": False, "error_behavior": "log"},
        "trigger_arguments": None,
        "disabled": False,
    }


def test_create_trigger_isolated_travels_in_the_settings(
    capsys: pytest.CaptureFixture[str], server: FakeServer
) -> None:
    result = cli(
        capsys, server, "create", "trigger", "iso", "--trigger-spec", "all_tables",
        "--plugin-filename", "wal.py", "-d", "db1", "--isolated",
    )  # fmt: skip
    assert result.code == 0, result.err
    assert server.only.body["trigger_settings"] == {
        "run_async": False,
        "error_behavior": "log",
        "isolated": True,
    }


@pytest.mark.parametrize(
    ("extra", "code", "message"),
    [
        (
            ("--trigger-spec", "tablex"),
            2,
            "failed to parse trigger from tablex: expect one of the following forms:",
        ),
        (("--trigger-spec", "table: "), 2, "failed to parse trigger from table:: table name is"),
        (
            ("--trigger-spec", "every:5"),
            2,
            "failed to parse trigger from every:5: couldn't parse to duration",
        ),
        (
            ("--trigger-spec", "all_tables", "--trigger-arguments", "a=1,oops"),
            1,
            "error: invalid value 'oops' for --trigger-arguments: "
            'must be formatted as "key=value"',
        ),
    ],
)
def test_bad_create_trigger_input_fails_before_any_request(
    capsys: pytest.CaptureFixture[str],
    server: FakeServer,
    extra: tuple[str, ...],
    code: int,
    message: str,
) -> None:
    result = cli(
        capsys, server, "create", "trigger", "foo", "--plugin-filename", "p.py", "-d", "db",
        *extra,
    )  # fmt: skip
    assert result.code == code
    assert message in result.err
    assert server.requests == []


def test_create_database(capsys: pytest.CaptureFixture[str], server: FakeServer) -> None:
    result = cli(capsys, server, "create", "database", "db1")
    assert result.code == 0, result.err
    assert result.out == 'Database "db1" created successfully\n'
    request = server.only
    assert (request.method, request.path, request.body) == (
        "POST",
        "/api/v3/configure/database",
        {"db": "db1"},
    )


def test_create_token_is_local_and_shown_once(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    auth = pytest.importorskip("pluginmgr.server.auth")
    data_dir = tmp_path / "data"
    result = run_cli(
        capsys, "create", "token", "--admin", "--name", "ops", "--data-dir", str(data_dir)
    )
    assert result.code == 0, result.err
    token = next(line for line in result.out.splitlines() if line.startswith("Token: "))[7:]
    assert f"Authorization: Bearer {token}" in result.out
    assert "will not be shown again" in result.out
    store = auth.TokenStore(data_dir / "tokens.json")
    assert store.verify(token)
    assert token not in (data_dir / "tokens.json").read_text()


def test_create_token_needs_admin(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    result = run_cli(capsys, "create", "token", "--data-dir", str(tmp_path))
    assert result.code == 2
    assert "pass --admin" in result.err


# -- enable / disable / delete --------------------------------------------------------------------


@pytest.mark.parametrize("action", ["enable", "disable"])
def test_enable_and_disable_use_the_query_string(
    capsys: pytest.CaptureFixture[str], server: FakeServer, action: str
) -> None:
    result = cli(capsys, server, action, "trigger", "test_trigger", "-d", "db1")
    assert result.code == 0, result.err
    assert result.out == f"Trigger test_trigger {action}d successfully\n"
    request = server.only
    assert (request.method, request.path) == ("POST", f"{TRIGGER_PATH}/{action}")
    assert request.query == {"db": "db1", "trigger_name": "test_trigger"}
    assert request.body == ""


@pytest.mark.parametrize(("flags", "force"), [((), False), (("--force",), True)])
def test_delete_trigger(
    capsys: pytest.CaptureFixture[str], server: FakeServer, flags: tuple[str, ...], force: bool
) -> None:
    result = cli(capsys, server, "delete", "trigger", "test_trigger", "-d", "db1", *flags)
    assert result.code == 0, result.err
    assert result.out == "Trigger test_trigger deleted successfully\n"
    request = server.only
    assert (request.method, request.path) == ("DELETE", TRIGGER_PATH)
    assert request.body == {"db": "db1", "trigger_name": "test_trigger", "force": force}


# -- errors, host and token -----------------------------------------------------------------------


def test_a_server_error_is_one_line_and_exit_1(
    capsys: pytest.CaptureFixture[str], server: FakeServer
) -> None:
    message = "Cannot delete running plugin test_trigger. Disable it first or use --force."
    server.reply("DELETE", TRIGGER_PATH, {"error": message}, status=500)
    result = cli(capsys, server, "delete", "trigger", "test_trigger", "-d", "db1")
    assert result.code == 1
    assert result.out == ""
    assert result.err == f"error: {message}\n"


def test_a_non_json_error_body_is_shown_as_is(
    capsys: pytest.CaptureFixture[str], server: FakeServer
) -> None:
    server.reply("POST", f"{TRIGGER_PATH}/enable", '{error: "not found"}\n', status=404)
    result = cli(capsys, server, "enable", "trigger", "t", "-d", "db1")
    assert (result.code, result.err) == (1, 'error: {error: "not found"}\n')


def test_unauthorized_hints_at_the_token(
    capsys: pytest.CaptureFixture[str], server: FakeServer
) -> None:
    server.reply("POST", "/api/v3/configure/database", {"error": "missing token"}, status=401)
    result = cli(capsys, server, "create", "database", "db1")
    assert result.code == 1
    assert result.err.startswith("error: missing token (hint: pass --token")
    assert f"`pluginmgr create token --admin --host {server.url}`" in result.err
    assert "`pluginmgr create token --admin --data-dir DATA_DIR`" in result.err
    assert len(result.err.splitlines()) == 1


def test_connection_refused_names_the_host(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    result = run_cli(capsys, "enable", "trigger", "t", "-d", "db1", "-H", url)
    assert result.code == 1
    assert result.err.startswith(f"error: cannot reach the server at {url}")
    assert len(result.err.splitlines()) == 1


def test_a_host_without_scheme_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    result = run_cli(capsys, "enable", "trigger", "t", "-d", "db1", "-H", "localhost:8181")
    assert result.code == 1
    assert "error: invalid host 'localhost:8181'" in result.err


def test_token_is_sent_as_bearer(capsys: pytest.CaptureFixture[str], server: FakeServer) -> None:
    result = cli(capsys, server, "create", "database", "db1", "--token", "apiv3_secret")
    assert result.code == 0, result.err
    assert server.only.authorization == "Bearer apiv3_secret"


def test_host_and_token_from_the_environment(
    capsys: pytest.CaptureFixture[str], server: FakeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("INFLUXDB3_HOST_URL", server.url)
    monkeypatch.setenv("INFLUXDB3_AUTH_TOKEN", "apiv3_env")
    monkeypatch.setenv("INFLUXDB3_DATABASE_NAME", "envdb")
    result = run_cli(capsys, "disable", "trigger", "t")
    assert result.code == 0, result.err
    assert server.only.authorization == "Bearer apiv3_env"
    assert server.only.query == {"db": "envdb", "trigger_name": "t"}


# -- show -----------------------------------------------------------------------------------------


def test_show_triggers_json(capsys: pytest.CaptureFixture[str], server: FakeServer) -> None:
    server.reply("GET", TRIGGER_PATH, TRIGGERS)
    result = cli(capsys, server, "show", "triggers", "-d", "db1", "--format", "json")
    assert result.code == 0, result.err
    assert json.loads(result.out) == TRIGGERS
    request = server.only
    assert (request.method, request.path) == ("GET", TRIGGER_PATH)
    assert request.query == {"db": "db1", "format": "json"}


def test_show_triggers_csv_without_database(
    capsys: pytest.CaptureFixture[str], server: FakeServer
) -> None:
    server.reply("GET", TRIGGER_PATH, TRIGGERS)
    result = cli(capsys, server, "show", "triggers", "--format", "csv")
    assert result.code == 0, result.err
    assert server.only.query == {"format": "json"}
    rows = list(csv.reader(io.StringIO(result.out)))
    assert rows[0] == [
        "trigger_name",
        "plugin_filename",
        "trigger_specification",
        "disabled",
        "error_behavior",
        "state",
    ]
    assert rows[2] == ["t_cron", "sched.py", "cron:0 * * * * *", "true", "retry", "disabled"]
    assert len(rows) == 4


def test_show_triggers_pretty(capsys: pytest.CaptureFixture[str], server: FakeServer) -> None:
    server.reply("GET", TRIGGER_PATH, TRIGGERS)
    result = cli(capsys, server, "show", "triggers")
    assert result.code == 0, result.err
    lines = result.out.splitlines()
    assert lines[0].split() == ["trigger", "plugin", "spec", "on", "error", "state"]
    assert lines[2].split() == ["t_wal", "wal.py", "table:cpu", "log", "running"]
    assert lines[3].split() == "t_cron sched.py cron:0 * * * * * retry disabled".split()
    assert len(lines) == 5  # header, rule, three rows


def test_show_plugins_on_an_upstream_server_groups_triggers_by_plugin(
    capsys: pytest.CaptureFixture[str], server: FakeServer
) -> None:
    server.reply("GET", PLUGINS_PATH, {"error": "not found"}, status=404)  # upstream has no such
    server.reply("GET", TRIGGER_PATH, TRIGGERS)
    result = cli(capsys, server, "show", "plugins", "--format", "json")
    assert result.code == 0, result.err
    assert json.loads(result.out) == [
        {"plugin_filename": "sched.py", "trigger_count": 2, "triggers": ["t_cron", "t_every"]},
        {"plugin_filename": "wal.py", "trigger_count": 1, "triggers": ["t_wal"]},
    ]
    csv_result = cli(capsys, server, "show", "plugins", "--format", "csv")
    assert csv_result.out.splitlines() == [
        "plugin_filename,trigger_count,triggers",
        'sched.py,2,"t_cron,t_every"',
        "wal.py,1,t_wal",
    ]


def test_show_plugins_pretty_empty(capsys: pytest.CaptureFixture[str], server: FakeServer) -> None:
    server.reply("GET", PLUGINS_PATH, {"error": "not found"}, status=404)
    server.reply("GET", TRIGGER_PATH, [])
    result = cli(capsys, server, "show", "plugins")
    assert result.code == 0, result.err
    assert "plugin_filename" in result.out


def test_show_summary(capsys: pytest.CaptureFixture[str], server: FakeServer) -> None:
    server.reply("GET", TRIGGER_PATH, TRIGGERS)
    result = cli(capsys, server, "show", "summary", "--format", "csv")
    assert result.code == 0, result.err
    assert result.out.splitlines() == [
        "trigger_type,triggers,enabled,disabled,plugins",
        "wal,1,1,0,1",
        "schedule,2,1,1,1",
        "request,0,0,0,0",
    ]


def test_show_rejects_a_non_list_answer(
    capsys: pytest.CaptureFixture[str], server: FakeServer
) -> None:
    server.reply("GET", TRIGGER_PATH, {"nope": 1})
    result = cli(capsys, server, "show", "triggers")
    assert result.code == 1
    assert "unexpected shape" in result.err


# -- write / query --------------------------------------------------------------------------------


def test_write_line_protocol(capsys: pytest.CaptureFixture[str], server: FakeServer) -> None:
    result = cli(capsys, server, "write", "-d", "db1", "cpu,host=a usage=1 1")
    assert result.code == 0, result.err
    assert (result.out, result.err) == ("wrote 1 line to db1\n", "")
    request = server.only
    assert (request.method, request.path, request.query) == (
        "POST",
        "/api/v3/write_lp",
        {"db": "db1"},
    )
    assert request.body == "cpu,host=a usage=1 1"
    assert request.content_type == "text/plain; charset=utf-8"


def test_write_a_file_with_options(
    capsys: pytest.CaptureFixture[str], server: FakeServer, tmp_path: Path
) -> None:
    lp = tmp_path / "in.lp"
    lp.write_text("cpu usage=1 1\nmem used=2 2\n")
    result = cli(
        capsys, server, "write", "-d", "db1", "--file", str(lp), "--precision", "s",
        "--no-accept-partial", "--no-sync",
    )  # fmt: skip
    assert result.code == 0, result.err
    request = server.only
    assert request.query == {
        "db": "db1",
        "precision": "second",
        "accept_partial": "false",
        "no_sync": "true",
    }
    assert request.body == "cpu usage=1 1\nmem used=2 2\n"


def test_write_needs_exactly_one_input(
    capsys: pytest.CaptureFixture[str], server: FakeServer, tmp_path: Path
) -> None:
    assert cli(capsys, server, "write", "-d", "db1").code == 2
    lp = tmp_path / "in.lp"
    lp.write_text("cpu usage=1 1\n")
    both = cli(capsys, server, "write", "-d", "db1", "cpu usage=1", "--file", str(lp))
    assert both.code == 2
    assert "not both" in both.err
    assert server.requests == []


def test_write_error_is_reported(capsys: pytest.CaptureFixture[str], server: FakeServer) -> None:
    server.reply("POST", "/api/v3/write_lp", {"error": "parsing failed for write_lp"}, 400)
    result = cli(capsys, server, "write", "-d", "db1", "bad")
    assert (result.code, result.err) == (1, "error: parsing failed for write_lp\n")


ROWS = [{"host": "a", "usage": 1.5}, {"host": "b", "usage": 2.0, "extra": True}]


def test_query_pretty_renders_json(capsys: pytest.CaptureFixture[str], server: FakeServer) -> None:
    server.reply("GET", "/api/v3/query_sql", ROWS)
    result = cli(capsys, server, "query", "-d", "db1", "SELECT * FROM cpu")
    assert result.code == 0, result.err
    request = server.only
    assert (request.method, request.path) == ("GET", "/api/v3/query_sql")
    assert request.query == {"db": "db1", "q": "SELECT * FROM cpu", "format": "json"}
    for text in ("host", "usage", "extra", "1.5", "true"):
        assert text in result.out


@pytest.mark.parametrize("output", ["json", "jsonl", "csv"])
def test_query_other_formats_come_from_the_server(
    capsys: pytest.CaptureFixture[str], server: FakeServer, output: str
) -> None:
    server.reply("GET", "/api/v3/query_sql", "host,usage\na,1.5\n")
    result = cli(capsys, server, "query", "-d", "db1", "SELECT 1", "--format", output)
    assert result.code == 0, result.err
    assert server.only.query["format"] == output
    assert result.out == "host,usage\na,1.5\n"


def test_query_params_are_posted_as_strings(
    capsys: pytest.CaptureFixture[str], server: FakeServer
) -> None:
    server.reply("POST", "/api/v3/query_sql", ROWS)
    result = cli(
        capsys, server, "query", "-d", "db1", "SELECT * FROM cpu WHERE host = $h",
        "--param", "h=a", "--param", "n=1=2", "--format", "json",
    )  # fmt: skip
    assert result.code == 0, result.err
    request = server.only
    assert (request.method, request.path) == ("POST", "/api/v3/query_sql")
    assert request.body == {
        "db": "db1",
        "q": "SELECT * FROM cpu WHERE host = $h",
        "format": "json",
        "params": {"h": "a", "n": "1=2"},
    }
    assert json.loads(result.out) == ROWS


def test_query_bad_param_is_a_usage_error(
    capsys: pytest.CaptureFixture[str], server: FakeServer
) -> None:
    result = cli(capsys, server, "query", "-d", "db1", "SELECT 1", "--param", "nokey")
    assert result.code == 2
    assert 'must be formatted as "key=value"' in result.err
    assert server.requests == []


def test_query_error(capsys: pytest.CaptureFixture[str], server: FakeServer) -> None:
    server.reply("GET", "/api/v3/query_sql", {"error": "table 'nope' not found"}, 400)
    result = cli(capsys, server, "query", "-d", "db1", "SELECT * FROM nope")
    assert (result.code, result.err) == (1, "error: table 'nope' not found\n")


def test_commands_are_listed(capsys: pytest.CaptureFixture[str]) -> None:
    result = run_cli(capsys, "--help")
    for name in ("create", "enable", "disable", "delete", "show", "write", "query"):
        assert name in result.out
    sub = run_cli(capsys, "create", "--help")
    for name in ("database", "token", "trigger"):
        assert name in sub.out
    for command in ("show", "write", "query", "enable", "disable", "delete"):
        helped = run_cli(capsys, command, "--help")  # each table entry loads its module
        assert helped.code == 0, (command, helped.err)
    token_help = run_cli(capsys, "create", "token", "--help")
    assert "INFLUXDB3_DB_DIR, PLUGINMGR_DATA_DIR" in token_help.out
    assert "--host" in token_help.out


# -- output for people ----------------------------------------------------------------------------

LONG_TRIGGERS = [
    {
        "database_name": "metrics",
        "trigger_name": "hourly_downsample_cpu",
        "plugin_filename": "gh:influxdata/downsampler/downsampler.py",
        "trigger_specification": "every:1h",
        "disabled": False,
        "error_behavior": "log",
        "state": "running",
    },
    {
        "database_name": "metrics",
        "trigger_name": "notify_on_threshold",
        "plugin_filename": "gh:influxdata/notifier/notifier_plugin.py",
        "trigger_specification": "table:cpu",
        "disabled": True,
        "error_behavior": "retry",
        "state": "disabled",
    },
]
INVENTORY = [
    {
        "plugin": "gh:influxdata/threshold_deadman_checks/threshold_deadman_checks_plugin.py",
        "kind": "gh",
        "name": "threshold_deadman_checks",
        "version": "1.1.0",
        "sha256": "ab" * 32,
        "triggers": ["process_writes", "process_scheduled_call"],
        "python": ["requests>=2.31"],
        "plugins": ["notifier>=1.0"],
        "arguments": {
            "onwrite": [
                {"name": "measurement", "required": True},
                {"name": "field_conditions", "required": True},
                {"name": "notification_channels", "required": False},
            ],
            "scheduled": [{"name": "deadman_check", "required": False}],
        },
        "used_by": [
            {"database": "metrics", "trigger_name": "cpu_threshold_alerts", "disabled": False},
            {"database": "metrics", "trigger_name": "deadman_every_five_min", "disabled": True},
        ],
        "problems": [],
    },
    {
        "plugin": "broken.py",
        "kind": "local",
        "name": "broken",
        "version": None,
        "triggers": [],
        "used_by": [],
        "problems": ["broken.py: the docstring's JSON header is not valid JSON: line 3 column 1"],
    },
]


def test_show_triggers_at_80_columns_wraps_without_cutting_a_name(
    capsys: pytest.CaptureFixture[str], server: FakeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    server.reply("GET", TRIGGER_PATH, LONG_TRIGGERS)
    result = cli(capsys, server, "show", "triggers")
    assert result.code == 0, result.err
    lines = result.out.splitlines()
    assert max(map(len, lines)) <= 80
    assert lines[0].split() == ["on"]  # the header "on error" wraps at its space
    assert lines[1].split() == ["database", "trigger", "plugin", "spec", "error", "state"]
    for trigger in LONG_TRIGGERS:
        assert any(f" {trigger['trigger_name']} " in line for line in lines), result.out
    for piece in ("gh:influxdata/", "downsampler.py", "notifier_plugin.py", "table:cpu"):
        assert any(piece in line for line in lines), (piece, result.out)
    assert len(lines) == 9  # header, rule, two rows of three lines (paths wrap after a slash)
    assert (
        lines[3].split()
        == "metrics hourly_downsample_cpu gh:influxdata/ every:1h log running".split()
    )
    assert lines[4:6] == [" " * 33 + "downsampler/", " " * 33 + "downsampler.py"]


def test_show_triggers_pretty_with_a_database_leaves_it_out(
    capsys: pytest.CaptureFixture[str], server: FakeServer
) -> None:
    server.reply("GET", TRIGGER_PATH, LONG_TRIGGERS)
    result = cli(capsys, server, "show", "triggers", "-d", "metrics")
    assert result.out.splitlines()[0].split()[0] == "trigger"


def test_show_plugins_at_80_columns_is_one_block_per_plugin(
    capsys: pytest.CaptureFixture[str], server: FakeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    server.reply("GET", PLUGINS_PATH, INVENTORY)
    result = cli(capsys, server, "show", "plugins")
    assert result.code == 0, result.err
    assert max(map(len, result.out.splitlines())) <= 80
    assert result.out.splitlines() == [
        "gh:influxdata/threshold_deadman_checks/threshold_deadman_checks_plugin.py",
        "  name           threshold_deadman_checks 1.1.0 (gh)",
        "  trigger types  wal, schedule",
        "  dependencies   requests>=2.31, notifier>=1.0",
        "  arguments      onwrite: measurement*, field_conditions*,",
        "                 notification_channels; scheduled: deadman_check",
        "  used by        metrics/cpu_threshold_alerts, metrics/deadman_every_five_min",
        "                 (disabled)",
        "",
        "broken.py",
        "  name     broken (local)",
        "  used by  no trigger",
        "",
        "problems:",
        "  broken.py: the docstring's JSON header is not valid JSON: line 3 column 1",
    ]


def test_write_counts_the_lines_sent_without_blanks_and_comments(
    capsys: pytest.CaptureFixture[str], server: FakeServer
) -> None:
    lp = "# header\ncpu usage=1 1\n\n   \nmem used=2 2\n  # indented comment\ndisk free=3 3\n"
    result = cli(capsys, server, "write", "-d", "db1", lp)
    assert (result.code, result.out) == (0, "wrote 3 lines to db1\n")


def test_write_prints_each_rejected_line(
    capsys: pytest.CaptureFixture[str], server: FakeServer
) -> None:
    long_line = "cpu,host=a " + "x" * 120
    data = [
        {"original_line": "cpu usage=", "line_number": 2, "error_message": "invalid field value"},
        {"original_line": long_line, "line_number": 3, "error_message": "expected key=value"},
    ]
    answer = {"error": "partial write of line protocol occurred", "data": data}
    server.reply("POST", "/api/v3/write_lp", answer, 400)
    result = cli(capsys, server, "write", "-d", "db1", f"cpu usage=1 1\ncpu usage=\n{long_line}")
    assert result.code == 1
    assert result.out == ""
    assert result.err.splitlines() == [
        "error: partial write of line protocol occurred: 2 of 3 lines rejected, 1 written to db1",
        "  line 2 `cpu usage=`: invalid field value",
        f"  line 3 `{long_line[:97]}...`: expected key=value",
    ]


def test_write_that_wrote_nothing_says_so(
    capsys: pytest.CaptureFixture[str], server: FakeServer
) -> None:
    data = [{"original_line": "bad", "line_number": 1, "error_message": "no fields"}]
    answer = {"error": "parsing failed for write_lp endpoint", "data": data}
    server.reply("POST", "/api/v3/write_lp", answer, 400)
    result = cli(capsys, server, "write", "-d", "db1", "bad")
    assert result.err.splitlines() == [
        "error: parsing failed for write_lp endpoint: nothing was written to db1",
        "  line 1 `bad`: no fields",
    ]


def test_create_trigger_prints_the_servers_warnings(
    capsys: pytest.CaptureFixture[str], server: FakeServer
) -> None:
    warnings = ["the plugin writes to db1, which this all_tables trigger watches", "second one"]
    server.reply("POST", TRIGGER_PATH, {"warnings": warnings})
    result = cli(
        capsys, server, "create", "trigger", "loop", "--trigger-spec", "all_tables",
        "--plugin-filename", "wal.py", "-d", "db1",
    )  # fmt: skip
    assert (result.code, result.out) == (0, "Trigger loop created successfully\n")
    assert result.err.splitlines() == [f"warning: {w}" for w in warnings]


def test_create_trigger_warns_about_a_leading_slash_before_sending(
    capsys: pytest.CaptureFixture[str], server: FakeServer
) -> None:
    server.reply("POST", TRIGGER_PATH, {"warnings": ["request:/x is served at //x"]})
    result = cli(
        capsys, server, "create", "trigger", "hook", "--trigger-spec", "request:/x",
        "--plugin-filename", "hook.py", "-d", "db1",
    )  # fmt: skip
    assert result.code == 0, result.err
    assert server.only.body["trigger_specification"] == "request:/x"  # sent as given
    assert result.err == (
        "warning: request:/x starts with a slash: the server serves it at /api/v3/engine//x "
        "(a double slash), as upstream does; use request:x for /api/v3/engine/x\n"
    )  # the server's warning about the same slash is not repeated


def test_create_trigger_refused_by_the_server_sends_nothing_more(
    capsys: pytest.CaptureFixture[str], server: FakeServer
) -> None:
    message = "plugin wal.py has no process_request: a request trigger needs one"
    server.reply("POST", TRIGGER_PATH, {"error": message}, status=400)
    result = cli(
        capsys, server, "create", "trigger", "hook", "--trigger-spec", "request:hook",
        "--plugin-filename", "wal.py", "-d", "db1",
    )  # fmt: skip
    assert (result.code, result.out, result.err) == (1, "", f"error: {message}\n")


@pytest.mark.parametrize(
    "args",
    [
        ("show", "triggers"),
        ("write", "-d", "db1", "cpu usage=1 1"),
        ("query", "-d", "db1", "SELECT 1", "--format", "csv"),
        ("enable", "trigger", "t", "-d", "db1"),
    ],
)
def test_a_host_from_the_environment_is_announced(
    capsys: pytest.CaptureFixture[str],
    server: FakeServer,
    monkeypatch: pytest.MonkeyPatch,
    args: tuple[str, ...],
) -> None:
    server.reply("GET", TRIGGER_PATH, TRIGGERS)
    server.reply("GET", "/api/v3/query_sql", "a\n1\n")
    monkeypatch.setenv("INFLUXDB3_HOST_URL", server.url)
    result = run_cli(capsys, *args)
    assert result.code == 0, result.err
    assert result.err == f"note: using the server at {server.url} (INFLUXDB3_HOST_URL)\n"
    assert result.out  # and its result is printed
    given = run_cli(capsys, *args, "-H", server.url)
    assert given.err == ""  # an explicit -H needs no note
