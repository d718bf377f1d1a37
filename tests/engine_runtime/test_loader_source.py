"""Local plugin names as the runtime resolves them: absolute paths into the plugin directory are
accepted, everything outside is refused with upstream's words (engine-behavior.md §2.2)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from engine_runtime import (
    Catalog,
    LocalPluginSource,
    PluginLoadError,
    ProcessingEngine,
    relative_plugin_name,
)
from tests.helpers import wait_for

WRITES = "def process_writes(influxdb3_local, table_batches, args=None):\n    pass\n"


def traversal(name: str) -> str:
    return (
        f"Path traversal detected: plugin filename '{name}' attempts to access files outside "
        "the plugin directory"
    )


def test_relative_plugin_name(plugin_dir: Path, tmp_path: Path) -> None:
    assert relative_plugin_name(plugin_dir, "a.py") == "a.py"
    assert relative_plugin_name(plugin_dir, "../a.py") == "../a.py"  # checked by the caller
    assert relative_plugin_name(plugin_dir, str(plugin_dir / "sub" / "a.py")) == "sub/a.py"
    assert relative_plugin_name(plugin_dir, f"{plugin_dir}/../x.py") == "../x.py"
    assert relative_plugin_name(plugin_dir, "/etc/passwd") is None
    assert relative_plugin_name(plugin_dir, str(tmp_path / "a.py")) is None


def test_an_absolute_name_inside_loads_like_the_relative_one(plugin_dir: Path) -> None:
    (plugin_dir / "a.py").write_text(WRITES)
    absolute = LocalPluginSource(plugin_dir, str(plugin_dir / "a.py")).load()
    assert absolute.path == plugin_dir / "a.py" and absolute.source == WRITES
    assert absolute.version == LocalPluginSource(plugin_dir, "a.py").load().version


@pytest.mark.parametrize("where", ["/etc/passwd", "{tmp}/outside.py", "{plugins}/../outside.py"])
def test_an_absolute_name_outside_is_refused(plugin_dir: Path, tmp_path: Path, where: str) -> None:
    (tmp_path / "outside.py").write_text(WRITES)
    name = where.format(tmp=tmp_path, plugins=plugin_dir)
    with pytest.raises(PluginLoadError) as info:
        LocalPluginSource(plugin_dir, name).load()
    assert str(info.value) == traversal(name)


def test_an_absolute_name_escaping_through_a_symlink_is_refused(
    plugin_dir: Path, tmp_path: Path
) -> None:
    (tmp_path / "outside.py").write_text(WRITES)
    os.symlink(tmp_path / "outside.py", plugin_dir / "link.py")
    name = str(plugin_dir / "link.py")
    with pytest.raises(PluginLoadError) as info:
        LocalPluginSource(plugin_dir, name).load()
    assert str(info.value) == traversal(name)


def test_a_trigger_on_an_absolute_plugin_path_runs(plugin_dir: Path) -> None:
    (plugin_dir / "a.py").write_text(
        "def process_writes(influxdb3_local, table_batches, args=None):\n"
        "    influxdb3_local.info('ran', len(table_batches))\n"
    )
    engine = ProcessingEngine(Catalog(None), plugin_dir=plugin_dir)
    engine.start()
    try:
        engine.create_database("db")
        engine.create_trigger("db", "t", str(plugin_dir / "a.py"), "table:cpu")
        assert engine.trigger_state("db", "t") == "running"
        engine.write_lp("db", "cpu v=1i 1")
        wait_for(lambda: any(r.text == "ran 1" for r in engine.logs.records(trigger="t")))
    finally:
        engine.shutdown()
