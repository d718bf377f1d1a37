"""``create database --retention-period``, ``update database`` and ``show retention`` against
a real server (uvicorn on loopback, auth on)."""

from __future__ import annotations

import json

import pytest

from tests.helpers import CliResult, run_cli


def _cli(capsys: pytest.CaptureFixture[str], server: tuple[str, str], *args: str) -> CliResult:
    base, token = server
    return run_cli(capsys, *args, "--host", base, "--token", token)


def _periods(capsys: pytest.CaptureFixture[str], server: tuple[str, str]) -> dict[str, str]:
    shown = _cli(capsys, server, "show", "retention", "--format", "json")
    assert shown.code == 0, shown.err
    return {row["database_name"]: row["retention_period"] for row in json.loads(shown.out)}


def test_create_update_clear_and_show(
    capsys: pytest.CaptureFixture[str], live_server: tuple[str, str]
) -> None:
    created = _cli(capsys, live_server, "create", "database", "logs", "--retention-period", "30d")
    assert created.code == 0, created.err
    assert created.out.strip() == 'Database "logs" created successfully'
    assert _cli(capsys, live_server, "create", "database", "plain").code == 0
    assert _periods(capsys, live_server) == {"_internal": "7d", "logs": "30d", "plain": "infinite"}
    updated = _cli(capsys, live_server, "update", "database", "-d", "logs", "-r", "36h")
    assert updated.code == 0, updated.err
    assert updated.out.strip() == 'Database "logs" updated successfully'
    one = _cli(capsys, live_server, "show", "retention", "--database", "logs")
    assert one.code == 0 and "36h" in one.out and "plain" not in one.out
    cleared = _cli(capsys, live_server, "update", "database", "-d", "logs", "-r", "none")
    assert cleared.code == 0, cleared.err
    assert _periods(capsys, live_server)["logs"] == "infinite"


def test_bad_input_is_one_line_and_changes_nothing(
    capsys: pytest.CaptureFixture[str], live_server: tuple[str, str]
) -> None:
    bad = _cli(capsys, live_server, "create", "database", "logs", "--retention-period", "soon")
    assert bad.code != 0
    assert 'invalid value: string "soon", expected a duration' in bad.err
    missing = _cli(capsys, live_server, "update", "database", "-d", "logs")
    assert missing.code != 0
    assert "--retention-period is required for update database" in missing.err
    unknown = _cli(capsys, live_server, "update", "database", "-d", "nope", "-r", "1h")
    assert unknown.code != 0
    assert "the requested resource was not found: nope" in unknown.err
    assert len(unknown.err.strip().splitlines()) == 1
    refused = _cli(capsys, live_server, "create", "database", "_lead")
    assert refused.code != 0
    assert "db name did not start with a number or letter" in refused.err
    assert _periods(capsys, live_server) == {"_internal": "7d"}
