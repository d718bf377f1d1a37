"""Creating triggers through pluginmgr: resolve and pin, install declared deps, run."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from engine_runtime import Catalog, MissingEntryPointError, ProcessingEngine
from pluginmgr import PluginManager, read_lock
from pluginmgr.deps.installers import InstallOptions
from pluginmgr.deps.pylock import read_pylock
from pluginmgr.deps.venv import PluginEnv, default_venv_path
from pluginmgr.errors import HTTPStatusError
from pluginmgr.node.plugin_source import FetchedPluginSource
from pluginmgr.node.triggers import create_trigger, source_factory
from tests.conftest import UvCalls
from tests.dep_wheels import declare

GREETER = "gh:examples/greeter/greeter.py"


@pytest.fixture
def engine(manager: PluginManager) -> Iterator[ProcessingEngine]:
    engine = ProcessingEngine(
        Catalog(None), plugin_dir=manager.settings.plugin_dir, source_for=source_factory(manager)
    )
    engine.start()
    engine.create_database("db")
    yield engine
    engine.shutdown()


@pytest.mark.usefixtures("uv_sandbox")
def test_create_trigger_pins_installs_and_runs(
    engine: ProcessingEngine,
    manager: PluginManager,
    plugin_dir: Path,
    wheelhouse: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(sys, "path", list(sys.path))  # the venv is activated in this process
    env = PluginEnv(default_venv_path(plugin_dir))
    options = InstallOptions(find_links=(str(wheelhouse),), no_index=True, offline=True)
    created = create_trigger(
        engine, manager, "db", "greet", GREETER, "request:greet", env=env, install_options=options
    )
    definition, installed = created.definition, created.synced
    try:
        assert definition.plugin_filename == GREETER
        assert created.warnings == ()
        assert installed is not None and "pm-alpha" in installed.plan.install
        assert GREETER in read_lock(manager.settings.lock_path)
        response = engine.handle_request("greet", query_params={}, headers={}, body=b"")
        assert response.status == 200, response.body
        assert json.loads(response.body) == {"greeting": "alpha+beta-1.0"}
    finally:
        for name in ("pm_alpha", "pm_beta"):
            sys.modules.pop(name, None)


def test_a_bad_reference_fails_before_the_catalog_changes(
    engine: ProcessingEngine, manager: PluginManager
) -> None:
    with pytest.raises(HTTPStatusError, match="404 Not Found"):
        create_trigger(engine, manager, "db", "t", "gh:examples/nope.py", "all_tables")
    assert engine.catalog.triggers() == []


def test_local_plugins_hot_reload_and_fetched_ones_are_pinned(
    manager: PluginManager, plugin_dir: Path
) -> None:
    (plugin_dir / "local.py").write_text("def process_writes(a, b, args=None):\n    pass\n")
    engine = ProcessingEngine(Catalog(None), plugin_dir=plugin_dir)
    engine.create_database("db")
    local = engine.catalog.create_trigger("db", "l", "local.py", "all_tables")
    fetched = engine.catalog.create_trigger("db", "f", GREETER, "request:g")
    factory = source_factory(manager)
    assert type(factory(local)).__name__ == "LocalPluginSource"
    pinned = factory(fetched)
    assert isinstance(pinned, FetchedPluginSource) and not pinned.recheck
    assert pinned.load() is pinned.load()  # fetched once, then served from memory


@pytest.mark.usefixtures("uv_sandbox")
def test_a_plugin_whose_dependencies_are_missing_is_reported_at_start(
    manager: PluginManager, plugin_dir: Path
) -> None:
    env = PluginEnv(default_venv_path(plugin_dir))
    engine = ProcessingEngine(
        Catalog(None), plugin_dir=plugin_dir, source_for=source_factory(manager, env)
    )
    engine.create_database("db")
    engine.create_trigger("db", "greet", GREETER, "request:greet")
    state = engine.trigger_state("db", "greet")
    assert state == (
        f"failed: missing dependencies for {GREETER}: pm-alpha>=1.0 "
        f"(hint: run `pluginmgr install deps {GREETER}`)"
    )
    engine.shutdown()


def test_a_plugin_without_the_entry_point_is_refused_before_the_catalog_changes(
    engine: ProcessingEngine, manager: PluginManager, plugin_dir: Path
) -> None:
    (plugin_dir / "writes.py").write_text("def process_writes(a, b, args=None):\n    pass\n")
    with pytest.raises(MissingEntryPointError, match=r"plugin writes\.py has no process_request"):
        create_trigger(engine, manager, "db", "t", "writes.py", "request:t")
    assert engine.catalog.triggers() == []
    created = create_trigger(engine, manager, "db", "t", str(plugin_dir / "writes.py"), "table:a")
    assert created.warnings == () and created.synced is None
    assert engine.trigger_state("db", "t") == "running"


def test_warnings_come_back_with_the_created_trigger(
    engine: ProcessingEngine, manager: PluginManager
) -> None:
    created = create_trigger(engine, manager, "db", "greet", GREETER, "request:/greet")
    (warning,) = created.warnings
    assert "/api/v3/engine//greet" in warning
    assert created.definition.plugin_filename == GREETER


def test_a_refused_remote_plugin_leaves_no_pin(
    engine: ProcessingEngine, manager: PluginManager
) -> None:
    from pluginmgr.fetch.lockfile import read_lock
    from tests.conftest import WAL_PLUGIN

    lock_path = manager.settings.lock_path
    with pytest.raises(MissingEntryPointError):
        create_trigger(engine, manager, "db", "t", WAL_PLUGIN, "request:t")
    assert WAL_PLUGIN not in read_lock(lock_path), "the refused plugin was unpinned"
    create_trigger(engine, manager, "db", "t", WAL_PLUGIN, "all_tables")
    assert WAL_PLUGIN in read_lock(lock_path)


@pytest.mark.usefixtures("uv_sandbox")
def test_a_trigger_whose_requirements_are_locked_starts_no_uv(
    engine: ProcessingEngine,
    manager: PluginManager,
    plugin_dir: Path,
    dep_wheels: Path,
    uv_calls: UvCalls,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(sys, "path", list(sys.path))  # the venv is activated in this process
    env = PluginEnv(default_venv_path(plugin_dir))
    options = InstallOptions(find_links=(str(dep_wheels),), no_index=True, offline=True)
    declare(plugin_dir, "liby.py", ["pm-liby"], "pep723")
    first = create_trigger(
        engine, manager, "db", "t1", "liby.py", "all_tables", env=env, install_options=options
    )
    assert first.synced is not None and "pm-liby" in first.synced.plan.install
    assert uv_calls.commands() == ["pip compile", "venv --quiet", "pip sync"]

    uv_calls.clear()
    declare(plugin_dir, "libx.py", ["pm-libx>=2"], "pep723")
    second = create_trigger(
        engine, manager, "db", "t2", "libx.py", "all_tables", env=env, install_options=options
    )
    assert uv_calls.commands() == []
    assert second.synced is not None and not second.synced.ran_installer
    lock = read_pylock(plugin_dir / "pylock.toml")
    assert lock is not None and "libx.py" in lock.by_name()["pm-libx"].required_by
    third = create_trigger(
        engine, manager, "db", "t3", "libx.py", "all_tables", env=env, install_options=options
    )
    assert uv_calls.commands() == [] and third.synced is not None


@pytest.mark.usefixtures("uv_sandbox")
def test_a_package_only_the_server_has_is_missing_for_a_trigger(
    manager: PluginManager, plugin_dir: Path, wheelhouse: Path
) -> None:
    # httpx and click are pluginmgr's own: the plugin host does not see them, so neither do we
    from engine_runtime import TriggerDefinition, parse_trigger_spec
    from pluginmgr.errors import InstallError

    declare(plugin_dir, "p.py", ["httpx", "click>=1", "pm-alpha"], "pep723")
    env = PluginEnv(default_venv_path(plugin_dir))
    env.install(["pm-alpha"], options=InstallOptions((str(wheelhouse),), no_index=True))
    definition = TriggerDefinition(1, "t", "p.py", "db", parse_trigger_spec("table:m"))
    with pytest.raises(InstallError) as refused:
        source_factory(manager, env)(definition)
    assert refused.value.message == "missing dependencies for p.py: httpx, click>=1"
