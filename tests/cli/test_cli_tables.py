"""Pretty tables fit the width, wrap between words and never cut a name."""

from __future__ import annotations

import pytest

from pluginmgr.cli.tables import fit_widths, output_width, records, render_table, wrap

TRIGGERS = [
    ["hourly_downsample", "gh:influxdata/downsampler/downsampler.py", "every:1h", "log", "running"],
    ["cpu_alert", "gh:influxdata/notifier/notifier_plugin.py", "table:cpu", "retry", "disabled"],
    ["report", "wal.py", "cron:0 0 * * * *", "disable", "running"],
]
HEADERS = ["trigger", "plugin", "spec", "on error", "state"]


def widest(text: str) -> int:
    return max(len(line) for line in text.splitlines())


def test_wrap_breaks_at_spaces_then_after_separators_and_never_inside_a_piece() -> None:
    assert wrap("cron:0 0 * * * *", 8, breaks=None) == ["cron:0 0", "* * * *"]
    assert wrap("gh:influxdata/notifier/notifier_plugin.py", 24) == [
        "gh:influxdata/notifier/",
        "notifier_plugin.py",
    ]
    assert wrap("notify_slack_on_threshold", 10) == ["notify_slack_on_threshold"]  # too long: whole
    assert wrap("", 5) == [""]


def test_fit_widths_widens_the_narrow_columns_first() -> None:
    assert fit_widths([5, 40, 30], [5, 10, 10], 100) == [5, 40, 30]  # fits as is
    assert fit_widths([5, 40, 30], [5, 10, 10], 45) == [5, 10, 30]  # the one that can fit does
    assert fit_widths([5, 40, 30], [5, 10, 10], 41) == [5, 18, 18]  # else they share
    assert fit_widths([5, 12, 30], [5, 10, 10], 40) == [5, 12, 23]
    assert fit_widths([5, 40], [5, 30], 30) is None


@pytest.mark.parametrize("width", [120, 100, 80, 60, 40])
def test_a_table_fits_and_keeps_every_name_whole(width: int) -> None:
    text = render_table(TRIGGERS, HEADERS, width)
    assert widest(text) <= width
    lines = text.splitlines()
    for row in TRIGGERS:
        assert any(row[0] in line for line in lines), (row[0], text)
        for piece in ("downsampler.py", "notifier_plugin.py", "hourly_downsample"):
            assert any(piece in line for line in lines), (piece, text)


def test_at_80_columns_the_triggers_are_a_table_with_a_path_wrapped_at_a_slash() -> None:
    lines = render_table(TRIGGERS, HEADERS, 80).splitlines()
    assert lines[0].split() == ["trigger", "plugin", "spec", "on", "error", "state"]
    assert set(lines[1]) == {"─"}
    assert lines[2].split() == ["hourly_downsample", "gh:influxdata/", "every:1h", "log", "running"]
    assert lines[3:5] == [" " * 19 + "downsampler/", " " * 19 + "downsampler.py"]
    assert lines[5].split()[:2] == ["cpu_alert", "gh:influxdata/notifier/"]
    assert lines[7].split() == "report wal.py cron:0 0 * * * * disable running".split()
    assert len(lines) == 8


def test_what_cannot_fit_becomes_one_block_per_row() -> None:
    text = render_table(TRIGGERS, HEADERS, 30)
    blocks = text.split("\n\n")
    assert len(blocks) == 3
    assert blocks[0].splitlines()[:3] == [
        "trigger   hourly_downsample",
        "plugin    gh:influxdata/",
        "          downsampler/",
    ]
    assert "state     running" in blocks[0]


def test_a_six_row_query_result_at_80_columns_takes_eight_lines() -> None:
    headers = ["host", "region", "time", "usage_user", "usage_system", "usage_idle", "usage_iowait"]
    rows = [
        [f"server{i:02d}", "us-west", f"2024-06-01T12:00:0{i}", f"{i * 1.5}", "21.25", "70.1", "0"]
        for i in range(6)
    ]
    text = render_table(rows, headers, 80)
    assert widest(text) <= 80
    lines = text.splitlines()
    assert len(lines) <= 10
    assert all(f"2024-06-01T12:00:0{i}" in text for i in range(6))
    assert lines[-1].split() == "server05 us-west 2024-06-01T12:00:05 7.5 21.25 70.1 0".split()


def test_piped_output_keeps_the_natural_width() -> None:
    text = render_table(TRIGGERS, HEADERS, None)
    assert len(text.splitlines()) == 5
    assert "gh:influxdata/notifier/notifier_plugin.py" in text


def test_a_traceback_goes_below_the_table() -> None:
    traceback = 'Traceback (most recent call last):\n  File "p.py", line 3\nValueError: boom'
    text = render_table([["t1", "error", traceback], ["t2", "info", "ok"]], ["t", "lvl", "log"], 80)
    table, notes = text.split("\n\n")
    assert table.splitlines()[2].split() == ["t1", "error", "[1]"]
    assert notes.splitlines() == [
        "[1] log of row 1:",
        "    Traceback (most recent call last):",
        '      File "p.py", line 3',
        "    ValueError: boom",
    ]


def test_cells_are_text_not_markup() -> None:
    assert "[bold]x[/bold]" in render_table([["[bold]x[/bold]"]], ["v"], 80)


def test_records_wrap_values_beside_their_labels() -> None:
    text = records([("wal.py", [("used by", "db/a, db/b, db/c"), ("arguments", "none")])], 22)
    assert text.splitlines() == [
        "wal.py",
        "  used by    db/a,",
        "             db/b, db/c",
        "  arguments  none",
    ]


def test_output_width_reads_columns(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    assert output_width() == 80
    monkeypatch.delenv("COLUMNS")
    assert output_width() is None  # pytest captures stdout: not a terminal
