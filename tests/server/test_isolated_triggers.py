"""Isolated triggers over HTTP: a plugin whose requirements conflict with the shared set gets an
environment of its own (``PLUGIN_DIR/envs/<trigger>/``), apart from the shared lock, and loses
it when the trigger is deleted; real uv resolutions, offline from local wheels."""

from __future__ import annotations

import json
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from engine_runtime import TriggerDefinition, TriggerSettings, parse_trigger_spec
from engine_runtime.environments import isolated_env_dir, isolated_python
from pluginmgr.deps.installers import InstallOptions
from pluginmgr.deps.pylock import read_pylock
from pluginmgr.deps.venv import PluginEnv
from pluginmgr.errors import InstallError
from pluginmgr.server import create_app
from tests.dep_wheels import declare
from tests.helpers import installed
from tests.helpers import run_offline as deps
from tests.server.server_helpers import TRIGGER, build_state, trigger_body

pytestmark = pytest.mark.usefixtures("uv_sandbox")

A = "ops/plugin_a/plugin_a.py"  # pm-libx<2: the shared set
B = "ops/plugin_b/plugin_b.py"  # pm-libx>=2: conflicts with it


@pytest.fixture
def client(
    tmp_path: Path, plugin_dir: Path, dep_wheels: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[TestClient]:
    monkeypatch.setattr(sys, "path", list(sys.path))  # creating a trigger activates the venv
    options = InstallOptions(find_links=(str(dep_wheels),), no_index=True, offline=True)
    state, close = build_state(tmp_path, plugin_dir, install_options=options)
    try:
        with TestClient(create_app(state)) as test_client:
            for db in ("db", "db2"):
                made = test_client.post("/api/v3/configure/database", json={"db": db})
                assert made.status_code < 300
            yield test_client
    finally:
        close()


def isolated_body(name: str, plugin: str, spec: str, **extra: object) -> dict[str, object]:
    body = trigger_body(name, plugin, spec, **extra)
    body["trigger_settings"] = {"run_async": False, "error_behavior": "log", "isolated": True}
    return body


def _both(plugin_dir: Path) -> None:
    declare(plugin_dir, A, ["pm-libx<2"], "manifest")
    declare(plugin_dir, B, ["pm-libx>=2"], "pep723")


def _own_installed(plugin_dir: Path, name: str) -> dict[str, str]:
    return PluginEnv(isolated_env_dir(plugin_dir, name) / "venv").installed()


def test_a_conflict_with_the_shared_set_names_isolated_as_the_way_out(
    client: TestClient, plugin_dir: Path
) -> None:
    _both(plugin_dir)
    assert client.post(TRIGGER, json=trigger_body("a", A, "table:cpu")).status_code == 200
    refused = client.post(TRIGGER, json=trigger_body("b", B, "table:m"))
    assert refused.status_code == 409
    command = (
        f"pluginmgr create trigger b --isolated --plugin-filename {B} --trigger-spec table:m "
        "--database db"
    )
    assert refused.json()["error"].endswith(
        f"(hint: give trigger b its own environment: `{command}`)"
    )
    assert not (plugin_dir / "envs").exists()


def test_an_isolated_trigger_gets_its_own_environment_apart_from_the_shared_set(
    client: TestClient, plugin_dir: Path
) -> None:
    _both(plugin_dir)
    assert client.post(TRIGGER, json=trigger_body("a", A, "table:cpu")).status_code == 200
    shared_lock = (plugin_dir / "pylock.toml").read_bytes()
    recorded = (plugin_dir / "plugins.in").read_bytes()

    created = client.post(TRIGGER, json=isolated_body("b", B, "table:m"))
    assert created.status_code == 200, created.text

    env_dir = plugin_dir / "envs" / "b"
    assert isolated_env_dir(plugin_dir, "b") == env_dir
    assert isolated_python(plugin_dir, "b") == env_dir / "venv" / "bin" / "python"
    assert isolated_python(plugin_dir, "b").exists()
    assert _own_installed(plugin_dir, "b") == {"pm-libx": "2.0"}
    own = read_pylock(env_dir / "pylock.toml")
    assert own is not None
    assert [(r.name, r.requirements, r.reason) for r in own.requesters] == [
        (B, ("pm-libx>=2",), "trigger")
    ]
    assert own.requesters[0].location == "../../ops/plugin_b/plugin_b.py"  # from its lock
    assert [(p.name, p.version) for p in own.packages] == [("pm-libx", "2.0")]
    # the shared set is as it was: b is neither in plugins.in nor in pylock.toml
    assert (plugin_dir / "pylock.toml").read_bytes() == shared_lock
    assert (plugin_dir / "plugins.in").read_bytes() == recorded
    assert installed(plugin_dir) == {"pm-libx": "1.0"}
    only = (plugin_dir / "envs" / "isolated-only.txt").read_text().splitlines()
    assert only[-1] == B
    rows = client.get(TRIGGER, params={"db": "db"}).json()
    assert [r["trigger_name"] for r in rows] == ["a", "b"]


def test_a_plugin_only_isolated_triggers_use_joins_the_shared_set_with_a_shared_trigger(
    client: TestClient, plugin_dir: Path
) -> None:
    # the same plugin for a shared trigger too: then it is in the shared set again
    declare(plugin_dir, "c.py", ["pm-liby"], "pep723")
    assert client.post(TRIGGER, json=isolated_body("c", "c.py", "table:c")).status_code == 200
    assert _own_installed(plugin_dir, "c") == {"pm-libx": "2.0", "pm-liby": "1.0"}
    assert not (plugin_dir / "pylock.toml").exists()  # nothing shared to lock
    shared = client.post(TRIGGER, json=trigger_body("c2", "c.py", "table:d"))
    assert shared.status_code == 200, shared.text
    assert installed(plugin_dir) == {"pm-libx": "2.0", "pm-liby": "1.0"}
    only = (plugin_dir / "envs" / "isolated-only.txt").read_text().splitlines()
    assert "c.py" not in only


def test_deleting_an_isolated_trigger_removes_its_environment(
    client: TestClient, plugin_dir: Path
) -> None:
    declare(plugin_dir, B, ["pm-libx>=2"], "pep723")
    assert client.post(TRIGGER, json=isolated_body("b", B, "table:m")).status_code == 200
    running = client.request("DELETE", TRIGGER, json={"db": "db", "trigger_name": "b"})
    assert running.status_code == 400  # refused: the environment stays
    assert (plugin_dir / "envs" / "b" / "pylock.toml").is_file()
    gone = {"db": "db", "trigger_name": "b", "force": True}
    deleted = client.request("DELETE", TRIGGER, json=gone)
    assert deleted.status_code == 200, deleted.text
    assert not (plugin_dir / "envs" / "b").exists()
    assert (plugin_dir / "envs" / "isolated-only.txt").read_text().splitlines()[-1].startswith("#")
    # the name is free again, in any database; and a database's deletion takes its envs along
    again = client.post(TRIGGER, json=isolated_body("b", B, "table:m", db="db2"))
    assert again.status_code == 200, again.text
    assert (
        client.request("DELETE", "/api/v3/configure/database", params={"db": "db2"}).status_code
        == 200
    )
    assert not (plugin_dir / "envs" / "b").exists()


# -- bad input -----------------------------------------------------------------------------------


def test_an_isolated_name_another_database_uses_is_refused_in_one_line(
    client: TestClient, plugin_dir: Path
) -> None:
    declare(plugin_dir, B, ["pm-libx>=2"], "pep723")
    assert client.post(TRIGGER, json=isolated_body("t", B, "table:m")).status_code == 200
    lock = (
        (plugin_dir / "plugins.lock").read_bytes()
        if (plugin_dir / "plugins.lock").exists()
        else None
    )
    own_lock = (plugin_dir / "envs" / "t" / "pylock.toml").read_bytes()
    clash = client.post(TRIGGER, json=isolated_body("t", B, "table:m", db="db2"))
    assert clash.status_code == 409
    message = clash.json()["error"]
    assert "\n" not in message
    assert message == (
        "attempted to create a resource that already exists: "
        f"{plugin_dir / 'envs' / 't'} is the environment of the isolated trigger t of database db "
        "(hint: choose another name: names are unique per database, environments per node)"
    )
    assert (plugin_dir / "envs" / "t" / "pylock.toml").read_bytes() == own_lock
    assert ((plugin_dir / "plugins.lock").read_bytes() if lock is not None else None) == lock
    # the same name, not isolated, is another database's business
    shared = client.post(TRIGGER, json=trigger_body("t", B, "table:m", db="db2"))
    assert shared.status_code == 200, shared.text


@pytest.mark.parametrize(
    ("settings", "name", "error"),
    [
        (
            {"isolated": "yes"},
            "b",
            "field 'trigger_settings.isolated' must be true or false",
        ),
        (
            {"isolated": True},
            ".hidden",
            "trigger name '.hidden' cannot name the directory of an isolated environment "
            "(envs/<trigger name>) (hint: choose a name without a slash, a backslash or a "
            "leading dot)",
        ),
    ],
)
def test_bad_isolated_input_is_400_and_leaves_nothing(
    client: TestClient, plugin_dir: Path, settings: dict[str, object], name: str, error: str
) -> None:
    declare(plugin_dir, B, ["pm-libx>=2"], "pep723")
    body = trigger_body(name, B, "table:m")
    body["trigger_settings"] = settings
    answer = client.post(TRIGGER, json=body)
    assert answer.status_code == 400
    assert answer.json()["error"] == error
    assert sorted(p.name for p in plugin_dir.iterdir()) == ["ops"]


def test_a_conflict_within_the_isolated_plugin_itself_leaves_no_environment(
    client: TestClient, plugin_dir: Path
) -> None:
    declare(plugin_dir, "self.py", ["pm-libx<2", "pm-libx>=2"], "pep723")
    refused = client.post(TRIGGER, json=isolated_body("s", "self.py", "table:s"))
    assert refused.status_code == 409
    assert "self.py's pm-libx<2" in refused.json()["error"]
    assert not (plugin_dir / "envs").exists()
    assert not (plugin_dir / "plugins.in").exists()


def test_deps_sync_and_lock_take_an_isolated_triggers_own_environment(
    client: TestClient, plugin_dir: Path, dep_wheels: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    declare(plugin_dir, B, ["pm-libx>=2"], "pep723")
    assert client.post(TRIGGER, json=isolated_body("b", B, "table:m")).status_code == 200
    venv = plugin_dir / "envs" / "b" / "venv"
    shutil.rmtree(venv)  # a node from committed files: the lock, no venv
    synced = deps(
        capsys, "deps", "sync", "--trigger", "b", plugin_dir=plugin_dir, wheels=dep_wheels
    )
    assert synced.code == 0, synced.err
    assert _own_installed(plugin_dir, "b") == {"pm-libx": "2.0"}
    assert not (plugin_dir / "venv").exists() and not (plugin_dir / "pylock.toml").exists()
    # the plugin now wants pm-liby too: its own lock follows, the shared set stays empty
    declare(plugin_dir, B, ["pm-libx>=2", "pm-liby"], "pep723")
    relocked = deps(
        capsys, "deps", "lock", "--trigger", "b", plugin_dir=plugin_dir, wheels=dep_wheels
    )
    assert relocked.code == 0, relocked.err
    assert "  + pm-liby 1.0" in relocked.out.splitlines()
    own = read_pylock(plugin_dir / "envs" / "b" / "pylock.toml")
    assert own is not None and [p.name for p in own.packages] == ["pm-libx", "pm-liby"]
    assert not (plugin_dir / "pylock.toml").exists()
    missing = deps(
        capsys, "deps", "sync", "--trigger", "nope", plugin_dir=plugin_dir, wheels=dep_wheels
    )
    assert missing.code == 1
    assert missing.err == (
        f"error: trigger nope has no environment of its own: there is no "
        f"{plugin_dir / 'envs' / 'nope' / 'pylock.toml'} (hint: create it with "
        "`pluginmgr create trigger nope --isolated ...`)\n"
    )
    assert not (plugin_dir / "envs" / "nope").exists()


def test_a_trigger_whose_own_environment_lacks_its_packages_names_deps_sync_trigger(
    plugin_dir: Path, dep_wheels: Path
) -> None:
    from pluginmgr import PluginManager, Settings
    from pluginmgr.node.triggers import source_factory

    declare(plugin_dir, B, ["pm-libx>=2"], "pep723")
    settings = Settings(plugin_dir=plugin_dir, cache_dir=plugin_dir.parent / "cache", offline=True)
    definition = TriggerDefinition(
        1, "b", B, "db", parse_trigger_spec("table:m"), TriggerSettings(isolated=True)
    )
    with PluginManager(settings) as manager:
        source_for = source_factory(manager, PluginEnv(plugin_dir / "venv"))
        with pytest.raises(InstallError) as refused:
            source_for(definition)
    assert str(refused.value) == (
        f"missing dependencies for {B}: pm-libx>=2 (hint: sync the trigger's own environment: "
        f"`pluginmgr deps sync --trigger b --plugin-dir {plugin_dir}`)"
    )


def test_doctor_checks_an_isolated_trigger_against_its_own_environment(
    capsys: pytest.CaptureFixture[str], plugin_dir: Path, dep_wheels: Path, tmp_path: Path
) -> None:
    from engine_runtime import Catalog
    from pluginmgr import PluginManager, Settings
    from pluginmgr.deps.isolated import sync_isolated
    from tests.helpers import run_cli

    declare(plugin_dir, B, ["pm-libx>=2"], "pep723")
    catalog = Catalog(tmp_path / "data" / "catalog.json")
    catalog.create_database("db")
    catalog.create_trigger("db", "b", B, "table:m", settings=TriggerSettings(isolated=True))
    args = ["doctor", "--plugin-dir", str(plugin_dir), "--data-dir", str(tmp_path / "data")]
    args += ["--offline", "--format", "json", "--cache-dir", str(tmp_path / "cache")]

    def check() -> dict[str, object]:
        found = json.loads(run_cli(capsys, *args).out)["checks"]
        return next(c for c in found if c["name"] == "trigger:db/b")

    before = check()
    assert before["status"] == "fail" and before["fix"] == "pluginmgr deps sync --trigger b"
    settings = Settings(plugin_dir=plugin_dir, cache_dir=tmp_path / "cache", offline=True)
    options = InstallOptions(find_links=(str(dep_wheels),), no_index=True, offline=True)
    with PluginManager(settings) as manager:
        sync_isolated(manager, PluginEnv(plugin_dir / "venv"), plugin_dir, "b", B, options)
    after = check()
    assert after["status"] == "ok", after  # not a "plugins.in does not list it" warning either
    assert not (plugin_dir / "venv").exists()  # the shared venv was never needed


_ANSWER = """
import pm_libx, sys


def process_request(influxdb3_local, query_parameters, request_headers, request_body, args=None):
    return {"pm_libx": pm_libx.VERSION, "python": sys.executable}
"""


def test_each_trigger_imports_from_its_own_environment(
    client: TestClient, plugin_dir: Path
) -> None:
    # the shared plugin gets pm-libx 1.0, the isolated one 2.0: both run, side by side
    for relative, spec in ((A, "pm-libx<2"), (B, "pm-libx>=2")):
        path = plugin_dir / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"# /// script\n# dependencies = [{json.dumps(spec)}]\n# ///\n{_ANSWER}")
    assert client.post(TRIGGER, json=trigger_body("a", A, "request:a")).status_code == 200
    created = client.post(TRIGGER, json=isolated_body("b", B, "request:b"))
    assert created.status_code == 200, created.text
    shared, own = client.get("/api/v3/engine/a"), client.get("/api/v3/engine/b")
    assert (shared.status_code, own.status_code) == (200, 200), (shared.text, own.text)
    assert shared.json()["pm_libx"] == "1.0" and own.json()["pm_libx"] == "2.0"
    assert own.json()["python"] == str(isolated_python(plugin_dir, "b"))
    assert shared.json()["python"] == str(plugin_dir / "venv" / "bin" / "python")


@pytest.mark.parametrize(
    ("extra", "error"),
    [
        (
            ("--trigger", "../x"),
            "error: trigger name '../x' cannot name the directory of an isolated environment "
            "(envs/<trigger name>) (hint: choose a name without a slash, a backslash or a "
            "leading dot)",
        ),
        (
            ("--trigger", "b", "--virtual-env-location", "elsewhere"),
            "error: --trigger and --virtual-env-location exclude each other (hint: an isolated "
            "trigger's venv is PLUGIN_DIR/envs/NAME/venv)",
        ),
    ],
)
def test_bad_trigger_options_of_deps_are_one_line_errors(
    capsys: pytest.CaptureFixture[str],
    plugin_dir: Path,
    dep_wheels: Path,
    extra: tuple[str, ...],
    error: str,
) -> None:
    for command in ("lock", "sync"):
        refused = deps(capsys, "deps", command, *extra, plugin_dir=plugin_dir, wheels=dep_wheels)
        assert refused.code == 1
        assert refused.err.splitlines() == [error]
        assert list(plugin_dir.iterdir()) == []


def test_serve_start_syncs_each_isolated_venv_to_its_committed_lock(
    client: TestClient, plugin_dir: Path, dep_wheels: Path
) -> None:
    from pluginmgr import PluginManager, Settings
    from pluginmgr.deps.isolated import sync_isolated_envs

    declare(plugin_dir, B, ["pm-libx>=2"], "pep723")
    assert client.post(TRIGGER, json=isolated_body("b", B, "table:m")).status_code == 200
    shutil.rmtree(plugin_dir / "envs" / "b" / "venv")  # a node from committed files
    (plugin_dir / "envs" / "broken").mkdir()
    (plugin_dir / "envs" / "broken" / "pylock.toml").write_text("not toml [", encoding="utf-8")
    options = InstallOptions(find_links=(str(dep_wheels),), no_index=True, offline=True)
    settings = Settings(plugin_dir=plugin_dir, cache_dir=plugin_dir.parent / "cache", offline=True)
    with PluginManager(settings) as manager:
        lines = sync_isolated_envs(
            manager, PluginEnv(plugin_dir / "venv"), plugin_dir, sources=options
        )
    venv, lock = plugin_dir / "envs" / "b" / "venv", plugin_dir / "envs" / "b" / "pylock.toml"
    assert lines[0] == f"synced {venv} to {lock}"
    assert lines[1].startswith("warning: the isolated trigger broken's venv was not synced: ")
    assert len(lines) == 2
    assert _own_installed(plugin_dir, "b") == {"pm-libx": "2.0"}
