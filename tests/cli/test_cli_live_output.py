"""What people see from a real server at 80 columns: show, write, query, create trigger."""

from __future__ import annotations

import io
import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli.live import Live, serving
from tests.conftest import FIXTURES
from tests.helpers import CliResult, run_cli

NAMES = ("downsample_cpu", "threshold_alert", "hook")
LONG_NAMES = ("hourly_downsample_cpu_usage", "notify_on_threshold_breach", "hook")


@pytest.fixture
def live(tmp_path: Path, plugin_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Live]:
    shutil.copytree(FIXTURES / "plugins", plugin_dir, dirs_exist_ok=True)
    monkeypatch.setenv("COLUMNS", "80")
    with serving(tmp_path, plugin_dir, auth=False) as running:
        yield running


def cli(capsys: pytest.CaptureFixture[str], live: Live, *args: str) -> CliResult:
    return run_cli(capsys, *args, "-H", live.url)


def fits(result: CliResult) -> list[str]:
    assert result.code == 0, result.err
    lines = result.out.splitlines()
    assert max(map(len, lines), default=0) <= 80, result.out
    return lines


def make_triggers(
    capsys: pytest.CaptureFixture[str], live: Live, names: tuple[str, ...] = NAMES
) -> None:
    assert cli(capsys, live, "create", "database", "metrics").code == 0
    specs = [
        (names[0], "wal_rows.py", "table:cpu_usage_metrics"),
        (names[1], "schedule_report.py", "cron:0 */5 * * * *"),
        (names[2], "request_returns.py", "request:hook"),
    ]
    for name, plugin, spec in specs:
        made = cli(
            capsys, live, "create", "trigger", name, "-d", "metrics", "--trigger-spec", spec,
            "--plugin-filename", plugin,
        )  # fmt: skip
        assert made.code == 0, made.err


def test_show_triggers_keeps_every_name_whole(
    capsys: pytest.CaptureFixture[str], live: Live
) -> None:
    make_triggers(capsys, live)
    lines = fits(cli(capsys, live, "show", "triggers"))
    for name in (*NAMES, "wal_rows.py", "schedule_report.py", "request_returns.py"):
        assert any(name in line.split() for line in lines), (name, lines)
    header = next(i for i, line in enumerate(lines) if set(line) == {"─"}) - 1
    assert lines[header].split()[:4] == ["database", "trigger", "plugin", "spec"]
    assert len(lines) <= 9, "\n".join(lines)


def test_show_triggers_too_wide_for_a_table_is_one_block_each(
    capsys: pytest.CaptureFixture[str], live: Live
) -> None:
    make_triggers(capsys, live, LONG_NAMES)
    lines = fits(cli(capsys, live, "show", "triggers"))
    assert f"trigger   {LONG_NAMES[0]}" in lines
    assert f"trigger   {LONG_NAMES[1]}" in lines
    assert "spec      cron:0 */5 * * * *" in lines
    assert lines.count("") == 2  # three blocks


def test_show_plugins_is_readable(capsys: pytest.CaptureFixture[str], live: Live) -> None:
    make_triggers(capsys, live)
    lines = fits(cli(capsys, live, "show", "plugins", "-d", "metrics"))
    assert "wal_rows.py" in lines
    assert lines[:3] == [
        "request_returns.py",
        "  name     request_returns (local)",
        "  used by  metrics/hook",
    ]


def test_write_then_query_six_rows_compactly(
    capsys: pytest.CaptureFixture[str], live: Live
) -> None:
    lp = "\n".join(
        f"cpu,host=server{i:02d},region=us-west usage_user={i * 1.5},usage_system=21.25,"
        f"usage_idle=70.1 {1_700_000_000 + i}000000000"
        for i in range(6)
    )
    written = cli(capsys, live, "write", "-d", "metrics", f"# six rows\n{lp}\n")
    assert (written.code, written.out) == (0, "wrote 6 lines to metrics\n")
    query = "SELECT host, region, time, usage_user, usage_system, usage_idle FROM cpu ORDER BY host"
    lines = fits(cli(capsys, live, "query", "-d", "metrics", query))
    assert len(lines) <= 10
    assert lines[-1].split()[:2] == ["server05", "us-west"]


def test_write_shows_the_servers_rejected_lines(
    capsys: pytest.CaptureFixture[str], live: Live
) -> None:
    result = cli(capsys, live, "write", "-d", "db", "cpu v=1 1\ncpu v=\nmem x 2")
    assert result.code == 1
    assert result.err.splitlines() == [
        "error: partial write of line protocol occurred: 2 of 3 lines rejected, 1 written to db",
        "  line 2 `cpu v=`: invalid field value in line protocol for field 'v' on line 2",
        "  line 3 `mem x 2`: invalid field 'x': expected key=value on line 3",
    ]


def test_create_trigger_with_a_leading_slash_warns_first(
    capsys: pytest.CaptureFixture[str], live: Live
) -> None:
    assert cli(capsys, live, "create", "database", "db").code == 0
    result = cli(
        capsys, live, "create", "trigger", "slash", "-d", "db", "--trigger-spec", "request:/x",
        "--plugin-filename", "request_returns.py",
    )  # fmt: skip
    assert result.code == 0, result.err
    assert result.err.splitlines()[0].startswith("warning: request:/x starts with a slash")
    assert all(line.startswith("warning: ") for line in result.err.splitlines())
    assert result.out == "Trigger slash created successfully\n"


def test_show_and_delete_databases_and_an_influxql_query(
    capsys: pytest.CaptureFixture[str], live: Live, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert cli(capsys, live, "write", "-d", "metrics", "cpu,host=a usage=1.5 1000").code == 0
    assert cli(capsys, live, "create", "database", "scratch").code == 0
    shown = fits(cli(capsys, live, "show", "databases"))
    assert any("metrics" in line for line in shown) and any("scratch" in line for line in shown)
    listed = cli(capsys, live, "show", "databases", "--format", "json")
    assert {"iox::database": "scratch"} in json.loads(listed.out)

    influxql = cli(
        capsys, live, "query", "-d", "metrics", "-l", "influxql", "SELECT usage FROM cpu"
    )
    assert influxql.code == 0, influxql.err
    assert influxql.out.splitlines()[-1].split()[-1] == "1.5"
    bad = cli(capsys, live, "query", "-d", "metrics", "--language", "flux", "x")
    assert bad.code == 2 and "'flux' is not one of 'sql', 'influxql'" in bad.err

    monkeypatch.setattr("sys.stdin", io.StringIO("n\n"))
    kept = cli(capsys, live, "delete", "database", "scratch")
    assert kept.code == 130 and 'Are you sure you want to delete "scratch"?' in kept.err
    assert cli(capsys, live, "show", "databases", "--format", "json").out.count("scratch") == 1
    gone = cli(capsys, live, "delete", "database", "scratch", "--yes")
    assert (gone.code, gone.out) == (0, 'Database "scratch" deleted successfully\n')
    assert "scratch" not in cli(capsys, live, "show", "databases", "--format", "json").out
    missing = cli(capsys, live, "delete", "database", "scratch", "-y")
    assert missing.code == 1 and "scratch" in missing.err
