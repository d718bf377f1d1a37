"""Benchmark ``pluginmgr serve``: writes and requests with plugins in the plugin host, a CPU-bound
plugin's effect on the server, gzip, crash recovery, Flight.

Prints a markdown table. Run: ``.venv/bin/python bench/server.py [--only NAME] ...``.

* **Write throughput**: lines/s through ``POST /api/v3/write_lp`` on a real ``pluginmgr serve``
  process (``--wal-flush-interval 10ms``), 10k-line batches from ``--threads`` ``httpx.Client``
  threads, with a no-op ``all_tables`` trigger and with none: one server, the trigger enabled
  and disabled between interleaved runs; a trigger run ends when the plugin has had every batch.
* **gzip**: the same 10k-line writes with gzip'd bodies (``Content-Encoding: gzip``, as the v2
  and v3 clients send them) against plain ones, on one server, runs interleaved.
* **Request triggers**: requests/s and client-side p50/p99 latency of a ``request:ping`` trigger
  returning ``"ok"`` next to ``GET /health`` (the app's barest route: plain-text ``OK``, the
  same middleware) on one ``pluginmgr serve --without-auth``, clients in this process.
* **CPU-bound plugin**: ``/health`` every 10 ms and a 100-line write every 20 ms, their latency
  while a schedule plugin spins in pure Python back to back, next to the same server idle;
  phases interleaved. Then the same on a server whose engine calls plugins in-process
  (``_in_process.py``), for comparison.
* **Recovery**: 1,000,000 rows written to a server at 10ms flush, ``kill -9``, then the restart
  timed to ``/health`` and to ``SELECT count(*)`` = 1,000,000; plus the store alone with every
  row in the WAL (persists disabled), abandoned like a crash and reopened.
* **InfluxQL next to InfluxDB 1.x** (``--only influxql``, when ``influxd`` is installed): three
  Grafana-shaped aggregates over 200,000 rows written to both servers, through the same v1
  ``/query``, runs alternating; the latency ratio is reported, not judged.
* **Flight vs JSON**: ``SELECT *`` of 1,000,000 rows from a real ``pluginmgr serve``, once
  through the Python v3 client (Arrow Flight on the HTTP port) into a ``pyarrow.Table``, once
  as ``/api/v3/query_sql`` JSON parsed with ``json``, once through ADBC's Flight SQL driver
  (a prepared statement, ``fetch_arrow_table``); one run each, and the ratios.
"""

from __future__ import annotations

import argparse
import gzip
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path

import httpx
from _common import BATCH, machine_line, make_batch, percentile

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # for tests.server
from _influxql_bench import bench_influxql
from _serve import Row, ServerProcess, drive, write_all

from tests.server.server_helpers import trigger_body

__all__ = ["main"]

PING = """\
def process_request(influxdb3_local, query_parameters, request_headers, request_body, args=None):
    return "ok"
"""
SPIN = """\
import time

def process_scheduled_call(influxdb3_local, call_time, args=None):
    end = time.monotonic() + float(args["seconds"])
    spins = 0
    while time.monotonic() < end:
        spins += 1
"""
TRIGGER = "/api/v3/configure/processing_engine_trigger"


def _invocations(server: ServerProcess, trigger: str) -> int:
    sql = "SELECT trigger_name, invocations FROM system.processing_engine_trigger_stats"
    answer = httpx.get(
        f"{server.url}/api/v3/query_sql",
        params={"db": "bench", "q": sql},
        headers=server.headers,
        timeout=60,
    )
    answer.raise_for_status()
    found = [row["invocations"] for row in answer.json() if row["trigger_name"] == trigger]
    return int(found[0]) if found else 0


def _set_trigger(server: ServerProcess, name: str, *, enabled: bool) -> None:
    action = "enable" if enabled else "disable"
    server.post(f"{TRIGGER}/{action}", {"db": "bench", "trigger_name": name})


def _write_rates(
    args: argparse.Namespace, procs: list[subprocess.Popen[bytes]], *, in_process: bool
) -> dict[bool, float]:
    """lines/s without (False) and with (True) the no-op trigger, medians, on one server."""
    batches = args.batches
    rates: dict[bool, list[float]] = {False: [], True: []}
    with tempfile.TemporaryDirectory() as tmp:
        server = ServerProcess(Path(tmp), "10ms", procs, in_process=in_process)
        server.start()
        try:
            server.post("/api/v3/configure/database", {"db": "bench"})
            server.post(TRIGGER, trigger_body("noop", "noop.py", "all_tables", db="bench"))
            write_all(server.url, server.headers, [0], 1)  # the host, the table, connections
            offset, runs_with_trigger = BATCH, 1
            for run in range(args.write_runs):
                for with_trigger in (True, False) if run % 2 else (False, True):
                    _set_trigger(server, "noop", enabled=with_trigger)
                    starts = [offset + b * BATCH for b in range(batches)]
                    offset += batches * BATCH
                    began = time.perf_counter()
                    write_all(server.url, server.headers, starts, args.threads)
                    if with_trigger:
                        runs_with_trigger += batches
                        while _invocations(server, "noop") < runs_with_trigger:
                            time.sleep(0.02)  # each look is a query the server runs
                    rates[with_trigger].append(batches * BATCH / (time.perf_counter() - began))
            assert server.count() == offset
        finally:
            server.stop()
    return {flag: statistics.median(values) for flag, values in rates.items()}


def bench_writes(args: argparse.Namespace, procs: list[subprocess.Popen[bytes]]) -> list[Row]:
    """Writes with a no-op ``all_tables`` trigger next to none, on one server: the trigger is
    enabled and disabled between runs (interleaved, so drift and the table's growth hit both),
    and a trigger run ends only when its plugin has had every batch (none is left queued to
    slow the next run down, nor dropped by the disable). Then the same on a server whose engine
    calls plugins in-process (``_in_process.py``), for comparison."""
    label = f"`write_lp`, 10k-line batches, {args.threads} clients, flush 10ms"
    shape = f"{args.batches} batches x {args.write_runs} interleaved runs, one server, median"
    rows = []
    for in_process in (False, True):
        rates = _write_rates(args, procs, in_process=in_process)
        ratio = rates[True] / rates[False]
        where = "in-process" if in_process else "in the plugin host"
        target = "" if in_process else f": target >= 0.9 {'PASS' if ratio >= 0.9 else 'FAIL'}"
        rows.append(Row(f"{label}, no trigger (lines/s)", f"{rates[False]:,.0f}", notes=shape))
        rows.append(
            Row(
                f"{label}, no-op `all_tables` trigger {where} (lines/s)",
                f"{rates[True]:,.0f}",
                notes=f"ratio to no trigger {ratio:.2f}{target}",
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
            write_all(server.url, server.headers, [0], 1, precision="ns")
            offset = BATCH
            for _ in range(args.runs):
                for gzipped in (False, True):
                    starts = [offset + b * BATCH for b in range(batches)]
                    offset += batches * BATCH
                    elapsed = write_all(
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


# -- request trigger vs a bare route; a CPU-bound plugin ------------------------------------------


def bench_requests(args: argparse.Namespace, procs: list[subprocess.Popen[bytes]]) -> list[Row]:
    """A ``request:ping`` trigger next to ``/health``, the app's barest route (no handler work
    but a plain-text ``OK``, the same middleware), on one ``pluginmgr serve`` without auth (so
    neither pays a token check), the clients in this process; runs interleaved."""
    paths = {"bare": ("/health", "OK"), "trigger": ("/api/v3/engine/ping", "ok")}
    rates: dict[str, list[float]] = {name: [] for name in paths}
    lats: dict[str, list[float]] = {name: [] for name in paths}
    with tempfile.TemporaryDirectory() as tmp:
        server = ServerProcess(Path(tmp), "10ms", procs, auth=False, plugins={"ping.py": PING})
        server.start()
        try:
            server.post("/api/v3/configure/database", {"db": "bench"})
            server.post(TRIGGER, trigger_body("ping", "ping.py", "request:ping", db="bench"))
            for path, expect in paths.values():  # warm-up: connections, the plugin's first load
                drive(server.url, path, 200, args.clients, expect=expect)
            for _ in range(args.runs):
                for name, (path, expect) in paths.items():  # interleaved: drift hits both
                    rate, latencies = drive(
                        server.url, path, args.requests, args.clients, expect=expect
                    )
                    rates[name].append(rate)
                    lats[name].extend(latencies)
        finally:
            server.stop()
    rps = {name: statistics.median(values) for name, values in rates.items()}
    ratio = rps["trigger"] / rps["bare"]
    verdict = "PASS" if ratio >= 0.6 else "FAIL"
    shape = f"{args.requests} GETs x {args.runs} runs, {args.clients} client threads, median"
    return [
        Row(
            "`GET /health` (plain-text `OK`), `pluginmgr serve` (requests/s; latency ms)",
            f"{rps['bare']:,.0f}",
            f"{percentile(lats['bare'], 0.5):.2f}",
            f"{percentile(lats['bare'], 0.99):.2f}",
            shape,
        ),
        Row(
            "`request:ping` trigger in the plugin host returning `ok` (requests/s; latency ms)",
            f"{rps['trigger']:,.0f}",
            f"{percentile(lats['trigger'], 0.5):.2f}",
            f"{percentile(lats['trigger'], 0.99):.2f}",
            f"ratio trigger/health {ratio:.2f}: target >= 0.6 {verdict}",
        ),
    ]


def _paced(
    url: str, every: float, seconds: float, send: Callable[[httpx.Client], int]
) -> list[float]:
    """Latencies (ms) of ``send`` started every ``every`` seconds for ``seconds``; each must
    answer 2xx."""
    latencies = []
    with httpx.Client(base_url=url, timeout=60) as client:
        end = time.monotonic() + seconds
        due = time.monotonic()
        while due < end:
            time.sleep(max(0.0, due - time.monotonic()))
            began = time.perf_counter()
            status = send(client)
            latencies.append((time.perf_counter() - began) * 1000)
            if not 200 <= status < 300:
                raise RuntimeError(f"answered {status}")
            due += every
    return latencies


def _probe(server: ServerProcess, seconds: float, offset: int) -> tuple[list[float], list[float]]:
    """``/health`` every 10 ms and a 100-line write every 20 ms, side by side, for ``seconds``:
    their latencies (ms)."""
    lines = iter(range(offset, offset + 10**9, 100))
    path = "/api/v3/write_lp?db=bench&precision=ns"

    def write(client: httpx.Client) -> int:
        body = make_batch(next(lines), 100)
        return client.post(path, content=body, headers=server.headers).status_code

    found: dict[str, list[float]] = {}

    def health() -> None:
        found["health"] = _paced(server.url, 0.01, seconds, lambda c: c.get("/health").status_code)

    thread = threading.Thread(target=health)
    thread.start()
    found["write"] = _paced(server.url, 0.02, seconds, write)
    thread.join()
    return found["health"], found["write"]


def _children_cpu(pid: int) -> float:
    """CPU seconds used so far by the child processes of ``pid`` (the plugin hosts)."""
    listed = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True, check=False)
    total = 0.0
    for child in listed.stdout.split():
        fields = Path(f"/proc/{child}/stat").read_text().rpartition(")")[2].split()
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


_Probes = dict[bool, tuple[list[float], list[float]]]


def _cpu_phases(
    args: argparse.Namespace, procs: list[subprocess.Popen[bytes]], *, in_process: bool
) -> tuple[_Probes, float]:
    """The probes' latencies, idle (False) and busy (True), and the CPU the plugin hosts used
    in the busy phases (cores; 0 in-process)."""
    lats: _Probes = {False: ([], []), True: ([], [])}
    load: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        server = ServerProcess(
            Path(tmp), "10ms", procs, auth=False, plugins={"spin.py": SPIN}, in_process=in_process
        )
        server.start()
        assert server.process is not None
        try:
            server.post("/api/v3/configure/database", {"db": "bench"})
            body = trigger_body(
                "spin", "spin.py", "every:1s", db="bench", disabled=True,
                trigger_arguments={"seconds": str(args.spin)},
            )  # fmt: skip
            server.post(TRIGGER, body)
            for phase in range(2 * args.cpu_rounds):
                busy = phase % 2 == 1
                _set_trigger(server, "spin", enabled=busy)
                time.sleep(1.5)  # the first tick, the host started: spinning
                used, began = _children_cpu(server.process.pid), time.monotonic()
                health, writes = _probe(server, args.cpu_seconds, phase * 10**7)
                if busy:
                    spent = _children_cpu(server.process.pid) - used
                    load.append(spent / (time.monotonic() - began))
                lats[busy][0].extend(health)
                lats[busy][1].extend(writes)
            _set_trigger(server, "spin", enabled=False)
        finally:
            server.stop()
    return lats, min(load)


def bench_cpu(args: argparse.Namespace, procs: list[subprocess.Popen[bytes]]) -> list[Row]:
    """``/health`` and write latency while a plugin spins in pure Python, next to the same
    server idle: an ``every:1s`` trigger whose run spins ``--spin`` seconds, so its runs follow
    each other (ticks meanwhile are coalesced); phases interleaved, the trigger disabled
    (its run interrupted) between them. Then the same with the plugin in the server's process
    (``_in_process.py``), which shares the server's interpreter lock."""
    rows = []
    for in_process in (False, True):
        lats, cores = _cpu_phases(args, procs, in_process=in_process)
        where = "in-process" if in_process else f"in the plugin host ({cores:.2f} cores)"
        for name, index in (("`GET /health`", 0), ("100-line `write_lp`", 1)):
            idle, busy = lats[False][index], lats[True][index]
            ratio = percentile(busy, 0.99) / percentile(idle, 0.99)
            verdict = "" if in_process else f": target <= 2 {'PASS' if ratio <= 2 else 'FAIL'}"
            for label, values, note in (
                ("idle engine", idle, f"{len(idle)} requests, paced"),
                (f"a plugin spinning {where}", busy, f"p99 busy/idle {ratio:.2f}{verdict}"),
            ):
                rows.append(
                    Row(
                        f"{name} latency, {label} (ms)",
                        "",
                        f"{percentile(values, 0.5):.2f}",
                        f"{percentile(values, 0.99):.2f}",
                        note,
                    )
                )
    return rows


# -- recovery ------------------------------------------------------------------------------------


def _dir_report(store_dir: Path) -> str:
    if not (store_dir / "wal").is_dir():  # a layout change must not pass for an empty store
        raise RuntimeError(f"no store at {store_dir}: where does serve keep it now?")
    wal = list((store_dir / "wal").glob("*.wal"))
    files = list((store_dir / "files").rglob("*.parquet"))
    file_bytes = sum(f.stat().st_size for f in files)
    wal_bytes = sum(p.stat().st_size for p in wal)
    return (
        f"before restart: {len(files)} persisted file(s) {file_bytes / 1e6:.1f} MB Parquet, "
        f"{len(wal)} WAL segment(s) {wal_bytes / 1e6:.1f} MB to replay"
    )


def bench_recovery(args: argparse.Namespace, procs: list[subprocess.Popen[bytes]]) -> list[Row]:
    total = args.recovery_batches * BATCH
    with tempfile.TemporaryDirectory() as tmp:
        server = ServerProcess(Path(tmp), "10ms", procs)
        server.start()
        try:
            starts = [b * BATCH for b in range(args.recovery_batches)]
            elapsed = write_all(server.url, server.headers, starts, args.threads)
            assert server.process is not None
            server.process.send_signal(signal.SIGKILL)
            server.process.wait(timeout=30)
            report = _dir_report(server.store_dir)
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
            store_dir, flush_interval=0.01, persist_every=10**9, persist_interval=10**9
        )
        for b in range(args.recovery_batches):
            store.write_lp("bench", make_batch(b * BATCH))
        store._abandon()  # the store's crash simulation
        report = _dir_report(store_dir)
        began = time.perf_counter()
        reopened = DurableStore(store_dir, persist_on_close=False)
        opened = time.perf_counter() - began
        counted = int(reopened.query("bench", "SELECT count(*) AS n FROM cpu")[0]["n"])
        to_count = time.perf_counter() - began
        reopened.close()
    if counted != total:
        raise RuntimeError(f"WAL replay recovered {counted} rows, expected {total}")
    return Row(
        f"`DurableStore` reopen, all {total:,} rows in the WAL (no persist): open / + count (s)",
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


def _query_flight_sql(server: ServerProcess, sql: str) -> tuple[float, int]:
    """The same query through ADBC's Flight SQL driver: (seconds, rows)."""
    import adbc_driver_flightsql.dbapi as flight_sql

    options = {
        "adbc.flight.sql.authorization_header": f"Bearer {server.token}",
        "adbc.flight.sql.rpc.call_header.database": "bench",
    }
    url = server.url.replace("http://", "grpc://")
    with flight_sql.connect(url, db_kwargs=options, autocommit=True) as conn:
        with conn.cursor() as cursor:
            cursor.execute("SELECT 1")  # the gRPC connection, outside the timing
            cursor.fetchall()
            began = time.perf_counter()
            cursor.execute(sql)
            table = cursor.fetch_arrow_table()
            elapsed = time.perf_counter() - began
    return elapsed, table.num_rows


def bench_flight(args: argparse.Namespace, procs: list[subprocess.Popen[bytes]]) -> list[Row]:
    total = args.flight_batches * BATCH
    sql = "SELECT * FROM cpu"
    with tempfile.TemporaryDirectory() as tmp:
        server = ServerProcess(Path(tmp), "10ms", procs)
        server.start()
        try:
            _write_ns(server, args.flight_batches)
            # Flight SQL right after Flight: the rows may leave the write buffer for Parquet
            # files in the background, which makes later reads slower, for every protocol
            flight_s, flight_rows, arrow_bytes = _query_flight(server, sql)
            sql_s, sql_rows = _query_flight_sql(server, sql)
            json_s, json_rows, json_bytes = _query_json(server, sql)
        finally:
            server.stop()
    if {flight_rows, json_rows, sql_rows} != {total}:
        message = f"read {flight_rows} (Flight) / {json_rows} (JSON) / {sql_rows} (Flight SQL)"
        raise RuntimeError(f"{message} of {total} rows")
    ratio = json_s / flight_s
    verdict = "PASS" if ratio >= 5 else "FAIL"
    sql_ratio = json_s / sql_s
    sql_verdict = "PASS" if sql_ratio >= 5 else "FAIL"
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
        Row(
            "Flight SQL via ADBC (prepared statement, `fetch_arrow_table`) (s)",
            f"{sql_s:.2f}",
            notes=f"JSON/Flight SQL {sql_ratio:.1f}x: target >= 5x {sql_verdict}",
        ),
    ]


# -- main ----------------------------------------------------------------------------------------


def _kill_all(procs: list[subprocess.Popen[bytes]]) -> None:
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)


STEPS = ("writes", "gzip", "requests", "cpu", "recovery", "flight", "influxql")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=4, help="write client threads")
    parser.add_argument("--batches", type=int, default=40, help="10k batches per run, 10ms flush")
    parser.add_argument("--runs", type=int, default=3, help="runs per measurement (median)")
    parser.add_argument("--write-runs", type=int, default=5, help="runs of each kind (writes)")
    parser.add_argument("--requests", type=int, default=2000, help="GETs per request run")
    parser.add_argument("--clients", type=int, default=4, help="request client threads")
    parser.add_argument("--recovery-batches", type=int, default=100, help="10k batches to recover")
    parser.add_argument("--flight-batches", type=int, default=100, help="10k batches to query")
    parser.add_argument("--gzip-batches", type=int, default=40, help="10k batches per gzip run")
    parser.add_argument("--influxql-batches", type=int, default=20, help="10k batches (InfluxQL)")
    parser.add_argument("--spin", type=float, default=3.0, help="seconds each CPU-bound run spins")
    parser.add_argument("--cpu-seconds", type=float, default=5.0, help="seconds per probe phase")
    parser.add_argument("--cpu-rounds", type=int, default=3, help="idle + busy phase pairs")
    parser.add_argument("--only", choices=STEPS, action="append", help="subset")
    args = parser.parse_args(argv)
    only = set(args.only or STEPS)
    procs: list[subprocess.Popen[bytes]] = []
    rows: list[Row] = []
    load = os.getloadavg()[0]
    steps: list[tuple[str, Callable[[], list[Row]]]] = [
        ("writes", lambda: bench_writes(args, procs)),
        ("gzip", lambda: bench_gzip(args, procs)),
        ("requests", lambda: bench_requests(args, procs)),
        ("cpu", lambda: bench_cpu(args, procs)),
        ("recovery", lambda: bench_recovery(args, procs)),
        ("flight", lambda: bench_flight(args, procs)),
        ("influxql", lambda: bench_influxql(args, procs)),
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
    print(f"\n{machine_line(load)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
