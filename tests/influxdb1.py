"""A real InfluxDB 1.x (Debian's ``influxd``) on loopback, for tests that compare answers.

Data, WAL and meta directories live under the given root; HTTP and RPC bind to free loopback
ports; reporting, the monitor's store and the logs are off. Used by the differential InfluxQL
test; `influxd_path` is None when the ``influxdb`` package is not installed.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx

__all__ = ["InfluxDB1", "influxd_path"]

_CONFIG = """\
reporting-disabled = true
bind-address = "127.0.0.1:{rpc}"

[meta]
  dir = "{root}/meta"

[data]
  dir = "{root}/data"
  wal-dir = "{root}/wal"
  query-log-enabled = false

[monitor]
  store-enabled = false

[http]
  enabled = true
  bind-address = "127.0.0.1:{http}"
  log-enabled = false

[logging]
  level = "warn"
"""


def influxd_path() -> str | None:
    """Where ``influxd`` is (Debian's ``influxdb`` package), or None."""
    return shutil.which("influxd")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class InfluxDB1:
    """``influxd`` running until the ``with`` block ends; ``url`` is its HTTP API."""

    def __init__(self, root: Path) -> None:
        binary = influxd_path()
        if binary is None:
            raise RuntimeError("influxd not found: apt-get install influxdb")
        self.root = root
        self.root.mkdir(parents=True, exist_ok=True)
        config = self.root / "influxdb.conf"
        port = _free_port()
        text = _CONFIG.format(root=self.root, rpc=_free_port(), http=port)
        config.write_text(text, encoding="utf-8")
        self.url = f"http://127.0.0.1:{port}"
        self._command = [binary, "-config", str(config)]
        self.process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> InfluxDB1:
        with (self.root / "influxd.log").open("ab") as log:
            self.process = subprocess.Popen(self._command, stdout=log, stderr=log)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"influxd exited; see {self.root / 'influxd.log'}")
            try:
                if httpx.get(f"{self.url}/ping", timeout=1).status_code == 204:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.__exit__(None, None, None)
        raise RuntimeError("influxd did not answer /ping within 60 s")

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def write(self, database: str, lines: str, precision: str = "s") -> None:
        """``POST /write`` (creating the database first, as 1.x needs)."""
        httpx.post(
            f"{self.url}/query", data={"q": f'CREATE DATABASE "{database}"'}
        ).raise_for_status()
        params = {"db": database, "precision": precision}
        httpx.post(f"{self.url}/write", params=params, content=lines).raise_for_status()

    def query(self, database: str, influxql: str, **params: str) -> dict[str, Any]:
        """``GET /query``: the JSON answer."""
        query = {"db": database, "q": influxql, **params}
        answer = httpx.get(f"{self.url}/query", params=query, timeout=30)
        result: dict[str, Any] = answer.json()
        return result
