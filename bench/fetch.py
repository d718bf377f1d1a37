"""Startup cost of fetching ``gh:`` plugin references: upstream InfluxDB 3 vs pluginmgr.

Run ``python bench/fetch.py [--runs 5] [--refs 50] [--latency-ms 20]``. It generates a plugin
repository (``--refs`` files at ``influxdata/plugin_NN/plugin_NN.py``, 10-70 KB of Python-looking
text, deterministic), serves it with `RepoServer` on 127.0.0.1 adding ``--latency-ms`` to every
request, and times one "start" (every reference fetched once) in each mode:

(a)  upstream: InfluxDB 3 calls ``reqwest::get(url)`` per reference: a new client and a new
     connection per call, one after the other, no cache. Emulated with ``httpx.get(url)``, which
     also builds a throw-away client per call; every answer must be a 200.
(a') the same with one TLS context built up front. A new httpx client loads the CA bundle (about
     20 ms with OpenSSL) even for http:// URLs; upstream's reqwest (``rustls-tls``, compiled-in
     roots) pays far less per client, so (a') is the conservative stand-in for upstream.
(b)  ours, warm with the lock: a new `PluginManager` per start (constructing it opens the store)
     and ``fetch_many(refs)``. The lock pins every reference and the store holds the bytes, so
     the server must see zero requests.
(c)  ours, revalidating: a new `PluginManager` per start and ``fetch_many(refs, refresh=True)``:
     conditional requests, at most 16 in flight; every answer must be a 304.
(d)  ``pluginmgr outdated --no-packages`` and
(e)  ``pluginmgr lock --upgrade --dry-run``, run in-process through the CLI (option parsing,
     the scratch store, the plan, the printed table): nothing changed upstream, so each must
     send one conditional request per file, get only 304s, exit 0 and write nothing. Their
     target is at most 1.2x the time of (c), the same revalidation without a plan.

Why the comparison is fair: every mode talks to the same server over the same loopback socket with
the same injected latency, in the same process (imports already paid for), interleaved round by
round so drift hits all alike, and is checked for doing the complete job (every reference, the
expected statuses, no errors). Our timings include building the manager and updating the lock
file. The one-off cold fetch that fills the store is shown as an extra row, outside the targets.
Bytes are response body bytes counted by the server; speedups are ratios of medians.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import random
import ssl
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx
from _common import MAX_SIZE, MIN_SIZE, WORDS, check, count_text

from pluginmgr.cli import main as cli_main
from pluginmgr.fetch.manager import PluginManager
from pluginmgr.settings import Settings
from pluginmgr.testing import RepoServer

SEED = 20261122
TARGET_SPEEDUP = 20.0

UPSTREAM = "(a) upstream: GET per reference"
UPSTREAM_TLS_ONCE = "(a') same, CA bundle loaded once"
WARM = "(b) ours, warm with lock"
REVALIDATE = "(c) ours, revalidating"
COLD = "(cold) ours first fetch"
OUTDATED = "(d) ours, `outdated`"
DRY_RUN = "(e) ours, `lock --upgrade --dry-run`"
TARGET_PLAN_RATIO = 1.2


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
    def worst(self) -> float:
        return max(s.seconds for s in self.samples)

    @property
    def requests(self) -> float:
        return statistics.mean(s.requests for s in self.samples)

    @property
    def body_bytes(self) -> float:
        return statistics.mean(s.body_bytes for s in self.samples)


# -- the plugin repository --------------------------------------------------------------------


def _function_block(rng: random.Random) -> str:
    name = "_".join(rng.sample(WORDS, 2))
    args = ", ".join(rng.sample(WORDS, rng.randint(1, 3)))
    lines = [
        f"def {name}_{rng.randint(0, 999)}(influxdb3_local, {args}):",
        f'    """Process the {rng.choice(WORDS)} for each {rng.choice(WORDS)}."""',
    ]
    for _ in range(rng.randint(4, 12)):
        left, right = rng.sample(WORDS, 2)
        lines.append(f"    {left} = {right}.get({rng.choice(WORDS)!r}, {rng.randint(0, 1000)})")
        if rng.random() < 0.3:
            lines.append(f'    influxdb3_local.info(f"{left}={{{left}}}")')
    lines.append(f"    return {rng.choice(WORDS)}\n\n")
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


@dataclass(frozen=True, slots=True)
class Mode:
    """A way of starting, and what the server must see during each start."""

    name: str
    start: Callable[[], None]
    requests: int
    status: int | None = None


def upstream_start(urls: Sequence[str], verify: ssl.SSLContext | None = None) -> None:
    """(a) ``reqwest::get`` per reference: new client, new connection, sequential, no cache.

    :param verify: a prebuilt TLS context for (a'); by default each client loads the CA bundle.
    """
    for url in urls:
        if verify is None:
            response = httpx.get(url)
        else:
            with httpx.Client(verify=verify) as client:
                response = client.get(url)
        check(response.status_code == 200, f"{url}: HTTP {response.status_code}")


def ours_start(settings: Settings, refs: Sequence[str], *, refresh: bool, origin: str) -> None:
    """(b)/(c) a fresh process state: build the manager (opens the store), fetch everything."""
    with PluginManager(settings) as manager:
        report = manager.fetch_many(refs, refresh=refresh)
    check(not report.errors, f"errors: {report.errors[:3]}")
    origins = {plugin.origin for plugin in report.plugins}
    check(len(report.plugins) == len(refs), f"{len(report.plugins)} of {len(refs)} fetched")
    check(origins == {origin}, f"expected every plugin {origin!r}, got {sorted(origins)}")


def cli_start(settings: Settings, *argv: str) -> None:
    """(d)/(e) one CLI command in this process, its output discarded; it must exit 0 (nothing
    would change) and leave the lock file as it was."""
    lock_before = settings.lock_path.read_bytes()
    common = ["--plugin-dir", str(settings.plugin_dir), "--plugin-repo", settings.plugin_repo]
    common += ["--cache-dir", str(settings.cache_dir), "--retries", "0"]
    with open(os.devnull, "w") as sink, contextlib.redirect_stdout(sink):
        code = cli_main([*argv, *common])
    check(code == 0, f"pluginmgr {' '.join(argv)} exited {code}")
    check(settings.lock_path.read_bytes() == lock_before, f"{argv}: the lock file changed")


def modes(settings: Settings, refs: Sequence[str], urls: Sequence[str]) -> tuple[Mode, list[Mode]]:
    """The untimed-in-comparison cold fetch, and the modes compared."""
    count, tls = len(refs), ssl.create_default_context()

    def ours(refresh: bool, origin: str) -> Callable[[], None]:
        return lambda: ours_start(settings, refs, refresh=refresh, origin=origin)

    cold = Mode(COLD, ours(False, "downloaded"), count, 200)
    return cold, [
        Mode(UPSTREAM, lambda: upstream_start(urls), count, 200),
        Mode(UPSTREAM_TLS_ONCE, lambda: upstream_start(urls, tls), count, 200),
        Mode(WARM, ours(False, "locked"), 0),
        Mode(REVALIDATE, ours(True, "not-modified"), count, 304),
        Mode(OUTDATED, lambda: cli_start(settings, "outdated", "--no-packages"), count, 304),
        Mode(DRY_RUN, lambda: cli_start(settings, "lock", "--upgrade", "--dry-run"), count, 304),
    ]


def _settled(server: RepoServer, expected: int) -> None:
    """Wait (untimed) until the server has recorded ``expected`` requests: it records each one
    just after sending the body, so the client can be done a moment earlier."""
    deadline = time.monotonic() + 2.0
    while len(server.requests) < expected and time.monotonic() < deadline:
        time.sleep(0.001)


def measure(server: RepoServer, mode: Mode) -> Sample:
    """Time one start, then check the server saw exactly what the mode promises."""
    server.reset()
    began = time.perf_counter()
    mode.start()
    seconds = time.perf_counter() - began
    _settled(server, mode.requests)
    seen = len(server.requests)
    statuses = sorted({r.status for r in server.requests})
    check(seen == mode.requests, f"{mode.name}: {seen} requests, expected {mode.requests}")
    check(
        mode.status is None or statuses == [mode.status],
        f"{mode.name}: expected only HTTP {mode.status}, server answered {statuses}",
    )
    return Sample(seconds, seen, server.bytes_sent)


def run(args: argparse.Namespace, repo: Path, tmp: Path) -> dict[str, Row]:
    """Serve ``repo``, prime our store, then time the modes round by round."""
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
        cold, timed = modes(settings, refs, urls)
        rows = {mode.name: Row(mode.name, []) for mode in timed}
        rows[COLD] = Row(COLD, [measure(server, cold)])
        for _ in range(args.runs):
            for mode in timed:  # interleaved, so drift affects every mode alike
                rows[mode.name].samples.append(measure(server, mode))
    return rows


# -- reporting --------------------------------------------------------------------------------


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:,.1f} ms"


def table(rows: dict[str, Row]) -> str:
    """The results as a Markdown table, speedups as ratios of medians against (a)."""
    upstream = rows[UPSTREAM].median
    lines = [
        "| mode | median | min | max | requests / start | body bytes / start | speedup vs (a) |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows.values():
        lines.append(
            f"| {row.mode} | {_ms(row.median)} | {_ms(row.best)} | {_ms(row.worst)} "
            f"| {count_text(row.requests)} | {count_text(row.body_bytes)} "
            f"| {upstream / row.median:.1f}x |"
        )
    return "\n".join(lines)


def targets(rows: dict[str, Row]) -> bool:
    """Print the issue's targets (against (a)) and return True if both hold."""
    upstream, warm, revalidate = rows[UPSTREAM], rows[WARM], rows[REVALIDATE]
    speedup = upstream.median / warm.median
    warm_ok = speedup >= TARGET_SPEEDUP and all(s.requests == 0 for s in warm.samples)
    bytes_ok = revalidate.body_bytes < upstream.body_bytes
    verdict = {True: "PASS", False: "FAIL"}
    print(f"target (b) >= {TARGET_SPEEDUP:g}x faster than (a) and 0 requests: {verdict[warm_ok]}")
    print(f"target (c) fewer bytes than (a): {verdict[bytes_ok]}")
    plans_ok = True
    for name in (OUTDATED, DRY_RUN):
        ratio = rows[name].median / revalidate.median
        one_each = all(s.requests == revalidate.samples[0].requests for s in rows[name].samples)
        ok = ratio <= TARGET_PLAN_RATIO and one_each
        plans_ok &= ok
        print(
            f"target {name.split(' ', 1)[0]} one conditional request per file and <= "
            f"{TARGET_PLAN_RATIO:g}x the time of (c): {verdict[ok]} ({ratio:.2f}x)"
        )
    conservative = rows[UPSTREAM_TLS_ONCE].median / warm.median
    print(f"(for reference: (b) is {speedup:.1f}x faster than (a), {conservative:.1f}x than (a'))")
    return warm_ok and bytes_ok and plans_ok


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
        repo = Path(tmp) / "repo"
        rows = run(args, repo, Path(tmp))
        total = sum(path.stat().st_size for path in repo.rglob("*.py"))
    print(
        f"{args.refs} gh: references ({total:,} bytes in all), {args.latency_ms:g} ms latency "
        f"per request, {args.runs} runs per mode; {platform.platform()}, "
        f"{os.cpu_count()} CPUs, Python {platform.python_version()}\n"
    )
    print(table(rows))
    print()
    return 0 if targets(rows) else 1


if __name__ == "__main__":
    sys.exit(main())
