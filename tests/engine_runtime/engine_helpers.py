"""Shared by the engine tests: writing a plugin file, and a plugin that fails until told not to."""

from __future__ import annotations

import textwrap
from pathlib import Path

#: a WAL plugin that raises (from a frame of its own) until its run number reaches
#: ``args["succeed_on"]``; the runs are counted in the trigger's cache
FAILS_UNTIL = """
def fail(runs):
    raise RuntimeError(f"run {runs} failed")


def process_writes(influxdb3_local, table_batches, args=None):
    runs = influxdb3_local.cache.get("runs", default=0) + 1
    influxdb3_local.cache.put("runs", runs)
    if runs < int(args["succeed_on"]):
        fail(runs)
    influxdb3_local.info("succeeded on run", runs)
"""


def plugin(plugin_dir: Path, name: str, code: str) -> str:
    (plugin_dir / name).write_text(textwrap.dedent(code), encoding="utf-8")
    return name
