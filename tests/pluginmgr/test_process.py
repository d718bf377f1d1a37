"""`run` streaming a command's stderr lines to a listener, and `check` keeping a bounded number
of failure logs."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from pluginmgr.errors import InstallError
from pluginmgr.process import KEPT_LOGS, LOG_PREFIX, check, run, streaming_to

SCRIPT = """
import sys, time
print("the result")
for line in ("Resolved 2 packages", "", "Installed 2 packages", "error: it broke", "  after"):
    print(line, file=sys.stderr, flush=True)
"""


def test_stderr_lines_reach_the_listener_as_they_come_until_the_first_error() -> None:
    heard: list[str] = []
    with streaming_to(heard.append):
        result = run([sys.executable, "-c", SCRIPT])
    assert heard == ["Resolved 2 packages", "Installed 2 packages"]
    assert result.returncode == 0
    assert result.stdout == "the result\n"
    assert result.stderr.splitlines()[-2:] == ["error: it broke", "  after"]  # all kept


def test_outside_streaming_nothing_is_told_and_the_output_is_the_same() -> None:
    heard: list[str] = []
    with streaming_to(heard.append):
        pass
    result = run([sys.executable, "-c", SCRIPT])
    assert heard == []
    assert result.stdout == "the result\n"


def test_a_listener_that_fails_does_not_stop_the_command() -> None:
    def gone(line: str) -> None:
        raise BrokenPipeError(line)

    with streaming_to(gone):
        result = run([sys.executable, "-c", SCRIPT])
    assert result.returncode == 0 and result.stdout == "the result\n"


def test_a_streamed_command_past_its_timeout_is_killed() -> None:
    with streaming_to(lambda _line: None), pytest.raises(InstallError) as caught:
        run([sys.executable, "-c", "import time; time.sleep(30)"], timeout=0.5)
    assert "did not finish within 0.5s" in caught.value.message


def test_failure_logs_go_to_the_log_dir_and_only_the_newest_are_kept(tmp_path: Path) -> None:
    logs = tmp_path / "cache" / "logs"  # made on first use
    failing = run([sys.executable, "-c", "import sys; sys.exit(3)"])
    paths = []
    for number in range(KEPT_LOGS + 3):
        with pytest.raises(InstallError) as caught:
            check(failing, what=f"attempt {number}", log_dir=logs)
        paths.append(Path(caught.value.log_path or ""))
    assert sorted(logs.glob(f"{LOG_PREFIX}*.log")) == paths[-KEPT_LOGS:]
    assert caught.value.hint == f"full output in {paths[-1]}"
    assert "$ " in paths[-1].read_text()  # the command, then its output
