"""The fetch progress display: the overall bar counts plugins, a large file's bar counts bytes."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from rich.console import Console

from pluginmgr.cli import _fetch_output
from pluginmgr.cli._fetch_output import ProgressBar
from pluginmgr.testing import RepoServer
from tests.conftest import NOTIFIER, WAL_PLUGIN
from tests.helpers import repo_args, run_cli

_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def rendered(bar: ProgressBar) -> str:
    out = io.StringIO()
    Console(file=out, width=100).print(bar)
    return out.getvalue()


def test_the_overall_bar_counts_plugins_not_bytes() -> None:
    bar = ProgressBar(6, console=Console(file=io.StringIO()))
    assert "0/6 plugins" in rendered(bar)
    for number in range(1, 7):
        bar.done(f"gh:p{number}.py")
        assert f"{number}/6 plugins" in rendered(bar)
    assert "6/6 plugins" in rendered(bar) and "bytes" not in rendered(bar)


def test_a_large_files_bar_counts_bytes_beside_the_count() -> None:
    bar = ProgressBar(6, console=Console(file=io.StringIO()))
    bar.bytes("gh:big.py", 1_048_576, 2_097_152)
    lines = rendered(bar).splitlines()
    assert "0/6 plugins" in lines[0]
    assert lines[1].startswith("gh:big.py") and "1.0/2.1 MB" in lines[1]
    bar.done("gh:big.py")
    assert "gh:big.py" not in rendered(bar) and "1/6 plugins" in rendered(bar)


def test_the_live_display_ends_at_six_of_six() -> None:
    out = io.StringIO()
    bar = ProgressBar(6, console=Console(file=out, force_terminal=True, width=100))
    with bar.shown():
        for number in range(6):
            bar.done(f"gh:p{number}.py")
    drawn = _ANSI.sub("", out.getvalue())
    assert "fetching 6 plugins" in drawn and "6/6 plugins" in drawn


def test_fetching_six_plugins_draws_a_bar_that_counts_them(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    repo_server: RepoServer,
    plugin_dir: Path,
    tmp_path: Path,
) -> None:
    terminal = io.StringIO()
    console = Console(file=terminal, force_terminal=True, width=120)
    monkeypatch.setattr(_fetch_output, "err_console", lambda: console)
    refs = [
        WAL_PLUGIN,
        NOTIFIER,
        "gh:influxdata/downsampler/downsampler.py",
        "gh:examples/hello_request/hello_request.py",
        "gh:examples/greeter/greeter.py",
        "gh:influxdata/library/plugin_library.json",
    ]
    args = repo_args(repo_server.url, plugin_dir, tmp_path / "cache")
    result = run_cli(capsys, "fetch", *refs, "--format", "json", *args)
    assert result.code == 0, result.err
    drawn = _ANSI.sub("", terminal.getvalue())
    assert "fetching 6 plugins" in drawn and "6/6 plugins" in drawn
    assert "/6 bytes" not in drawn
