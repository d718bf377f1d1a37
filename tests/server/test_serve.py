"""``pluginmgr serve`` as a real process: the CLI client against it, kill -9, restart, SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from pluginmgr.testing import RepoServer
from tests.conftest import WAL_PLUGIN
from tests.server.server_helpers import free_port, wait_healthy

HELLO = "gh:examples/hello_request/hello_request.py"


def cli(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [sys.executable, "-m", "pluginmgr", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if check:
        assert done.returncode == 0, done.stderr
    return done


@dataclass
class Server:
    url: str
    token: str
    args: list[str]
    process: subprocess.Popen[str] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "pluginmgr", "serve", *self.args],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        wait_healthy(self.url, self.process, timeout=30)

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def client(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return cli(*args, "-H", self.url, "--token", self.token, check=check)

    def stop(self, sig: int = signal.SIGTERM) -> int:
        assert self.process is not None
        self.process.send_signal(sig)
        code = self.process.wait(timeout=30)
        self.process.stderr.close()  # type: ignore[union-attr]
        self.process = None
        return code


@pytest.fixture
def server(tmp_path: Path, repo_server: RepoServer) -> Iterator[Server]:
    plugin_dir, data_dir = tmp_path / "plugins", tmp_path / "data"
    plugin_dir.mkdir()
    made = cli("create", "token", "--admin", "--data-dir", str(data_dir), "--format", "json")
    token = json.loads(made.stdout)["token"]
    port = free_port()
    args = [
        "--plugin-dir", str(plugin_dir), "--data-dir", str(data_dir),
        "--cache-dir", str(tmp_path / "cache"), "--plugin-repo", repo_server.url,
        "--http-bind", f"127.0.0.1:{port}", "--wal-flush-interval", "10ms",
    ]  # fmt: skip
    running = Server(f"http://127.0.0.1:{port}", token, args)
    running.start()
    yield running
    if running.process is not None:
        running.stop(signal.SIGKILL)


def test_serve_end_to_end_with_the_cli_client(server: Server) -> None:
    server.client("create", "database", "foo")
    done = server.client(
        "create", "trigger", "reports", "-d", "foo", "--trigger-spec", "all_tables",
        "--plugin-filename", WAL_PLUGIN,
    )  # fmt: skip
    assert "Trigger reports created successfully" in done.stdout
    server.client(
        "create", "trigger", "hello", "-d", "foo", "--trigger-spec", "request:hello",
        "--plugin-filename", HELLO, "--trigger-arguments", "greeting=hi",
    )  # fmt: skip
    server.client("write", "-d", "foo", "cpu,host=a usage=1.5 1\ncpu,host=b usage=2.5 2")
    deadline = time.monotonic() + 10
    while True:
        shown = server.client(
            "query", "-d", "foo", "SELECT table_name, row_count FROM write_reports",
            "--format", "json", check=False,
        )  # fmt: skip
        if shown.returncode == 0 and json.loads(shown.stdout):
            break
        assert time.monotonic() < deadline, shown.stderr
        time.sleep(0.05)
    assert json.loads(shown.stdout) == [{"table_name": "cpu", "row_count": 2}]
    answer = httpx.get(f"{server.url}/api/v3/engine/hello?name=you", headers=server.headers)
    assert answer.status_code == 200
    assert answer.json() == {"message": "hi, you", "calls": 1}
    assert httpx.get(f"{server.url}/api/v3/engine/hello").status_code == 401  # no token
    listed = json.loads(server.client("show", "triggers", "-d", "foo", "--format", "json").stdout)
    assert {t["trigger_name"]: t["state"] for t in listed} == {
        "reports": "running",
        "hello": "running",
    }
    tested = server.client(
        "test", "wal_plugin", WAL_PLUGIN, "-d", "foo", "--lp", "mem,host=a used=1i 5"
    )  # the server's /api/v3/plugin_test/wal runs it against its own data
    report = json.loads(tested.stdout)
    assert report["database_writes"] == {"foo": ["write_reports,table_name=mem row_count=1i"]}
    assert server.stop() == 0  # SIGTERM: drained and flushed


def test_every_acknowledged_write_survives_kill_9(server: Server) -> None:
    server.client("create", "database", "db")
    server.client(
        "create", "trigger", "reports", "-d", "db", "--trigger-spec", "table:m",
        "--plugin-filename", WAL_PLUGIN,
    )  # fmt: skip
    acked: list[int] = []
    stop = threading.Event()

    def writer(first: int) -> None:
        with httpx.Client(headers=server.headers, timeout=10) as client:
            batch = first
            while not stop.is_set():
                body = "\n".join(f"m,batch=b{batch} v={i}i {batch * 100 + i}" for i in range(50))
                try:
                    response = client.post(
                        f"{server.url}/api/v3/write_lp", params={"db": "db"}, content=body
                    )
                except httpx.TransportError:
                    return
                if response.status_code == 204:
                    acked.append(batch)
                batch += 2

    threads = [threading.Thread(target=writer, args=(start,)) for start in (0, 1)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 20
    while len(acked) < 40 and time.monotonic() < deadline:
        time.sleep(0.01)
    server.stop(signal.SIGKILL)
    stop.set()
    for thread in threads:
        thread.join(timeout=10)
    assert len(acked) >= 40

    server.start()  # replays the WAL; the catalog brings the trigger back
    with httpx.Client(headers=server.headers) as client:
        rows = client.get(
            f"{server.url}/api/v3/query_sql",
            params={"db": "db", "q": "SELECT batch, count(*) AS n FROM m GROUP BY batch"},
        ).json()
    counts = {row["batch"]: row["n"] for row in rows}
    missing = [b for b in acked if counts.get(f"b{b}") != 50]
    assert missing == [], f"{len(missing)} acknowledged batches lost"
    listed = json.loads(server.client("show", "triggers", "-d", "db", "--format", "json").stdout)
    assert [t["state"] for t in listed] == ["running"]


def test_bad_serve_options_fail_with_one_line(tmp_path: Path) -> None:
    done = cli(
        "serve", "--plugin-dir", str(tmp_path), "--data-dir", str(tmp_path / "d"),
        "--http-bind", "nope", check=False,
    )  # fmt: skip
    assert done.returncode == 1
    assert done.stderr.startswith("error: invalid --http-bind 'nope': use HOST:PORT")
    assert os.listdir(tmp_path) == []  # nothing created
