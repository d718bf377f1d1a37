"""Locking and syncing the plugin venv: pluginmgr vs uv run directly, same inputs, one run.

Run ``python bench/deps.py [--runs 5]``. It builds a wheelhouse of 30 generated pure-Python
packages (a dependency graph three levels deep) and a plugin dir of 10 plugins whose declared
requirements (manifest.toml and PEP 723, a few shared) pull in all 30. Modes, interleaved round
by round, each in a fresh plugin dir with an empty venv already made (so neither side pays for
``uv venv``), uv's cache warm for both (filled once before the first round):

(a) uv directly: ``uv pip compile <the 10 declarations> --format pylock.toml --generate-hashes``
    then ``uv pip sync pylock.toml`` (offline, ``--no-index --find-links W``).
(b) pluginmgr: `DependencySet.lock` then `DependencySet.sync`, in-process: reading every
    declaration, the runtime's distributions as constraints, both uv runs of the resolution (the
    annotated one gives ``required-by``), writing pylock.toml, checking it is fresh, the
    hash-checked ``uv pip sync``.
(c) the no-op sync in-process: `DependencySet.sync` on a venv that already matches (what a
    server does at start), median of 20 calls.

Each mode is checked for doing the whole job: the venv holds exactly the 30 packages.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Final

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # for tests.wheels

from _common import check

from pluginmgr import PluginManager, Settings
from pluginmgr.dependency_set import DependencySet
from pluginmgr.installers import InstallOptions, find_uv
from pluginmgr.plugins_in import TRIGGER, record_plugins
from pluginmgr.venv import PluginEnv, bundled_python, default_venv_path
from tests.wheels import build_wheel

PACKAGES: Final = 30
PLUGINS: Final = 10
TARGET_RATIO: Final = 1.3
TARGET_NOOP_SECONDS: Final = 0.100


def _name(index: int) -> str:
    return f"bench-dep-{index:02d}"


def _requires(index: int) -> list[str]:
    """Packages 0-9 need two of 10-19; 10-19 need one of 20-29; 20-29 need nothing."""
    if index < 10:
        return [_name(10 + index), _name(10 + (index + 3) % 10)]
    if index < 20:
        return [_name(20 + index - 10)]
    return []


def build_wheels(root: Path) -> Path:
    out = root / "wheels"
    for index in range(PACKAGES):
        folder = root / "projects" / _name(index)
        package = folder / _name(index).replace("-", "_")
        package.mkdir(parents=True)
        (package / "__init__.py").write_text(f"VALUE = {index}\n" + "x = 1\n" * 200)
        deps = ", ".join(json.dumps(d) for d in _requires(index))
        project = f'name = "{_name(index)}"\nversion = "1.{index}.0"\ndependencies = [{deps}]\n'
        (folder / "pyproject.toml").write_text(f"[project]\n{project}")
        build_wheel(folder, out)
    return out


def plugin_declarations() -> list[list[str]]:
    """Plugin i declares package i (level 0) and, for some, a shared level-2 package too."""
    return [[_name(i), *([_name(20 + i)] if i % 2 else [])] for i in range(PLUGINS)]


def make_plugin_dir(root: Path) -> Path:
    plugin_dir = root / "plugins"
    body = "def process_writes(influxdb3_local, table_batches, args=None):\n    pass\n"
    for index, requirements in enumerate(plugin_declarations()):
        listed = ", ".join(json.dumps(r) for r in requirements)
        folder = plugin_dir / f"plugin_{index}"
        folder.mkdir(parents=True)
        if index % 2:
            (folder / f"plugin_{index}.py").write_text(
                f"# /// script\n# dependencies = [{listed}]\n# ///\n{body}"
            )
        else:
            (folder / "manifest.toml").write_text(f"[dependencies]\npython = [{listed}]\n")
            (folder / f"plugin_{index}.py").write_text(body)
        # in use, as creating a trigger on it records it: only plugins in use join the set
        record_plugins(plugin_dir, [f"plugin_{index}/plugin_{index}.py"], reason=TRIGGER)
    subprocess.run(
        [find_uv()[0], "venv", "-q", "--python", bundled_python(), default_venv_path(plugin_dir)],
        check=True,
    )
    return plugin_dir


def _check_venv(plugin_dir: Path, label: str) -> None:
    got = PluginEnv(default_venv_path(plugin_dir)).installed()
    want = {_name(i): f"1.{i}.0" for i in range(PACKAGES)}
    check(got == want, f"{label}: the venv holds {sorted(got)}, not the 30 packages")


def run_uv(root: Path, wheels: Path) -> float:
    plugin_dir = make_plugin_dir(root)
    uv = find_uv()[0]
    inputs = []
    for index, requirements in enumerate(plugin_declarations()):
        path = root / f"plugin_{index}.in"
        path.write_text("".join(f"{r}\n" for r in requirements))
        inputs.append(str(path))
    sources = ["--offline", "--no-index", "--find-links", str(wheels)]
    venv_python = default_venv_path(plugin_dir) / "bin" / "python"
    start = time.perf_counter()
    subprocess.run(
        [uv, "pip", "compile", *inputs, "--quiet", "--python", str(bundled_python()), *sources,
         "--format", "pylock.toml", "--generate-hashes", "-o", str(plugin_dir / "pylock.toml")],
        check=True,
    )  # fmt: skip
    subprocess.run(
        [uv, "pip", "sync", "--quiet", "--python", str(venv_python), *sources,
         "--preview-features", "pylock", str(plugin_dir / "pylock.toml")],
        check=True,
    )  # fmt: skip
    seconds = time.perf_counter() - start
    _check_venv(plugin_dir, "uv directly")
    return seconds


def _dependency_set(
    root: Path, wheels: Path, plugin_dir: Path
) -> tuple[DependencySet, PluginManager]:
    settings = Settings(
        plugin_dir=plugin_dir, cache_dir=root / "cache", lock_path=plugin_dir / "plugins.lock"
    )
    manager = PluginManager(settings)
    sources = InstallOptions(find_links=(str(wheels),), no_index=True, offline=True)
    env = PluginEnv(default_venv_path(plugin_dir))
    return DependencySet(manager, env, plugin_dir, sources=sources), manager


def run_ours(root: Path, wheels: Path) -> tuple[float, list[float]]:
    plugin_dir = make_plugin_dir(root)
    deps, manager = _dependency_set(root, wheels, plugin_dir)
    with manager:
        start = time.perf_counter()
        deps.lock()
        deps.sync()
        seconds = time.perf_counter() - start
        _check_venv(plugin_dir, "pluginmgr")
        noops = []
        for _ in range(20):
            began = time.perf_counter()
            result = deps.sync()
            noops.append(time.perf_counter() - began)
            check(not result.ran_installer, "a no-op sync ran the installer")
    return seconds, noops


def _rounds(runs: int, work: Path, wheels: Path) -> tuple[list[float], list[float], list[float]]:
    uv_times, our_times, noops = [], [], []
    modes: list[tuple[str, Callable[[Path], None]]] = [
        ("uv", lambda root: uv_times.append(run_uv(root, wheels))),
        ("ours", lambda root: _ours(root)),
    ]

    def _ours(root: Path) -> None:
        seconds, noop = run_ours(root, wheels)
        our_times.append(seconds)
        noops.extend(noop)

    for round_number in range(runs + 1):  # round 0 warms uv's cache for both; not counted
        for label, run in modes if round_number % 2 else reversed(modes):
            root = work / f"{label}-{round_number}"
            root.mkdir()
            run(root)
        if round_number == 0:
            uv_times.clear()
            our_times.clear()
            noops.clear()
    return uv_times, our_times, noops


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-deps-") as tmp:
        work = Path(tmp)
        wheels = build_wheels(work / "build")
        uv_times, our_times, noops = _rounds(args.runs, work, wheels)
    uv_median, our_median = statistics.median(uv_times), statistics.median(our_times)
    noop = statistics.median(noops)
    ratio = our_median / uv_median
    uv_version = subprocess.run(
        [find_uv()[0], "--version"], capture_output=True, text=True, check=True
    ).stdout.strip()
    print(
        f"{PACKAGES} packages for {PLUGINS} plugins, offline, median of {args.runs} runs "
        f"(Python {platform.python_version()}, {uv_version})"
    )
    print()
    print("| mode | seconds |")
    print("|---|---:|")
    print(f"| (a) `uv pip compile` + `uv pip sync` run directly | {uv_median:.3f} |")
    print(f"| (b) `deps lock` + `deps sync` (in-process) | {our_median:.3f} |")
    verdict = "PASS" if ratio <= TARGET_RATIO else "FAIL"
    print(f"| ratio (b)/(a), goal <= {TARGET_RATIO} | {ratio:.2f} {verdict} |")
    verdict = "PASS" if noop < TARGET_NOOP_SECONDS else "FAIL"
    print(f"| (c) no-op `deps sync` in-process, goal < 100 ms | {noop * 1000:.1f} ms {verdict} |")


if __name__ == "__main__":
    main()
