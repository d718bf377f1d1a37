"""`--plugin-memory-limit` in the host: a memory cgroup where one can be made, else RLIMIT_AS;
either way the run fails with the limit named and the next run gets a working host."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from engine_runtime.errors import HostExitedError
from engine_runtime.host import PluginHost
from engine_runtime.host.memory import limit_memory

from .host_helpers import StoreCallbacks, plugin

LIMIT = 256 * 2**20
GROW = """
def process_writes(influxdb3_local, table_batches, args=None):
    hog = []
    for _ in range(40):  # 2 GiB, touched page by page, unless the limit stops it
        block = bytearray(50 * 2**20)
        block[::4096] = b"x" * len(block[::4096])
        hog.append(block)
"""
FINE = "def process_writes(influxdb3_local, table_batches, args=None):\n    pass\n"


def _base() -> Path:
    return Path(getattr(sys, "_base_executable", sys.executable))


def _cgroups_work() -> bool:
    import subprocess

    sleeper = subprocess.Popen(["sleep", "5"])
    try:
        limit = limit_memory(sleeper.pid, LIMIT)
    finally:
        sleeper.kill()
        sleeper.wait()
    limit.release()
    return limit.kind == "cgroup"


@pytest.mark.parametrize("mode", ["rlimit", "cgroup"])
def test_a_plugin_past_the_memory_limit_fails_with_the_limit_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mode: str
) -> None:
    if mode == "rlimit":
        monkeypatch.setenv("PLUGINMGR_NO_CGROUP", "1")
    elif not _cgroups_work():
        pytest.skip("this process cannot make memory cgroups here")
    grow = plugin(tmp_path, "grow.py", GROW)
    fine = plugin(tmp_path, "fine.py", FINE)
    host = PluginHost(_base(), tmp_path, [], StoreCallbacks(), memory_limit=LIMIT)
    payload: dict[str, object] = {"table_batches": []}
    try:
        if mode == "rlimit":
            result = host.run("db/t", "wal", grow, "process_writes", database="db", payload=payload)
            assert (result.ok, result.error) == (
                False,
                "MemoryError (the plugin host's memory limit is 256 MiB)",
            )
        else:
            with pytest.raises(HostExitedError) as info:
                host.run("db/t", "wal", grow, "process_writes", database="db", payload=payload)
            assert str(info.value) == (
                "plugin host exited with signal SIGKILL while running trigger db/t "
                "(its memory limit is 256 MiB)"
            )
        assert host.run("db/u", "wal", fine, "process_writes", database="db", payload=payload).ok
        pid = host.pid
    finally:
        host.close()
    leftovers = list(Path("/sys/fs/cgroup").glob(f"**/pluginmgr-host-{pid}"))
    assert leftovers == []  # the host's cgroup is removed once it exited
