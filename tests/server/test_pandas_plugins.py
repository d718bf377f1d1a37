"""pandas 3 and pyarrow in plugins of a real ``pluginmgr serve`` process.

The plugins run in the plugin host on the venv's interpreter, so pandas, NumPy and pyarrow must
be in the venv: uv fills it with ``pm-gamma`` offline, and the three big ones are linked in from
the distributions the tests run with (the wheels cannot be downloaded offline; linked, their
files are in the venv's site-packages as an install would put them). The plugins use
pyarrow-backed pandas strings and get NumPy arrays out of pyarrow, from the venv.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from uv import find_uv_bin

from pluginmgr.deps.requirement_check import Installed
from pluginmgr.deps.venv import bundled_python, default_venv_path
from tests.server.server_helpers import TRIGGER, free_port, trigger_body, wait_healthy
from tests.wheels import build_wheelhouse

STRINGS = '''
import numpy as np
import pandas as pd
import pm_gamma


def process_request(influxdb3_local, query_parameters, request_headers, request_body, args=None):
    """pyarrow-backed pandas strings, and a query result as a DataFrame."""
    s = pd.Series(["a", "b", None], dtype="string[pyarrow]")
    upper = s.str.upper()
    rows = influxdb3_local.query("SELECT host, usage FROM cpu ORDER BY host")
    frame = pd.DataFrame(rows)
    return {
        "upper": upper.to_numpy(na_value=None).tolist(),
        "lengths": s.str.len().to_numpy(dtype=float, na_value=-1.0).tolist(),
        "array_type": type(upper.to_numpy()).__name__,
        "table": pd.DataFrame({"name": s, "n": [1, 2, 3]}).to_string(),
        "default_dtype": str(pd.Series(["x"]).dtype),
        "hosts": frame["host"].str.upper().to_numpy().tolist(),
        "host_dtype": str(frame["host"].dtype),
        "usage": float(frame["usage"].sum()),
        "query_table": frame[["host", "usage"]].to_string(index=False),
        "gamma": pm_gamma.VALUE,
    }
'''

ARROW = """
import sys
import numpy
import pyarrow as pa


def process_request(influxdb3_local, query_parameters, request_headers, request_body, args=None):
    array = pa.array(["x"]).to_numpy(zero_copy_only=False)
    return {
        "values": array.tolist(),
        "type": type(array).__name__,
        "numpy_from_venv": numpy.__file__.startswith(sys.prefix),
        "pyarrow_from_venv": pa.__file__.startswith(sys.prefix),
        "prefix_is_venv": sys.prefix.endswith("venv"),
    }
"""

_SCRUBBED_PREFIXES = ("INFLUXDB3_", "PLUGINMGR_", "GIT_", "UV_", "PIP_")
_SCRUBBED = ("PYTHONPATH", "VIRTUAL_ENV", "HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy")


def _environment(tmp: Path) -> dict[str, str]:
    kept = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(_SCRUBBED_PREFIXES) and name not in _SCRUBBED
    }
    kept.update(XDG_CACHE_HOME=str(tmp / "xdg-cache"), UV_CACHE_DIR=str(tmp / "uv-cache"))
    return {**kept, "UV_NO_CONFIG": "1", "UV_PYTHON_DOWNLOADS": "never"}


def _run(command: list[str], env: dict[str, str]) -> str:
    done = subprocess.run(
        command, env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, f"{command} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def _plugin_venv(plugin_dir: Path, tmp: Path, env: dict[str, str]) -> None:
    """``<plugin_dir>/venv`` for the bundled interpreter, with pm-gamma, filled offline by uv."""
    house = build_wheelhouse(tmp / "wheels", ("pm_gamma",))
    venv = default_venv_path(plugin_dir)
    _run([find_uv_bin(), "venv", "--offline", "--python", str(bundled_python()), str(venv)], env)
    python = str(venv / "bin" / "python")
    offline = ["--offline", "--no-index", "--find-links", str(house)]
    _run([find_uv_bin(), "pip", "install", "--python", python, *offline, "pm-gamma"], env)
    (site,) = venv.glob("lib/python*/site-packages")
    for name in ("numpy", "pandas", "pyarrow", "python-dateutil", "six", "tzdata"):
        _link_distribution(name, site)


def _link_distribution(name: str, site: Path) -> None:
    """Put the installed distribution ``name``'s top-level files into ``site`` as symlinks."""
    try:
        dist = importlib.metadata.distribution(name)
    except importlib.metadata.PackageNotFoundError:
        return  # not needed on this machine (e.g. tzdata where the system has zoneinfo)
    tops = {Path(str(f)).parts[0] for f in dist.files or () if not str(f).startswith("..")}
    source = Path(str(dist.locate_file("")))
    for top in tops:
        target = site / top
        if not target.exists() and (source / top).exists():
            target.symlink_to(source / top)


@dataclass
class Serve:
    """A ``pluginmgr serve`` subprocess with auth on."""

    url: str
    token: str
    process: subprocess.Popen[str]

    def call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.token}"}
        return httpx.request(method, f"{self.url}{path}", headers=headers, timeout=60, **kwargs)

    def wait_healthy(self) -> None:
        wait_healthy(self.url, self.process)


@pytest.fixture(scope="module")
def serve(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Serve]:
    """One server for the module, with a database ``db`` holding two ``cpu`` rows."""
    tmp = tmp_path_factory.mktemp("serve")
    plugin_dir, data_dir = tmp / "plugins", tmp / "data"
    plugin_dir.mkdir()
    env = _environment(tmp)
    _plugin_venv(plugin_dir, tmp, env)
    pluginmgr = [sys.executable, "-m", "pluginmgr"]
    made = _run([*pluginmgr, "create", "token", "--admin", "--data-dir", str(data_dir),
                 "--format", "json"], env)  # fmt: skip
    port = free_port()
    args = [
        "serve", "--plugin-dir", str(plugin_dir), "--data-dir", str(data_dir),
        "--cache-dir", str(tmp / "cache"), "--offline", "--http-bind", f"127.0.0.1:{port}",
        "--wal-flush-interval", "10ms",
    ]  # fmt: skip
    process = subprocess.Popen(
        [*pluginmgr, *args], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    running = Serve(f"http://127.0.0.1:{port}", json.loads(made)["token"], process)
    try:
        running.wait_healthy()
        assert running.call("POST", "/api/v3/configure/database", json={"db": "db"}).is_success
        lines = "cpu,host=b usage=2.5 2\ncpu,host=a usage=1.5 1"
        written = running.call("POST", "/api/v3/write_lp", params={"db": "db"}, content=lines)
        assert written.status_code == 204, written.text
        for name, code in (("strings", STRINGS), ("arrow", ARROW)):
            (plugin_dir / f"{name}.py").write_text(textwrap.dedent(code), encoding="utf-8")
            body = trigger_body(name, f"{name}.py", f"request:{name}")
            created = running.call("POST", TRIGGER, json=body)
            assert created.is_success, created.text
        yield running
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()


@pytest.mark.slow
def test_pandas_3_string_operations_backed_by_pyarrow(serve: Serve) -> None:
    answer = serve.call("GET", "/api/v3/engine/strings")
    assert answer.status_code == 200, answer.text
    assert answer.json() == {
        "upper": ["A", "B", None],
        "lengths": [1.0, 1.0, -1.0],
        "array_type": "ndarray",
        "table": "   name  n\n0     a  1\n1     b  2\n2  <NA>  3",
        "default_dtype": "str",
        "hosts": ["A", "B"],
        "host_dtype": "str",
        "usage": 4.0,
        "query_table": "host  usage\n   a    1.5\n   b    2.5",
        "gamma": "gamma",
    }


@pytest.mark.slow
def test_pyarrow_returns_numpy_arrays_from_the_plugin_venv(serve: Serve) -> None:
    answer = serve.call("GET", "/api/v3/engine/arrow")
    assert answer.status_code == 200, answer.text
    assert answer.json() == {
        "values": ["x"],
        "type": "ndarray",
        "numpy_from_venv": True,
        "pyarrow_from_venv": True,
        "prefix_is_venv": True,
    }


def test_numpy_is_a_runtime_dependency_not_an_extra() -> None:
    pluginmgr = Installed.scan(entry for entry in sys.path if entry).get("pluginmgr")
    assert pluginmgr is not None
    assert "numpy" in pluginmgr.requires  # no marker: every install has it, not only [test]
