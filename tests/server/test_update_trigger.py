"""``update trigger`` against a real ``pluginmgr serve``: the CLI and
``PUT /api/v3/configure/processing_engine_trigger`` change a trigger's plugin, arguments, state
and error behaviour, the running trigger answers with the change at once, and bad input is one
line that changes nothing."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.helpers import run_cli
from tests.server.server_helpers import TRIGGER, Served, serve, trigger_body, write_plugin

ANSWER = """
def process_request(influxdb3_local, query_parameters, request_headers, request_body, args=None):
    return {"plugin": "%s", "args": args}
"""
NO_REQUEST_ENTRY = """
def process_writes(influxdb3_local, table_batches, args=None):
    pass
"""


def _env() -> dict[str, str]:
    scrubbed = ("INFLUXDB3_", "PLUGINMGR_", "UV_", "PIP_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(scrubbed)}
    env.pop("VIRTUAL_ENV", None)
    return env


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Served, Path]]:
    """One node (no installs: the plugins here need none) with database ``db``."""
    root = tmp_path_factory.mktemp("update")
    plugin_dir = root / "plugins"
    plugin_dir.mkdir()
    with serve(plugin_dir, root, "--disable-package-management", env=_env()) as served:
        httpx.post(f"{served.url}/api/v3/configure/database", json={"db": "db"})
        yield served, plugin_dir


def _create(url: str, plugin_dir: Path, name: str, *, args: dict[str, str] | None = None) -> None:
    write_plugin(plugin_dir, f"{name}.py", ANSWER % name)
    body = trigger_body(name, f"{name}.py", f"request:{name}", trigger_arguments=args)
    created = httpx.post(url + TRIGGER, json=body, timeout=30)
    assert created.status_code == 200, created.text


def _ask(url: str, name: str) -> Any:
    answer = httpx.get(f"{url}/api/v3/engine/{name}", timeout=30)
    assert answer.status_code == 200, answer.text
    return answer.json()


def _row(url: str, name: str) -> dict[str, Any]:
    rows = httpx.get(url + TRIGGER, params={"db": "db"}).json()
    return next(row for row in rows if row["trigger_name"] == name)


def test_cli_changes_arguments_state_and_error_behavior_of_a_running_trigger(
    server: tuple[Served, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    served, plugin_dir = server
    _create(served.url, plugin_dir, "args", args={"window": "1h"})
    assert _ask(served.url, "args")["args"] == {"window": "1h"}
    host = ["-H", served.url, "-d", "db"]
    done = run_cli(capsys, "update", "trigger", "args", *host, "--trigger-arguments", "window=2h")
    assert (done.code, done.out) == (0, "Trigger args updated successfully\n"), done.err
    assert _ask(served.url, "args")["args"] == {"window": "2h"}  # the next run, no restart
    done = run_cli(
        capsys, "update", "trigger", "--trigger-name", "args", *host, "--disabled",
        "--error-behavior", "retry",
    )  # fmt: skip
    assert done.code == 0, done.err
    row = _row(served.url, "args")
    assert (row["disabled"], row["state"], row["error_behavior"]) == (True, "disabled", "retry")
    assert httpx.get(f"{served.url}/api/v3/engine/args").status_code == 404
    done = run_cli(capsys, "update", "trigger", "args", *host, "--enabled")
    assert done.code == 0, done.err
    assert _ask(served.url, "args") == {"plugin": "args", "args": {"window": "2h"}}
    done = run_cli(capsys, "update", "trigger", "args", *host, "--trigger-arguments", "")
    assert done.code == 0, done.err
    assert _ask(served.url, "args")["args"] is None  # an empty value clears them


def test_path_points_the_trigger_at_another_plugin(
    server: tuple[Served, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    served, plugin_dir = server
    _create(served.url, plugin_dir, "moving")
    write_plugin(plugin_dir, "moved.py", ANSWER % "moved")
    done = run_cli(
        capsys, "update", "trigger", "moving", "-H", served.url, "-d", "db", "--path", "moved.py"
    )
    assert done.code == 0, done.err
    assert _ask(served.url, "moving")["plugin"] == "moved"
    assert _row(served.url, "moving")["plugin_filename"] == "moved.py"


def test_upload_replaces_the_plugin_file_and_the_trigger_runs_it(
    server: tuple[Served, Path], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    served, plugin_dir = server
    _create(served.url, plugin_dir, "uploaded")
    local = tmp_path / "mine.py"
    local.write_text(ANSWER % "from-laptop", encoding="utf-8")
    done = run_cli(
        capsys, "update", "trigger", "uploaded", "-H", served.url, "-d", "db",
        "--path", str(local), "--upload",
    )  # fmt: skip
    assert done.code == 0, done.err
    assert _ask(served.url, "uploaded")["plugin"] == "from-laptop"
    assert "from-laptop" in (plugin_dir / "uploaded.py").read_text(encoding="utf-8")


def test_an_unknown_trigger_is_one_line_and_exit_1(
    server: tuple[Served, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    served, _plugin_dir = server
    done = run_cli(capsys, "update", "trigger", "ghost", "-H", served.url, "-d", "db", "--enabled")
    assert done.code == 1
    assert done.err == "error: the requested resource was not found: ghost\n"


def test_a_bad_error_behavior_is_400_and_changes_nothing(
    server: tuple[Served, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    served, plugin_dir = server
    _create(served.url, plugin_dir, "behaves", args={"k": "v"})
    body = {
        "db": "db",
        "trigger_name": "behaves",
        "trigger_arguments": {"k": "changed"},
        "trigger_settings": {"error_behavior": "explode"},
    }
    answer = httpx.put(served.url + TRIGGER, json=body)
    assert answer.status_code == 400
    assert answer.json()["error"] == (
        "field 'trigger_settings.error_behavior' must be log, retry or disable, got \"explode\""
    )
    assert _ask(served.url, "behaves")["args"] == {"k": "v"}
    done = run_cli(
        capsys, "update", "trigger", "behaves", "-H", served.url, "-d", "db",
        "--error-behavior", "explode",
    )  # fmt: skip
    assert done.code == 2 and "'explode' is not one of 'log', 'retry', 'disable'" in done.err


@pytest.mark.parametrize(
    ("path", "status", "message"),
    [
        ("missing.py", 404, "Plugin not found"),
        ("../outside.py", 400, "Path traversal detected: plugin filename '../outside.py'"),
        ("writes_only.py", 400, "writes_only.py"),
    ],
)
def test_a_bad_path_is_refused_and_the_trigger_keeps_its_plugin(
    server: tuple[Served, Path], path: str, status: int, message: str
) -> None:
    served, plugin_dir = server
    name = f"keeps_{status}_{len(path)}"
    _create(served.url, plugin_dir, name)
    write_plugin(plugin_dir, "writes_only.py", NO_REQUEST_ENTRY)
    body = {"db": "db", "trigger_name": name, "plugin_filename": path}
    answer = httpx.put(served.url + TRIGGER, json=body, timeout=30)
    assert answer.status_code == status, answer.text
    assert message in answer.json()["error"]
    assert "\n" not in answer.json()["error"]
    assert _row(served.url, name)["plugin_filename"] == f"{name}.py"
    assert _ask(served.url, name)["plugin"] == name


def test_cli_refuses_what_it_cannot_send(
    server: tuple[Served, Path], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    served, _plugin_dir = server
    host = ["-H", served.url, "-d", "db"]
    nothing = run_cli(capsys, "update", "trigger", "args", *host)
    assert nothing.code == 2 and "nothing to update" in nothing.err
    missing = tmp_path / "nowhere.py"
    gone = run_cli(capsys, "update", "trigger", "args", *host, "--path", str(missing), "--upload")
    assert gone.code == 2 and f"--path {missing} does not exist" in gone.err
    bare = tmp_path / "pkg"
    bare.mkdir()
    (bare / "helper.py").write_text("X = 1\n", encoding="utf-8")
    no_init = run_cli(capsys, "update", "trigger", "args", *host, "--path", str(bare), "--upload")
    assert no_init.code == 2 and "must contain __init__.py" in no_init.err


def test_upload_of_a_directory_replaces_a_directory_plugin(
    server: tuple[Served, Path], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    served, plugin_dir = server
    package = plugin_dir / "pack"
    package.mkdir()
    (package / "__init__.py").write_text(ANSWER % "pack-v1", encoding="utf-8")
    body = trigger_body("pack", "pack", "request:pack")
    assert httpx.post(served.url + TRIGGER, json=body, timeout=30).status_code == 200
    assert _ask(served.url, "pack")["plugin"] == "pack-v1"
    local = tmp_path / "pack"
    (local / "sub").mkdir(parents=True)
    (local / "sub" / "__init__.py").write_text('NAME = "pack-v2"\n', encoding="utf-8")
    (local / "__init__.py").write_text(
        "from .sub import NAME\n" + (ANSWER % "{}").replace('"{}"', "NAME"), encoding="utf-8"
    )
    done = run_cli(
        capsys, "update", "trigger", "pack", "-H", served.url, "-d", "db",
        "--path", str(local), "--upload",
    )  # fmt: skip
    assert done.code == 0, done.err
    assert _ask(served.url, "pack")["plugin"] == "pack-v2"
    assert (package / "sub" / "__init__.py").is_file()


# -- DELETE /api/v3/plugins/files (what a fleet removes once no trigger runs a plugin) --------

FILES = "/api/v3/plugins/files"


def test_a_plugin_file_or_directory_no_trigger_uses_is_deleted(
    server: tuple[Served, Path],
) -> None:
    served, plugin_dir = server
    write_plugin(plugin_dir, "unused.py", NO_REQUEST_ENTRY)
    (plugin_dir / "unused_dir").mkdir()
    write_plugin(plugin_dir, "unused_dir/__init__.py", NO_REQUEST_ENTRY)
    assert httpx.delete(served.url + FILES, params={"plugin_name": "unused.py"}).status_code == 200
    answer = httpx.request("DELETE", served.url + FILES, json={"plugin_name": "unused_dir"})
    assert answer.status_code == 200
    assert not (plugin_dir / "unused.py").exists() and not (plugin_dir / "unused_dir").exists()


@pytest.mark.parametrize(
    ("name", "status", "words"),
    [
        ("never_there.py", 404, "Plugin not found: never_there.py"),
        ("../outside.py", 400, "outside.py"),
        ("pylock.toml", 400, "is not a plugin file (.py) or directory (with __init__.py)"),
        ("venv", 400, "venv is not a plugin file or directory"),
    ],
)
def test_what_is_not_a_plugin_of_the_plugin_dir_is_not_deleted(
    server: tuple[Served, Path], name: str, status: int, words: str
) -> None:
    served, plugin_dir = server
    (plugin_dir / "pylock.toml").write_text("lock-version = '1.0'\n")
    answer = httpx.delete(served.url + FILES, params={"plugin_name": name})
    assert answer.status_code == status, answer.text
    assert words in answer.json()["error"]
    assert (plugin_dir / "pylock.toml").exists()


def test_a_plugin_a_trigger_runs_is_not_deleted(server: tuple[Served, Path]) -> None:
    served, plugin_dir = server
    _create(served.url, plugin_dir, "still_used")
    answer = httpx.delete(served.url + FILES, params={"plugin_name": "still_used.py"})
    assert answer.status_code == 409
    assert answer.json()["error"] == (
        "plugin still_used.py is used by trigger db/still_used: delete or update that trigger first"
    )
    assert _ask(served.url, "still_used")["plugin"] == "still_used"  # still runs
    missing = httpx.delete(served.url + FILES)
    assert missing.status_code == 400
