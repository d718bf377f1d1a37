"""The synthetic nodes of `bench/deps.py`: wheels on a loopback index, plugins declaring them.

One wheelhouse serves every size: plugin ``i`` declares ``bench-a-i``, which needs two of the
``bench-b-*`` packages, each of which needs one ``bench-c-*`` (``i // 2`` and ``i // 4``), so
a node of N plugins locks about 1.75 N packages. ``bench-humanize`` 3.0 and 4.0 stand for the
package the operator installs by hand (``install package 'bench-humanize<4'``).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Final

from tests.wheels import build_project_wheels

__all__ = [
    "OPERATOR_SPEC",
    "build_wheels",
    "cli_env",
    "make_node",
    "package_closure",
    "plugin_name",
    "run_cli",
]

MAX_PLUGINS: Final = 200
OPERATOR_SPEC: Final = "bench-humanize<4"
_BODY: Final = "def process_writes(influxdb3_local, table_batches, args=None):\n    pass\n"


def _a(i: int) -> str:
    return f"bench-a-{i:03d}"


def _b(i: int) -> str:
    return f"bench-b-{i:03d}"


def _c(i: int) -> str:
    return f"bench-c-{i:03d}"


def _projects() -> list[tuple[str, str, list[str]]]:
    out = [(_a(i), "1.0", [_b(i // 2), _b(i // 2 + 1)]) for i in range(MAX_PLUGINS)]
    out += [(_b(i), "1.0", [_c(i // 2)]) for i in range(MAX_PLUGINS // 2 + 2)]
    out += [(_c(i), "1.0", []) for i in range(MAX_PLUGINS // 4 + 2)]
    out += [("bench-humanize", "3.0", []), ("bench-humanize", "4.0", [])]
    return out


def package_closure(plugins: int) -> dict[str, str]:
    """The packages (name -> version) a node of ``plugins`` plugins plus the operator's
    ``bench-humanize<4`` locks."""
    deps = {name: requires for name, _version, requires in _projects()}
    wanted: dict[str, str] = {"bench-humanize": "3.0"}
    pending = [_a(i) for i in range(plugins)]
    while pending:
        name = pending.pop()
        if name not in wanted:
            wanted[name] = "1.0"
            pending += deps[name]
    return wanted


def build_wheels(root: Path) -> Path:
    """Every wheel any node size needs, into ``root/wheels``."""
    return build_project_wheels(_projects(), root / "projects", root / "wheels")


def plugin_name(i: int) -> str:
    """The reference of plugin ``i`` (relative to the plugin dir)."""
    return f"plugin_{i:03d}/plugin_{i:03d}.py" if i % 2 == 0 else f"plugin_{i:03d}.py"


def make_node(plugin_dir: Path, plugins: int) -> list[str]:
    """``plugins`` local plugins, each declaring its ``bench-a-*`` package (even ones in a
    manifest.toml, odd ones in PEP 723), all recorded in use in plugins.in; returns them."""
    names = []
    for i in range(plugins):
        name = plugin_name(i)
        path = plugin_dir / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if i % 2 == 0:
            (path.parent / "manifest.toml").write_text(
                f'[dependencies]\npython = ["{_a(i)}"]\n', encoding="utf-8"
            )
            path.write_text(_BODY, encoding="utf-8")
        else:
            block = f'# /// script\n# dependencies = ["{_a(i)}"]\n# ///\n'
            path.write_text(block + _BODY, encoding="utf-8")
        names.append(name)
    (plugin_dir / "plugins.in").write_text("".join(f"{n}  added\n" for n in names))
    return names


def cli_env(uv_cache: Path) -> dict[str, str]:
    """The environment of every process the bench starts: byte-code written (what users get;
    the shell this runs from may forbid it), uv's cache private, no user config."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("UV_", "PIP_"))}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env.update(UV_CACHE_DIR=str(uv_cache), UV_NO_CONFIG="1", UV_PYTHON_DOWNLOADS="never")
    return env


def run_cli(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """``pluginmgr ARGS`` as a whole process (the console script's code path); raises on a
    non-zero exit, with its stderr."""
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from pluginmgr.cli import main; sys.exit(main())",
            *args,
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=600,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"pluginmgr {' '.join(args)} failed:\n{done.stderr}")
    return done
