"""``system.plugin_files``: the files the node's triggers run, listed as upstream lists them."""

from __future__ import annotations

from pathlib import Path

from engine_runtime import parse_trigger_spec
from engine_runtime.plugin_files import plugin_file_rows
from engine_runtime.trigger_definition import TriggerDefinition


def _trigger(number: int, name: str, filename: str) -> TriggerDefinition:
    return TriggerDefinition(number, name, filename, "db", parse_trigger_spec("table:cpu"))


def test_files_and_directories_of_triggers_are_listed(tmp_path: Path) -> None:
    (tmp_path / "single.py").write_text("x = 1\n")
    (tmp_path / "pkg" / "__pycache__").mkdir(parents=True)
    (tmp_path / "pkg" / "__init__.py").write_text("")
    (tmp_path / "pkg" / "sub").mkdir()
    (tmp_path / "pkg" / "sub" / "helper.py").write_text("y = 22\n")
    (tmp_path / "pkg" / "notes.txt").write_text("not python")
    (tmp_path / "pkg" / "__pycache__" / "x.py").write_text("")
    (tmp_path / "unused.py").write_text("")
    triggers = [
        _trigger(1, "one", "single.py"),
        _trigger(2, "two", "pkg/"),
        _trigger(3, "fetched", "gh:examples/wal_plugin/wal_plugin.py"),
        _trigger(4, "gone", "missing.py"),
    ]
    rows = plugin_file_rows(tmp_path, triggers)
    assert [(r["plugin_name"], r["file_name"], r["size_bytes"]) for r in rows] == [
        ("one", "single.py", 6),
        ("two", "__init__.py", 0),
        ("two", "sub/helper.py", 7),
    ]
    assert rows[0]["file_path"] == str(tmp_path / "single.py")
    assert rows[0]["last_modified"] == (tmp_path / "single.py").stat().st_mtime_ns // 1_000_000


def test_no_plugin_dir_no_rows() -> None:
    assert plugin_file_rows(None, [_trigger(1, "one", "single.py")]) == []
