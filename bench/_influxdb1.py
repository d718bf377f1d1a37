"""A real InfluxDB 1.x (Debian's ``influxd``) on loopback, for side-by-side write benchmarks.

Its data, WAL and meta directories are under the given root; HTTP and RPC bind to free
loopback ports; reporting, the monitor's store, the query and HTTP logs are off, so it does
only what it is measured for. The WAL fsyncs every write (``wal-fsync-delay = "0s"``,
upstream's default), as durable as ours.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path
from types import TracebackType

import httpx
from _serve import free_port

__all__ = ["InfluxDB1", "influxd_path"]

_CONFIG = """\
reporting-disabled = true
bind-address = "127.0.0.1:{rpc}"

[meta]
  dir = "{root}/meta"

[data]
  dir = "{root}/data"
  wal-dir = "{root}/wal"
  wal-fsync-delay = "0s"
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


class InfluxDB1:
    """``influxd`` running until the ``with`` block ends; ``url`` is its HTTP API."""

    def __init__(self, root: Path) -> None:
        binary = influxd_path()
        if binary is None:
            raise RuntimeError(
                "influxd not found: apt-get install influxdb (Debian's InfluxDB 1.x)"
            )
        self.root = root
        self.root.mkdir(parents=True, exist_ok=True)
        port, rpc = free_port(), free_port()
        config = self.root / "influxdb.conf"
        config.write_text(_CONFIG.format(root=self.root, rpc=rpc, http=port), encoding="utf-8")
        self.url = f"http://127.0.0.1:{port}"
        self._command = [binary, "-config", str(config)]
        self.process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> InfluxDB1:
        log = (self.root / "influxd.log").open("ab")
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

    def query(self, database: str, influxql: str) -> dict[str, object]:
        """``GET /query`` (InfluxQL); the JSON answer."""
        answer = httpx.get(f"{self.url}/query", params={"db": database, "q": influxql}, timeout=300)
        answer.raise_for_status()
        result: dict[str, object] = answer.json()
        return result
