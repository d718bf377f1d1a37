"""The plugin host on venvs made by other interpreters than the server's: the guest package is
standard library only and runs on each Python this machine has (3.10 to 3.13)."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine_runtime.host import PluginHost

from .host_helpers import VENV_MODULE, StoreCallbacks, make_host_venv, plugin

#: interpreters other than the tests' own, where this machine has them
OTHER_PYTHONS = [
    "/usr/bin/python3.11",
    "/root/.pyenv/versions/3.10.13/bin/python3.10",
    "/root/.pyenv/versions/3.12.1/bin/python3.12",
    "/root/.pyenv/versions/3.13.0/bin/python3.13",
]


@pytest.mark.parametrize("base", OTHER_PYTHONS, ids=lambda p: Path(p).name)
def test_a_venv_made_by_another_interpreter_runs_plugins(tmp_path: Path, base: str) -> None:
    if not Path(base).exists():
        pytest.skip(f"{base} is not on this machine")
    python = make_host_venv(tmp_path, base)
    plugin_dir = tmp_path / "plugins"
    plugin_dir.mkdir()
    path = plugin(
        plugin_dir,
        "which.py",
        f"""
        import os, sys
        import {VENV_MODULE}
        def process_writes(influxdb3_local, table_batches, args=None):
            influxdb3_local.info(sys.executable, "%d.%d" % sys.version_info[:2], {VENV_MODULE}.NAME)
            influxdb3_local.info(os.environ["VIRTUAL_ENV"], os.environ["PATH"].split(os.pathsep)[0])
            influxdb3_local.cache.put("k", [1])
            influxdb3_local.write(LineBuilder("m").int64_field("v", 1))
        """,
    )
    callbacks = StoreCallbacks()
    host = PluginHost(python, plugin_dir, None, callbacks)
    try:
        result = host.run(
            "db/t", "wal", path, "process_writes", database="db", payload={"table_batches": []}
        )
    finally:
        host.close()

    assert result.ok, result.traceback
    assert result.writes == {"db": ["m v=1i"]}
    ((_, _, text), (_, _, activated)) = callbacks.logs
    executable, version, name = text.split(" ", 2)
    venv = python.parent.parent
    assert activated == f"{venv} {venv / 'bin'}"  # activated as InfluxDB 3 activates it
    assert Path(executable).parent == python.parent  # the venv's interpreter, not the server's
    assert name == "from the venv"
    assert version == Path(base).name.removeprefix("python")  # e.g. 3.12 where the server is 3.11
