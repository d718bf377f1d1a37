"""The ``influx`` 1.x CLI (Debian's ``influxdb-client`` package) against a real server:
``-import`` of a line protocol file, ``-execute`` of InfluxQL, ``-format csv`` and ``json``."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from urllib.parse import urlsplit

import pytest

pytestmark = pytest.mark.skipif(
    shutil.which("influx") is None,
    reason="influx (the InfluxDB 1.x CLI, Debian's influxdb-client package) is not installed",
)

T0 = 1_704_067_200  # 2024-01-01T00:00:00Z
IMPORT = f"""\
# DDL
CREATE DATABASE cli

# DML
# CONTEXT-DATABASE: cli
cpu,host=a usage=1.5 {T0}
cpu,host=b usage=2.5 {T0}
cpu,host=a usage=3.5 {T0 + 60}
"""


def _influx(server: tuple[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    url, token = server
    parts = urlsplit(url)
    command = ["influx", "-host", str(parts.hostname), "-port", str(parts.port)]
    command += ["-username", "any", "-password", token, *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=30, check=False)


def test_import_then_execute_in_csv_and_json(live_server: tuple[str, str], tmp_path: Path) -> None:
    data = tmp_path / "points.txt"
    data.write_text(IMPORT, encoding="utf-8")
    imported = _influx(live_server, "-import", "-path", str(data), "-precision", "s")
    assert imported.returncode == 0, imported.stderr
    assert "Processed 3 inserts" in imported.stdout
    assert "Failed 0 inserts" in imported.stdout

    query = "SELECT mean(usage) FROM cpu GROUP BY host"
    found = _influx(live_server, "-database", "cli", "-format", "csv", "-execute", query)
    assert found.returncode == 0, found.stderr
    # the CLI writes a header before each series
    assert found.stdout.splitlines() == [
        "name,tags,time,mean",
        "cpu,host=a,0,2.5",
        "name,tags,time,mean",
        "cpu,host=b,0,2.5",
    ]

    query = "SELECT derivative(usage, 1m) FROM cpu WHERE host = 'a'"
    found = _influx(live_server, "-database", "cli", "-format", "json", "-execute", query)
    assert found.returncode == 0, found.stderr
    (result,) = json.loads(found.stdout)["results"]
    assert result["series"][0]["values"] == [[(T0 + 60) * 1_000_000_000, 2.0]]


def test_execute_reports_a_bad_query(live_server: tuple[str, str]) -> None:
    found = _influx(live_server, "-database", "cli", "-execute", "SELECT FROM cpu")
    assert found.returncode != 0
    assert "error parsing query: found FROM" in found.stderr + found.stdout
