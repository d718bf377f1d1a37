"""Benchmark ``pluginmgr serve``: HTTP write throughput, request triggers, crash recovery.

Prints a markdown table. Run: ``.venv/bin/python bench/server.py [--batches N] [--requests N]``.

* **Write throughput**: lines/s through ``POST /api/v3/write_lp`` on a real ``pluginmgr serve``
  process, 10k-line batches from ``--threads`` ``httpx.Client`` threads, with no trigger and with
  a no-op ``all_tables`` trigger, at ``--wal-flush-interval 1s`` (the default: every write waits
  for the next flush) and ``10ms`` (the engine, not the flush timer).
* **gzip**: the same 10k-line writes with gzip'd bodies (``Content-Encoding: gzip``, as the v2
  and v3 clients send them) against plain ones, on one server, runs interleaved.
* **Request triggers**: requests/s and client-side p50/p99 latency of a ``request:ping`` trigger
  returning ``"ok"`` next to a bare Starlette route returning ``"ok"`` on the same app and the
  same uvicorn (in-process, in a thread, without auth for both).
* **Recovery**: 1,000,000 rows written to a server at 10ms flush, ``kill -9``, then the restart
  timed to ``/health`` and to ``SELECT count(*)`` = 1,000,000; plus the store alone with every
  row in the WAL (snapshots disabled), abandoned like a crash and reopened.
* **Flight vs JSON**: ``SELECT *`` of 1,000,000 rows from a real ``pluginmgr serve``, once
  through the Python v3 client (Arrow Flight on the HTTP port) into a ``pyarrow.Table``, once
  as ``/api/v3/query_sql`` JSON parsed with ``json``; one run each, and the ratio.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
from _common import BATCH, make_batch, percentile

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # for tests.server
from tests.server.server_helpers import build_state, trigger_body

__all__ = ["main"]

NOOP_WRITES = """\
def process_writes(influxdb3_local, table_batches, args=None):
    pass
"""
PING = """\
def process_request(influxdb3_local, query_parameters, request_headers, request_body, args=None):
    return "ok"
"""
TRIGGER = "/api/v3/configure/processing_engine_trigger"


@dataclass(frozen=True, slots=True)
class Row:
    """One line of the result table."""

    name: str
    result: str
    p50: str = ""
    p99: str = ""
    notes: str = ""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- a real `pluginmgr serve` process -----------------------------------------------------------


class ServerProcess:
    """``python -m pluginmgr serve`` over a data dir; every process it starts is tracked."""

    def __init__(self, root: Path, flush: str, procs: list[subprocess.Popen[bytes]]) -> None:
        self.root = root
        self.flush = flush
        self.procs = procs
        self.plugin_dir = root / "plugins"
        self.data_dir = root / "data"
        self.plugin_dir.mkdir(parents=True, exist_ok=True)
        (self.plugin_dir / "noop.py").write_text(NOOP_WRITES, encoding="utf-8")
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
        self.token = json.loads(made.stdout)["token"]
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def start(self) -> float:
        """Start the process; returns seconds until ``/health`` answered 200."""
        args = [
            "--plugin-dir", str(self.plugin_dir), "--data-dir", str(self.data_dir),
            "--cache-dir", str(self.root / "cache"), "--offline",
            "--http-bind", f"127.0.0.1:{self.port}", "--wal-flush-interval", self.flush,
        ]  # fmt: skip
        began = time.perf_counter()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "pluginmgr", "serve", *args],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.procs.append(self.process)
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/health", timeout=1).status_code == 200:
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
        query = {"db": db, "q": "SELECT count(*) AS n FROM cpu"}
        answer = httpx.get(
            f"{self.url}/api/v3/query_sql", params=query, headers=self.headers, timeout=300
        )
        answer.raise_for_status()
        return int(answer.json()[0]["n"])


def _write_all(
    url: str,
    headers: dict[str, str],
    starts: list[int],
    threads: int,
    *,
    gzipped: bool = False,
    precision: str = "ns",  # make_batch's stamps are ns; `auto` would read the first as seconds
) -> float:
    """POST one 10k-line batch per start from ``threads`` clients; returns elapsed seconds.

    ``gzipped`` sends the bodies gzip-compressed (compressed before the clock starts, so the
    time is the server's: transfer, inflating and writing).
    """
    path = f"/api/v3/write_lp?db=bench&precision={precision}"
    bodies = [make_batch(s).encode() for s in starts]
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
                    answer = client.post(path, content=body)
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


def bench_writes(args: argparse.Namespace, procs: list[subprocess.Popen[bytes]]) -> list[Row]:
    rows = []
    for flush, batches, runs in (("1s", args.slow_batches, 1), ("10ms", args.batches, args.runs)):
        rates: dict[bool, float] = {}
        for with_trigger in (False, True):
            with tempfile.TemporaryDirectory() as tmp:
                server = ServerProcess(Path(tmp), flush, procs)
                server.start()
                try:
                    if with_trigger:
                        body = trigger_body("noop", "noop.py", "all_tables", db="bench")
                        with httpx.Client(base_url=server.url, headers=server.headers) as http:
                            db = http.post("/api/v3/configure/database", json={"db": "bench"})
                            db.raise_for_status()
                            http.post(TRIGGER, json=body).raise_for_status()
                    samples = []
                    for run in range(runs):
                        starts = [(run * batches + b) * BATCH for b in range(batches)]
                        elapsed = _write_all(server.url, server.headers, starts, args.threads)
                        samples.append(batches * BATCH / elapsed)
                    assert server.count() == runs * batches * BATCH
                finally:
                    server.stop()
            rates[with_trigger] = statistics.median(samples)
        label = f"`write_lp`, 10k-line batches, {args.threads} clients, flush {flush}"
        detail = f"{batches} batches x {runs} run(s), median"
        rows.append(Row(f"{label}, no trigger (lines/s)", f"{rates[False]:,.0f}", notes=detail))
        ratio = rates[True] / rates[False]
        rows.append(
            Row(
                f"{label}, no-op `all_tables` trigger (lines/s)",
                f"{rates[True]:,.0f}",
                notes=f"ratio to no trigger {ratio:.2f}",
            )
        )
    return rows


def bench_gzip(args: argparse.Namespace, procs: list[subprocess.Popen[bytes]]) -> list[Row]:
    """gzip'd against plain 10k-line writes on one server, runs interleaved so drift hits both."""
    batches = args.gzip_batches
    rates: dict[bool, list[float]] = {False: [], True: []}
    with tempfile.TemporaryDirectory() as tmp:
        server = ServerProcess(Path(tmp), "10ms", procs)
        server.start()
        try:
            # warm-up (the table exists, connections are made); ns: every row is distinct
            _write_all(server.url, server.headers, [0], 1, precision="ns")
            offset = BATCH
            for _ in range(args.runs):
                for gzipped in (False, True):
                    starts = [offset + b * BATCH for b in range(batches)]
                    offset += batches * BATCH
                    elapsed = _write_all(
                        server.url,
                        server.headers,
                        starts,
                        args.threads,
                        gzipped=gzipped,
                        precision="ns",
                    )
                    rates[gzipped].append(batches * BATCH / elapsed)
            assert server.count() == offset
        finally:
            server.stop()
    plain, packed = (statistics.median(rates[flag]) for flag in (False, True))
    raw = len(make_batch(0).encode())
    squeezed = len(gzip.compress(make_batch(0).encode()))
    ratio = packed / plain
    verdict = "PASS" if ratio >= 0.9 else "FAIL"
    label = f"`write_lp`, 10k-line batches, {args.threads} clients, flush 10ms"
    shape = f"{batches} batches x {args.runs} interleaved runs, one server, median"
    return [
        Row(f"{label}, plain bodies (lines/s)", f"{plain:,.0f}", notes=f"{shape}; {raw:,} B"),
        Row(
            f"{label}, gzip'd bodies (lines/s)",
            f"{packed:,.0f}",
            notes=f"{squeezed:,} B each; gzip/plain {ratio:.2f}: target >= 0.9 {verdict}",
        ),
    ]


# -- request trigger vs a bare route, in-process -------------------------------------------------


@contextmanager
def _live_app(tmp: Path) -> Iterator[str]:
    """``create_app`` plus a bare ``/bare`` route on one uvicorn in a thread; yields the URL."""
    import uvicorn
    from starlette.requests import Request
    from starlette.responses import PlainTextResponse

    from pluginmgr.server import create_app

    plugin_dir = tmp / "plugins"
    plugin_dir.mkdir()
    (plugin_dir / "ping.py").write_text(PING, encoding="utf-8")
    # no auth and no request time limit: the bare route has neither
    state, close = build_state(tmp, plugin_dir, request_timeout=None)

    async def bare(request: Request) -> PlainTextResponse:
        return PlainTextResponse("ok")

    app = create_app(state)
    app.router.add_route("/bare", bare, methods=["GET"])
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while not server.started:
            if time.monotonic() > deadline or not thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.01)
        port = server.servers[0].sockets[0].getsockname()[1]
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        close()


def _drive(url: str, path: str, total: int, threads: int) -> tuple[float, list[float]]:
    """GET ``path`` ``total`` times from ``threads`` clients: (requests/s, latencies in ms)."""
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
                    if answer.status_code != 200 or answer.text.strip('"') != "ok":
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


def bench_requests(args: argparse.Namespace) -> list[Row]:
    paths = {"bare": "/bare", "trigger": "/api/v3/engine/ping"}
    rates: dict[str, list[float]] = {name: [] for name in paths}
    lats: dict[str, list[float]] = {name: [] for name in paths}
    with tempfile.TemporaryDirectory() as tmp, _live_app(Path(tmp)) as url:
        with httpx.Client(base_url=url, timeout=30) as http:
            http.post("/api/v3/configure/database", json={"db": "bench"}).raise_for_status()
            body = trigger_body("ping", "ping.py", "request:ping", db="bench")
            http.post(TRIGGER, json=body).raise_for_status()
        for path in paths.values():  # warm-up: connections, the plugin's first load
            _drive(url, path, 200, args.clients)
        for _ in range(args.runs):
            for name, path in paths.items():  # interleaved, so drift hits both alike
                rate, latencies = _drive(url, path, args.requests, args.clients)
                rates[name].append(rate)
                lats[name].extend(latencies)
    rps = {name: statistics.median(values) for name, values in rates.items()}
    ratio = rps["trigger"] / rps["bare"]
    verdict = "PASS" if ratio >= 0.7 else "FAIL"
    shape = f"{args.requests} GETs x {args.runs} runs, {args.clients} client threads, median"
    return [
        Row(
            "bare Starlette route returning `ok`, same app + uvicorn (requests/s; latency ms)",
            f"{rps['bare']:,.0f}",
            f"{percentile(lats['bare'], 0.5):.2f}",
            f"{percentile(lats['bare'], 0.99):.2f}",
            shape,
        ),
        Row(
            "`request:ping` trigger returning `ok` (requests/s; latency ms)",
            f"{rps['trigger']:,.0f}",
            f"{percentile(lats['trigger'], 0.5):.2f}",
            f"{percentile(lats['trigger'], 0.99):.2f}",
            f"ratio trigger/bare {ratio:.2f}: target >= 0.7 {verdict}",
        ),
    ]


# -- recovery ------------------------------------------------------------------------------------


def _dir_report(store_dir: Path) -> str:
    wal = list((store_dir / "wal").glob("*.wal"))
    snaps = [p for p in (store_dir / "snapshots").iterdir() if p.is_dir()]
    snap_bytes = sum(f.stat().st_size for s in snaps for f in s.rglob("*") if f.is_file())
    wal_bytes = sum(p.stat().st_size for p in wal)
    return (
        f"before restart: {len(snaps)} snapshot(s) {snap_bytes / 1e6:.1f} MB Parquet, "
        f"{len(wal)} WAL segment(s) {wal_bytes / 1e6:.1f} MB to replay"
    )


def bench_recovery(args: argparse.Namespace, procs: list[subprocess.Popen[bytes]]) -> list[Row]:
    total = args.recovery_batches * BATCH
    with tempfile.TemporaryDirectory() as tmp:
        server = ServerProcess(Path(tmp), "10ms", procs)
        server.start()
        try:
            starts = [b * BATCH for b in range(args.recovery_batches)]
            elapsed = _write_all(server.url, server.headers, starts, args.threads)
            assert server.process is not None
            server.process.send_signal(signal.SIGKILL)
            server.process.wait(timeout=30)
            report = _dir_report(server.data_dir / "store")
            healthy = server.start()
            began = time.perf_counter()
            counted = server.count()
            to_count = healthy + (time.perf_counter() - began)
            if counted != total:
                raise RuntimeError(f"recovered {counted} rows, expected {total}")
        finally:
            server.stop(signal.SIGKILL)
    rows = [
        Row(
            f"`serve` restart after `kill -9`, {total:,} rows: process start -> `/health` (s)",
            f"{healthy:.2f}",
            notes=f"{report}; the rows were written at {total / elapsed:,.0f} lines/s",
        ),
        Row(
            f"... process start -> `SELECT count(*)` = {total:,} (s)",
            f"{to_count:.2f}",
            notes="health answers only after replay: the store recovers before uvicorn listens",
        ),
    ]
    rows.append(_wal_only(args))
    return rows


def _wal_only(args: argparse.Namespace) -> Row:
    from engine_runtime import DurableStore

    total = args.recovery_batches * BATCH
    with tempfile.TemporaryDirectory() as tmp:
        store_dir = Path(tmp) / "store"
        store = DurableStore(
            store_dir, flush_interval=0.01, snapshot_every=10**9, snapshot_interval=10**9
        )
        for b in range(args.recovery_batches):
            store.write_lp("bench", make_batch(b * BATCH))
        store._abandon()  # the store's crash simulation
        report = _dir_report(store_dir)
        began = time.perf_counter()
        reopened = DurableStore(store_dir, snapshot_on_close=False)
        opened = time.perf_counter() - began
        counted = int(reopened.query("bench", "SELECT count(*) AS n FROM cpu")[0]["n"])
        to_count = time.perf_counter() - began
        reopened.close()
    if counted != total:
        raise RuntimeError(f"WAL replay recovered {counted} rows, expected {total}")
    return Row(
        f"`DurableStore` reopen, all {total:,} rows in the WAL (no snapshot): open / + count (s)",
        f"{opened:.2f} / {to_count:.2f}",
        notes=f"in-process, no server; {report}",
    )


# -- Flight vs query_sql JSON ------------------------------------------------------------------


def _write_ns(server: ServerProcess, batches: int) -> None:
    """``batches`` 10k-line batches with nanosecond precision (``auto`` would read the first
    small timestamps as seconds, and some rows would collide)."""
    with httpx.Client(base_url=server.url, headers=server.headers, timeout=300) as client:
        for b in range(batches):
            body = make_batch(b * BATCH).encode()
            answer = client.post("/api/v3/write_lp?db=bench&precision=ns", content=body)
            if answer.status_code != 204:
                raise RuntimeError(f"write failed: {answer.status_code} {answer.text}")


def _query_json(server: ServerProcess, sql: str) -> tuple[float, int, int]:
    """``GET /api/v3/query_sql`` as JSON, parsed: (seconds, rows, body bytes)."""
    began = time.perf_counter()
    answer = httpx.get(
        f"{server.url}/api/v3/query_sql",
        params={"db": "bench", "q": sql, "format": "json"},
        headers=server.headers,
        timeout=600,
    )
    answer.raise_for_status()
    rows = len(answer.json())
    return time.perf_counter() - began, rows, len(answer.content)


def _query_flight(server: ServerProcess, sql: str) -> tuple[float, int, int]:
    """The same query through the Python v3 client (Arrow Flight, one port): (seconds, rows,
    Arrow bytes received)."""
    from influxdb_client_3 import InfluxDBClient3

    with InfluxDBClient3(host=server.url, token=server.token, database="bench") as client:
        client.query("SELECT 1")  # the gRPC connection, outside the timing
        began = time.perf_counter()
        table = client.query(sql)
        elapsed = time.perf_counter() - began
    return elapsed, table.num_rows, table.nbytes


def bench_flight(args: argparse.Namespace, procs: list[subprocess.Popen[bytes]]) -> list[Row]:
    total = args.flight_batches * BATCH
    sql = "SELECT * FROM cpu"
    with tempfile.TemporaryDirectory() as tmp:
        server = ServerProcess(Path(tmp), "10ms", procs)
        server.start()
        try:
            _write_ns(server, args.flight_batches)
            flight_s, flight_rows, arrow_bytes = _query_flight(server, sql)
            json_s, json_rows, json_bytes = _query_json(server, sql)
        finally:
            server.stop()
    if flight_rows != total or json_rows != total:
        raise RuntimeError(f"read {flight_rows} (Flight) / {json_rows} (JSON) of {total} rows")
    ratio = json_s / flight_s
    verdict = "PASS" if ratio >= 5 else "FAIL"
    shape = f"`{sql}`, {total:,} rows (2 tags, 3 fields, time), one run each, same server"
    return [
        Row(
            "Flight `DoGet` via `InfluxDBClient3.query` -> `pyarrow.Table` (s)",
            f"{flight_s:.2f}",
            notes=f"{shape}; {arrow_bytes / 1e6:.0f} MB of Arrow",
        ),
        Row(
            "`/api/v3/query_sql?format=json`, body parsed with `json` (s)",
            f"{json_s:.2f}",
            notes=f"{json_bytes / 1e6:.0f} MB of JSON; JSON/Flight {ratio:.1f}x: target >= 5x "
            f"{verdict}",
        ),
    ]


# -- main ----------------------------------------------------------------------------------------


def _kill_all(procs: list[subprocess.Popen[bytes]]) -> None:
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=4, help="write client threads")
    parser.add_argument("--batches", type=int, default=40, help="10k batches per run, 10ms flush")
    parser.add_argument("--slow-batches", type=int, default=24, help="10k batches at 1s flush")
    parser.add_argument("--runs", type=int, default=3, help="runs per measurement (median)")
    parser.add_argument("--requests", type=int, default=2000, help="GETs per request run")
    parser.add_argument("--clients", type=int, default=4, help="request client threads")
    parser.add_argument("--recovery-batches", type=int, default=100, help="10k batches to recover")
    parser.add_argument("--flight-batches", type=int, default=100, help="10k batches to query")
    parser.add_argument("--gzip-batches", type=int, default=40, help="10k batches per gzip run")
    parser.add_argument(
        "--only",
        choices=("writes", "gzip", "requests", "recovery", "flight"),
        action="append",
        help="subset",
    )
    args = parser.parse_args(argv)
    only = set(args.only or ("writes", "gzip", "requests", "recovery", "flight"))
    procs: list[subprocess.Popen[bytes]] = []
    rows: list[Row] = []
    steps: list[tuple[str, Callable[[], list[Row]]]] = [
        ("writes", lambda: bench_writes(args, procs)),
        ("gzip", lambda: bench_gzip(args, procs)),
        ("requests", lambda: bench_requests(args)),
        ("recovery", lambda: bench_recovery(args, procs)),
        ("flight", lambda: bench_flight(args, procs)),
    ]
    with ExitStack() as stack:
        stack.callback(_kill_all, procs)
        for name, step in steps:
            if name in only:
                print(f"running {name} ...", file=sys.stderr, flush=True)
                rows.extend(step())
    print("| Measurement | Result | p50 | p99 | Notes |")
    print("|---|---:|---:|---:|---|")
    for row in rows:
        print(f"| {row.name} | {row.result} | {row.p50} | {row.p99} | {row.notes} |")
    print(f"\n(Python {sys.version.split()[0]}, {os.cpu_count()} CPUs)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
