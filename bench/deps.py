"""The dependency set's speed at 10, 50 and 200 plugins, against a loopback package index.

Run ``python bench/deps.py [--runs 5] [--sizes 10,50,200] [--only startup,lock,server]``. One
wheelhouse of synthetic packages (`_deps_fixtures`) is served by a loopback PyPI-like index;
each size gets a node of N local plugins in use, each declaring one package that pulls in
two more levels (about 1.75 N packages), plus the operator's ``bench-humanize<4``. Every
ratio compares modes measured side by side in this run, interleaved round by round.

* **startup** (whole processes, medians): ``pluginmgr --version``; ``--help``; a no-op
  ``install package 'bench-humanize<4'`` and a no-op ``install deps plugin_000/...`` on a node
  whose lock is fresh and whose venv matches it. Goals: no-op <= 4x ``--version`` (and no
  request to the index, no uv process), ``--help`` <= 2.5x ``--version``.
* **lock**: (a) ``uv pip compile <the N declarations + requirements.in> --format pylock.toml
  --generate-hashes`` then ``uv pip sync`` run directly; (b) `DependencySet.lock`, the
  old-version check against the index, then `DependencySet.sync` in-process, as ``deps lock``
  and ``deps sync`` run them (every declaration read, who-needs-what, the lock written, the
  freshness check, the hash-checked sync); (c) `DependencySet.apply` (lock and sync in one
  transaction, no old-version check: what ``install package`` and the server run); (d)
  ``pluginmgr deps lock`` + ``pluginmgr deps sync`` as two processes (the check included).
  Fresh plugin dir and empty venv each round, uv's cache warm for all. Goal: (b) <= 1.3x (a).
* **server**: ``pluginmgr serve`` from process start to ``/health`` with N triggers (one per
  plugin) in the catalog, the lock fresh and the venv synced; and creating N triggers
  in-process (`create_trigger`, the server's route) over those plugins, counting uv processes.
  Goal: both grow linearly, and creating a trigger whose requirements are locked starts no uv.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Final

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # for tests.*

from _bench_server import serve_seconds, trigger_creation
from _common import check
from _deps_fixtures import (
    OPERATOR_SPEC,
    build_wheels,
    cli_env,
    make_node,
    package_closure,
    plugin_name,
    run_cli,
)
from _index_process import PackageIndex, served_index

from pluginmgr import PluginManager, Settings
from pluginmgr.deps.age import old_versions
from pluginmgr.deps.dependency_set import DependencySet
from pluginmgr.deps.installers import InstallOptions, find_uv
from pluginmgr.deps.venv import PluginEnv, bundled_python, default_venv_path

TARGET_NOOP: Final = 4.0
TARGET_HELP: Final = 2.5
TARGET_LOCK: Final = 1.3
_NOOP_OUT: Final = "nothing to install: the venv already matches pylock.toml"


def _median_ms(values: list[float]) -> float:
    return statistics.median(values) * 1000


def _verdict(ratio: float, goal: float) -> str:
    return f"{ratio:.2f}x {'PASS' if ratio <= goal else 'FAIL'}"


def _timed(run: Callable[[], object]) -> float:
    began = time.perf_counter()
    run()
    return time.perf_counter() - began


def _new_venv(plugin_dir: Path) -> None:
    venv = default_venv_path(plugin_dir)
    subprocess.run(
        [find_uv()[0], "venv", "-q", "--python", bundled_python(), venv], check=True, timeout=120
    )


def _check_venv(plugin_dir: Path, plugins: int, label: str) -> None:
    got = PluginEnv(default_venv_path(plugin_dir)).installed()
    want = package_closure(plugins)
    check(got == want, f"{label}: the venv holds {len(got)} packages, not the {len(want)} locked")


def _synced_node(root: Path, plugins: int, index_url: str, env: dict[str, str]) -> Path:
    """A node of ``plugins`` plugins, locked and synced through the CLI."""
    plugin_dir = root / "plugins"
    plugin_dir.mkdir(parents=True)
    make_node(plugin_dir, plugins)
    (plugin_dir / "requirements.in").write_text(f"{OPERATOR_SPEC}\n")
    sources = ["--plugin-dir", str(plugin_dir), "--index-url", index_url]
    run_cli(["deps", "lock", *sources, "--cache-dir", str(root / "cache")], env, root)
    run_cli(["deps", "sync", *sources, "--cache-dir", str(root / "cache")], env, root)
    _check_venv(plugin_dir, plugins, "the node")
    return plugin_dir


# -- startup ----------------------------------------------------------------------------------


def startup(root: Path, plugins: int, index: PackageIndex, runs: int, env: dict[str, str]) -> None:
    plugin_dir = _synced_node(root, plugins, index.url, env)
    settings = ["--plugin-dir", str(plugin_dir), "--index-url", index.url]
    settings += ["--cache-dir", str(root / "cache")]
    commands = {
        "`pluginmgr --version`": ["--version"],
        "`pluginmgr --help`": ["--help"],
        f"no-op `install package '{OPERATOR_SPEC}'`": [
            "install",
            "package",
            OPERATOR_SPEC,
            *settings,
        ],
        "no-op `install deps plugin_000/plugin_000.py`": [
            "install",
            "deps",
            plugin_name(0),
            *settings,
        ],
    }
    times: dict[str, list[float]] = {label: [] for label in commands}
    lock = (plugin_dir / "pylock.toml").read_bytes()
    for round_number in range(runs + 1):  # round 0 writes byte-code and warms the disk cache
        order = list(commands.items())
        for label, args in order if round_number % 2 else reversed(order):
            before = len(index.requests)
            began = time.perf_counter()
            done = run_cli(args, env, root)
            seconds = time.perf_counter() - began
            if args[0] == "install":
                check(_NOOP_OUT in done.stdout, f"{label} did something: {done.stdout}")
                check(len(index.requests) == before, f"{label} asked the index")
            if round_number:
                times[label].append(seconds)
    check((plugin_dir / "pylock.toml").read_bytes() == lock, "a no-op changed pylock.toml")
    version = statistics.median(times["`pluginmgr --version`"])
    print(f"\n#### startup, {plugins} plugins ({len(package_closure(plugins))} packages)\n")
    print("| command (whole process) | median | vs `--version` | goal |")
    print("|---|---:|---:|---|")
    for label, values in times.items():
        ratio = statistics.median(values) / version
        goal = TARGET_HELP if "help" in label else TARGET_NOOP if "no-op" in label else None
        shown = "" if goal is None else _verdict(ratio, goal)
        print(f"| {label} | {_median_ms(values):.1f} ms | {ratio:.2f}x | {shown} |")


# -- lock + sync ------------------------------------------------------------------------------


def _uv_direct(root: Path, plugins: int, index_url: str) -> float:
    plugin_dir = root / "plugins"
    plugin_dir.mkdir(parents=True)
    make_node(plugin_dir, plugins)
    _new_venv(plugin_dir)
    inputs = []
    for i in range(plugins):
        path = root / f"r{i}.in"
        path.write_text(f"bench-a-{i:03d}\n")
        inputs.append(str(path))
    (root / "operator.in").write_text(f"{OPERATOR_SPEC}\n")
    uv, python = find_uv()[0], default_venv_path(plugin_dir) / "bin" / "python"
    lock = plugin_dir / "pylock.toml"
    compile_ = [uv, "pip", "compile", *inputs, str(root / "operator.in"), "--quiet"]
    compile_ += ["--python", bundled_python(), "--index-url", index_url]
    compile_ += ["--format", "pylock.toml", "--generate-hashes", "-o", lock]
    sync = [uv, "pip", "sync", "--quiet", "--python", python, "--index-url", index_url]
    sync += ["--preview-features", "pylock", lock]
    seconds = _timed(lambda: [subprocess.run(c, check=True, timeout=600) for c in (compile_, sync)])
    _check_venv(plugin_dir, plugins, "uv directly")
    return seconds


def _our_node(root: Path, plugins: int) -> Path:
    plugin_dir = root / "plugins"
    plugin_dir.mkdir(parents=True)
    make_node(plugin_dir, plugins)
    (plugin_dir / "requirements.in").write_text(f"{OPERATOR_SPEC}\n")
    _new_venv(plugin_dir)
    return plugin_dir


def _lock_check_sync(deps: DependencySet) -> None:
    """What ``deps lock`` then ``deps sync`` run: the lock, the old-version check against the
    index (`pluginmgr.deps.age`), the sync."""
    plan = deps.lock()
    uv = find_uv()[0]
    old_versions(plan.lock, uv=uv, python=deps.env.python, sources=deps.sources)
    deps.sync()


def _ours(root: Path, plugins: int, index_url: str, *, apply: bool = False) -> float:
    """`DependencySet.lock`, the old-version check, then `.sync`, as ``deps lock`` and ``deps
    sync`` run them (``apply``: `.apply`, lock and sync in one transaction and no old-version
    check, what ``install package`` and the server run), in this process."""
    plugin_dir = _our_node(root, plugins)
    settings = Settings(
        plugin_dir=plugin_dir, cache_dir=root / "cache", lock_path=plugin_dir / "plugins.lock"
    )
    sources = InstallOptions(index_url=index_url)
    with PluginManager(settings) as manager:
        env = PluginEnv(default_venv_path(plugin_dir))
        deps = DependencySet(manager, env, plugin_dir, sources=sources)
        seconds = _timed(deps.apply if apply else lambda: _lock_check_sync(deps))
    _check_venv(plugin_dir, plugins, "pluginmgr")
    return seconds


def _our_cli(root: Path, plugins: int, index_url: str, env: dict[str, str]) -> float:
    """``pluginmgr deps lock`` then ``pluginmgr deps sync``, two whole processes."""
    plugin_dir = _our_node(root, plugins)
    args = ["--plugin-dir", str(plugin_dir), "--index-url", index_url]
    args += ["--cache-dir", str(root / "cache")]
    seconds = _timed(
        lambda: [run_cli(["deps", verb, *args], env, root) for verb in ("lock", "sync")]
    )
    _check_venv(plugin_dir, plugins, "pluginmgr (CLI)")
    return seconds


def lock_and_sync(root: Path, plugins: int, index_url: str, runs: int, env: dict[str, str]) -> None:
    modes: dict[str, Callable[[Path], float]] = {
        "uv": lambda where: _uv_direct(where, plugins, index_url),
        "ours": lambda where: _ours(where, plugins, index_url),
        "apply": lambda where: _ours(where, plugins, index_url, apply=True),
        "cli": lambda where: _our_cli(where, plugins, index_url, env),
    }
    times: dict[str, list[float]] = {label: [] for label in modes}
    for round_number in range(runs + 1):  # round 0 warms uv's cache for both
        order = list(modes.items())
        for label, run in order if round_number % 2 else reversed(order):
            where = root / f"{label}-{round_number}"
            seconds = run(where)
            shutil.rmtree(where)
            if round_number:
                times[label].append(seconds)
    uv, ours = statistics.median(times["uv"]), statistics.median(times["ours"])
    print(f"\n#### lock + sync, {plugins} plugins ({len(package_closure(plugins))} packages)\n")
    print("| mode | median |")
    print("|---|---:|")
    print(f"| (a) `uv pip compile --format pylock.toml` + `uv pip sync` | {uv * 1000:.0f} ms |")
    print(f"| (b) `deps lock` + `deps sync` (in-process) | {ours * 1000:.0f} ms |")
    print(f"| ratio (b)/(a), goal <= {TARGET_LOCK} | {_verdict(ours / uv, TARGET_LOCK)} |")
    apply, cli = statistics.median(times["apply"]), statistics.median(times["cli"])
    print(f"| (c) `DependencySet.apply`, one step (in-process) | {apply * 1000:.0f} ms |")
    print(f"| ratio (c)/(a) | {apply / uv:.2f}x |")
    print(f"| (d) `deps lock` + `deps sync`, two CLI processes | {cli * 1000:.0f} ms |")
    print(f"| ratio (d)/(a) | {cli / uv:.2f}x |")


# -- server -----------------------------------------------------------------------------------


def server(root: Path, plugins: int, index: PackageIndex, runs: int, env: dict[str, str]) -> None:
    plugin_dir = _synced_node(root, plugins, index.url, env)
    starts = [serve_seconds(root, plugin_dir, plugins, env) for _ in range(runs)]
    created, uv_runs = trigger_creation(root, plugin_dir, plugins, index.url)
    print(f"\n#### server, {plugins} triggers\n")
    print("| measurement | result | per trigger |")
    print("|---|---:|---:|")
    start = statistics.median(starts)
    print(f"| `serve` start to `/health` (median of {runs}) | {start:.2f} s | |")
    per = created / plugins * 1000
    print(f"| creating {plugins} triggers in-process | {created:.2f} s | {per:.1f} ms |")
    print(f"| uv processes started by those creations | {uv_runs} | |")
    check(uv_runs == 0, "creating a trigger whose requirements are locked started uv")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--sizes", default="10,50,200")
    parser.add_argument("--only", default="startup,lock,server")
    args = parser.parse_args()
    sizes = [int(size) for size in args.sizes.split(",")]
    parts = set(args.only.split(","))
    uv_version = subprocess.run(
        [find_uv()[0], "--version"], capture_output=True, text=True, check=True
    ).stdout.strip()
    print(
        f"Python {platform.python_version()}, {uv_version}, {platform.machine()}, "
        f"median of {args.runs} runs; index: {PackageIndex.__module__}"
    )
    with tempfile.TemporaryDirectory(prefix="bench-deps-") as tmp:
        work = Path(tmp)
        wheels = build_wheels(work / "build")
        env = cli_env(work / "uv-cache")
        os.environ.update({k: v for k, v in env.items() if k.startswith("UV_")})  # in-process
        # the lock rows time pluginmgr in this process: the index runs in another one
        with PackageIndex(wheels) as index, served_index(wheels) as index_url:
            for size in sizes:
                if "startup" in parts:
                    startup(work / f"startup-{size}", size, index, args.runs, env)
                if "lock" in parts:
                    lock_and_sync(
                        work / f"lock-{size}", size, index_url, max(3, args.runs // 2), env
                    )
                if "server" in parts:
                    server(work / f"server-{size}", size, index, max(1, args.runs // 2), env)


if __name__ == "__main__":
    main()
