"""Startup cost of fetching ``gh:`` plugin references: upstream InfluxDB 3 vs pluginmgr.

One process generates a plugin repository (``--refs`` files at ``influxdata/plugin_NN/
plugin_NN.py``, 10-70 KB of Python-looking text, deterministic), serves it with `RepoServer` on
127.0.0.1 with ``--latency-ms`` added to every request, and times one "start" (every reference
fetched once) in three modes:

(a) upstream: InfluxDB 3 calls ``reqwest::get(url)`` per reference: a new client and a new
    connection per call, one after the other, no cache. Emulated with ``httpx.get(url)``, which
    also builds a throw-away client per call; each answer must be a 200.
(b) ours, warm with the lock: a new `PluginManager` per start (constructing it opens the store)
    and ``fetch_many(refs)``. The lock file pins every reference and the store holds the bytes,
    so the server must see zero requests.
(c) ours, revalidating: a new `PluginManager` per start and ``fetch_many(refs, refresh=True)``:
    conditional requests, 8 at a time; every answer must be a 304.

Why the comparison is fair: all modes talk to the same server over the same loopback socket with
the same injected latency, run in the same process (imports already paid for by every mode), are
interleaved round by round so drift hits them alike, and each is checked for doing the complete
job (all references present, the expected statuses, no errors). Our timings include building the
manager and writing the lock file; the one-off cold fetch that fills the store is shown as an
extra row but excluded from the comparison. Bytes are response body bytes counted by the server.
"""

from __future__ import annotations

import argparse
import platform
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx

from pluginmgr.manager import PluginManager
from pluginmgr.settings import Settings
from pluginmgr.testing import RepoServer

SEED = 20261122
MIN_SIZE, MAX_SIZE = 10_000, 70_000
TARGET_SPEEDUP = 20.0

_WORDS = (
    "measurement field tag window point series bucket database trigger batch threshold alert "
    "downsample aggregate interval schedule payload record table value timestamp cache"
).split()


class BenchError(RuntimeError):
    """A mode did not do the complete job, so its timing would mean nothing."""


@dataclass(frozen=True, slots=True)
class Sample:
    """One start: wall time and what the server saw during it."""

    seconds: float
    requests: int
    body_bytes: int


@dataclass(frozen=True, slots=True)
class Row:
    """One line of the results table."""

    mode: str
    samples: list[Sample]

    @property
    def median(self) -> float:
        return statistics.median(s.seconds for s in self.samples)

    @property
    def best(self) -> float:
        return min(s.seconds for s in self.samples)

    @property
    def requests(self) -> float:
        return statistics.mean(s.requests for s in self.samples)

    @property
    def body_bytes(self) -> float:
        return statistics.mean(s.body_bytes for s in self.samples)


# -- the plugin repository --------------------------------------------------------------------


def _function_block(rng: random.Random) -> str:
    name = "_".join(rng.sample(_WORDS, 2))
    args = ", ".join(rng.sample(_WORDS, rng.randint(1, 3)))
    lines = [
        f"def {name}_{rng.randint(0, 999)}(influxdb3_local, {args}):",
        f'    """Process the {rng.choice(_WORDS)} for each {rng.choice(_WORDS)}."""',
    ]
    for _ in range(rng.randint(4, 12)):
        left, right = rng.sample(_WORDS, 2)
        lines.append(f"    {left} = {right}.get({rng.choice(_WORDS)!r}, {rng.randint(0, 1000)})")
        if rng.random() < 0.3:
            lines.append(f'    influxdb3_local.info(f"{left}={{{left}}}")')
    lines.append(f"    return {rng.choice(_WORDS)}\n\n")
    return "\n".join(lines) + "\n"


def plugin_source(rng: random.Random, number: int) -> bytes:
    """A Python-looking plugin of 10-70 KB, the same for the same generator state."""
    size = rng.randint(MIN_SIZE, MAX_SIZE)
    parts = [
        f'"""plugin_{number:02d}: process WAL data for InfluxDB 3."""\n\n',
        "import json\nimport time\nfrom datetime import datetime, timezone\n\n\n",
    ]
    length = sum(map(len, parts))
    while length < size:
        parts.append(_function_block(rng))
        length += len(parts[-1])
    return "".join(parts)[:size].encode()


def make_repository(root: Path, count: int) -> list[str]:
    """Write ``count`` plugins under ``root`` and return their ``gh:`` references."""
    rng = random.Random(SEED)
    refs = []
    for number in range(count):
        path = f"influxdata/plugin_{number:02d}/plugin_{number:02d}.py"
        (root / path).parent.mkdir(parents=True)
        (root / path).write_bytes(plugin_source(rng, number))
        refs.append(f"gh:{path}")
    return refs


# -- the modes --------------------------------------------------------------------------------


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise BenchError(message)


def _settled(server: RepoServer, expected: int) -> None:
    """Wait (untimed) until the server has recorded ``expected`` requests: it records each one
    just after sending the body, so the client can be done a moment earlier."""
    deadline = time.monotonic() + 2.0
    while len(server.requests) < expected and time.monotonic() < deadline:
        time.sleep(0.001)


def upstream_start(urls: Sequence[str]) -> None:
    """(a) ``reqwest::get`` per reference: new client, new connection, sequential, no cache."""
    for url in urls:
        response = httpx.get(url)
        _check(response.status_code == 200, f"{url}: HTTP {response.status_code}")


def ours_start(settings: Settings, refs: Sequence[str], *, refresh: bool, origin: str) -> None:
    """(b)/(c) a fresh process state: build the manager (opens the store), fetch everything."""
    with PluginManager(settings) as manager:
        report = manager.fetch_many(refs, refresh=refresh)
    _check(not report.errors, f"errors: {report.errors[:3]}")
    origins = {plugin.origin for plugin in report.plugins}
    _check(len(report.plugins) == len(refs), f"{len(report.plugins)} of {len(refs)} fetched")
    _check(origins == {origin}, f"expected every plugin {origin!r}, got {sorted(origins)}")


@dataclass(frozen=True, slots=True)
class Mode:
    """A way of starting, and what the server must see during each start."""

    name: str
    start: Callable[[], None]
    requests: int
    status: int | None = None


def ours_start_cold(settings: Settings, refs: Sequence[str]) -> Callable[[], None]:
    """The one-off fetch that fills the store and writes the lock file."""
    return lambda: ours_start(settings, refs, refresh=False, origin="downloaded")


def measure(server: RepoServer, mode: Mode) -> Sample:
    """Time one start, then check the server saw exactly what the mode promises."""
    server.reset()
    began = time.perf_counter()
    mode.start()
    seconds = time.perf_counter() - began
    _settled(server, mode.requests)
    statuses = sorted({r.status for r in server.requests})
    _check(
        len(server.requests) == mode.requests,
        f"{mode.name}: server saw {len(server.requests)} requests, expected {mode.requests}",
    )
    _check(
        mode.status is None or statuses == [mode.status],
        f"{mode.name}: expected only HTTP {mode.status}, server answered {statuses}",
    )
    return Sample(seconds, len(server.requests), server.bytes_sent)


# -- running and reporting --------------------------------------------------------------------


def modes(settings: Settings, refs: Sequence[str], urls: Sequence[str]) -> list[Mode]:
    n = len(refs)

    def ours(refresh: bool, origin: str) -> Callable[[], None]:
        return lambda: ours_start(settings, refs, refresh=refresh, origin=origin)

    return [
        Mode("(a) upstream: GET per reference", lambda: upstream_start(urls), n, 200),
        Mode("(b) ours, warm with lock", ours(False, "locked"), 0),
        Mode("(c) ours, revalidating", ours(True, "not-modified"), n, 304),
    ]


def run(args: argparse.Namespace, tmp: Path) -> tuple[Row, list[Row]]:
    """Build the repository, prime our store, then time the three modes round by round."""
    repo = tmp / "repo"
    refs = make_repository(repo, args.refs)
    with RepoServer(repo, latency=args.latency_ms / 1000) as server:
        urls = [server.url + ref.removeprefix("gh:") for ref in refs]
        settings = Settings(
            plugin_dir=tmp / "plugins",
            plugin_repo=server.url,
            cache_dir=tmp / "cache",
            lock_path=tmp / "plugins" / "plugins.lock",
            retries=0,
        )
        prime = Mode("(cold) ours first fetch", ours_start_cold(settings, refs), len(refs), 200)
        cold = Row(prime.name, [measure(server, prime)])
        timed = modes(settings, refs, urls)
        samples: dict[str, list[Sample]] = {mode.name: [] for mode in timed}
        for _ in range(args.runs):
            for mode in timed:  # interleaved, so drift affects every mode alike
                samples[mode.name].append(measure(server, mode))
    return cold, [Row(name, runs) for name, runs in samples.items()]


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def _count(value: float) -> str:
    return f"{value:,.0f}" if value == int(value) else f"{value:,.1f}"


def table(upstream: Row, rows: Sequence[Row]) -> str:
    lines = [
        "| mode | median | min | requests / start | body bytes / start | speedup vs (a) |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        speedup = upstream.median / row.median
        lines.append(
            f"| {row.mode} | {_ms(row.median)} | {_ms(row.best)} | {_count(row.requests)} "
            f"| {_count(row.body_bytes)} | {speedup:.1f}x |"
        )
    return "\n".join(lines)


def targets(upstream: Row, warm: Row, revalidate: Row) -> bool:
    """Print the issue's targets and return True if both hold."""
    warm_ok = upstream.median / warm.median >= TARGET_SPEEDUP and all(
        s.requests == 0 for s in warm.samples
    )
    bytes_ok = revalidate.body_bytes < upstream.body_bytes
    verdict = {True: "PASS", False: "FAIL"}
    print(f"target (b) >= {TARGET_SPEEDUP:g}x faster than (a) and 0 requests: {verdict[warm_ok]}")
    print(f"target (c) fewer bytes than (a): {verdict[bytes_ok]}")
    return warm_ok and bytes_ok


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=5, help="starts timed per mode (default 5)")
    parser.add_argument("--refs", type=int, default=50, help="gh: references (default 50)")
    parser.add_argument(
        "--latency-ms", type=float, default=20.0, help="added per request (default 20)"
    )
    args = parser.parse_args(argv)
    if args.runs < 1 or args.refs < 1 or args.latency_ms < 0:
        parser.error("--runs and --refs must be >= 1, --latency-ms >= 0")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="pluginmgr-bench-") as tmp:
        cold, rows = run(args, Path(tmp))
        total = sum(p.stat().st_size for p in (Path(tmp) / "repo").rglob("*.py"))
    upstream, warm, revalidate = rows
    print(
        f"{args.refs} gh: references ({total:,} bytes in all), {args.latency_ms:g} ms latency "
        f"per request, {args.runs} runs per mode, {platform.platform()}, "
        f"Python {platform.python_version()}\n"
    )
    print(table(upstream, [*rows, cold]))
    print()
    return 0 if targets(upstream, warm, revalidate) else 1


if __name__ == "__main__":
    sys.exit(main())
