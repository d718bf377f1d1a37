"""Mirror sync of 50 plugins: cold sync vs a no-change re-sync, for three kinds of source (issue 7).

Run ``python bench/mirror.py [--runs 3] [--plugins 50] [--latency-ms 20] [--concurrency 8]``.
It generates (deterministically, in a temp dir) a repository laid out like
``influxdata/influxdb3_plugins``: ``influxdata/plugin_NN/plugin_NN.py`` (a docstring JSON header
and a ``process_*`` function, 10-70 KB), a ``manifest.toml``, a ``requirements.txt`` and a
``README.md`` per plugin, and ``influxdata/library/plugin_library.json`` listing them all. Three
sources are made from it, each served by its own `RepoServer` on 127.0.0.1 that adds
``--latency-ms`` to every request (ETag/Last-Modified validators, conditional 304s):

- **registry**: the plugins published as InfluxData publishes them, ``registry/index.json`` (index
  schema 2.1, a ``sha256:`` hash per artifact) and one ``{name}-{version}.tar.gz`` per plugin;
  SOURCE is the index URL.
- **tier-2 mirror**: a pluginmgr mirror of the repository (made untimed, over file://), served as
  a static site; it publishes ``SHA256SUMS``. This is a site mirror syncing from a central one.
- **plain repository**: the repository itself, publishing no hashes (like raw.githubusercontent).

Each run syncs into a fresh DEST (cold), then syncs again with nothing changed (re-sync); the
table shows medians over ``--runs``. Requests and bytes are what the server saw (response body
bytes); each run is checked for doing the whole job (cold: every file new; re-sync: every file
unchanged, nothing rewritten, no failures).
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

from _common import MAX_SIZE, MIN_SIZE, WORDS, check, count_text

from pluginmgr.mirror.sync import MirrorReport, sync_mirror
from pluginmgr.testing import RepoServer
from registry_index import build_index, write_index

SEED = 20261123
TARGET_SPEEDUP = 10.0
TARGET_REQUESTS_PER_PLUGIN = 1.0

COLD = "cold sync (fresh DEST)"
RESYNC = "re-sync, no change"
REGISTRY = "registry (index.json + artifacts)"
TIER2 = "tier-2 mirror (publishes SHA256SUMS)"
PLAIN = "plain repository (no hashes)"

_TRIGGERS = (
    ("scheduled", "scheduler", "process_scheduled_call", "influxdb3_local, call_time, args=None"),
    ("onwrite", "data_writes", "process_writes", "influxdb3_local, table_batches, args=None"),
    ("http", "http", "process_request", "influxdb3_local, query_parameters, request_headers, "
     "request_body, args=None"),
)  # fmt: skip
_LIBRARIES = ("requests", "pandas", "numpy", "pyarrow", "httpx", "polars", "scipy")


@dataclass(frozen=True, slots=True)
class Sample:
    """One sync: wall time and what the server saw during it."""

    seconds: float
    requests: int
    body_bytes: int
    statuses: dict[int, int]


# -- the plugin repository --------------------------------------------------------------------


def _function_block(rng: random.Random) -> str:
    name = "_".join(rng.sample(WORDS, 2))
    args = ", ".join(rng.sample(WORDS, rng.randint(1, 3)))
    lines = [
        f"def _{name}_{rng.randint(0, 999)}({args}):",
        f'    """Compute the {rng.choice(WORDS)} for each {rng.choice(WORDS)}."""',
    ]
    for _ in range(rng.randint(4, 12)):
        left, right = rng.sample(WORDS, 2)
        lines.append(f"    {left} = {right}.get({rng.choice(WORDS)!r}, {rng.randint(0, 1000)})")
    lines.append(f"    return {rng.choice(WORDS)}\n\n")
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
            for index, word in enumerate(rng.sample(WORDS, 3))
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


def publish_registry(repo: Path, artifacts_url: str) -> int:
    """Write ``registry/index.json`` and ``registry/artifacts/``; return the file count."""
    built = build_index(
        repo / "influxdata", artifacts_url=artifacts_url, published_at="2026-11-23T00:00:00Z"
    )
    check(built.ok, f"index build failed: {built.errors}")
    folder = repo / "registry" / "artifacts"
    folder.mkdir(parents=True)
    for name, data in built.artifacts.items():
        (folder / name).write_bytes(data)
    (repo / "registry" / "index.json").write_text(write_index(built.index))
    return 1 + len(built.artifacts)


def make_tier1(repo: Path, dest: Path) -> int:
    """A pluginmgr mirror of ``repo`` (untimed, over file://); return its mirrored file count."""
    report = sync_mirror(repo.as_uri(), dest)
    check(report.ok, f"tier-1 mirror failed: {report.failures}")
    return len(report.new)


# -- measuring --------------------------------------------------------------------------------


def measure(
    server: RepoServer, source: str, dest: Path, concurrency: int, files: int, *, cold: bool
) -> Sample:
    """Time one sync of ``source`` into ``dest`` and check it did the whole job."""
    server.reset()
    began = time.perf_counter()
    report: MirrorReport = sync_mirror(source, dest, concurrency=concurrency, retries=0)
    seconds = time.perf_counter() - began
    mode = COLD if cold else RESYNC
    check(report.ok, f"{mode}: failures {report.failures}")
    expect_new, expect_unchanged = (files, 0) if cold else (0, files)
    check(
        len(report.new) == expect_new
        and len(report.unchanged) == expect_unchanged
        and not report.updated,
        f"{mode}: new={len(report.new)} updated={len(report.updated)} "
        f"unchanged={len(report.unchanged)}, "
        f"expected {expect_new} new and {expect_unchanged} unchanged",
    )
    seen = len(server.requests)
    check(seen == report.requests, f"{mode}: server saw {seen}, report says {report.requests}")
    statuses = Counter(r.status for r in server.requests)
    return Sample(seconds, seen, server.bytes_sent, dict(statuses))


Results = dict[str, tuple[list[Sample], list[Sample]]]


def run(args: argparse.Namespace, tmp: Path) -> Results:
    repo = tmp / "repo"
    files = make_repository(repo, args.plugins)
    latency = args.latency_ms / 1000
    tier1 = tmp / "tier1"
    tier1_files = make_tier1(repo, tier1)
    results: Results = {}
    with (
        RepoServer(repo, latency=latency) as server,
        RepoServer(tier1, latency=latency) as tier1_server,
    ):
        artifacts = publish_registry(repo, server.url + "registry/artifacts")
        sources = (
            (REGISTRY, server, server.url + "registry/index.json", artifacts),
            (TIER2, tier1_server, tier1_server.url, tier1_files),
            (PLAIN, server, server.url, files),
        )
        for name, served, url, count in sources:
            cold: list[Sample] = []
            resync: list[Sample] = []
            for number in range(args.runs):
                dest = tmp / f"{len(results)}-{number}"
                cold.append(measure(served, url, dest, args.concurrency, count, cold=True))
                resync.append(measure(served, url, dest, args.concurrency, count, cold=False))
            results[name] = (cold, resync)
    return results


# -- reporting --------------------------------------------------------------------------------


def _median(samples: Sequence[Sample], attribute: str) -> float:
    return float(statistics.median(float(getattr(s, attribute)) for s in samples))


def _statuses(samples: Sequence[Sample]) -> str:
    merged: Counter[int] = Counter()
    for sample in samples:
        merged.update(sample.statuses)
    runs = len(samples)
    return ", ".join(f"{merged[s] / runs:g}x {s}" for s in sorted(merged))


def table(results: Results, plugins: int) -> str:
    lines = [
        "| source | sync | seconds (median) | min | max | requests | bytes transferred "
        "| requests / plugin | HTTP statuses / sync | speedup vs cold |",
        "|---|---|---:|---:|---:|---:|---:|---:|---|---:|",
    ]
    for source, (cold, resync) in results.items():
        base = _median(cold, "seconds")
        for mode, samples in ((COLD, cold), (RESYNC, resync)):
            seconds = [s.seconds for s in samples]
            requests = _median(samples, "requests")
            lines.append(
                f"| {source} | {mode} | {statistics.median(seconds):.3f} | {min(seconds):.3f} "
                f"| {max(seconds):.3f} | {count_text(requests)} "
                f"| {count_text(_median(samples, 'body_bytes'))} "
                f"| {requests / plugins:.2f} | {_statuses(samples)} "
                f"| {base / statistics.median(seconds):.1f}x |"
            )
    return "\n".join(lines)


def targets(results: Results, plugins: int) -> dict[str, bool]:
    """Print the verdicts per source; return whether each met both targets."""
    verdict = {True: "PASS", False: "FAIL"}
    met = {}
    for source, (cold, resync) in results.items():
        speedup = _median(cold, "seconds") / _median(resync, "seconds")
        per_plugin = max(s.requests for s in resync) / plugins
        speed_ok = speedup >= TARGET_SPEEDUP
        requests_ok = per_plugin <= TARGET_REQUESTS_PER_PLUGIN
        print(
            f"{source}: re-sync >= {TARGET_SPEEDUP:g}x faster than cold: {speedup:.1f}x "
            f"{verdict[speed_ok]}; <= {TARGET_REQUESTS_PER_PLUGIN:g} conditional request per "
            f"plugin: {per_plugin:.2f} {verdict[requests_ok]}"
        )
        met[source] = speed_ok and requests_ok
    return met


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
        results = run(args, Path(tmp))
        repo = Path(tmp) / "repo" / "influxdata"
        total = sum(p.stat().st_size for p in repo.rglob("*") if p.is_file())
        files = sum(1 for p in repo.rglob("*") if p.is_file())
    print(
        f"{args.plugins} plugins, {files} repository files ({total:,} bytes in all), "
        f"{args.latency_ms:g} ms latency per request, concurrency {args.concurrency}, "
        f"{args.runs} runs; {platform.platform()}, {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}\n"
    )
    print(table(results, args.plugins))
    print()
    met = targets(results, args.plugins)
    # a source that publishes no hashes cannot vouch for a file without asking about it
    return 0 if met[REGISTRY] and met[TIER2] else 1


if __name__ == "__main__":
    sys.exit(main())
