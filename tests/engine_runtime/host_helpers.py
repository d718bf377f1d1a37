"""Helpers of the plugin host tests: a small venv made once per session with ``uv venv`` from
the base interpreter (so the host cannot see the server's site-packages), and `StoreCallbacks`,
the host's callbacks on a real `MemoryStore`."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from engine_runtime import MemoryStore
from pluginmgr.deps.installers import find_uv

#: a module placed straight in the venv's site-packages
VENV_MODULE = "hostvenvpkg"
#: a module reached through a ``.pth`` file in site-packages (site's own rules)
PTH_MODULE = "hostpthpkg"


def make_host_venv(root: Path, base: str | None = None) -> Path:
    """A venv at ``root/venv`` with two tiny packages, made from ``base`` (default: the
    interpreter the tests run on); returns its interpreter."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("UV_", "VIRTUAL_ENV"))}
    env.update(UV_NO_CONFIG="1", UV_PYTHON_DOWNLOADS="never", UV_CACHE_DIR=str(root / "uv"))
    base = base or getattr(sys, "_base_executable", sys.executable)
    venv = root / "venv"
    subprocess.run(
        [find_uv()[0], "venv", "-q", "--python", base, str(venv)],
        check=True,
        env=env,
        capture_output=True,
        timeout=60,
    )
    (site_packages,) = venv.glob("lib/python*/site-packages")
    (site_packages / VENV_MODULE).mkdir()
    (site_packages / VENV_MODULE / "__init__.py").write_text("NAME = 'from the venv'\n")
    extra = root / "pth-target"
    (extra / PTH_MODULE).mkdir(parents=True)
    (extra / PTH_MODULE / "__init__.py").write_text("NAME = 'through a pth file'\n")
    (site_packages / "hostpth.pth").write_text(f"{extra}\n")
    return venv / "bin" / "python"


def plugin(plugin_dir: Path, name: str, code: str) -> Path:
    """Write a plugin file; returns its path."""
    path = plugin_dir / name
    path.write_text(textwrap.dedent(code))
    return path


class StoreCallbacks:
    """`HostCallbacks` on a real store; collects log lines."""

    def __init__(self) -> None:
        self.store = MemoryStore()
        self.store.create_database("db")
        self.logs: list[tuple[str, str, str]] = []

    def query(
        self, trigger: str, database: str, sql: str, params: Mapping[str, str] | None
    ) -> list[dict[str, Any]]:
        return self.store.query(database, sql, params)

    def write_sync(self, trigger: str, database: str, lines: str, no_sync: bool) -> None:
        self.store.write_lp(database, lines, accept_partial=False, no_sync=no_sync)

    def log(self, trigger: str, level: str, text: str) -> None:
        self.logs.append((trigger, level, text))
