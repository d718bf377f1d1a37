"""Benchmark the line protocol parsers, the MemoryStore write path, a DataFusion aggregate and
what a retention period adds to it.

Prints a markdown table. Run: ``.venv/bin/python bench/store.py [--rows N] [--runs N]
[--only write|query|retention|cli|value_caches]`` (``value_caches``: `_caches_bench`).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from _caches_bench import bench_caches
from _common import BATCH, make_agent_batch, make_batch

from engine_runtime.line_protocol.parse import parse_blocks, parse_lines
from engine_runtime.store import MemoryStore

__all__ = ["ROWS", "Row", "main"]

MINUTE = 60 * 10**9


@dataclass(frozen=True, slots=True)
class Row:
    """One line of the result table."""

    name: str
    result: str
    floor: str = ""
    ratio: str = ""


def split_floor(text: str) -> int:
    """The floor: split lines, then each line on spaces and commas, nothing else."""
    count = 0
    for line in text.split("\n"):
        parts = line.split(" ")
        parts[0].split(",")
        for item in parts[1].split(","):
            item.split("=")
        count += 1
    return count


def _best(runs: int, func: Callable[[], object]) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        func()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def bench_write(args: argparse.Namespace) -> list[Row]:
    """Rows/s for parse only, parse+insert, and the str.split floor, on 10k-line batches: an
    agent's (`make_agent_batch`, the default shape of real writes) and one series per host
    with a timestamp per line (`make_batch`)."""
    rows = []
    for shape, text in (("agent", make_agent_batch(0)), ("a time per line", make_batch(0))):
        floor = BATCH / _best(args.runs, lambda text=text: split_floor(text))
        lines = BATCH / _best(args.runs, lambda text=text: parse_lines(text, default_time_ns=0))
        blocks = BATCH / _best(args.runs, lambda text=text: parse_blocks(text, default_time_ns=0))
        store = MemoryStore()
        write = BATCH / _best(args.runs, lambda s=store, t=text: s.write_lp("bench", t))
        rows += [
            Row(f"LP parse only, `parse_lines` (per-line tuples), 10k-line {shape} batch (rows/s)",
                f"{lines:,.0f}", f"{floor:,.0f}", f"{lines / floor:.2f}"),
            Row(f"LP parse only, `parse_blocks` (the store's), 10k-line {shape} batch (rows/s)",
                f"{blocks:,.0f}", f"{floor:,.0f}", f"{blocks / floor:.2f}"),
            Row(f"LP parse + insert (`write_lp`), 10k-line {shape} batch (rows/s)",
                f"{write:,.0f}", f"{floor:,.0f}", f"{write / floor:.2f}"),
        ]  # fmt: skip
    return rows


def bench_query(args: argparse.Namespace) -> list[Row]:
    """A DATE_BIN 1 h avg/count aggregate grouped by host over ``--rows`` rows (1 s apart).

    ~5.6k groups for 1M rows (278 hours x 20 hosts), so the result conversion is small and the
    time is the engine's. Rows: the cold first query (Arrow build, dedup check, registration),
    then medians of the full ``store.query`` (with conversion to dicts) and of DataFusion alone.
    """
    store = MemoryStore()
    loading = 0.0
    for first in range(0, args.rows, BATCH):
        text = make_batch(first, min(BATCH, args.rows - first))
        start = time.perf_counter()
        store.write_lp("bench", text)
        loading += time.perf_counter() - start
    load = args.rows / loading
    sql = (
        "SELECT DATE_BIN(INTERVAL '1 hour', time, '1970-01-01T00:00:00Z') AS _time, host, "
        "avg(usage_user) AS avg_user, count(*) AS n FROM cpu GROUP BY _time, host"
    )
    start = time.perf_counter()
    rows = store.query("bench", sql)
    cold = time.perf_counter() - start
    assert sum(row["n"] for row in rows) == args.rows
    full = _best(args.runs, lambda: store.query("bench", sql))
    engine = _best(args.runs, lambda: store.query_batches("bench", sql))
    what = f"DATE_BIN 1 h avg/count by host, {args.rows:,} rows -> {len(rows):,} groups"
    return [
        Row(f"Load {args.rows:,} rows with `write_lp`, 10k-line batches (rows/s)",
            f"{load:,.0f}"),
        Row(f"{what}, first query: Arrow build + dedup check + registration (ms)",
            f"{cold * 1000:,.0f}"),
        Row(f"{what}, median `store.query` incl. dict conversion (ms)", f"{full * 1000:,.0f}"),
        Row(f"{what}, median DataFusion only (`query_batches`) (ms)", f"{engine * 1000:,.0f}"),
    ]  # fmt: skip


def bench_retention(args: argparse.Namespace) -> list[Row]:
    """The cost of a retention period at query time: the `bench_query` aggregate over
    ``--rows`` rows with no period, with one that no row has outlived yet (the table is
    registered as it is), and with one that the oldest 1% have outlived (the table is a view
    whose ``time >= now() - period`` filter runs on every row). DataFusion only, medians."""
    store = MemoryStore()
    for first in range(0, args.rows, BATCH):
        store.write_lp("bench", make_batch(first, min(BATCH, args.rows - first)))
    sql = (
        "SELECT DATE_BIN(INTERVAL '1 hour', time, '1970-01-01T00:00:00Z') AS _time, host, "
        "avg(usage_user) AS avg_user, count(*) AS n FROM cpu GROUP BY _time, host"
    )
    periods: dict[str, int] = {}
    store.set_retention(periods.get)
    oldest_kept = args.rows // 100 * 1_000_000_000  # rows are 1 s apart from the epoch
    settings = {
        "none": lambda: periods.pop("bench", None),
        "kept": lambda: periods.update(bench=time.time_ns() + 3_600 * 10**9),
        # whole seconds, as the catalog keeps periods: the oldest 1% expired
        "view": lambda: periods.update(bench=(time.time_ns() - oldest_kept) // 10**9 * 10**9),
    }
    times: dict[str, list[float]] = {name: [] for name in settings}
    for _ in range(args.runs):  # interleaved, so a busy moment of the machine hits all three
        for name, apply in settings.items():
            apply()
            store.query_batches("bench", sql)  # registration (Arrow build once), not measured
            times[name].append(_best(1, lambda: store.query_batches("bench", sql)))
    rows = store.query("bench", sql)  # the view is the last one set
    assert abs(sum(row["n"] for row in rows) - (args.rows - args.rows // 100)) <= 2
    without, kept_all, filtered = (statistics.median(times[name]) for name in settings)
    what = f"DATE_BIN 1 h avg/count by host, {args.rows:,} rows, median DataFusion only (ms)"
    return [
        Row(f"{what}: no retention period", f"{without * 1000:,.1f}"),
        Row(f"{what}: a period no row has outlived", f"{kept_all * 1000:,.1f}",
            ratio=f"{kept_all / without:.2f}"),
        Row(f"{what}: a period the oldest 1% outlived (filtered view)",
            f"{filtered * 1000:,.1f}", ratio=f"{filtered / without:.2f}"),
    ]  # fmt: skip


WAL_PLUGIN = """\
def process_writes(influxdb3_local, table_batches, args=None):
    for batch in table_batches:
        influxdb3_local.info(batch["table_name"], len(batch["rows"]))
"""


def bench_cli(args: argparse.Namespace) -> list[Row]:
    """Wall time of ``pluginmgr test wal_plugin`` on a 10-line input: a new process each run."""
    lp = make_batch(0, 10)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "plugins").mkdir()
        (root / "plugins" / "wal.py").write_text(WAL_PLUGIN, encoding="utf-8")
        command = [
            sys.executable, "-m", "pluginmgr", "test", "wal_plugin", "wal.py",
            "--plugin-dir", str(root / "plugins"), "--cache-dir", str(root / "cache"),
            "-d", "bench", "--lp", lp,
        ]  # fmt: skip
        bare = [sys.executable, "-c", "pass"]

        def run(argv: list[str]) -> None:
            subprocess.run(argv, check=True, capture_output=True, timeout=60)

        run(command)  # first run: byte-compile, create the cache dir
        wall = _best(args.runs, lambda: run(command))
        floor = _best(args.runs, lambda: run(bare))
    return [
        Row("`pluginmgr test wal_plugin`, 10-line input, new process (ms)",
            f"{wall * 1000:,.0f}", f"`python -c pass`: {floor * 1000:,.0f}"),
    ]  # fmt: skip


def bench_value_caches(args: argparse.Namespace) -> list[Row]:
    """The value caches: write cost and `last_cache()` against SQL (`_caches_bench`)."""
    return [Row(*row) for row in bench_caches(args)]


#: Benchmarks, in table order.
ROWS: list[Callable[[argparse.Namespace], list[Row]]] = [
    bench_write,
    bench_query,
    bench_retention,
    bench_cli,
    bench_value_caches,
]


def main(argv: list[str] | None = None) -> None:
    """Run every benchmark in `ROWS` and print a markdown table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows for the aggregate")
    parser.add_argument("--runs", type=int, default=5, help="runs per measurement (median)")
    names = [bench.__name__.removeprefix("bench_") for bench in ROWS]
    parser.add_argument("--only", choices=names, help="run one benchmark (default: all)")
    args = parser.parse_args(argv)
    print("| Benchmark | Result | str.split floor | Ratio to floor |")
    print("|---|---:|---:|---:|")
    for bench in ROWS:
        if args.only not in (None, bench.__name__.removeprefix("bench_")):
            continue
        for row in bench(args):
            print(f"| {row.name} | {row.result} | {row.floor} | {row.ratio} |")


if __name__ == "__main__":
    main()
