"""``create token --admin`` against a real server: the server first, the data dir as fallback,
and the 401 hint naming a command that works."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from pluginmgr.cli.tokens import ADMIN_TOKEN_PATH, OPERATOR_DELETE_MESSAGE, REGENERATE_NAME_MESSAGE
from pluginmgr.server.auth import TokenStore
from pluginmgr.server.routes_tokens import ADMIN_TOKEN_PATH as SERVER_ADMIN_TOKEN_PATH
from tests.cli.live import Live, dead_url, serving
from tests.helpers import CliResult, run_cli


@pytest.fixture
def live(tmp_path: Path, plugin_dir: Path) -> Iterator[Live]:
    with serving(tmp_path, plugin_dir) as running:
        yield running


def token_of(result: CliResult) -> str:
    assert result.code == 0, result.err
    return next(line for line in result.out.splitlines() if line.startswith("Token: "))[7:]


def works(live: Live, token: str) -> bool:
    headers = {"Authorization": f"Bearer {token}"}
    return httpx.get(f"{live.url}/api/v3/configure/database", headers=headers).status_code == 200


def test_the_endpoint_is_the_servers() -> None:
    assert ADMIN_TOKEN_PATH == SERVER_ADMIN_TOKEN_PATH


def test_host_asks_the_server_for_its_first_admin_token(
    capsys: pytest.CaptureFixture[str], live: Live
) -> None:
    result = run_cli(capsys, "create", "token", "--admin", "--host", live.url)
    token = token_of(result)
    assert result.err == ""
    assert result.out.startswith("New token created successfully!\n\nToken: apiv3_")
    assert f"HTTP Requests Header: Authorization: Bearer {token}" in result.out
    assert works(live, token)
    assert live.tokens is not None and [r.name for r in live.tokens.records()] == ["_admin"]


def test_json_names_where_the_token_was_made(
    capsys: pytest.CaptureFixture[str], live: Live
) -> None:
    result = run_cli(capsys, "create", "token", "--admin", "-H", live.url, "--format", "json")
    assert result.code == 0, result.err
    made = json.loads(result.out)
    assert made["name"] == "_admin" and made["admin"] is True
    assert made["source"] == {"kind": "server", "location": live.url}
    assert works(live, made["token"])


def test_a_second_token_without_data_dir_is_a_clear_one_line_error(
    capsys: pytest.CaptureFixture[str], live: Live
) -> None:
    token_of(run_cli(capsys, "create", "token", "--admin", "-H", live.url))
    again = run_cli(capsys, "create", "token", "--admin", "-H", live.url)
    assert again.code == 1
    assert again.out == ""
    assert again.err == (
        f"error: the server at {live.url} already has an admin token (it makes only the first "
        "one) (hint: pass --name NAME --token ADMIN_TOKEN for another admin token; or pass "
        "--data-dir DIR (the server's --data-dir) to write the token to its token file)\n"
    )


def test_with_data_dir_a_refusing_server_falls_back_to_the_token_file(
    capsys: pytest.CaptureFixture[str], live: Live
) -> None:
    token_of(run_cli(capsys, "create", "token", "--admin", "-H", live.url))
    result = run_cli(
        capsys, "create", "token", "--admin", "-H", live.url, "--data-dir", str(live.data_dir)
    )
    token = token_of(result)
    target = live.data_dir / "tokens.json"
    assert result.err == (
        f"note: the server at {live.url} already has an admin token (it makes only the first "
        f"one); writing the token to {target} instead\n"
    )
    assert works(live, token)  # the server re-reads its token file
    assert [r.name for r in TokenStore(target).records()] == ["_admin", "_admin-2"]


def test_the_server_wins_over_the_data_dir(
    capsys: pytest.CaptureFixture[str], live: Live, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("INFLUXDB3_HOST_URL", live.url)
    monkeypatch.setenv("INFLUXDB3_DB_DIR", str(live.data_dir))
    result = run_cli(capsys, "create", "token", "--admin", "--format", "json")
    assert result.code == 0, result.err
    assert result.err == f"note: using the server at {live.url} (INFLUXDB3_HOST_URL)\n"
    assert json.loads(result.out)["source"]["kind"] == "server"


def test_an_unreachable_host_falls_back_to_the_data_dir(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    url, data_dir = dead_url(), tmp_path / "data"
    result = run_cli(capsys, "create", "token", "--admin", "-H", url, "--data-dir", str(data_dir))
    token = token_of(result)
    assert result.err.startswith(f"note: cannot reach the server at {url} to create the token: ")
    assert result.err.endswith(f"; writing the token to {data_dir / 'tokens.json'} instead\n")
    assert TokenStore(data_dir / "tokens.json").verify(token)


def test_an_unreachable_host_without_data_dir_is_a_clear_one_line_error(
    capsys: pytest.CaptureFixture[str],
) -> None:
    url = dead_url()
    result = run_cli(capsys, "create", "token", "--admin", "-H", url)
    assert result.code == 1
    assert result.out == ""
    assert result.err.startswith(f"error: cannot reach the server at {url} to create the token: ")
    assert "pass --data-dir DIR" in result.err
    assert len(result.err.splitlines()) == 1


@pytest.mark.parametrize("variable", ["INFLUXDB3_DB_DIR", "PLUGINMGR_DATA_DIR"])
def test_data_dir_alone_needs_no_server(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    variable: str,
) -> None:
    monkeypatch.setenv(variable, str(tmp_path / "data"))  # serve reads PLUGINMGR_DATA_DIR
    result = run_cli(capsys, "create", "token", "--admin", "--format", "json")
    assert result.code == 0, result.err
    made = json.loads(result.out)
    target = tmp_path / "data" / "tokens.json"
    assert made["source"] == {"kind": "data_dir", "location": str(target)}
    assert TokenStore(target).verify(made["token"])


def test_a_taken_name_given_explicitly_is_refused(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    args = ("create", "token", "--admin", "--name", "ops", "--data-dir", str(tmp_path))
    token_of(run_cli(capsys, *args))
    again = run_cli(capsys, *args)
    assert (again.code, again.err.splitlines()[0][:43]) == (
        1,
        "error: token name already exists, ops (hint",
    )


def test_a_server_without_auth_needs_no_token(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, plugin_dir: Path
) -> None:
    with serving(tmp_path, plugin_dir, auth=False) as live:
        result = run_cli(capsys, "create", "token", "--admin", "-H", live.url)
    assert result.code == 1
    assert result.err == (
        f"error: the server at {live.url} runs without auth (endpoint disabled, started "
        "without auth): it needs no token\n"
    )


def test_the_401_hint_names_a_command_that_works(
    capsys: pytest.CaptureFixture[str], live: Live
) -> None:
    refused = run_cli(capsys, "create", "database", "db1", "-H", live.url)
    assert refused.code == 1
    assert refused.err.startswith("error: missing Authorization header (hint: pass --token")
    assert "(pass Authorization:" not in refused.err  # the server's own hint is replaced
    command = f"pluginmgr create token --admin --host {live.url}"
    assert f"`{command}`" in refused.err
    token = token_of(run_cli(capsys, *command.split()[1:]))
    created = run_cli(capsys, "create", "database", "db1", "-H", live.url, "--token", token)
    assert created.code == 0, created.err


# -- named admin tokens, regeneration, deletion, listing ----------------------------------------


@pytest.fixture
def operator(capsys: pytest.CaptureFixture[str], live: Live) -> str:
    return token_of(run_cli(capsys, "create", "token", "--admin", "-H", live.url))


def test_a_named_admin_token_with_expiry_is_made_and_listed(
    capsys: pytest.CaptureFixture[str], live: Live, operator: str
) -> None:
    args = ("create", "token", "--admin", "--name", "ci", "--expiry", "30d")
    result = run_cli(capsys, *args, "-H", live.url, "--token", operator, "--format", "json")
    assert result.code == 0, result.err
    made = json.loads(result.out)
    assert (made["name"], made["source"]["kind"]) == ("ci", "server")
    assert works(live, made["token"])
    assert live.tokens is not None
    record = live.tokens.lookup(made["token"])
    assert record is not None and record.expiry is not None
    assert 30 * 86400 - 5 <= record.expiry - record.created <= 30 * 86400
    listed = run_cli(capsys, "show", "tokens", "-H", live.url, "--token", operator)
    assert listed.code == 0, listed.err
    assert "_admin" in listed.out and "ci" in listed.out and made["token"] not in listed.out
    rows = json.loads(
        run_cli(capsys, "show", "tokens", "-H", live.url, "--token", made["token"], "--format",
                "json").out
    )  # fmt: skip
    assert [row["name"] for row in rows] == ["_admin", "ci"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--name", "ci", "--regenerate"), REGENERATE_NAME_MESSAGE),
        (("--expiry", "1d"), "--expiry applies to named admin tokens: pass --name NAME"),
        (("--name", "ci", "--expiry", "soon"), "invalid --expiry 'soon'"),
        (("--name", "ci", "--expiry", "0s"), "invalid --expiry '0s': use at least 1s"),
    ],
)
def test_flag_mistakes_are_usage_errors(
    capsys: pytest.CaptureFixture[str], args: tuple[str, ...], message: str
) -> None:
    result = run_cli(capsys, "create", "token", "--admin", *args, "-H", dead_url())
    assert result.code == 2
    assert message in result.err


def test_a_named_token_without_an_admin_token_is_refused(
    capsys: pytest.CaptureFixture[str], live: Live, operator: str
) -> None:
    result = run_cli(capsys, "create", "token", "--admin", "--name", "ci", "-H", live.url)
    assert result.code == 1
    assert result.err.startswith(f"error: the server at {live.url} refused the token: ")
    taken = run_cli(
        capsys, "create", "token", "--admin", "--name", "_admin", "-H", live.url, "--token",
        operator,
    )  # fmt: skip
    assert taken.code == 1
    assert "token name already exists, _admin" in taken.err


def test_regeneration_asks_first_then_replaces_the_operator_token(
    capsys: pytest.CaptureFixture[str],
    live: Live,
    operator: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    args = ("create", "token", "--admin", "--regenerate", "-H", live.url, "--token", operator)
    monkeypatch.setattr("sys.stdin", io.StringIO("no\n"))
    refused = run_cli(capsys, *args)
    assert refused.code == 1
    assert "error: Cannot regenerate token without confirmation" in refused.err
    assert works(live, operator)
    monkeypatch.setattr("sys.stdin", io.StringIO("yes\n"))
    result = run_cli(capsys, *args)
    assert "Are you sure you want to regenerate admin token? Enter 'yes' to confirm" in result.err
    new = token_of(result)
    assert works(live, new) and not works(live, operator)


def test_regeneration_offline_in_the_data_dir_reaches_the_running_server(
    capsys: pytest.CaptureFixture[str], live: Live, operator: str
) -> None:
    args = ("create", "token", "--admin", "--regenerate", "--yes")
    result = run_cli(capsys, *args, "--data-dir", str(live.data_dir))
    new = token_of(result)
    assert works(live, new) and not works(live, operator)


def test_regeneration_without_an_operator_token_says_so(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    args = ("create", "token", "--admin", "--regenerate", "--yes", "--data-dir", str(tmp_path))
    result = run_cli(capsys, *args)
    assert result.code == 1
    assert result.err.startswith("error: missing admin token, cannot update (hint: create it")


def test_delete_token(capsys: pytest.CaptureFixture[str], live: Live, operator: str) -> None:
    made = run_cli(
        capsys, "create", "token", "--admin", "--name", "ci", "-H", live.url, "--token", operator
    )
    ci = token_of(made)
    delete = ("delete", "token", "-H", live.url, "--token", operator, "--token-name")
    result = run_cli(capsys, *delete, "ci", "--yes")
    assert (result.code, result.out) == (0, 'Token "ci" deleted successfully\n')
    assert not works(live, ci)
    unknown = run_cli(capsys, *delete, "ci", "--yes")
    assert unknown.code == 1
    assert unknown.err.startswith("error: the requested resource was not found: ci")
    operator_refused = run_cli(capsys, *delete, "_admin", "--yes")
    assert (operator_refused.code, operator_refused.err) == (
        1,
        f"error: {OPERATOR_DELETE_MESSAGE}\n",
    )
    assert works(live, operator)
