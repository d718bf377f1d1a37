"""Benchmark trigger dispatch: activation latency, write throughput, schedule lateness.

Prints a markdown table. Run: ``.venv/bin/python bench/dispatch.py [--invocations N]``.

Every measurement runs twice side by side, interleaved in one process: on an engine whose
plugins run in its plugin host (a child process, what the engine does), and on one whose runner
calls them in this process with `PluginApi` and `Loader` (``_in_process.InProcessHosts``, what
the engine did before plugin hosts). Both clocks are ``time.monotonic_ns()`` (CLOCK_MONOTONIC,
one clock for every process of the machine).

* **Activation**: from a 1-row ``write_lp`` returning (the write acknowledged: rows stored and
  the event queued) to the first line of the plugin's ``process_writes``, which logs its
  ``time.monotonic_ns()``; and from ``handle_request`` being called (the request arrived) to
  the first line of ``process_request``, which returns its stamp as the body. p50/p99 over
  ``--invocations``, each run on an idle trigger. Plus the request's round trip and the run
  time the engine records for it.
* **Throughput**: rows/s from ``write_lp`` through dispatch into a no-op ``process_writes``,
  10k-row batches (the host gets all 10k rows), next to the same writes with no trigger.
* **Lateness**: an ``every:1s`` trigger over ``--fires`` fires, host then in-process: the
  plugin's start (wall clock) minus the scheduled time.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC
from pathlib import Path

from _common import percentile
from _in_process import StampSink, install_in_process, install_sink

from engine_runtime import Catalog, ProcessingEngine

__all__ = ["main"]

NOOP = """\
def process_writes(influxdb3_local, table_batches, args=None):
    pass
"""
STAMP = """\
import time

def process_writes(influxdb3_local, table_batches, args=None):
    now = time.monotonic_ns()
    influxdb3_local.info(f"stamp {now}")
"""
PING = """\
import time

def process_request(influxdb3_local, query_parameters, request_headers, request_body, args=None):
    return str(time.monotonic_ns())
"""
TICK = """\
import time

def process_scheduled_call(influxdb3_local, call_time, args=None):
    now = time.time()
    influxdb3_local.info(f"stamp {now} {call_time.isoformat()}")
"""
CODE = {"noop.py": NOOP, "stamp.py": STAMP, "ping.py": PING, "tick.py": TICK}
MODES = ("host", "in-process")


@contextmanager
def _engine(mode: str) -> Iterator[tuple[ProcessingEngine, StampSink]]:
    """An engine over a plugin dir of `CODE`; ``mode`` says where its plugins run."""
    with tempfile.TemporaryDirectory() as tmp:
        plugins = Path(tmp)
        for name, text in CODE.items():
            (plugins / name).write_text(text, encoding="utf-8")
        engine = ProcessingEngine(Catalog(None), plugin_dir=plugins)
        sink = install_in_process(engine) if mode == "in-process" else install_sink(engine)
        engine.start()
        engine.create_database("bench")
        try:
            yield engine, sink
        finally:
            engine.shutdown()


def _wait(predicate: Callable[[], bool], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("benchmark condition not met")
        time.sleep(0.0002)


def _invocations(engine: ProcessingEngine, name: str) -> int:
    return engine.stats.get("bench", name).invocations


def _wal_once(engine: ProcessingEngine, sink: StampSink, i: int) -> float:
    """µs from a 1-row write returning to the plugin's first line; waits for the run's end."""
    done = _invocations(engine, "wal")
    engine.write_lp("bench", f"cpu v={i}i {i + 1}")
    acked = time.monotonic_ns()
    _trigger, stamp = sink.stamps.get(timeout=30)
    _wait(lambda: _invocations(engine, "wal") > done)  # idle again before the next write
    return (int(stamp) - acked) / 1000


def _request_once(engine: ProcessingEngine) -> tuple[float, float]:
    """µs from the request's arrival to the plugin's first line, and to the response."""
    arrived = time.monotonic_ns()
    answer = engine.handle_request("ping", query_params={}, headers={}, body=b"")
    answered = time.monotonic_ns()
    entered = int(answer.body)
    return (entered - arrived) / 1000, (answered - arrived) / 1000


def bench_activation(args: argparse.Namespace) -> list[str]:
    """Activation of a 1-row WAL trigger and a request trigger, host and in-process."""
    wal: dict[str, list[float]] = {mode: [] for mode in MODES}
    entry: dict[str, list[float]] = {mode: [] for mode in MODES}
    trip: dict[str, list[float]] = {mode: [] for mode in MODES}
    recorded: dict[str, tuple[float, float]] = {}
    with _engine("host") as (host, host_sink), _engine("in-process") as (local, local_sink):
        engines = {"host": (host, host_sink), "in-process": (local, local_sink)}
        for engine, _sink in engines.values():
            engine.create_trigger("bench", "wal", "stamp.py", "table:cpu")
            engine.create_trigger("bench", "ping", "ping.py", "request:ping")
        for i in range(-args.warmup, args.invocations):  # interleaved: drift hits both alike
            for mode, (engine, sink) in engines.items():
                took = _wal_once(engine, sink, i + args.warmup)
                arrived, answered = _request_once(engine)
                if i >= 0:
                    wal[mode].append(took)
                    entry[mode].append(arrived)
                    trip[mode].append(answered)
        for mode, (engine, _sink) in engines.items():
            stats = engine.stats.get("bench", "ping")
            recorded[mode] = (stats.p50_ns / 1000, stats.p99_ns / 1000)
    rows = []
    for label, values in (
        ("1-row `write_lp` returned -> `process_writes` first line", wal),
        ("request arrived (`handle_request`) -> `process_request` first line", entry),
        ("request arrived -> response returned", trip),
    ):
        for mode in MODES:
            p50, p99 = percentile(values[mode], 0.5), percentile(values[mode], 0.99)
            if mode == "host":
                note = "" if "response" in label else _verdict(p99)
            else:
                host50 = percentile(values["host"], 0.5)
                note = f"host/in-process p50 {host50 / p50:.1f}x"
            rows.append(f"| {label}, {mode} (µs) | {p50:.1f} | {p99:.1f} | {note} |")
    for mode in MODES:
        p50, p99 = recorded[mode]
        rows.append(
            f"| request run time the engine records (start to result), {mode} (µs) | {p50:.1f} "
            f"| {p99:.1f} | last {args.invocations} runs' window |"
        )
    return rows


def _verdict(p99_us: float) -> str:
    return f"target p99 < 1 ms: {'PASS' if p99_us < 1000 else 'FAIL'}"


def bench_throughput(args: argparse.Namespace) -> list[str]:
    """rows/s write -> dispatch -> no-op plugin, host and in-process, next to no trigger."""
    lines = [f"cpu,host=h{i % 20} usage={i}.5,idle={i}i {i + 1}" for i in range(10_000)]
    text = "\n".join(lines)
    times: dict[str, list[float]] = {"host": [], "in-process": [], "none": []}
    with (
        _engine("host") as (host, _),
        _engine("in-process") as (local, _),
        _engine("host") as (bare, _),
    ):
        for engine in (host, local):
            engine.create_trigger("bench", "wal", "noop.py", "table:cpu")
        engines = {"host": host, "in-process": local, "none": bare}
        for run in range(-1, args.runs):  # run -1: the host starts, the code compiles
            for mode, engine in engines.items():
                done = 0 if mode == "none" else _invocations(engine, "wal")
                start = time.perf_counter()
                engine.write_lp("bench", text, default_time_ns=run + 1)
                if mode != "none":
                    _wait(lambda e=engine, d=done: _invocations(e, "wal") > d)
                if run >= 0:
                    times[mode].append(time.perf_counter() - start)
    rate = {mode: 10_000 / statistics.median(values) for mode, values in times.items()}
    return [
        f"| the same 10k-row writes, no trigger (rows/s) | {rate['none']:,.0f} | | |",
        *(
            f"| write -> dispatch -> no-op `process_writes`, 10k-row batches, {mode} (rows/s) "
            f"| {rate[mode]:,.0f} | | {rate[mode] / rate['none']:.0%} of the no-trigger rate |"
            for mode in MODES
        ),
    ]


def bench_lateness(args: argparse.Namespace) -> list[str]:
    """Actual start minus scheduled time for an every:1s trigger, host then in-process (a
    schedule cannot be interleaved: both would fire at the same instants)."""
    from datetime import datetime

    rows = []
    for mode in MODES:
        late = []
        with _engine(mode) as (engine, sink):
            engine.create_trigger("bench", "tick", "tick.py", "every:1s")
            while len(late) < args.fires + 1:
                _trigger, text = sink.stamps.get(timeout=30)
                wall, called = text.split(" ", 1)
                scheduled = datetime.fromisoformat(called).replace(tzinfo=UTC).timestamp()
                late.append((float(wall) - scheduled) * 1000)
        late = late[1:]  # the first fire may wait for the host to start
        rows.append(
            f"| `every:1s` lateness over {len(late)} fires, {mode} (ms) "
            f"| {percentile(late, 0.5):.2f} | {percentile(late, 0.99):.2f} | target p99 < 5 ms |"
        )
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--invocations", type=int, default=2000, help="runs per mode and kind")
    parser.add_argument("--warmup", type=int, default=50, help="runs not counted, per mode")
    parser.add_argument("--runs", type=int, default=7, help="10k-row batches per mode")
    parser.add_argument("--fires", type=int, default=20, help="every:1s fires per mode")
    parser.add_argument("--only", choices=("activation", "throughput", "lateness"), action="append")
    args = parser.parse_args(argv)
    only = set(args.only or ("activation", "throughput", "lateness"))
    threading.current_thread().name = "bench"
    load = os.getloadavg()[0]
    rows = []
    for name, bench in (
        ("activation", bench_activation),
        ("throughput", bench_throughput),
        ("lateness", bench_lateness),
    ):
        if name in only:
            rows.extend(bench(args))
    print("| Measurement | p50 / result | p99 | Notes |")
    print("|---|---:|---:|---|")
    for row in rows:
        print(row)
    print(f"\n({os.cpu_count()} CPUs; 1-minute load average {load:.2f} at the start, ", end="")
    print(f"{os.getloadavg()[0]:.2f} at the end)")


if __name__ == "__main__":
    main()
