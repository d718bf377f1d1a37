"""Benchmark the store as it grows: a real ``pluginmgr serve`` at its default settings, written
to by agents until 1M, 5M and 20M rows, measured at each size; prints a markdown table and a
PASS/FAIL verdict per goal.

Run: ``.venv/bin/python bench/growth.py [--sizes 1,5,20] [--quick] [--threads 4] [--dir DIR]``.

**Writes.** ``--threads`` clients post 10k-line agent batches (`make_agent_batch`: five
measurements of 2,000 hosts, every series of a batch at the batch's one timestamp, 10 s after
the previous batch's) through ``/api/v3/write_lp?db=bench&precision=ns``, in time order, to a
server started with ``--wal-flush-interval 1s`` and no other store option. A segment's bodies
are made before its clock starts, so the rate is the server's (and the clients').

**At each size**, after the segment's writes:

* *first query after the segment*: the recent-window query, timed once right after the
  segment's writes (none of which was queried: the query pays for the whole backlog).
* *first query after a write*: then one batch written and the recent-window query timed
  once; three times, the max. These batches are the segment's last, so the size is exact.
* *recent window*: ``SELECT host, avg(usage_user) FROM cpu WHERE time >= <latest - 5 min>
  GROUP BY host`` (2,000 groups over 31 batches' rows), median of 5.
* *full aggregate*: ``SELECT count(*), avg(usage_user) FROM cpu``, median of 3; its count
  must be the rows written to ``cpu``.
* *bytes written / kept*: the server process's ``write_bytes`` (``/proc/<pid>/io``, the whole
  process's life: each segment runs on a new process after the restart) minus what its WAL
  records took (each posted body as the WAL frames it, `encode_record`),
  summed over the run, divided by the size of ``<store>/files``; and for the segment alone,
  divided by what ``<store>/files`` grew.
* *RSS*: the server's ``VmRSS``; then ``kill -9``, a restart timed from the process start to
  a ``SELECT count(*) FROM cpu`` equal to the rows written, and the RSS right after it. The
  next segment writes into the restarted server.
"""

from __future__ import annotations

import argparse
import math
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

import httpx
from _common import (
    AGENT_MEASUREMENTS,
    BATCH,
    BenchError,
    machine_line,
    make_agent_batch,
    percentile,
)
from _serve import ServerProcess, write_all

from engine_runtime.store._wal import WalRecord, encode_record

__all__ = ["main"]

#: rows of ``cpu`` in one agent batch
CPU_PER_BATCH: Final = BATCH // len(AGENT_MEASUREMENTS)
#: the first batch's timestamp and the step between batches (as `make_agent_batch` writes them)
EPOCH_NS: Final = 1_700_000_000_000_000_000
STEP_NS: Final = 10_000_000_000
#: batches written one at a time, each followed by the first query after it
PROBES: Final = 3
#: disk estimate: Parquet bytes per row kept, plus the WAL before a persist deletes it
DISK_PER_ROW: Final = 40
WAL_ALLOWANCE: Final = 1024**3
MIB: Final = 1024 * 1024
FULL_AGGREGATE: Final = "SELECT count(*) AS n, avg(usage_user) AS u FROM cpu"


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """What one size measured."""

    rows: int
    rate: float  # lines/s over the segment
    p99_ms: float
    recent_ms: float
    full_ms: float
    first_ms: float
    backlog_ms: float  # the first query after the segment's writes, none queried
    ratio_run: float  # non-WAL bytes written / bytes kept, the run so far
    ratio_segment: float  # the same for this segment (written / files' growth)
    files_bytes: int
    wal_bytes: int  # in ``<store>/wal`` at the kill: what the restart replays
    rss: int
    restart_s: float
    rss_restarted: int


class Growth:
    """One server, the rows written to it, and what its processes wrote to disk."""

    def __init__(self, server: ServerProcess, threads: int) -> None:
        self.server = server
        self.threads = threads
        self.batches = 0  # written so far (each batch ``index`` once, in order)
        self.wal_bytes = 0  # WAL bytes of what this server process was sent
        self.non_wal = 0  # bytes written beyond the WAL by the processes before this one
        self.files_before = 0  # the size of the files when this process started
        self.client = httpx.Client(base_url=server.url, timeout=300)

    @property
    def pid(self) -> int:
        if self.server.process is None:
            raise BenchError("the server is not running")
        return self.server.process.pid

    def batch(self, index: int) -> str:
        """`make_agent_batch`, counted as the WAL will frame it."""
        text = make_agent_batch(index)
        record = WalRecord("write", "bench", text, "ns", True, EPOCH_NS)
        self.wal_bytes += len(encode_record(record))
        return text

    def write(self, count: int, latencies: list[float] | None = None) -> float:
        """Write the next ``count`` batches in time order; returns the seconds taken."""
        starts = list(range(self.batches, self.batches + count))
        threads = min(self.threads, count)
        # write_all sends the last start first: reversed, the oldest batch goes first
        elapsed = write_all(
            self.server.url, {}, starts[::-1], threads, batch=self.batch, latencies=latencies
        )
        self.batches += count
        return elapsed

    def sql(self, query: str) -> tuple[float, list[dict[str, object]]]:
        """Run ``query``; (milliseconds, rows)."""
        began = time.perf_counter()
        answer = self.client.get("/api/v3/query_sql", params={"db": "bench", "q": query})
        elapsed = (time.perf_counter() - began) * 1000
        if answer.status_code != 200:
            raise BenchError(f"query failed ({answer.status_code}): {query}: {answer.text}")
        rows: list[dict[str, object]] = answer.json()
        return elapsed, rows

    def recent(self) -> float:
        """The recent-window query over the last 5 minutes written; milliseconds."""
        latest = EPOCH_NS + (self.batches - 1) * STEP_NS
        since = datetime.fromtimestamp((latest - 300 * 10**9) // 10**9, UTC)
        query = (
            "SELECT host, avg(usage_user) AS u FROM cpu "  # noqa: S608 (a literal time)
            f"WHERE time >= '{since:%Y-%m-%dT%H:%M:%SZ}' GROUP BY host"
        )
        elapsed, rows = self.sql(query)
        hosts = min(self.batches, 1) * CPU_PER_BATCH
        if len(rows) != hosts:
            raise BenchError(f"the recent-window query found {len(rows)} hosts, not {hosts}")
        return elapsed

    def full(self) -> float:
        """The full aggregate; milliseconds. Raises unless it counts every ``cpu`` row."""
        elapsed, rows = self.sql(FULL_AGGREGATE)
        self.check_count(int(str(rows[0]["n"])), "the full aggregate")
        return elapsed

    def check_count(self, found: int, what: str) -> None:
        expected = self.batches * CPU_PER_BATCH
        if found != expected:
            raise BenchError(f"{what} counted {found:,} cpu rows, not the {expected:,} written")

    def restart(self) -> float:
        """``kill -9`` the server, start it again; seconds to a complete ``count(*)``."""
        self.server.stop(signal.SIGKILL)
        self.wal_bytes = 0
        began = time.perf_counter()
        self.server.start()
        deadline = time.monotonic() + 300
        found = -1
        while time.monotonic() < deadline:
            try:
                found = self.server.count()
            except httpx.HTTPError:
                time.sleep(0.005)
                continue
            if found == self.batches * CPU_PER_BATCH:
                return time.perf_counter() - began
            time.sleep(0.005)
        self.check_count(found, "the restarted server")
        raise BenchError("the restarted server did not answer SELECT count(*) within 300 s")

    def written_beyond_wal(self) -> int:
        """Bytes this server process wrote to disk, less its WAL records."""
        return proc_value(self.pid, "io", "write_bytes") - self.wal_bytes


def proc_value(pid: int, name: str, key: str) -> int:
    """A number from ``/proc/<pid>/<name>`` (``status`` values in kB are returned in bytes)."""
    path = Path(f"/proc/{pid}/{name}")
    try:
        text = path.read_text(encoding="ascii")
    except OSError as exc:
        raise BenchError(f"cannot read {path}: {exc}") from exc
    for line in text.splitlines():
        label, _, value = line.partition(":")
        if label == key:
            number, _, unit = value.strip().partition(" ")
            return int(number) * (1024 if unit == "kB" else 1)
    raise BenchError(f"{path} has no {key}")


def dir_size(path: Path) -> int:
    """Bytes in the files under ``path``; raises if it is missing."""
    if not path.is_dir():
        raise BenchError(f"{path} is missing: is the server's store somewhere else now?")
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def measure(growth: Growth, rows: int) -> Checkpoint:
    """Write up to ``rows``, measure, then crash and restart the server."""
    target = rows // BATCH
    latencies: list[float] = []
    segment = target - growth.batches - PROBES
    elapsed = growth.write(segment, latencies)
    print(f"  {rows:,} rows: writes done, measuring", file=sys.stderr, flush=True)
    backlog = growth.recent()
    firsts = []
    for _ in range(PROBES):
        growth.write(1)
        firsts.append(growth.recent())
    recent = statistics.median(growth.recent() for _ in range(5))
    full = statistics.median(growth.full() for _ in range(3))
    store = growth.server.store_dir
    files = dir_size(store / "files")
    wal = dir_size(store / "wal")
    beyond = growth.written_beyond_wal()
    grown = files - growth.files_before
    growth.non_wal += beyond
    growth.files_before = files
    rss = proc_value(growth.pid, "status", "VmRSS")
    restart = growth.restart()
    return Checkpoint(
        rows=rows,
        rate=segment * BATCH / elapsed,
        p99_ms=percentile(latencies, 0.99) * 1000,
        recent_ms=recent,
        full_ms=full,
        first_ms=max(firsts),
        backlog_ms=backlog,
        ratio_run=growth.non_wal / files if files else float("nan"),
        ratio_segment=beyond / grown if grown > 0 else float("nan"),
        files_bytes=files,
        wal_bytes=wal,
        rss=rss,
        restart_s=restart,
        rss_restarted=proc_value(growth.pid, "status", "VmRSS"),
    )


def _ratio(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{value:.2f}"


def _row(cp: Checkpoint) -> str:
    cells = [
        f"{cp.rows / 1e6:g}M",
        f"{cp.rate:,.0f}",
        f"{cp.p99_ms:,.0f}",
        f"{cp.recent_ms:,.0f}",
        f"{cp.full_ms:,.0f}",
        f"{cp.first_ms:,.1f}",
        f"{cp.backlog_ms:,.0f}",
        f"{_ratio(cp.ratio_run)} ({_ratio(cp.ratio_segment)})",
        f"{cp.files_bytes / MIB:,.1f}",
        f"{cp.wal_bytes / MIB:,.0f}",
        f"{cp.rss / MIB:,.0f}",
        f"{cp.restart_s:.2f}",
        f"{cp.rss_restarted / MIB:,.0f}",
    ]
    return "| " + " | ".join(cells) + " |"


HEADER: Final = (
    "| Rows | Write rate (lines/s) | Write p99 (ms) | Recent window (ms) | Full aggregate (ms) "
    "| First query after a write (ms) | First query after the segment (ms) "
    "| Written / kept beyond the WAL: run (segment) "
    "| Files (MiB) | WAL at the kill (MiB) | RSS (MiB) "
    "| Crash restart to first answer (s) | RSS after restart (MiB) |\n"
    "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
)


def verdicts(points: list[Checkpoint]) -> list[str]:
    """One PASS/FAIL line per goal, from the numbers."""
    first, last = points[0], points[-1]
    base = f"{first.rows / 1e6:g}M"

    def line(ok: bool, goal: str, seen: str) -> str:
        return f"{'PASS' if ok else 'FAIL'}: {goal} ({seen})"

    ratio = last.rate / first.rate
    worst_first = max(p.first_ms for p in points)
    worst_backlog = max(p.backlog_ms for p in points)
    kept = _ratio(last.ratio_run) + ("x" if last.files_bytes else ": no file kept yet")
    rss_ratio = max(p.rss_restarted for p in points) / first.rss_restarted
    worst_restart = max(p.restart_s for p in points)
    return [
        line(
            ratio >= 0.8,
            f"write rate at {last.rows / 1e6:g}M >= 0.8 x the rate at {base}",
            f"{last.rate:,.0f} / {first.rate:,.0f} = {ratio:.2f}",
        ),
        line(worst_first < 100, "first query after a write < 100 ms at every size",
             f"max {worst_first:,.1f} ms"),
        line(last.ratio_run <= 2, "bytes written <= 2x kept beyond the WAL",
             f"{kept} over the run"),
        line(rss_ratio <= 1.5, f"RSS after a restart within 1.5x of the {base} one",
             f"max {rss_ratio:.2f}x"),
        line(worst_restart < 2, "crash restart to first answer < 2 s at every size",
             f"max {worst_restart:.2f} s"),
        line(worst_backlog < 100, "stricter: the first query after a segment of unqueried "
             "writes < 100 ms at every size", f"max {worst_backlog:,.1f} ms"),
    ]  # fmt: skip


def check_disk(root: Path, rows: int) -> None:
    """Refuse a run whose store would not fit on ``root``'s disk."""
    free = shutil.disk_usage(root).free
    need = rows * DISK_PER_ROW + WAL_ALLOWANCE
    if need > free:
        msg = (
            f"{rows:,} rows need about {need / 1e9:.1f} GB on {root} ({DISK_PER_ROW} B/row and "
            f"{WAL_ALLOWANCE / 1e9:.1f} GB of WAL), {free / 1e9:.1f} GB is free: pass smaller "
            "--sizes or another --dir"
        )
        raise BenchError(msg)


def parse_sizes(text: str) -> list[int]:
    """``1,5,20`` (millions) -> rows, each a whole number of batches, rising."""
    rows = [round(float(part) * 1e6) for part in text.split(",")]
    minimum = (PROBES + 1) * BATCH
    if any(r % BATCH or r < minimum for r in rows) or rows != sorted(set(rows)):
        msg = f"--sizes {text}: use rising sizes in millions, multiples of {BATCH:,} rows"
        raise argparse.ArgumentTypeError(f"{msg}, at least {minimum:,}")
    return rows


def _kill_all(procs: list[subprocess.Popen[bytes]]) -> None:
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=parse_sizes, default="1,5,20", help="millions of rows")
    parser.add_argument("--quick", action="store_true", help="sizes 0.2,1: a trial run")
    parser.add_argument("--threads", type=int, default=4, help="write client threads")
    parser.add_argument("--dir", type=Path, default=None, help="where the store goes (a disk)")
    args = parser.parse_args(argv)
    sizes: list[int] = parse_sizes("0.2,1") if args.quick else args.sizes
    procs: list[subprocess.Popen[bytes]] = []
    load = os.getloadavg()[0]
    points: list[Checkpoint] = []
    with ExitStack() as stack:
        root = Path(stack.enter_context(tempfile.TemporaryDirectory(dir=args.dir)))
        check_disk(root, sizes[-1])
        stack.callback(_kill_all, procs)
        server = ServerProcess(root, "1s", procs, auth=False)
        server.start()
        growth = Growth(server, args.threads)
        stack.callback(growth.client.close)
        print(HEADER, flush=True)
        for rows in sizes:
            points.append(measure(growth, rows))
            print(_row(points[-1]), flush=True)
    print()
    for verdict in verdicts(points):
        print(verdict)
    print(f"\n{machine_line(load)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
