"""The dependency set is the plugins in use: a file that merely lies in the plugin dir joins
only when a trigger uses it, the operator adds it (``install deps``) or ``deps lock
--all-plugins`` takes every plugin. Real uv resolutions from a local wheelhouse, offline."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from engine_runtime import Catalog
from pluginmgr.deps.pylock import read_pylock
from tests.dep_wheels import declare, use
from tests.helpers import installed, run_cli
from tests.helpers import run_offline as cli

pytestmark = pytest.mark.usefixtures("uv_sandbox")


def recorded(plugin_dir: Path) -> list[str]:
    path = plugin_dir / "plugins.in"
    lines = path.read_text().splitlines() if path.exists() else []
    return [" ".join(line.split()) for line in lines if not line.startswith("#")]


def conflicting_library(plugin_dir: Path) -> None:
    """Two plugins nobody uses that cannot be installed together (as in a copied library)."""
    declare(plugin_dir, "library/old/old.py", ["pm-libx<2"], "manifest")
    declare(plugin_dir, "library/new/new.py", ["pm-libx>=2"], "pep723")


def test_an_unused_conflicting_plugin_does_not_break_an_install(
    capsys: pytest.CaptureFixture[str], plugin_dir: Path, dep_wheels: Path
) -> None:
    conflicting_library(plugin_dir)
    declare(plugin_dir, "mine.py", ["pm-liby"], "pep723")
    package = cli(
        capsys, "install", "package", "pm-utils<0.4", plugin_dir=plugin_dir, wheels=dep_wheels
    )
    assert package.code == 0, package.err
    added = cli(capsys, "install", "deps", "mine.py", plugin_dir=plugin_dir, wheels=dep_wheels)
    assert added.code == 0, added.err
    assert installed(plugin_dir) == {"pm-libx": "2.0", "pm-liby": "1.0", "pm-utils": "0.3.1"}
    assert recorded(plugin_dir) == ["mine.py added"]
    lock = read_pylock(plugin_dir / "pylock.toml")
    assert lock is not None and not lock.all_plugins
    assert [(r.name, r.reason) for r in lock.requesters] == [
        ("mine.py", "added"),
        ("requirements.in", "operator"),
    ]
    # an unused file that appears or changes does not make the lock stale
    declare(plugin_dir, "library/new/new.py", ["pm-utils>=0.5"], "pep723")
    declare(plugin_dir, "stray.py", ["pm-nothing"], "pep723")
    synced = cli(capsys, "deps", "sync", plugin_dir=plugin_dir, wheels=dep_wheels)
    assert synced.code == 0, synced.err
    # the JSON of why and tree carries the reason
    why = run_cli(
        capsys, "deps", "why", "pm-libx", "--format", "json", "--plugin-dir", str(plugin_dir)
    )
    assert [(p["requester"], p["reason"]) for p in json.loads(why.out)["needed_by"]] == [
        ("mine.py", "added")
    ]
    tree = run_cli(capsys, "deps", "tree", "--format", "json", "--plugin-dir", str(plugin_dir))
    assert [(r["name"], r["reason"]) for r in json.loads(tree.out)["requesters"]] == [
        ("mine.py", "added"),
        ("requirements.in", "operator"),
    ]


def test_all_plugins_takes_every_file_reports_the_conflict_and_persists(
    capsys: pytest.CaptureFixture[str], plugin_dir: Path, dep_wheels: Path
) -> None:
    conflicting_library(plugin_dir)
    refused = cli(capsys, "deps", "lock", "--all-plugins", plugin_dir=plugin_dir, wheels=dep_wheels)
    assert refused.code == 1
    assert refused.err.startswith("error: no set of packages satisfies every plugin: ")
    assert "library/new/new.py's pm-libx>=2 (pep723) conflicts with" in refused.err
    assert "library/old/old.py's pm-libx<2 (manifest.toml)" in refused.err
    assert not (plugin_dir / "pylock.toml").exists()

    declare(plugin_dir, "library/old/old.py", ["pm-libx"], "manifest")
    use(plugin_dir, "library/new/new.py", reason="trigger")
    taken = cli(capsys, "deps", "lock", "--all-plugins", plugin_dir=plugin_dir, wheels=dep_wheels)
    assert taken.code == 0, taken.err
    assert "(every plugin under the plugin dir: --all-plugins)" in taken.out
    lock = read_pylock(plugin_dir / "pylock.toml")
    assert lock is not None and lock.all_plugins
    assert [(r.name, r.reason) for r in lock.requesters] == [
        ("library/new/new.py", "trigger"),
        ("library/old/old.py", "all-plugins"),
    ]
    why = run_cli(capsys, "deps", "why", "pm-libx", "--plugin-dir", str(plugin_dir))
    assert "  library/old/old.py (manifest.toml, all-plugins): pm-libx" in why.out.splitlines()
    # the choice is recorded: sync does not call the lock stale, a plain lock keeps it
    assert cli(capsys, "deps", "sync", plugin_dir=plugin_dir, wheels=dep_wheels).code == 0
    again = cli(capsys, "deps", "lock", plugin_dir=plugin_dir, wheels=dep_wheels)
    assert again.code == 0 and again.out.endswith("(no change)\n"), again.out
    assert (read_pylock(plugin_dir / "pylock.toml") or lock).all_plugins
    # a new file is in the set now, so the lock is stale until it is locked again
    declare(plugin_dir, "later.py", ["pm-utils"], "pep723")
    stale = cli(capsys, "deps", "sync", plugin_dir=plugin_dir, wheels=dep_wheels)
    assert stale.code == 1 and "later.py (pep723) now declares pm-utils" in stale.err
    back = cli(
        capsys, "deps", "lock", "--in-use", "--format", "json", plugin_dir=plugin_dir,
        wheels=dep_wheels,
    )  # fmt: skip
    assert back.code == 0, back.err
    answer = json.loads(back.out)
    assert answer["all_plugins"] is False
    assert [(r["name"], r["reason"]) for r in answer["requesters"]] == [
        ("library/new/new.py", "trigger")
    ]
    lock = read_pylock(plugin_dir / "pylock.toml")
    assert lock is not None and not lock.all_plugins


def test_remove_drops_a_local_plugin_and_what_only_it_needed(
    capsys: pytest.CaptureFixture[str], plugin_dir: Path, dep_wheels: Path, tmp_path: Path
) -> None:
    declare(plugin_dir, "a.py", ["pm-liby"], "pep723")
    declare(plugin_dir, "b.py", ["pm-utils<0.4"], "pep723")
    for name in ("a.py", "b.py"):
        done = cli(capsys, "install", "deps", name, plugin_dir=plugin_dir, wheels=dep_wheels)
        assert done.code == 0, done.err
    assert installed(plugin_dir) == {"pm-libx": "2.0", "pm-liby": "1.0", "pm-utils": "0.3.1"}
    data_dir = tmp_path / "data"
    catalog = Catalog(data_dir / "catalog.json")
    catalog.create_database("db")
    catalog.create_trigger("db", "t", "./a.py", "every:1h")
    used = cli(
        capsys, "remove", "a.py", "--data-dir", str(data_dir), plugin_dir=plugin_dir,
        wheels=dep_wheels,
    )  # fmt: skip
    assert used.code == 1 and used.err.startswith("error: still used: a.py by db/t"), used.err
    assert recorded(plugin_dir) == ["a.py added", "b.py added"]

    removed = cli(
        capsys, "remove", "./b.py", "--data-dir", str(data_dir), "--format", "json",
        plugin_dir=plugin_dir, wheels=dep_wheels,
    )  # fmt: skip
    assert removed.code == 0, removed.err
    assert json.loads(removed.out)["unrecorded"] == ["b.py"]
    assert recorded(plugin_dir) == ["a.py added"]
    assert installed(plugin_dir) == {"pm-libx": "2.0", "pm-liby": "1.0"}
    assert (plugin_dir / "b.py").exists()  # the file is the operator's: it stays
    declare(plugin_dir, "c.py", [], "pep723")
    added = cli(capsys, "install", "deps", "c.py", plugin_dir=plugin_dir, wheels=dep_wheels)
    assert added.code == 0, added.err
    quiet = cli(capsys, "remove", "c.py", plugin_dir=plugin_dir, wheels=dep_wheels)
    assert quiet.code == 0, quiet.err
    assert quiet.out == "dropped from plugins.in: c.py\n"  # declared nothing: no resolution
    unknown = cli(capsys, "remove", "b.py", plugin_dir=plugin_dir, wheels=dep_wheels)
    assert unknown.code == 1
    assert f"b.py is not pinned in {plugin_dir / 'plugins.lock'} nor listed in" in unknown.err


def test_a_bad_plugins_in_line_is_one_error_naming_it(
    capsys: pytest.CaptureFixture[str], plugin_dir: Path, dep_wheels: Path
) -> None:
    (plugin_dir / "plugins.in").write_text("a.py\ngh:ops/x.py\n")
    result = cli(capsys, "deps", "lock", plugin_dir=plugin_dir, wheels=dep_wheels)
    assert result.code == 1
    assert result.err.splitlines()[0] == (
        f"error: {plugin_dir / 'plugins.in'}, line 2: not a local plugin path under the plugin "
        "dir (fetched plugins are in the set through plugins.lock): 'gh:ops/x.py' "
        f"(hint: fix or remove that line of {plugin_dir / 'plugins.in'})"
    )
    assert not (plugin_dir / "pylock.toml").exists()
