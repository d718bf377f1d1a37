"""The fleet file: typed values, roles by spec, and one-line errors naming the file, the entry
and what to fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from pluginmgr.errors import FleetFileError
from pluginmgr.fleet import read_fleet_file
from tests.helpers import run_cli

EXAMPLE = """
plugin-repo = "https://internal.example.com/influxdb-plugins/"
databases = ["sensors"]
[[nodes]]
name = "ingest-1"
url = "https://ingest-1:8181/"
token-env = "INGEST_TOKEN"
roles = ["ingest"]
[[nodes]]
name = "any-1"
url = "http://any-1:8181"
[[triggers]]
name = "downsample"
database = "sensors"
spec = "table:cpu"
plugin = "gh:influxdata/downsampler/downsampler.py"
arguments = { interval = "10min", limit = 5, dry = true }
[[triggers]]
name = "hourly"
database = "sensors"
spec = "every:1h"
plugin = "report.py"
error-behavior = "retry"
run-async = true
[[triggers]]
name = "hook"
database = "sensors"
spec = "request:hook"
plugin = "hook.py"
roles = ["query", "ingest"]
"""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "fleet.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_the_example_parses_into_typed_values(tmp_path: Path) -> None:
    fleet = read_fleet_file(_write(tmp_path, EXAMPLE), env={"INGEST_TOKEN": "secret"})
    ingest, anywhere = fleet.nodes
    assert (ingest.url, ingest.token, ingest.roles) == (
        "https://ingest-1:8181",
        "secret",
        frozenset({"ingest"}),
    )
    assert anywhere.roles == frozenset({"ingest", "query", "process"}) and anywhere.token is None
    downsample, hourly, hook = fleet.triggers
    assert downsample.roles == frozenset({"ingest"})
    assert dict(downsample.arguments or {}) == {"interval": "10min", "limit": "5", "dry": "true"}
    assert (hourly.roles, hourly.error_behavior, hourly.run_async) == (
        frozenset({"process"}),
        "retry",
        True,
    )
    assert hook.roles == frozenset({"query", "ingest"})  # the override
    assert [t.name for t in fleet.triggers_for(ingest)] == ["downsample", "hook"]
    assert len(fleet.triggers_for(anywhere)) == 3
    assert fleet.plugin_repo == "https://internal.example.com/influxdb-plugins/"


def test_a_node_without_token_env_reads_influxdb3_auth_token(tmp_path: Path) -> None:
    text = EXAMPLE.replace('token-env = "INGEST_TOKEN"\n', "")
    fleet = read_fleet_file(_write(tmp_path, text), env={"INFLUXDB3_AUTH_TOKEN": "t"})
    assert [n.token for n in fleet.nodes] == ["t", "t"]


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            ('roles = ["ingest"]', 'roles = ["ingester"]'),
            "node 'ingest-1': unknown role 'ingester'",
        ),
        (
            ('spec = "table:cpu"', 'spec = "tabel:cpu"'),
            "trigger 'downsample': bad spec 'tabel:cpu'",
        ),
        (('name = "hourly"', 'name = "downsample"'), "trigger 'sensors/downsample' is named twice"),
        (('name = "any-1"', 'name = "ingest-1"'), "node 'ingest-1' is named twice"),
        (('database = "sensors"', 'database = "other"'), "database 'other' is not in databases"),
        (('url = "http://any-1:8181"', 'url = "any-1:8181"'), "url 'any-1:8181' is not http(s)"),
        (('plugin = "report.py"', 'plugin = "gh:../x.py"'), "trigger 'hourly': bad plugin"),
        (("run-async = true", 'run-async = "yes"'), "'run-async' must be true or false"),
        (('error-behavior = "retry"', 'error-behavior = "panic"'), "unknown error-behavior"),
        (("[[nodes]]", "[[node]]"), "top level: unknown key 'node'"),
        (('plugin-repo = "', 'plugin-repo = ="'), "not valid TOML"),
    ],
)
def test_a_mistake_is_one_error_naming_the_file_and_entry(
    tmp_path: Path, change: tuple[str, str], expected: str
) -> None:
    path = _write(tmp_path, EXAMPLE.replace(*change, 1))
    with pytest.raises(FleetFileError) as caught:
        read_fleet_file(path, env={"INGEST_TOKEN": "secret"})
    message = str(caught.value)
    assert message.startswith(f"{path}: ") and expected in message, message
    assert "\n" not in message and caught.value.hint


def test_a_missing_token_variable_is_named(tmp_path: Path) -> None:
    with pytest.raises(FleetFileError, match="environment variable INGEST_TOKEN is not set"):
        read_fleet_file(_write(tmp_path, EXAMPLE), env={})


def test_a_trigger_no_node_can_run_is_refused(tmp_path: Path) -> None:
    text = EXAMPLE.replace(
        'name = "any-1"\nurl = "http://any-1:8181"',
        'name = "any-1"\nurl = "http://any-1:8181"\nroles = ["ingest"]',
    )
    with pytest.raises(FleetFileError, match="trigger 'hourly': no node has role process"):
        read_fleet_file(_write(tmp_path, text), env={"INGEST_TOKEN": "x"})


def test_the_cli_prints_one_line_and_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _write(tmp_path, EXAMPLE.replace('roles = ["ingest"]', 'roles = ["nope"]'))
    result = run_cli(capsys, "fleet", "plan", str(path))
    assert result.code == 1 and result.out == ""
    assert result.err.startswith(f"error: {path}: node 'ingest-1': unknown role 'nope'")
    missing = run_cli(capsys, "fleet", "plan", str(tmp_path / "absent.toml"))
    assert missing.code == 1 and "cannot read" in missing.err
