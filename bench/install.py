"""Installing plugin dependencies offline: upstream InfluxDB 3 (venv + pip) vs pluginmgr (uv).

Run ``python bench/install.py [--runs 5] [--extra 12]``. It builds one wheelhouse: the fixture
packages (``pm-alpha`` -> ``pm-beta``, ``pm-gamma``) plus ``--extra`` generated pure-Python
packages of 40 modules each (about 3 KB a module, so each wheel is a realistic 30-40 KB), and
installs all of them, offline, from that wheelhouse only. Modes, interleaved round by round:

(a)      upstream cold: ``<bundled python> -m venv V`` (with pip, as InfluxDB 3 makes it), the pip
         probe ``V/bin/python -m pip --version`` (3.10+), then ``V/bin/python -m pip install
         --no-index --find-links W <all>``; a fresh pip cache per run.
(a-noop) upstream again on that venv: every requirement already satisfied.
(b)      ours cold: ``pluginmgr install package <all> --offline --no-index --find-links W`` in a
         new plugin dir with an empty uv cache; the whole CLI process is timed (interpreter start,
         the packages added to PLUGIN_DIR/requirements.in, ``uv pip compile`` of the whole set
         into pylock.toml, ``uv venv``, the hash-checked ``uv pip sync``).
(b-warm) ours with uv's cache already filled (a second plugin dir on the same machine, or a
         rebuild after a Python upgrade).
(b-noop) ours again: nothing changes; the CLI process, and in-process
         (``DependencySet.add_requirements``, what the server's install endpoint runs: the
         lock found fresh and the venv matching it, so neither uv resolves nor installs) as its
         own row.

Every mode is checked for doing the whole job: after the first run of each, the venv's python
imports every package and ``pm_alpha.greet()`` answers; the no-op modes must not change anything.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # for tests.wheels

from pluginmgr import PluginManager, Settings
from pluginmgr.deps.dependency_set import DependencySet
from pluginmgr.deps.installers import InstallOptions
from pluginmgr.deps.venv import PluginEnv, bundled_python, default_venv_path
from tests.wheels import build_wheel, build_wheelhouse

TARGET_COLD_SPEEDUP: Final = 10.0
TARGET_NOOP_SECONDS: Final = 0.100
MODULES_PER_PACKAGE: Final = 40
FIXTURES: Final = ("pm-alpha", "pm-beta", "pm-gamma")


@dataclass
class Row:
    label: str
    seconds: list[float] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)


def _module_text(package: int, module: int) -> str:
    body = [f'"""Generated module {module} of bench package {package}."""', ""]
    for index in range(12):
        body += [
            f"def function_{index}(values, scale={index}):",
            f'    """Scale and sum the values (function {index})."""',
            "    total = 0",
            "    for value in values:",
            "        total += value * scale",
            "    return total",
            "",
        ]
    return "\n".join(body) + "\n"


def make_extra_packages(root: Path, count: int) -> list[str]:
    """``count`` projects ``pm-bench-NN``; each depends on the next, the last on ``pm-gamma``."""
    names = [f"pm-bench-{index:02d}" for index in range(count)]
    for index, name in enumerate(names):
        project = root / name
        package = project / name.replace("-", "_")
        package.mkdir(parents=True)
        dependency = names[index + 1] if index + 1 < count else "pm-gamma"
        (project / "pyproject.toml").write_text(
            f'[project]\nname = "{name}"\nversion = "1.0.{index}"\n'
            f'dependencies = ["{dependency}>=0.1"]\n'
        )
        (package / "__init__.py").write_text(f"VALUE = {index}\n")
        for module in range(MODULES_PER_PACKAGE):
            (package / f"module_{module:02d}.py").write_text(_module_text(index, module))
    return names


def clean_env(tmp: Path) -> dict[str, str]:
    drop = ("UV_", "PIP_", "VIRTUAL_ENV", "PYTHONPATH", "CONDA_PREFIX")
    env = {k: v for k, v in os.environ.items() if not k.startswith(drop)}
    env.update(UV_NO_CONFIG="1", UV_PYTHON_DOWNLOADS="never", PIP_CONFIG_FILE=os.devnull)
    env.update(PIP_DISABLE_PIP_VERSION_CHECK="1", UV_CACHE_DIR=str(tmp / "uv-warm"))
    return env


def run(command: Sequence[str | Path], env: dict[str, str]) -> float:
    start = time.perf_counter()
    done = subprocess.run(
        [str(c) for c in command], env=env, capture_output=True, text=True, check=False
    )
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{command} failed:\n{done.stdout}\n{done.stderr}")
    return elapsed


def check_venv(python: Path, requirements: Sequence[str], env: dict[str, str]) -> None:
    modules = [r.replace("-", "_") for r in requirements]
    code = f"import {', '.join(modules)}; print(pm_alpha.greet())"
    done = subprocess.run(
        [str(python), "-c", code], env=env, capture_output=True, text=True, check=False
    )
    if done.stdout.strip() != "alpha+beta-1.0":
        raise SystemExit(f"{python}: the install is incomplete:\n{done.stderr}")


class Bench:
    def __init__(self, tmp: Path, wheelhouse: Path, requirements: list[str]) -> None:
        self.tmp, self.wheelhouse, self.requirements = tmp, wheelhouse, requirements
        self.env = clean_env(tmp)
        self.python = bundled_python()
        self.round = 0
        self.checked: set[str] = set()

    def _dir(self, name: str) -> Path:
        path = self.tmp / f"{name}-{self.round}"
        path.mkdir()
        return path

    def _check_once(self, mode: str, python: Path) -> None:
        if mode not in self.checked:
            check_venv(python, self.requirements, self.env)
            self.checked.add(mode)

    def upstream(self) -> tuple[float, float]:
        venv = self._dir("upstream") / ".venv"
        env = {**self.env, "PIP_CACHE_DIR": str(venv.parent / "pip-cache")}
        python = venv / "bin" / "python3"
        install = [python, "-m", "pip", "install", "--no-index", "--find-links", self.wheelhouse]
        cold = run([self.python, "-m", "venv", venv], env)
        cold += run([python, "-m", "pip", "--version"], env)
        cold += run([*install, *self.requirements], env)
        self._check_once("a", python)
        noop = run([*install, *self.requirements], env)
        return cold, noop

    def _ours_cli(self, plugin_dir: Path, env: dict[str, str]) -> float:
        command: list[str | Path] = [sys.executable, "-m", "pluginmgr", "install", "package"]
        command += [*self.requirements, "--plugin-dir", plugin_dir, "--offline", "--no-index"]
        command += ["--find-links", self.wheelhouse]
        return run(command, env)

    def ours(self) -> tuple[float, float, float, float]:
        cold_dir = self._dir("ours-cold")
        cold_env = {**self.env, "UV_CACHE_DIR": str(cold_dir / "uv-cache")}
        cold = self._ours_cli(cold_dir, cold_env)
        self._check_once("b", default_venv_path(cold_dir) / "bin" / "python")
        warm_dir = self._dir("ours-warm")
        warm = self._ours_cli(warm_dir, self.env)
        self._check_once("b-warm", default_venv_path(warm_dir) / "bin" / "python")
        before = sorted((default_venv_path(warm_dir)).rglob("*"))
        noop_cli = self._ours_cli(warm_dir, self.env)
        noop_api = self._in_process_noop(warm_dir)
        if sorted((default_venv_path(warm_dir)).rglob("*")) != before:
            raise SystemExit("a no-op install changed the venv")
        return cold, warm, noop_cli, noop_api

    def _in_process_noop(self, plugin_dir: Path) -> float:
        options = InstallOptions(find_links=(str(self.wheelhouse),), no_index=True, offline=True)
        settings = Settings(
            plugin_dir=plugin_dir,
            cache_dir=plugin_dir / "cache",
            lock_path=plugin_dir / "plugins.lock",
        )
        with PluginManager(settings) as manager:
            start = time.perf_counter()
            env = PluginEnv(default_venv_path(plugin_dir))
            deps = DependencySet(manager, env, plugin_dir, sources=options)
            plan, result = deps.add_requirements(self.requirements)
            elapsed = time.perf_counter() - start
        if result.ran_installer or plan.changes:
            raise SystemExit("the in-process no-op changed the lock or ran the installer")
        return elapsed


def measure(bench: Bench, runs: int) -> dict[str, Row]:
    rows = {
        key: Row(label)
        for key, label in [
            ("a", "(a) upstream cold: python -m venv + pip install"),
            ("a-noop", "(a-noop) upstream, all satisfied: pip install"),
            ("b", "(b) ours cold: pluginmgr install package (CLI)"),
            ("b-warm", "(b-warm) ours, uv cache warm (CLI)"),
            ("b-noop", "(b-noop) ours, all satisfied (CLI process)"),
            ("b-noop-api", "(b-noop) ours, all satisfied (in-process)"),
        ]
    }
    previous = os.environ.copy()
    os.environ.clear()
    os.environ.update(bench.env)  # the in-process mode reads uv settings like the CLI does
    try:
        for bench.round in range(runs):
            cold, noop = bench.upstream()
            rows["a"].seconds.append(cold)
            rows["a-noop"].seconds.append(noop)
            ours = bench.ours()
            for key, value in zip(("b", "b-warm", "b-noop", "b-noop-api"), ours, strict=True):
                rows[key].seconds.append(value)
    finally:
        os.environ.clear()
        os.environ.update(previous)
    return rows


def table(rows: dict[str, Row]) -> str:
    base = rows["a"].median
    lines = [
        "| mode | median | best | worst | vs (a) |",
        "|---|---:|---:|---:|---:|",
    ]
    for row in rows.values():
        ms = [
            f"{value * 1000:,.1f} ms" for value in (row.median, min(row.seconds), max(row.seconds))
        ]
        lines.append(f"| {row.label} | {' | '.join(ms)} | {base / row.median:.1f}x |")
    return "\n".join(lines)


def targets(rows: dict[str, Row]) -> bool:
    verdict = {True: "PASS", False: "FAIL"}
    speedup = rows["a"].median / rows["b"].median
    cold_ok = speedup >= TARGET_COLD_SPEEDUP
    noop_ok = rows["b-noop-api"].median < TARGET_NOOP_SECONDS
    print(f"target (b) cold >= {TARGET_COLD_SPEEDUP:g}x faster than (a): {speedup:.1f}x "
          f"{verdict[cold_ok]}")  # fmt: skip
    noop_ms = rows["b-noop-api"].median * 1000
    print(f"target no-op re-install < {TARGET_NOOP_SECONDS * 1000:g} ms (in-process): "
          f"{noop_ms:.1f} ms {verdict[noop_ok]}")  # fmt: skip
    print(f"(the CLI no-op, interpreter start included, is {rows['b-noop'].median * 1000:.0f} ms; "
          f"upstream's pip no-op {rows['a-noop'].median * 1000:.0f} ms)")  # fmt: skip
    return cold_ok and noop_ok


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--extra", type=int, default=12, help="generated packages to add")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="pluginmgr-bench-") as name:
        tmp = Path(name)
        wheelhouse = build_wheelhouse(tmp / "wheelhouse")
        extra = make_extra_packages(tmp / "projects", args.extra)
        for project in extra:
            build_wheel(tmp / "projects" / project, wheelhouse)
        requirements = [*FIXTURES, *extra]
        size = sum(p.stat().st_size for p in wheelhouse.iterdir())
        print(
            f"{platform.platform()}, {os.cpu_count()} CPUs, {platform.python_implementation()} "
            f"{platform.python_version()}; {len(requirements)} packages, "
            f"{size / 1024:.0f} KB of wheels, {args.runs} runs"
        )
        bench = Bench(tmp, wheelhouse, requirements)
        warmup: Callable[[], object] = bench.ours  # fills uv's warm cache before timing
        bench.round = -1
        warmup()
        rows = measure(bench, args.runs)
    print()
    print(table(rows))
    print()
    return 0 if targets(rows) else 1


if __name__ == "__main__":
    sys.exit(main())
