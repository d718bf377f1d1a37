"""`gather_inputs`: which plugins' declarations the set is resolved from, and why."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from pluginmgr import PluginManager, Settings
from pluginmgr.deps.inputs import DependencyInputs, gather_inputs
from tests.dep_wheels import declare, use

FACTS = ("3.11", "cpython", "linux-x86_64")


def inputs(plugin_dir: Path, *, all_plugins: bool = False) -> DependencyInputs:
    settings = Settings(
        plugin_dir=plugin_dir,
        cache_dir=plugin_dir.parent / "cache",
        lock_path=plugin_dir / "plugins.lock",
        offline=True,
    )
    with PluginManager(settings) as manager:
        venv = plugin_dir / "venv"
        return gather_inputs(
            manager, plugin_dir, venv, FACTS, pinned_only=True, all_plugins=all_plugins
        )


def test_only_plugins_in_use_are_read_and_each_says_why(plugin_dir: Path) -> None:
    # x.py and helper.py share one manifest.toml; only helper.py is used by a trigger
    declare(plugin_dir, "ops/x/x.py", ["pm-libx"], "manifest")
    (plugin_dir / "ops" / "x" / "helper.py").write_text("def process_writes(a, b, c=None): ...\n")
    declare(plugin_dir, "added.py", ["pm-utils"], "pep723")
    declare(plugin_dir, "quiet.py", [], "pep723")
    declare(plugin_dir, "broken.py", ["not a requirement!"], "pep723")  # unused: never read
    use(plugin_dir, "ops/x/helper.py", reason="trigger")
    use(plugin_dir, "added.py", "quiet.py", "gone.py")
    (plugin_dir / "requirements.in").write_text("pm-liby\n")

    found = inputs(plugin_dir)
    assert [(r.name, r.reason) for r in found.requesters] == [
        ("added.py", "added"),
        ("ops/x/helper.py", "trigger"),
        ("requirements.in", "operator"),
    ]
    # members: in the set whether they declare or not (a gone file declares nothing)
    assert found.members == {"added.py", "gone.py", "ops/x/helper.py", "quiet.py"}
    # an unused file changing does not change the hash
    declare(plugin_dir, "stray.py", ["pm-nothing"], "pep723")
    assert inputs(plugin_dir).sha256 == found.sha256


def test_all_plugins_reads_every_file_keeping_the_strongest_reason(plugin_dir: Path) -> None:
    declare(plugin_dir, "ops/x/x.py", ["pm-libx"], "manifest")
    (plugin_dir / "ops" / "x" / "helper.py").write_text("def process_writes(a, b, c=None): ...\n")
    declare(plugin_dir, "other.py", ["pm-utils"], "pep723")
    use(plugin_dir, "ops/x/helper.py", reason="trigger")
    found = inputs(plugin_dir, all_plugins=True)
    # one requester for the shared manifest, named after the folder, with the trigger's reason
    assert [(r.name, r.reason) for r in found.requesters] == [
        ("ops/x/x.py", "trigger"),
        ("other.py", "all-plugins"),
    ]
    assert found.all_plugins


def test_plugins_only_isolated_triggers_use_are_left_out_unless_added(
    plugin_dir: Path, make_settings: Callable[..., Settings]
) -> None:
    from pluginmgr.deps.plugins_in import isolated_only, record_isolated_only

    greeter = "gh:examples/greeter/greeter.py"  # declares pm-alpha>=1.0 (PEP 723)

    declare(plugin_dir, "iso.py", ["pm-libx>=2"], "pep723")
    declare(plugin_dir, "kept.py", ["pm-liby"], "pep723")
    use(plugin_dir, "iso.py", reason="trigger")  # recorded by a trigger since deleted
    use(plugin_dir, "kept.py")  # the operator added it
    with PluginManager(make_settings()) as manager:
        manager.fetch(greeter)  # pinned: in the set through plugins.lock
        venv = plugin_dir / "venv"

        def names() -> list[str]:
            found = gather_inputs(manager, plugin_dir, venv, FACTS, pinned_only=False)
            return [r.name for r in found.requesters]

        assert names() == [greeter, "iso.py", "kept.py"]
        uses = [(greeter, True), ("./iso.py", True), ("kept.py", True), ("other.py", False)]
        assert record_isolated_only(plugin_dir, uses) == {greeter, "iso.py", "kept.py"}
        assert isolated_only(plugin_dir) == {greeter, "iso.py", "kept.py"}
        assert names() == ["kept.py"]  # an operator's `added` line stands
        # a shared trigger of the pinned plugin takes it back into the set
        assert record_isolated_only(plugin_dir, [*uses, (greeter, False)]) == {"iso.py", "kept.py"}
        assert names() == [greeter, "kept.py"]
