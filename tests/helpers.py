"""Test helpers: run the CLI in-process and capture what it prints; wait for a condition; read
what a plugin dir's venv holds."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from pluginmgr.cli import main
from pluginmgr.deps.venv import PluginEnv, default_venv_path


@dataclass(frozen=True)
class CliResult:
    code: int
    out: str
    err: str


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> CliResult:
    """Run ``pluginmgr ARGS`` in this process; return exit code, stdout and stderr."""
    capsys.readouterr()
    code = main(list(args))
    captured = capsys.readouterr()
    return CliResult(code, captured.out, captured.err)


def run_offline(
    capsys: pytest.CaptureFixture[str], *args: str, plugin_dir: Path, wheels: Path
) -> CliResult:
    """``pluginmgr ARGS --plugin-dir DIR`` resolving offline from the ``wheels`` folder alone;
    ``deps why`` and ``deps tree`` read the lock, so they get no sources."""
    if args[:2] in (("deps", "why"), ("deps", "tree")):
        return run_cli(capsys, *args, "--plugin-dir", str(plugin_dir))
    sources = ["--offline", "--no-index", "--find-links", str(wheels)]
    return run_cli(capsys, *args, "--plugin-dir", str(plugin_dir), *sources)


def installed(plugin_dir: Path) -> dict[str, str]:
    """Name -> version of every distribution in the plugin dir's venv."""
    return PluginEnv(default_venv_path(plugin_dir)).installed()


def wait_for(check: Callable[[], Any], timeout: float = 5.0) -> Any:
    """Poll ``check`` until it returns something truthy (threads deliver asynchronously)."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        time.sleep(0.01)


def repo_args(repo_url: str, plugin_dir: Path, cache: Path) -> list[str]:
    """The settings flags of a CLI run against a loopback repository: no retries."""
    return [
        "--plugin-repo",
        repo_url,
        "--plugin-dir",
        str(plugin_dir),
        "--cache-dir",
        str(cache),
        "--retries",
        "0",
    ]
