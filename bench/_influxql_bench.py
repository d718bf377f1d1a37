"""``bench/server.py --only influxql``: InfluxQL aggregate latency of ``pluginmgr serve`` next
to a real InfluxDB 1.x (Debian's ``influxd``) holding the same rows, queried over the same v1
``/query`` endpoint, runs alternating; a ratio reported, not a pass/fail."""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from _common import BATCH
from _serve import Row, ServerProcess, write_all

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # for tests.influxdb1
from tests.influxdb1 import InfluxDB1, influxd_path

__all__ = ["bench_influxql"]

#: Grafana-shaped aggregates over `make_batch`'s rows (20 hosts, one point a second from 0)
QUERIES = (
    'SELECT mean("usage_user") FROM "cpu" WHERE time >= 0s AND time < 100000s '
    'GROUP BY time(1h), "host" fill(null)',
    'SELECT count("usage_user"), max("usage_idle") FROM "cpu"',
    'SELECT last("usage_user") FROM "cpu" GROUP BY "host"',
)


def _timed(url: str, query: str) -> tuple[float, int]:
    """Seconds for one ``/query`` and how many series it answered."""
    began = time.perf_counter()
    answer = httpx.get(f"{url}/query", params={"db": "bench", "q": query}, timeout=300)
    elapsed = time.perf_counter() - began
    answer.raise_for_status()
    result = answer.json()["results"][0]
    if "error" in result:
        raise RuntimeError(f"{url}: {query}: {result['error']}")
    return elapsed, len(result.get("series", []))


def bench_influxql(args: argparse.Namespace, procs: list[subprocess.Popen[bytes]]) -> list[Row]:
    if influxd_path() is None:
        return [Row("InfluxQL next to InfluxDB 1.x", "skipped", notes="no influxd installed")]
    rows: list[Row] = []
    total = args.influxql_batches * BATCH
    with tempfile.TemporaryDirectory() as tmp, InfluxDB1(Path(tmp) / "influxdb") as influx:
        httpx.post(f"{influx.url}/query", params={"q": "CREATE DATABASE bench"}).raise_for_status()
        ours = ServerProcess(Path(tmp) / "pluginmgr", "10ms", procs, auth=False)
        ours.start()
        try:
            starts = [b * BATCH for b in range(args.influxql_batches)]
            for url in (ours.url, influx.url):
                write_all(url, {}, starts, args.threads, path="/write?db=bench&precision=ns")
            for query in QUERIES:
                times: dict[str, list[float]] = {"pluginmgr": [], "influxdb": []}
                series: dict[str, int] = {}
                for _ in range(args.runs + 1):  # the first round warms both up, untimed
                    for name, url in (("pluginmgr", ours.url), ("influxdb", influx.url)):
                        elapsed, series[name] = _timed(url, query)
                        times[name].append(elapsed)
                if series["pluginmgr"] != series["influxdb"]:
                    raise RuntimeError(f"{query}: {series} series")
                ours_ms = statistics.median(times["pluginmgr"][1:]) * 1000
                theirs_ms = statistics.median(times["influxdb"][1:]) * 1000
                rows.append(
                    Row(
                        f"InfluxQL `{query}`, {total:,} rows: pluginmgr / InfluxDB 1.x (ms)",
                        f"{ours_ms:.0f} / {theirs_ms:.0f}",
                        notes=f"ratio {ours_ms / theirs_ms:.2f} (lower is faster); "
                        f"{series['pluginmgr']} series; median of {args.runs}",
                    )
                )
        finally:
            ours.stop()
    return rows
