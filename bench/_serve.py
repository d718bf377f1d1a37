"""What the server benchmarks share: a real ``pluginmgr serve`` process, its clients, rows.

Imported as ``from _serve import ...`` (the scripts run as ``python bench/NAME.py``).
"""

from __future__ import annotations

import gzip
import json
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import httpx
from _common import make_batch

__all__ = [
    "NODE_ID",
    "NOOP_WRITES",
    "Row",
    "ServerProcess",
    "drive",
    "free_port",
    "write_all",
]

#: the node id the benchmarks' servers run as (their store is ``DATA_DIR/bench/store``)
NODE_ID: Final = "bench"

NOOP_WRITES = """\
def process_writes(influxdb3_local, table_batches, args=None):
    pass
"""


@dataclass(frozen=True, slots=True)
class Row:
    """One line of the result table."""

    name: str
    result: str
    p50: str = ""
    p99: str = ""
    notes: str = ""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- a real `pluginmgr serve` process -----------------------------------------------------------


class ServerProcess:
    """``python -m pluginmgr serve`` over a data dir; every process it starts is tracked."""

    def __init__(
        self,
        root: Path,
        flush: str,
        procs: list[subprocess.Popen[bytes]],
        *,
        auth: bool = True,
        plugins: dict[str, str] | None = None,
        in_process: bool = False,
        extra_args: tuple[str, ...] = (),
    ) -> None:
        self.root = root
        self.flush = flush
        self.procs = procs
        self.auth = auth
        #: more ``serve`` flags (e.g. where packages come from)
        self.extra_args = extra_args
        #: ``pluginmgr`` as a command; ``in_process``: its engine calls plugins in-process
        self.command = [sys.executable, "-m", "pluginmgr"]
        if in_process:
            self.command = [sys.executable, str(Path(__file__).parent / "_in_process.py")]
        self.plugin_dir = root / "plugins"
        self.data_dir = root / "data"
        #: where serve keeps the store: ``DATA_DIR/<node-id>/store``
        self.store_dir = self.data_dir / NODE_ID / "store"
        self.plugin_dir.mkdir(parents=True, exist_ok=True)
        for name, code in {"noop.py": NOOP_WRITES, **(plugins or {})}.items():
            (self.plugin_dir / name).write_text(code, encoding="utf-8")
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None
        self.token = self._admin_token() if auth else ""

    def _admin_token(self) -> str:
        made = subprocess.run(
            [
                *(sys.executable, "-m", "pluginmgr", "create", "token", "--admin"),
                *("--data-dir", str(self.data_dir), "--format", "json"),
            ],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        return str(json.loads(made.stdout)["token"])

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.auth else {}

    def post(self, path: str, body: dict[str, object]) -> None:
        """POST ``body`` as JSON (a configure call); raises unless it succeeded."""
        answer = httpx.post(f"{self.url}{path}", json=body, headers=self.headers, timeout=60)
        answer.raise_for_status()

    def start(self) -> float:
        """Start the process; returns seconds until ``/health`` answered 200."""
        args = [
            "--plugin-dir", str(self.plugin_dir), "--data-dir", str(self.data_dir),
            "--node-id", NODE_ID, "--cache-dir", str(self.root / "cache"), "--offline",
            "--http-bind", f"127.0.0.1:{self.port}", "--wal-flush-interval", self.flush,
            *(() if self.auth else ("--without-auth",)), *self.extra_args,
        ]  # fmt: skip
        began = time.perf_counter()
        self.process = subprocess.Popen(
            [*self.command, "serve", *args],
            stdout=subprocess.DEVNULL,
            stderr=(self.root / "serve.log").open("ab"),
        )
        self.procs.append(self.process)
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            try:
                # with auth, /health needs the token too (InfluxDB 3 Core's default)
                answer = httpx.get(f"{self.url}/health", headers=self.headers, timeout=1)
                if answer.status_code == 200:
                    return time.perf_counter() - began
            except httpx.TransportError:
                time.sleep(0.005)
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited with {self.process.returncode}")
        raise TimeoutError("server did not become healthy")

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(sig)
            self.process.wait(timeout=120)
        self.process = None

    def count(self, db: str = "bench") -> int:
        return self.count_table("cpu", db)

    def count_table(self, table: str, db: str = "bench") -> int:
        query = {"db": db, "q": f"SELECT count(*) AS n FROM {table}"}  # noqa: S608 (ours)
        answer = httpx.get(
            f"{self.url}/api/v3/query_sql", params=query, headers=self.headers, timeout=300
        )
        answer.raise_for_status()
        return int(answer.json()[0]["n"])


def write_all(
    url: str,
    headers: dict[str, str],
    starts: list[int],
    threads: int,
    *,
    gzipped: bool = False,
    precision: str = "ns",  # make_batch's stamps are ns; `auto` would read the first as seconds
    path: str | None = None,
    batch: Callable[[int], str] = make_batch,
    latencies: list[float] | None = None,
) -> float:
    """POST one 10k-line batch per start from ``threads`` clients; returns elapsed seconds.

    ``gzipped`` sends the bodies gzip-compressed (compressed before the clock starts, so the
    time is the server's: transfer, inflating and writing). ``path`` is the write endpoint
    (default v3's ``write_lp`` to ``bench``), ``batch`` makes a body from a start, and
    ``latencies`` (when given) receives each write's seconds.
    """
    path = path or f"/api/v3/write_lp?db=bench&precision={precision}"
    bodies = [batch(s).encode() for s in starts]
    if gzipped:
        bodies = [gzip.compress(body) for body in bodies]
        headers = {**headers, "Content-Encoding": "gzip"}
    lock = threading.Lock()
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            with httpx.Client(base_url=url, headers=headers, timeout=300) as client:
                while True:
                    with lock:
                        if not bodies:
                            return
                        body = bodies.pop()
                    began = time.perf_counter()
                    answer = client.post(path, content=body)
                    if latencies is not None:
                        latencies.append(time.perf_counter() - began)
                    if answer.status_code != 204:
                        raise RuntimeError(f"write failed: {answer.status_code} {answer.text}")
        except BaseException as exc:  # reported on the main thread
            errors.append(exc)

    pool = [threading.Thread(target=worker) for _ in range(threads)]
    began = time.perf_counter()
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    elapsed = time.perf_counter() - began
    if errors:
        raise errors[0]
    return elapsed


def drive(
    url: str, path: str, total: int, threads: int, *, expect: str = "ok"
) -> tuple[float, list[float]]:
    """GET ``path`` ``total`` times from ``threads`` clients: (requests/s, latencies in ms);
    every answer must be a 200 saying ``expect``."""
    per = total // threads
    latencies: list[list[float]] = [[] for _ in range(threads)]
    errors: list[BaseException] = []

    def worker(n: int) -> None:
        mine = latencies[n]
        try:
            with httpx.Client(base_url=url, timeout=60) as client:
                for _ in range(per):
                    began = time.perf_counter()
                    answer = client.get(path)
                    mine.append((time.perf_counter() - began) * 1000)
                    if answer.status_code != 200 or answer.text.strip('"') != expect:
                        raise RuntimeError(f"{path}: {answer.status_code} {answer.text}")
        except BaseException as exc:  # reported on the main thread
            errors.append(exc)

    pool = [threading.Thread(target=worker, args=(n,)) for n in range(threads)]
    began = time.perf_counter()
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    elapsed = time.perf_counter() - began
    if errors:
        raise errors[0]
    flat = [v for chunk in latencies for v in chunk]
    return len(flat) / elapsed, flat
