"""The README's first command ends in ``scripts/demo.py``: it must keep working as the product
changes (it once probed ``/health`` without the token ``/health`` came to need). Everything it
reaches is on loopback (a plugin repository and a package index it starts itself)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_the_readme_demo_runs_to_its_end() -> None:
    scrubbed = ("INFLUXDB3_", "PLUGINMGR_", "UV_", "PIP_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(scrubbed)}
    env.pop("VIRTUAL_ENV", None)
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "demo.py")],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        check=False,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "demo finished: every step behaved as expected" in done.stdout + done.stderr
