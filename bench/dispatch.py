"""Benchmark trigger dispatch: per-invocation overhead, write throughput, schedule lateness.

Prints a markdown table. Run: ``.venv/bin/python bench/dispatch.py [--runs N] [--fires N]``.

* **Overhead**: a write trigger with a 1-row batch and a no-op ``process_writes``. Two numbers
  per invocation, p50 and p99 over ``--invocations`` runs: the engine's own work around the plugin
  call (queue hand-off excluded: `_run_event` timed on the worker, minus the plugin body), and the
  latency from ``write_lp`` returning (rows stored) to the plugin being entered (the hand-off to
  the trigger's thread included).
* **Throughput**: rows/s from ``write_lp`` through dispatch into a no-op ``process_writes``,
  10k-row batches, next to calling the plugin directly with pre-built ``table_batches``.
* **Lateness**: an ``every:1s`` trigger over ``--fires`` fires: actual start minus scheduled time.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from _common import percentile

from engine_runtime import Catalog, ProcessingEngine
from engine_runtime.loader import Loader, LocalPluginSource

__all__ = ["main"]

NOOP = """\
def process_writes(influxdb3_local, table_batches, args=None):
    pass
"""
STAMP = """\
import time

def process_writes(influxdb3_local, table_batches, args=None):
    influxdb3_local.cache.get("stamps", use_global=True).append(time.perf_counter_ns())
"""
TICK = """\
import time

def process_scheduled_call(influxdb3_local, call_time, args=None):
    influxdb3_local.cache.get("ticks", use_global=True).append((time.time(), call_time))
"""


@contextmanager
def _engine(code: dict[str, str]) -> Iterator[ProcessingEngine]:
    with tempfile.TemporaryDirectory() as tmp:
        plugins = Path(tmp)
        for name, text in code.items():
            (plugins / name).write_text(text, encoding="utf-8")
        engine = ProcessingEngine(Catalog(None), plugin_dir=plugins)
        engine.start()
        engine.create_database("bench")
        try:
            yield engine
        finally:
            engine.shutdown()


def _wait(predicate: Any, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("benchmark condition not met")
        time.sleep(0.0005)


def bench_overhead(args: argparse.Namespace) -> list[str]:
    """Per-invocation overhead (worker side) and hand-off latency, 1-row batches."""
    stamps: list[int] = []
    with _engine({"stamp.py": STAMP}) as engine:
        engine.caches.for_trigger("bench", "x").put("stamps", stamps, use_global=True)
        engine.create_trigger("bench", "t", "stamp.py", "table:cpu")
        handoff: list[float] = []
        for i in range(args.invocations):
            engine.write_lp("bench", f"cpu v={i}i {i + 1}")
            returned = time.perf_counter_ns()
            _wait(lambda n=i: len(stamps) > n)
            handoff.append((stamps[i] - returned) / 1000)
            time.sleep(0.0002)  # let the worker finish its bookkeeping before the next write
        stats = engine.stats.get("bench", "t")
    with _engine({"noop.py": NOOP}) as engine:
        engine.create_trigger("bench", "t", "noop.py", "table:cpu")
        # the worker-side call, without the hand-off
        trigger = next(t for t in engine._triggers.running() if t.key == ("bench", "t"))
        batches = engine.write_lp("bench", "cpu v=1i 1").table_batches
        from engine_runtime.dispatch import Event

        own: list[float] = []
        for _ in range(args.invocations):
            start = time.perf_counter_ns()
            engine._runner.run(trigger, Event((batches,)))
            own.append((time.perf_counter_ns() - start) / 1000)
    return [
        f"| engine work per invocation, no-op plugin, 1-row batch (µs) "
        f"| {percentile(own, 0.5):.1f} | {percentile(own, 0.99):.1f} | target p99 < 100 µs |",
        f"| `write_lp` returned -> plugin entered, hand-off to the trigger thread (µs) "
        f"| {percentile(handoff, 0.5):.1f} | {percentile(handoff, 0.99):.1f} | |",
        f"| recorded run time incl. loading, no-op plugin (µs) | {stats.p50_ns / 1000:.1f} "
        f"| {stats.p99_ns / 1000:.1f} | |",
    ]


def bench_throughput(args: argparse.Namespace) -> list[str]:
    """rows/s write -> dispatch -> no-op plugin, next to a direct call."""
    lines = [f"cpu,host=h{i % 20} usage={i}.5,idle={i}i {i + 1}" for i in range(10_000)]
    text = "\n".join(lines)
    with _engine({"noop.py": NOOP}) as engine:
        engine.create_trigger("bench", "t", "noop.py", "table:cpu")
        batches = engine.store.copy().write_lp("bench", text).table_batches
        times = []
        for run in range(args.runs):
            done = engine.stats.get("bench", "t").invocations
            start = time.perf_counter()
            engine.write_lp("bench", text, default_time_ns=run)
            _wait(lambda d=done: engine.stats.get("bench", "t").invocations > d)
            times.append(time.perf_counter() - start)
        source = LocalPluginSource(engine.plugin_dir, "noop.py")  # type: ignore[arg-type]
        loader = Loader()
        direct = []
        for _ in range(args.runs):
            start = time.perf_counter()
            loader.entry_point(source.load(), "process_writes")(None, batches, None)
            direct.append(time.perf_counter() - start)
    with _engine({}) as engine:  # the same writes with no trigger: what dispatch adds to
        alone = []
        for run in range(args.runs):
            start = time.perf_counter()
            engine.write_lp("bench", text, default_time_ns=run)
            alone.append(time.perf_counter() - start)
    through = 10_000 / statistics.median(times)
    floor = 10_000 / statistics.median(direct)
    store = 10_000 / statistics.median(alone)
    return [
        f"| write -> dispatch -> no-op `process_writes`, 10k-row batches (rows/s) "
        f"| {through:,.0f} | | direct call with pre-built `table_batches`: {floor:,.0f} rows/s "
        f"(ratio {through / floor:.4f}) |",
        f"| the same writes, no trigger (rows/s) | {store:,.0f} | | dispatch keeps "
        f"{through / store:.0%} of the write rate |",
    ]


def bench_lateness(args: argparse.Namespace) -> list[str]:
    """Actual start minus scheduled time for an every:1s trigger."""
    ticks: list[Any] = []
    with _engine({"tick.py": TICK}) as engine:
        engine.caches.for_trigger("bench", "x").put("ticks", ticks, use_global=True)
        engine.create_trigger("bench", "t", "tick.py", "every:1s")
        _wait(lambda: len(ticks) >= args.fires, timeout=args.fires + 10)
    late = [(wall - call.timestamp_utc) * 1000 for wall, call in _aware(ticks)]
    return [
        f"| `every:1s` lateness over {len(late)} fires (ms) | {percentile(late, 0.5):.2f} "
        f"| {percentile(late, 0.99):.2f} | target p99 < 5 ms |"
    ]


class _Call:
    __slots__ = ("timestamp_utc",)

    def __init__(self, timestamp_utc: float) -> None:
        self.timestamp_utc = timestamp_utc


def _aware(ticks: list[Any]) -> list[tuple[float, _Call]]:
    from datetime import UTC

    return [(wall, _Call(call.replace(tzinfo=UTC).timestamp())) for wall, call in ticks]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--invocations", type=int, default=2000, help="1-row writes")
    parser.add_argument("--runs", type=int, default=7, help="10k-row batches")
    parser.add_argument("--fires", type=int, default=60, help="every:1s fires")
    args = parser.parse_args(argv)
    threading.current_thread().name = "bench"
    print("| Measurement | p50 / result | p99 | Notes |")
    print("|---|---:|---:|---|")
    for bench in (bench_overhead, bench_throughput, bench_lateness):
        for row in bench(args):
            print(row)


if __name__ == "__main__":
    main()
