"""Benchmark the line protocol parser, the MemoryStore write path and a DataFusion aggregate.

Prints a markdown table. Run: ``.venv/bin/python bench/store.py [--rows N] [--runs N]``.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

from engine_runtime.line_protocol import parse_lines
from engine_runtime.store import MemoryStore

__all__ = ["ROWS", "Row", "main"]

BATCH = 10_000
MINUTE = 60 * 10**9


@dataclass(frozen=True, slots=True)
class Row:
    """One line of the result table."""

    name: str
    result: str
    floor: str = ""
    ratio: str = ""


def make_batch(start: int, count: int = BATCH) -> str:
    """Realistic lines: 2 tags, 3 fields (float, int, float), a timestamp 1 s apart."""
    lines = [
        f"cpu,host=server{i % 20:02d},region=region{i % 4} usage_user={i % 97 + 0.25},"
        f"processes={i % 311}i,usage_idle={(i * 7) % 100 + 0.5} {i * 1_000_000_000}"
        for i in range(start, start + count)
    ]
    return "\n".join(lines)


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
    """Rows/s for parse only, parse+insert, and the str.split floor, on 10k-line batches."""
    text = make_batch(0)
    floor = BATCH / _best(args.runs, lambda: split_floor(text))
    parse = BATCH / _best(args.runs, lambda: parse_lines(text, default_time_ns=0))
    store = MemoryStore()
    write = BATCH / _best(args.runs, lambda: store.write_lp("bench", text))
    return [
        Row("LP parse only, 10k-line batch (rows/s)", f"{parse:,.0f}", f"{floor:,.0f}",
            f"{parse / floor:.2f}"),
        Row("LP parse + insert, 10k-line batch (rows/s)", f"{write:,.0f}", f"{floor:,.0f}",
            f"{write / floor:.2f}"),
    ]  # fmt: skip


def bench_query(args: argparse.Namespace) -> list[Row]:
    """Median ms of a DATE_BIN avg/count aggregate grouped by a tag over ``--rows`` rows."""
    store = MemoryStore()
    for start in range(0, args.rows, BATCH):
        store.write_lp("bench", make_batch(start, min(BATCH, args.rows - start)))
    sql = (
        "SELECT DATE_BIN(INTERVAL '1 minute', time, '1970-01-01T00:00:00Z') AS _time, host, "
        "avg(usage_user) AS avg_user, count(*) AS n FROM cpu GROUP BY _time, host"
    )
    start = time.perf_counter()
    first = store.query("bench", sql)
    cold = time.perf_counter() - start
    assert sum(row["n"] for row in first) == args.rows
    warm = _best(args.runs, lambda: store.query("bench", sql))
    return [
        Row(f"DATE_BIN 1 min avg/count by host, {args.rows:,} rows, first query (ms)",
            f"{cold * 1000:,.0f}"),
        Row(f"DATE_BIN 1 min avg/count by host, {args.rows:,} rows, median (ms)",
            f"{warm * 1000:,.0f}"),
    ]  # fmt: skip


#: Benchmarks, in table order. Placeholder: a "`pluginmgr test wal_plugin` wall time" row
#: is to be appended here by its owner (not implemented in this module).
ROWS: list[Callable[[argparse.Namespace], list[Row]]] = [bench_write, bench_query]


def main(argv: list[str] | None = None) -> None:
    """Run every benchmark in `ROWS` and print a markdown table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows for the aggregate")
    parser.add_argument("--runs", type=int, default=5, help="runs per measurement (median)")
    args = parser.parse_args(argv)
    print("| Benchmark | Result | str.split floor | Ratio to floor |")
    print("|---|---:|---:|---:|")
    for bench in ROWS:
        for row in bench(args):
            print(f"| {row.name} | {row.result} | {row.floor} | {row.ratio} |")


if __name__ == "__main__":
    main()
