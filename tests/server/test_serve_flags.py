"""``pluginmgr serve`` with ``influxdb3 serve``'s flags and variables, as real processes.

Option errors, which come before the port is bound, run the CLI in-process; everything that
serves runs ``python -m pluginmgr serve`` on a free loopback port.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from pluginmgr.cli._serve_options import IGNORED_FLAGS
from pluginmgr.errors import INSTALL_DISABLED_MESSAGE
from pluginmgr.server.routes_common import ENGINE_OFF_MESSAGE
from tests.helpers import run_cli
from tests.server.server_helpers import TRIGGER, free_port, trigger_body, wait_healthy

_SCRUBBED = ("INFLUXDB3_", "PLUGINMGR_", "UV_", "PIP_", "AWS_")
ENV_PLUGIN = """
import os

NAMES = ("SECRET_ONE", "SECRET_TWO", "KEPT_VAR", "PLUGIN_DIR")


def process_request(influxdb3_local, query_parameters, request_headers, request_body, args=None):
    return {name: os.environ.get(name) for name in NAMES}
"""
NEEDS_ALPHA = """# /// script
# dependencies = ["pm-alpha"]
# ///
def process_request(influxdb3_local, query_parameters, request_headers, request_body, args=None):
    import pm_alpha

    return pm_alpha.greet()
"""
#: one of each kind of ignored flag, with the value it takes (None: a flag without one)
GIVEN_IGNORED: dict[str, str | None] = {
    "--cluster-id": "cluster0",
    "--aws-credentials-file": "creds.json",
    "--google-service-account": "sa.json",
    "--azure-storage-account": "acct",
    "--azure-storage-access-key": "key",
    "--object-store-connection-limit": "16",
}


def server_env(**extra: str | None) -> dict[str, str]:
    """This environment without plugin, uv or pip settings (a module fixture runs before the
    autouse ``clean_environ``; in-process engines set ``PLUGIN_DIR``), uv kept offline;
    ``extra`` sets (or, None, removes) names."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(_SCRUBBED) and name not in ("VIRTUAL_ENV", "PLUGIN_DIR")
    }
    env.update(UV_NO_CONFIG="1", UV_PYTHON_DOWNLOADS="never", UV_OFFLINE="1")
    for name, value in extra.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    return env


@dataclass
class Running:
    """A `pluginmgr serve` process: its URL, what it printed up to its auth line, and (once
    stopped) its exit code and everything it printed."""

    url: str
    process: subprocess.Popen[str]
    startup: list[str] = field(default_factory=list)
    code: int | None = None
    stderr: str = ""

    def stop(self) -> int:
        if self.code is None:
            if self.process.poll() is None:
                self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
            # not communicate(): it reads the descriptor and loses what readline() buffered
            assert self.process.stderr is not None
            rest = self.process.stderr.read()
            self.process.stderr.close()
            self.code = self.process.returncode
            self.stderr = "\n".join(self.startup) + "\n" + rest
        return self.code


@contextmanager
def serving(args: Sequence[str], env: dict[str, str]) -> Iterator[Running]:
    """Run ``pluginmgr serve ARGS`` until the block ends (SIGTERM)."""
    port = free_port()
    command = [sys.executable, "-m", "pluginmgr", "serve", *args]
    command += ["--http-bind", f"127.0.0.1:{port}"]
    process = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env
    )
    running = Running(f"http://127.0.0.1:{port}", process)
    try:
        wait_healthy(running.url, process, timeout=30)
        assert process.stderr is not None
        # printed before the first request is answered: already in the pipe
        while not running.startup or not running.startup[-1].startswith("  auth:"):
            running.startup.append(process.stderr.readline().rstrip("\n"))
        yield running
    finally:
        running.stop()


def ignored_args() -> list[str]:
    args: list[str] = []
    for flag, value in GIVEN_IGNORED.items():
        args += [flag] if value is None else [flag, value]
    return args


# -- upstream's flags, on one node ----------------------------------------------------------------


@dataclass(frozen=True)
class Node:
    running: Running
    root: Path

    @property
    def plugin_dir(self) -> Path:
        return self.root / "plugins"


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    """The guide's ``serve`` flags plus ignored ones; venv from VIRTUAL_ENV; two vars unset."""
    root = tmp_path_factory.mktemp("flags")
    env = server_env(
        VIRTUAL_ENV=str(root / "venv"),
        INFLUXDB3_UNSET_VARS="SECRET_ONE, SECRET_TWO NOT_SET",
        SECRET_ONE="1",
        SECRET_TWO="2",
        KEPT_VAR="3",
        UV_CACHE_DIR=str(root / "uv-cache"),
        AWS_ACCESS_KEY_ID="AKIA",  # S3 settings from the environment: unused, and no warning
        INFLUXDB3_ENTERPRISE_NUM_TOTAL_COLUMNS_PER_TABLE_LIMIT="4",
    )
    args = [
        "--node-id", "node0", "--object-store", "file", "--data-dir", str(root / "data"),
        "--plugin-dir", str(root / "plugins"), "--package-manager", "uv", "--mode", "all",
        "--without-auth", "--cache-dir", str(root / "cache"), *ignored_args(),
        "--bucket", "b", "--aws-endpoint", "http://127.0.0.1:9000", "--num-table-limit", "50",
    ]  # fmt: skip
    with serving(args, env) as running:
        yield Node(running, root)


def test_upstream_flags_start_a_node_that_says_where_everything_is(node: Node) -> None:
    root, url = node.root, node.running.url
    warnings = [
        f"warning: {flag} does not apply to pluginmgr ({why}); ignored"
        for flag, _takes_value, why in IGNORED_FLAGS
        if flag in GIVEN_IGNORED
    ]
    warnings.append("warning: --bucket, --aws-endpoint: only used with --object-store s3; ignored")
    assert node.running.startup == [
        *warnings,
        f"created the plugin directory {root / 'plugins'}",
        f"created the plugin venv {root / 'venv'}",
        f"pluginmgr serving HTTP and Flight on {url}",
        "  node id:    node0",
        f"  plugin dir: {root / 'plugins'}",
        f"  venv:       {root / 'venv'} (uv; from VIRTUAL_ENV)",
        f"  data dir:   {root / 'data' / 'node0'}",
        "  unset env:  SECRET_ONE, SECRET_TWO",
        "  auth:       none (--without-auth)",
    ]
    block = node.running.startup[len(warnings) + 2 :]
    assert all(len(line) <= 80 for line in block if str(root) not in line)
    ping = httpx.get(f"{url}/ping").json()
    assert ping["node_id"] == "node0" and {"version", "revision", "process_id"} <= set(ping)


def test_catalog_limits_come_from_upstreams_flags_and_env(node: Node) -> None:
    url = node.running.url
    body = "limited,a=1 x=1 1\nlimited,a=1,b=2,c=3 x=2 2\nlimited,a=2 y=3 3"
    answer = httpx.post(f"{url}/api/v3/write_lp?db=limits", content=body)
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"] == "partial write of line protocol occurred"
    [refused] = answer.json()["data"]
    assert refused["line_number"] == 2
    limit = "Update to schema would exceed number of columns per table limit of 4 columns"
    assert limit in refused["error_message"]
    rows = httpx.post(
        f"{url}/api/v3/query_sql", json={"db": "limits", "q": "SELECT a FROM limited"}
    )
    assert rows.json() == [{"a": "1"}, {"a": "2"}]


def test_a_missing_plugin_dir_is_created_and_the_venv_made_at_start(node: Node) -> None:
    assert node.plugin_dir.is_dir()
    assert (node.root / "venv" / "pyvenv.cfg").is_file()
    assert not (node.plugin_dir / "venv").exists()  # VIRTUAL_ENV named it elsewhere


def test_unset_vars_are_gone_from_the_plugins_environment(node: Node) -> None:
    (node.plugin_dir / "env_check.py").write_text(ENV_PLUGIN, encoding="utf-8")
    url = node.running.url
    assert httpx.post(f"{url}/api/v3/configure/database", json={"db": "db"}).status_code == 200
    created = httpx.post(url + TRIGGER, json=trigger_body("env", "env_check.py", "request:env"))
    assert created.status_code == 200, created.text
    answer = httpx.get(f"{url}/api/v3/engine/env", timeout=10)
    assert answer.json() == {
        "SECRET_ONE": None,
        "SECRET_TWO": None,
        "KEPT_VAR": "3",
        "PLUGIN_DIR": str(node.plugin_dir),
    }


def test_server_log_lines_carry_a_utc_time_and_the_database_and_trigger(tmp_path: Path) -> None:
    plugin_dir = tmp_path / "plugins"
    plugin_dir.mkdir()
    (plugin_dir / "boom.py").write_text(
        "def process_request(influxdb3_local, query_parameters, request_headers, request_body,"
        " args=None):\n    raise ValueError('no such sensor')\n",
        encoding="utf-8",
    )
    args = ["--plugin-dir", str(plugin_dir), "--object-store", "memory", "--without-auth"]
    with serving([*args, "--cache-dir", str(tmp_path / "cache")], server_env()) as running:
        httpx.post(f"{running.url}/api/v3/configure/database", json={"db": "db"})
        body = trigger_body("boom", "boom.py", "request:boom")
        assert httpx.post(running.url + TRIGGER, json=body).status_code == 200
        assert httpx.get(f"{running.url}/api/v3/engine/boom", timeout=10).status_code == 500
    assert running.code == 0, running.stderr
    errors = [line for line in running.stderr.splitlines() if " ERROR " in line]
    assert errors, running.stderr
    stamp = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"
    assert re.fullmatch(stamp + r" ERROR db/boom: .*ValueError: no such sensor.*", errors[0])
    assert "engine_runtime" not in running.stderr  # no logger names of ours


# -- the object store -----------------------------------------------------------------------------


def test_memory_object_store_keeps_nothing_across_restarts(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    env = server_env(HOME=str(home), INFLUXDB3_OBJECT_STORE="memory")
    args = ["--cache-dir", str(tmp_path / "cache")]
    admin = "/api/v3/configure/token/admin"
    query = {"db": "db", "q": "SELECT count(*) AS n FROM cpu"}
    with serving(args, env) as first:
        token = httpx.post(first.url + admin).json()["token"]
        auth = {"Authorization": f"Bearer {token}"}
        written = httpx.post(
            f"{first.url}/api/v3/write_lp?db=db", content="cpu,host=a usage=1 1", headers=auth
        )
        assert written.status_code == 204, written.text
        rows = httpx.get(f"{first.url}/api/v3/query_sql", params=query, headers=auth)
        assert rows.json() == [{"n": 1}]
    assert first.code == 0, first.stderr
    assert first.startup[0] == (
        "warning: --object-store memory: nothing is written to disk; every database, trigger "
        "and token is lost at exit"
    )
    assert "  data dir:   memory (lost at exit)" in first.startup
    assert (
        "warning: no admin token yet: every request will be refused until you run "
        "`pluginmgr create token --admin` (POST /api/v3/configure/token/admin, open without a "
        "token until one exists)"
    ) in first.stderr
    with serving(args, env) as second:
        refused = httpx.get(f"{second.url}/api/v3/query_sql", params=query, headers=auth)
        assert refused.status_code == 401  # the token went with the first process
        token = httpx.post(second.url + admin).json()["token"]  # open again: no admin token
        again = {"Authorization": f"Bearer {token}"}
        gone = httpx.get(f"{second.url}/api/v3/query_sql", params=query, headers=again)
        assert gone.status_code == 404, gone.text  # no database db any more
    assert second.code == 0, second.stderr
    assert not (home / ".pluginmgr").exists()  # nothing under the default data dir


def test_object_store_file_needs_a_data_dir(capsys: pytest.CaptureFixture[str]) -> None:
    done = run_cli(capsys, "serve", "--object-store", "file", "--http-bind", "127.0.0.1:1")
    assert (done.code, done.err) == (
        1,
        "error: --object-store file needs a data directory (hint: pass --data-dir DIR or set "
        "INFLUXDB3_DB_DIR)\n",
    )


@pytest.mark.parametrize("store", ["google", "azure"])
def test_cloud_object_stores_but_s3_are_refused(
    capsys: pytest.CaptureFixture[str], store: str
) -> None:
    done = run_cli(capsys, "serve", "--object-store", store, "--bucket", "b")
    assert (done.code, done.err) == (
        1,
        f"error: --object-store {store} is not supported by pluginmgr (hint: use --object-store "
        "s3 --bucket NAME, file --data-dir DIR, or memory)\n",
    )


@pytest.mark.parametrize(
    ("flag", "value", "message"),
    [
        ("--gen1-duration", "soon", "error: invalid --gen1-duration 'soon': "),
        ("--gen1-duration", "0", "error: invalid --gen1-duration '0': use a duration above 0"),
        ("--wal-flush-interval", "-1s", "error: invalid --wal-flush-interval '-1s': "),
        ("--buffer-mem-limit", "lots", "error: invalid --buffer-mem-limit 'lots'"),
        (
            "--restrict-plugin-triggers-to",
            "wal,flux",
            "error: invalid --restrict-plugin-triggers-to 'wal,flux': use wal, schedule or request",
        ),
    ],
)
def test_bad_store_settings_are_one_error_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, flag: str, value: str, message: str
) -> None:
    done = run_cli(capsys, "serve", "--data-dir", str(tmp_path / "data"), flag, value)
    assert done.code == 1
    assert done.err.startswith(message), done.err
    assert done.err.count("\n") == 1
    assert not (tmp_path / "data").exists()  # refused before anything is made


# -- modes, binding -------------------------------------------------------------------------------


def test_mode_process_needs_a_plugin_dir(capsys: pytest.CaptureFixture[str]) -> None:
    done = run_cli(capsys, "serve", "--mode", "ingest,process", "--without-auth")
    assert done.code == 1
    assert done.err == (
        "error: --mode process runs plugins, and there is no plugin directory (hint: pass "
        "--plugin-dir DIR or set INFLUXDB3_PLUGIN_DIR)\n"
    )
    bad = run_cli(capsys, "serve", "--mode", "writer")
    assert bad.code == 1 and bad.err.startswith("error: invalid --mode 'writer': use all, ingest")


def test_a_taken_port_is_one_error_line_and_exit_1(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = run_cli(
            capsys, "serve", "--plugin-dir", str(tmp_path / "plugins"),
            "--data-dir", str(tmp_path / "data"), "--http-bind", f"127.0.0.1:{port}",
            "--bucket", "b",
        )  # fmt: skip
    assert done.code == 1
    assert done.err.splitlines() == [
        f"error: cannot listen on 127.0.0.1:{port}: Address already in use (hint: stop what "
        "listens there, or pass another --http-bind HOST:PORT)"
    ]
    assert done.out == ""
    assert sorted(tmp_path.iterdir()) == []  # nothing created before the bind


# -- the package manager ----------------------------------------------------------------------


def test_package_manager_disabled_refuses_every_install(tmp_path: Path) -> None:
    plugin_dir = tmp_path / "plugins"
    plugin_dir.mkdir()
    (plugin_dir / "requirements.txt").write_text("pm-alpha\n", encoding="utf-8")
    (plugin_dir / "needs_alpha.py").write_text(NEEDS_ALPHA, encoding="utf-8")
    env = server_env(
        INFLUXDB3_PACKAGE_MANAGER="disabled",
        INFLUXDB3_NODE_IDENTIFIER_PREFIX="edge-7",
        PLUGINMGR_DATA_DIR=str(tmp_path / "data"),  # the old name still works
    )
    args = ["--plugin-dir", str(plugin_dir), "--without-auth", "--cache-dir", str(tmp_path / "c")]
    base = "/api/v3/configure/plugin_environment"
    with serving(args, env) as running:
        url = running.url
        for path, body in (
            ("install_packages", {"packages": ["pm-alpha"]}),
            ("install_requirements", {"requirements_location": "requirements.txt"}),
            ("install_packages", {}),  # refused before the body is looked at, as upstream
        ):
            answer = httpx.post(f"{url}{base}/{path}", json=body)
            assert (answer.status_code, answer.json()) == (403, {"error": INSTALL_DISABLED_MESSAGE})
        httpx.post(f"{url}/api/v3/configure/database", json={"db": "db"})
        body = trigger_body("alpha", "needs_alpha.py", "request:alpha")
        created = httpx.post(url + TRIGGER, json=body, timeout=30)
        assert created.status_code == 200, created.text  # created: nothing installed for it
        rows = httpx.get(url + TRIGGER, params={"db": "db"}).json()
    assert running.code == 0, running.stderr
    assert rows[0]["state"].startswith("failed: missing dependencies for needs_alpha.py: pm-alpha")
    assert "  node id:    edge-7" in running.startup
    assert f"  venv:       {plugin_dir / 'venv'} (package installs disabled)" in running.startup
    assert f"  data dir:   {tmp_path / 'data' / 'edge-7'}" in running.startup
    assert not (plugin_dir / "venv").exists()  # not created at start either
    assert not (plugin_dir / "pylock.toml").exists()


# -- no plugin directory: the Processing Engine is off ------------------------------------------


@pytest.mark.parametrize("how", ["empty", "unset"])
def test_without_a_plugin_dir_data_is_served_and_the_engine_is_off(
    tmp_path: Path, how: str
) -> None:
    plugin_env = (
        {"INFLUXDB3_PLUGIN_DIR": ""}
        if how == "empty"
        else {
            "INFLUXDB3_PLUGIN_DIR": str(tmp_path / "plugins"),
            "INFLUXDB3_UNSET_VARS": "INFLUXDB3_PLUGIN_DIR",
        }
    )
    env = server_env(INFLUXDB3_DB_DIR=str(tmp_path / "data"), **plugin_env)
    args = ["--without-auth", "--cache-dir", str(tmp_path / "cache")]
    with serving(args, env) as running:
        url = running.url
        written = httpx.post(f"{url}/api/v3/write_lp?db=db", content="cpu,host=a usage=2 1")
        assert written.status_code == 204, written.text
        query = {"db": "db", "q": "SELECT host, usage FROM cpu"}
        assert httpx.get(f"{url}/api/v3/query_sql", params=query).json() == [
            {"host": "a", "usage": 2.0}
        ]
        refused = [
            httpx.post(url + TRIGGER, json=trigger_body("t", "p.py", "request:t")),
            httpx.post(f"{url}{TRIGGER}/enable", params={"db": "db", "trigger_name": "t"}),
            httpx.post(f"{url}/api/v3/plugin_test/wal", json={"filename": "p.py"}),
            httpx.post(f"{url}/api/v3/plugins/files", json={"plugin_name": "p.py"}),
            httpx.post(
                f"{url}/api/v3/configure/plugin_environment/install_packages",
                json={"packages": ["pm-alpha"]},
            ),
            httpx.get(f"{url}/api/v3/engine/t"),
        ]
        for answer in refused:
            assert (answer.status_code, answer.json()) == (500, {"error": ENGINE_OFF_MESSAGE})
        assert httpx.get(url + TRIGGER, params={"db": "db"}).json() == []
    assert running.code == 0, running.stderr
    assert ENGINE_OFF_MESSAGE.startswith("Node not configured with plugin directory")
    expected = "  plugin dir: none: the Processing Engine is off (--plugin-dir DIR turns it on)"
    assert expected in running.startup
    assert "  venv:       none" in running.startup
    data_line = next(line for line in running.startup if line.startswith("  data dir:"))
    assert data_line.startswith(f"  data dir:   {tmp_path / 'data'}/")  # the host's node dir
    assert not (tmp_path / "plugins").exists()
