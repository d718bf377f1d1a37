"""``<PLUGIN_DIR>/plugins.in``: the record of the local plugins in use."""

from __future__ import annotations

from pathlib import Path

import pytest

from pluginmgr.deps.plugins_in import (
    forget_plugins,
    local_plugin_name,
    read_plugins_in,
    record_plugins,
)
from pluginmgr.errors import LockfileError


def test_names_are_normalised_and_fetched_references_skipped(plugin_dir: Path) -> None:
    assert local_plugin_name(plugin_dir, "./ops/a.py") == "ops/a.py"
    assert local_plugin_name(plugin_dir, str(plugin_dir / "ops" / "a.py")) == "ops/a.py"
    assert local_plugin_name(plugin_dir, "pkg/") == "pkg"
    assert local_plugin_name(plugin_dir, "gh:ops/a.py") is None
    assert local_plugin_name(plugin_dir, "registry:x>=1") is None
    assert local_plugin_name(plugin_dir, "../outside.py") is None
    assert local_plugin_name(plugin_dir, "/elsewhere/a.py") is None


def test_record_keeps_the_file_sorted_and_trigger_wins(plugin_dir: Path) -> None:
    assert record_plugins(plugin_dir, ["./z.py", "gh:ops/a.py", "m.py"], reason="added") == [
        "z.py",
        "m.py",
    ]
    assert record_plugins(plugin_dir, ["m.py", "a.py"], reason="trigger") == ["m.py", "a.py"]
    assert record_plugins(plugin_dir, ["m.py"], reason="added") == []  # never downgraded
    assert record_plugins(plugin_dir, ["a.py"], reason="trigger") == []
    assert read_plugins_in(plugin_dir) == {"a.py": "trigger", "m.py": "trigger", "z.py": "added"}
    body = [line for line in (plugin_dir / "plugins.in").read_text().splitlines() if line[0] != "#"]
    assert body == ["a.py  trigger", "m.py  trigger", "z.py  added"]
    with pytest.raises(ValueError, match="reason must be one of"):
        record_plugins(plugin_dir, ["a.py"], reason="pinned")


def test_hand_edits_are_kept(plugin_dir: Path) -> None:
    (plugin_dir / "plugins.in").write_text(
        "# the operator's note on the file\n"
        "\n"
        "# resampling, owned by the ops team\n"
        "ops/resample.py   # runs hourly\n"
        "my plugin.py trigger\n"
        "# trailing note\n"
    )
    assert read_plugins_in(plugin_dir) == {"my plugin.py": "trigger", "ops/resample.py": "added"}
    record_plugins(plugin_dir, ["b.py"], reason="trigger")
    text = (plugin_dir / "plugins.in").read_text()
    # comments above an entry move with it; the end of a line stays on it
    assert text.index("b.py ") < text.index("# the operator's note on the file")
    assert (
        "# the operator's note on the file\n# resampling, owned by the ops team\n"
        "ops/resample.py  added  # runs hourly\n"
    ) in text
    assert text.endswith("# trailing note\n")
    assert forget_plugins(plugin_dir, ["./ops/resample.py", "nothing.py"]) == ["ops/resample.py"]
    assert read_plugins_in(plugin_dir) == {"b.py": "trigger", "my plugin.py": "trigger"}
    assert "resampling" not in (plugin_dir / "plugins.in").read_text()


def test_a_line_outside_the_plugin_dir_is_refused(plugin_dir: Path) -> None:
    (plugin_dir / "plugins.in").write_text("ok.py\n../../etc/passwd added\n")
    with pytest.raises(LockfileError, match=r"plugins.in, line 2: not a local plugin path"):
        read_plugins_in(plugin_dir)
    assert read_plugins_in(plugin_dir / "nowhere") == {}


def test_the_catalogs_local_plugins_are_recorded_once(plugin_dir: Path, tmp_path: Path) -> None:
    from engine_runtime import Catalog
    from pluginmgr.deps.plugins_in import record_catalog_plugins
    from pluginmgr.errors import PluginManagerError

    path = tmp_path / "data" / "catalog.json"
    assert record_catalog_plugins(plugin_dir, path) == []  # no catalog yet: nothing to do
    catalog = Catalog(path)
    catalog.create_database("db")
    catalog.create_trigger("db", "a", "./a.py", "every:1h")
    catalog.create_trigger("db", "b", "gh:ops/b.py", "every:1h")  # pinned: not recorded
    catalog.create_trigger("db", "c", str(plugin_dir / "pkg"), "request:c")
    record_plugins(plugin_dir, ["a.py"], reason="added")
    assert record_catalog_plugins(plugin_dir, path) == ["a.py", "pkg"]
    assert read_plugins_in(plugin_dir) == {"a.py": "trigger", "pkg": "trigger"}
    assert record_catalog_plugins(plugin_dir, path) == []
    path.write_text("{not json")
    with pytest.raises(PluginManagerError):
        record_catalog_plugins(plugin_dir, path)
