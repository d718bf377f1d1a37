"""Fleet apply of 20 plugins and 30 triggers to 3 nodes, then a no-change plan.

Run ``python bench/fleet.py [--runs 5] [--plugins 20] [--triggers 30]``. It starts three real
``pluginmgr serve`` processes on 127.0.0.1 with auth on (each node its own admin token, read
by the fleet file's ``token-env``), writes a fleet file whose nodes have every role, and
``--plugins`` local plugins (10-40 KB each, deterministic) beside it, used by ``--triggers``
triggers (WAL, schedule and request triggers in turn), so every node gets every plugin and
trigger. Timed: the lock (first build, then a warm rebuild), the first apply, and a plan
with nothing changed (median of ``--runs``). The no-change plan must send no upload, no
install and no other write (requests are counted by an httpx hook); the apply must leave every
trigger on every node, and a second plan must be empty, or the script fails.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # for tests.*

from _common import WORDS, check, machine_line
from _serve import ServerProcess

from pluginmgr.fleet import apply_fleet, build_lock, plan_fleet, read_fleet_file
from tests.wheels import build_project_wheels

#: packages the plugins declare: every other plugin one ``fleet-pkg-N``, each needing
#: ``fleet-common`` (built into a find-links folder the nodes install from)
PACKAGES = 10

ENTRY = {
    "table": "def process_writes(influxdb3_local, table_batches, args=None):\n    pass\n",
    "every": "def process_scheduled_call(influxdb3_local, call_time, args=None):\n    pass\n",
    "request": (
        "def process_request(influxdb3_local, query_parameters, request_headers, "
        "request_body, args=None):\n    return {}\n"
    ),
}
KINDS = ("table", "every", "request")


def _plugin_text(rng: random.Random, kind: str, index: int) -> str:
    """10-40 KB of Python-looking text; every other plugin declares a package (PEP 723)."""
    size = rng.randint(10_000, 40_000)
    words: list[str] = []
    while sum(len(w) + 1 for w in words) < size:
        words.append(rng.choice(WORDS))
    body = "\n".join(f"# {' '.join(words[i : i + 12])}" for i in range(0, len(words), 12))
    header = ""
    if index % 2:
        header = f'# /// script\n# dependencies = ["fleet-pkg-{index // 2 % PACKAGES}"]\n# ///\n'
    return f'{header}"""Bench plugin {index}."""\n{body}\n{ENTRY[kind]}'


def _fleet_file(
    root: Path, nodes: list[ServerProcess], plugins: int, triggers: int, wheels: Path
) -> Path:
    rng = random.Random(7)
    lines = [f'find-links = ["{wheels}"]', "no-index = true", 'databases = ["bench"]']
    for index, node in enumerate(nodes):
        os.environ[f"BENCH_TOKEN_{index}"] = node.token
        lines += ["[[nodes]]", f'name = "node-{index}"', f'url = "{node.url}"']
        lines.append(f'token-env = "BENCH_TOKEN_{index}"')
    for index in range(plugins):
        kind = KINDS[index % 3]
        (root / f"plugin_{index:02d}.py").write_text(_plugin_text(rng, kind, index))
    for index in range(triggers):
        number = index % plugins
        kind = KINDS[number % 3]
        spec = {"table": f"table:t{index}", "every": "every:1h", "request": f"request:r{index}"}
        lines += ["[[triggers]]", f'name = "trigger_{index:02d}"', 'database = "bench"']
        lines += [
            f'spec = "{spec[kind]}"',
            f'plugin = "plugin_{number:02d}.py"',
            'roles = ["ingest", "query", "process"]',
        ]
        lines.append(f'arguments = {{ index = "{index}" }}')
    path = root / "fleet.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def _counter(counts: Counter[tuple[str, str]]) -> Callable[[httpx.Request], None]:
    return lambda request: counts.update([(request.method, request.url.path)])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--plugins", type=int, default=20)
    parser.add_argument("--triggers", type=int, default=30)
    options = parser.parse_args()
    load = os.getloadavg()[0]
    procs: list[subprocess.Popen[bytes]] = []
    with tempfile.TemporaryDirectory(prefix="bench-fleet-") as scratch:
        root = Path(scratch)
        os.environ["XDG_CACHE_HOME"] = str(root / "xdg")
        for name in [n for n in os.environ if n.startswith(("UV_", "PIP_"))]:
            del os.environ[name]
        os.environ.update(UV_CACHE_DIR=str(root / "uv-cache"), UV_NO_CONFIG="1")
        os.environ["UV_PYTHON_DOWNLOADS"] = "never"
        projects = [(f"fleet-pkg-{i}", "1.0", ["fleet-common"]) for i in range(PACKAGES)]
        projects.append(("fleet-common", "1.0", []))
        wheels = build_project_wheels(projects, root / "projects", root / "wheels")
        serve_args = ("--find-links", str(wheels), "--no-index")
        nodes = [
            ServerProcess(root / f"node{i}", "1s", procs, extra_args=serve_args) for i in range(3)
        ]
        try:
            for node in nodes:
                node.start()
            (root / "fleet").mkdir()
            path = _fleet_file(root / "fleet", nodes, options.plugins, options.triggers, wheels)
            fleet = read_fleet_file(path)

            began = time.perf_counter()
            build_lock(fleet)
            first_lock = time.perf_counter() - began
            began = time.perf_counter()
            lock = build_lock(fleet)
            warm_lock = time.perf_counter() - began

            seen: Counter[tuple[str, str]] = Counter()
            began = time.perf_counter()
            result = apply_fleet(fleet, on_request=_counter(seen))
            applied = time.perf_counter() - began
            check(not result.failed, f"apply failed: {[o.error for o in result.failed]}")
            for node in nodes:
                rows = httpx.get(
                    f"{node.url}/api/v3/query_sql",
                    params={
                        "db": "bench",
                        "q": "SELECT trigger_name FROM system.processing_engine_triggers",
                        "format": "json",
                    },
                    headers=node.headers,
                ).json()
                check(len(rows) == options.triggers, f"{node.url} has {len(rows)} triggers")

            plans: list[float] = []
            writes: Counter[tuple[str, str]] = Counter()
            requests = 0
            for _ in range(options.runs):
                calls: Counter[tuple[str, str]] = Counter()
                began = time.perf_counter()
                _lock, plan = plan_fleet(fleet, on_request=_counter(calls))
                plans.append(time.perf_counter() - began)
                check(plan.pending == 0 and not plan.failed, "the second plan is not empty")
                writes.update({k: v for k, v in calls.items() if k[0] != "GET"})
                requests = sum(calls.values())
            check(not writes, f"a no-change plan sent writes: {dict(writes)}")
        finally:
            for node in nodes:
                node.stop()
    uploads = seen[("POST", "/api/v3/plugins/files")]
    installs = seen[("POST", "/api/v3/configure/plugin_environment/install_packages")]
    creates = seen[("POST", "/api/v3/configure/processing_engine_trigger")]
    print(
        f"fleet: 3 nodes, {options.plugins} plugins, {options.triggers} triggers per node "
        f"({sum(len(p.files) for p in lock.plugins.values())} files and "
        f"{len(lock.packages)} packages locked)\n"
    )
    print("| step | time | requests |")
    print("|---|---|---|")
    print(f"| lock, first build (uv resolves the packages) | {first_lock:.2f} s | 0 |")
    print(f"| lock, unchanged (no resolver) | {warm_lock:.2f} s | 0 |")
    print(
        f"| apply, 3 nodes in parallel | {applied:.2f} s | {sum(seen.values())} "
        f"({uploads} uploads, {installs} installs, {creates} trigger creates) |"
    )
    print(
        f"| plan, nothing changed (median of {options.runs}) | {statistics.median(plans):.2f} s "
        f"| {requests} (all GET: 0 uploads, 0 installs) |"
    )
    print()
    print(machine_line(load))
    return 0


if __name__ == "__main__":
    sys.exit(main())
