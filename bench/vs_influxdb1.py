"""Durable write throughput: ``pluginmgr serve`` at its default settings next to a real
InfluxDB 1.x (Debian's ``influxd``), the same agent-shaped batches over the v1 ``/write`` API.

Both acknowledge a write only once it is fsynced (InfluxDB's ``wal-fsync-delay = "0s"``, our
group commit). ``--threads`` writers post 10k-line batches in which every series shares the
batch's timestamp, as Telegraf writes them; each run writes new timestamps. Runs alternate
between the two servers and the table shows medians, the write latency percentiles and the
ratio. Both servers are checked to hold every row written.

Run: ``.venv/bin/python bench/vs_influxdb1.py [--batches N] [--threads N] [--runs N]``.
Needs ``influxd`` (``apt-get install influxdb``).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import httpx
from _common import AGENT_MEASUREMENTS, BATCH, make_agent_batch, percentile
from _serve import Row, ServerProcess, write_all

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # for tests.influxdb1
from tests.influxdb1 import InfluxDB1

__all__ = ["main"]

#: ``pluginmgr serve``'s default ``--wal-flush-interval``
DEFAULT_FLUSH = "1s"


def _run(url: str, run: int, args: argparse.Namespace, latencies: list[float]) -> float:
    """One run's lines/s: ``args.batches`` batches after those of earlier runs."""
    starts = [run * args.batches + b for b in range(args.batches)]
    elapsed = write_all(
        url,
        {},
        starts,
        args.threads,
        path="/write?db=bench&precision=ns",
        batch=make_agent_batch,
        latencies=latencies,
    )
    return args.batches * BATCH / elapsed


def _influx_rows(server: InfluxDB1) -> int:
    answer = server.query("bench", "SELECT count(usage_user) FROM cpu")
    series = answer["results"][0]["series"][0]  # type: ignore[index]
    return int(series["values"][0][1]) * len(AGENT_MEASUREMENTS)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=30, help="10k batches per run")
    parser.add_argument("--threads", type=int, default=4, help="writer threads")
    parser.add_argument("--runs", type=int, default=3, help="runs per server (median)")
    args = parser.parse_args(argv)
    procs: list[subprocess.Popen[bytes]] = []
    rates: dict[str, list[float]] = {"pluginmgr": [], "influxdb": []}
    latencies: dict[str, list[float]] = {"pluginmgr": [], "influxdb": []}
    with tempfile.TemporaryDirectory() as tmp, InfluxDB1(Path(tmp) / "influxdb") as influx:
        httpx.post(f"{influx.url}/query", params={"q": "CREATE DATABASE bench"}).raise_for_status()
        ours = ServerProcess(Path(tmp) / "pluginmgr", DEFAULT_FLUSH, procs, auth=False)
        ours.start()
        try:
            for run in range(args.runs):
                for name, url in (("pluginmgr", ours.url), ("influxdb", influx.url)):
                    print(f"run {run + 1}/{args.runs}: {name} ...", file=sys.stderr)
                    rates[name].append(_run(url, run, args, latencies[name]))
            written = args.runs * args.batches * BATCH
            kept = {
                "pluginmgr": sum(ours.count_table(m) for m in AGENT_MEASUREMENTS),
                "influxdb": _influx_rows(influx),
            }
        finally:
            ours.stop()
    for name, count in kept.items():
        if count != written:
            raise RuntimeError(f"{name} holds {count:,} rows, {written:,} were written")
    ratio = statistics.median(rates["pluginmgr"]) / statistics.median(rates["influxdb"])
    rows = [
        Row(
            f"{name}: durable writes, {args.threads} writers, agent batches (lines/s)",
            f"{statistics.median(rates[name]):,.0f}",
            f"{percentile(latencies[name], 0.5) * 1000:.0f} ms",
            f"{percentile(latencies[name], 0.99) * 1000:.0f} ms",
            notes=f"median of {args.runs} runs of {args.batches * BATCH:,} lines; "
            f"{written:,} rows kept",
        )
        for name in ("pluginmgr", "influxdb")
    ]
    rows.append(
        Row(
            "pluginmgr / InfluxDB 1.x (goal >= 1.0)",
            f"{ratio:.2f}",
            notes=f"`serve --wal-flush-interval {DEFAULT_FLUSH}` (the default) vs influxd "
            f"{_influxd_version()}, same machine, same batches over v1 `/write`",
        )
    )
    print("| Measurement | Result | p50 | p99 | Notes |")
    print("|---|---:|---:|---:|---|")
    for row in rows:
        print(f"| {row.name} | {row.result} | {row.p50} | {row.p99} | {row.notes} |")
    return 0


def _influxd_version() -> str:
    done = subprocess.run(["influxd", "version"], capture_output=True, text=True, check=False)
    return done.stdout.split()[1] if done.stdout.split()[1:] else "?"


if __name__ == "__main__":
    sys.exit(main())
