"""Mirror sync of a 50-plugin repository: cold sync vs a no-change re-sync (issue 7).

Run ``python bench/mirror.py [--runs 3] [--plugins 50] [--latency-ms 20] [--concurrency 8]``.
It generates (deterministically, in a temp dir) a repository laid out like
``influxdata/influxdb3_plugins``: ``influxdata/plugin_NN/plugin_NN.py`` (a docstring JSON header
and a ``process_*`` function, 10-70 KB), a ``manifest.toml``, a ``requirements.txt`` and a
``README.md`` per plugin (every sibling `sync_mirror` asks for, so no per-plugin 404s), and
``influxdata/library/plugin_library.json`` listing them all. There is no root ``index.json``: the
mirror probes for it on every sync and gets one 404, which is counted like any other request.

The repository is served by `RepoServer` on 127.0.0.1 adding ``--latency-ms`` to every request
(ETag/Last-Modified validators, conditional 304s). Each run syncs into a fresh DEST (cold), then
syncs again with nothing changed (re-sync); the table shows medians over ``--runs``. Requests and
bytes are what the server saw (response body bytes); each run is checked for doing the whole job
(cold: every file new; re-sync: every file unchanged, nothing rewritten, no failures).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from pluginmgr.mirror import MirrorReport, sync_mirror
from pluginmgr.testing import RepoServer

SEED = 20261123
MIN_SIZE, MAX_SIZE = 10_000, 70_000
TARGET_SPEEDUP = 10.0
TARGET_REQUESTS_PER_PLUGIN = 1.0

COLD = "cold sync (fresh DEST)"
RESYNC = "re-sync, no change"

_WORDS = (
    "measurement field tag window point series bucket database trigger batch threshold alert "
    "downsample aggregate interval schedule payload record table value timestamp cache"
).split()
_TRIGGERS = (
    ("scheduled", "scheduler", "process_scheduled_call", "influxdb3_local, call_time, args=None"),
    ("onwrite", "data_writes", "process_writes", "influxdb3_local, table_batches, args=None"),
    ("http", "http", "process_request", "influxdb3_local, query_parameters, request_headers, "
     "request_body, args=None"),
)  # fmt: skip
_LIBRARIES = ("requests", "pandas", "numpy", "pyarrow", "httpx", "polars", "scipy")


class BenchError(RuntimeError):
    """A sync did not do the complete job, so its timing would mean nothing."""


@dataclass(frozen=True, slots=True)
class Sample:
    """One sync: wall time and what the server saw during it."""

    seconds: float
    requests: int
    body_bytes: int
    statuses: dict[int, int]


# -- the plugin repository --------------------------------------------------------------------


def _function_block(rng: random.Random) -> str:
    name = "_".join(rng.sample(_WORDS, 2))
    args = ", ".join(rng.sample(_WORDS, rng.randint(1, 3)))
    lines = [
        f"def _{name}_{rng.randint(0, 999)}({args}):",
        f'    """Compute the {rng.choice(_WORDS)} for each {rng.choice(_WORDS)}."""',
    ]
    for _ in range(rng.randint(4, 12)):
        left, right = rng.sample(_WORDS, 2)
        lines.append(f"    {left} = {right}.get({rng.choice(_WORDS)!r}, {rng.randint(0, 1000)})")
    lines.append(f"    return {rng.choice(_WORDS)}\n\n")
    return "\n".join(lines) + "\n"


def plugin_source(rng: random.Random, number: int, trigger: int) -> str:
    """A plugin file: docstring JSON header, helpers to 10-70 KB, then the process_* function."""
    plugin_type, _, function, signature = _TRIGGERS[trigger]
    header = {
        "plugin_type": [plugin_type],
        f"{plugin_type}_args_config": [
            {
                "name": word,
                "example": f"{word}_{number}",
                "description": f"The {word} to use.",
                "required": index == 0,
            }
            for index, word in enumerate(rng.sample(_WORDS, 3))
        ],
    }
    parts = [f'"""\n{json.dumps(header, indent=4)}\n"""\n\nimport json\n\n\n']
    size = rng.randint(MIN_SIZE, MAX_SIZE)
    length = len(parts[0])
    while length < size:
        parts.append(_function_block(rng))
        length += len(parts[-1])
    parts.append(
        f"def {function}({signature}):\n"
        f'    influxdb3_local.info("plugin_{number:02d} called")\n'
        "    return None\n"
    )
    return "".join(parts)


def _manifest(name: str, number: int, trigger: int, libraries: list[str]) -> str:
    python = ", ".join(json.dumps(lib) for lib in libraries)
    return (
        'manifest_schema_version = "1.2"\n\n[plugin]\n'
        f'name = "{name}"\nversion = "1.{number}.0"\n'
        f'description = "Benchmark plugin number {number}."\n'
        f'triggers = ["{_TRIGGERS[trigger][2]}"]\n'
        f'homepage = "https://example.invalid/plugins/{name}"\n'
        f'exclude = ["*.py", "!{name}.py"]\n\n'
        f'[dependencies]\ndatabase_version = ">=3.0.0"\npython = [{python}]\n'
    )


def make_repository(root: Path, count: int) -> int:
    """Write ``count`` plugins and the library under ``root``; return the number of files."""
    rng = random.Random(SEED)
    entries = []
    for number in range(count):
        name = f"plugin_{number:02d}"
        folder = root / "influxdata" / name
        folder.mkdir(parents=True)
        trigger = number % len(_TRIGGERS)
        libraries = sorted(rng.sample(_LIBRARIES, rng.randint(0, 2)))
        (folder / f"{name}.py").write_text(plugin_source(rng, number, trigger))
        (folder / "manifest.toml").write_text(_manifest(name, number, trigger, libraries))
        (folder / "requirements.txt").write_text("".join(f"{lib}\n" for lib in libraries))
        (folder / "README.md").write_text(f"# {name}\n\nBenchmark plugin number {number}.\n")
        entries.append(
            {
                "name": name,
                "path": f"influxdata/{name}/{name}.py",
                "description": f"Benchmark plugin number {number}.",
                "author": "pluginmgr bench",
                "docs_file_link": f"influxdata/{name}/README.md",
                "required_plugins": [],
                "required_libraries": libraries,
                "last_update": "2026-11-23",
                "trigger_types_supported": [_TRIGGERS[trigger][1]],
            }
        )
    library = {
        "plugin_library": {
            "version": "1.0.0",
            "last_updated": "2026-11-23T00:00:00+00:00",
            "plugins": entries,
        }
    }
    path = root / "influxdata" / "library" / "plugin_library.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(library, indent=2) + "\n")
    return 4 * count + 1


# -- measuring --------------------------------------------------------------------------------


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise BenchError(message)


def _settled(server: RepoServer, expected: int) -> None:
    """Wait (untimed) until the server has recorded ``expected`` requests: it records each one
    just after sending the body, so the client can be done a moment earlier."""
    deadline = time.monotonic() + 2.0
    while len(server.requests) < expected and time.monotonic() < deadline:
        time.sleep(0.001)


def measure(server: RepoServer, dest: Path, concurrency: int, files: int, *, cold: bool) -> Sample:
    """Time one sync into ``dest`` and check it did the whole job."""
    server.reset()
    began = time.perf_counter()
    report: MirrorReport = sync_mirror(server.url, dest, concurrency=concurrency, retries=0)
    seconds = time.perf_counter() - began
    _settled(server, report.requests)
    mode = COLD if cold else RESYNC
    _check(report.ok, f"{mode}: failures {report.failures}")
    expect_new, expect_unchanged = (files, 0) if cold else (0, files)
    _check(
        len(report.new) == expect_new
        and len(report.unchanged) == expect_unchanged
        and not report.updated,
        f"{mode}: new={len(report.new)} updated={len(report.updated)} "
        f"unchanged={len(report.unchanged)}, "
        f"expected {expect_new} new and {expect_unchanged} unchanged",
    )
    seen = len(server.requests)
    _check(seen == report.requests, f"{mode}: server saw {seen}, report says {report.requests}")
    statuses = Counter(r.status for r in server.requests)
    return Sample(seconds, seen, server.bytes_sent, dict(statuses))


def run(args: argparse.Namespace, repo: Path, tmp: Path) -> tuple[list[Sample], list[Sample]]:
    files = make_repository(repo, args.plugins)
    cold: list[Sample] = []
    resync: list[Sample] = []
    with RepoServer(repo, latency=args.latency_ms / 1000) as server:
        for number in range(args.runs):
            dest = tmp / f"mirror-{number}"
            cold.append(measure(server, dest, args.concurrency, files, cold=True))
            resync.append(measure(server, dest, args.concurrency, files, cold=False))
    return cold, resync


# -- reporting --------------------------------------------------------------------------------


def _median(samples: Sequence[Sample], attribute: str) -> float:
    return float(statistics.median(float(getattr(s, attribute)) for s in samples))


def _count(value: float) -> str:
    return f"{value:,.0f}" if value == int(value) else f"{value:,.1f}"


def _statuses(samples: Sequence[Sample]) -> str:
    merged: Counter[int] = Counter()
    for sample in samples:
        merged.update(sample.statuses)
    runs = len(samples)
    return ", ".join(f"{merged[s] / runs:g}x {s}" for s in sorted(merged))


def table(cold: list[Sample], resync: list[Sample], plugins: int) -> str:
    base = _median(cold, "seconds")
    lines = [
        "| mode | seconds (median) | min | max | requests | bytes transferred "
        "| requests / plugin | HTTP statuses / sync | speedup vs cold |",
        "|---|---:|---:|---:|---:|---:|---:|---|---:|",
    ]
    for name, samples in ((COLD, cold), (RESYNC, resync)):
        seconds = [s.seconds for s in samples]
        requests = _median(samples, "requests")
        lines.append(
            f"| {name} | {statistics.median(seconds):.3f} | {min(seconds):.3f} "
            f"| {max(seconds):.3f} | {_count(requests)} | {_count(_median(samples, 'body_bytes'))} "
            f"| {requests / plugins:.2f} | {_statuses(samples)} "
            f"| {base / statistics.median(seconds):.1f}x |"
        )
    return "\n".join(lines)


def targets(cold: list[Sample], resync: list[Sample], plugins: int) -> bool:
    verdict = {True: "PASS", False: "FAIL"}
    speedup = _median(cold, "seconds") / _median(resync, "seconds")
    speed_ok = speedup >= TARGET_SPEEDUP
    per_plugin = max(s.requests for s in resync) / plugins
    requests_ok = per_plugin <= TARGET_REQUESTS_PER_PLUGIN
    print(
        f"target re-sync >= {TARGET_SPEEDUP:g}x faster than cold: {speedup:.1f}x "
        f"{verdict[speed_ok]}"
    )
    print(
        f"target re-sync <= {TARGET_REQUESTS_PER_PLUGIN:g} conditional request per plugin: "
        f"{per_plugin:.2f} {verdict[requests_ok]}"
    )
    return speed_ok and requests_ok


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=3, help="cold + re-sync pairs (default 3)")
    parser.add_argument("--plugins", type=int, default=50, help="plugins generated (default 50)")
    parser.add_argument(
        "--latency-ms", type=float, default=20.0, help="added per request (default 20)"
    )
    parser.add_argument(
        "--concurrency", type=int, default=8, help="sync_mirror concurrency (default 8)"
    )
    args = parser.parse_args(argv)
    if args.runs < 1 or args.plugins < 1 or args.concurrency < 1 or args.latency_ms < 0:
        parser.error("--runs, --plugins and --concurrency must be >= 1, --latency-ms >= 0")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="pluginmgr-bench-mirror-") as tmp:
        repo = Path(tmp) / "repo"
        cold, resync = run(args, repo, Path(tmp))
        total = sum(p.stat().st_size for p in repo.rglob("*") if p.is_file())
        files = sum(1 for p in repo.rglob("*") if p.is_file())
    print(
        f"{args.plugins} plugins, {files} files ({total:,} bytes in all), "
        f"{args.latency_ms:g} ms latency per request, concurrency {args.concurrency}, "
        f"{args.runs} runs; {platform.platform()}, {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}\n"
    )
    print(table(cold, resync, args.plugins))
    print()
    return 0 if targets(cold, resync, args.plugins) else 1


if __name__ == "__main__":
    sys.exit(main())
