"""The plan as text: within 80 columns, nothing cut that the reader needs (a changed
argument's new value), one line per argument that differs."""

from __future__ import annotations

from pluginmgr.fleet.operations import FleetPlan
from pluginmgr.fleet.plan import Change, NodePlan
from pluginmgr.fleet.render import WIDTH, plan_text
from pluginmgr.fleet.spec import FleetNode

NODE = FleetNode("process-1", "http://127.0.0.1:8181", frozenset({"process"}), "TOKEN")


def _text(*changes: Change) -> list[str]:
    return plan_text(FleetPlan((NodePlan(NODE, changes),))).splitlines()


def test_changed_arguments_show_each_key_that_differs_whole() -> None:
    old = {"source_measurement": "cpu", "target_measurement": "cpu_downsampled_1h", "x": "1"}
    new = {**old, "target_measurement": "cpu_downsampled_2h_with_a_long_name", "interval": "2h"}
    del new["x"]
    lines = _text(Change("trigger", "update", "sensors/down", fields=(("arguments", old, new),)))
    assert all(len(line) <= WIDTH for line in lines)
    assert "      arguments.interval: (none) -> 2h" in lines
    assert "      arguments.x: 1 -> (none)" in lines
    whole = (
        "arguments.target_measurement: cpu_downsampled_1h -> cpu_downsampled_2h_with_a_long_name"
    )
    assert whole in " ".join(line.strip() for line in lines)  # wrapped at 80, whole
    assert not any("source_measurement" in line for line in lines)  # unchanged: not shown
    assert not any(line.endswith("…") for line in lines)


def test_a_long_value_is_wrapped_not_cut() -> None:
    spec = "cron:0 0 * * * *"
    plugin = "a/very/long/path/to/some/plugin/directory/that/goes/on/and/on/plugin_file.py"
    change = Change("trigger", "update", "db/t", fields=(("plugin", spec, plugin),))
    lines = _text(change)
    assert all(len(line) <= WIDTH for line in lines)
    assert len(lines) > 3  # wrapped
    assert f"plugin: {spec} -> {plugin}".replace(" ", "") in "".join(lines).replace(" ", "")
