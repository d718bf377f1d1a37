"""``pluginmgr list``: pinned and local plugins, the triggers using them, the venv's packages.

One node is built per module with real parts (a loopback repository, ``deps lock`` and ``deps
sync`` through uv from a local wheelhouse) and each test gets a copy of it. `Node` and
the fixtures are in ``tests/cli/conftest.py`` (shared with the ``doctor`` tests).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
from pathlib import Path

import pytest

from pluginmgr.node.inventory import PluginRow, match_plugin
from pluginmgr.testing import RepoServer, reply
from tests.conftest import FIXTURES, NOTIFIER, NOTIFIER_PATH, WAL_PATH, WAL_PLUGIN
from tests.helpers import run_cli
from tests.node_helpers import Node

_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# -- plugins and their triggers ------------------------------------------------------------------


def test_json_lists_pinned_and_local_plugins_with_their_triggers(
    capsys: pytest.CaptureFixture[str], node: Node
) -> None:
    result = run_cli(
        capsys, "list", "--format", "json", "--data-dir", str(node.data_dir), *node.args()
    )
    assert result.code == 0, result.err
    data = json.loads(result.out)
    assert data["format_version"] == 1
    assert data["triggers_source"] == {
        "kind": "catalog",
        "location": str(node.data_dir / "catalog.json"),
    }
    plugins = {p["ref"]: p for p in data["plugins"]}
    # the notifier's manifest.toml is pinned with it, but it is no plugin
    assert list(plugins) == [WAL_PLUGIN, NOTIFIER, "a.py", "pkg"]
    wal = plugins[WAL_PLUGIN]
    assert wal["origin"] == "pinned" and wal["kind"] == "file"
    assert wal["sha256"] == _sha256(FIXTURES / "repo" / WAL_PATH)
    assert wal["size"] == (FIXTURES / "repo" / WAL_PATH).stat().st_size
    assert wal["triggers"] == [{"database": "db", "trigger_name": "wal", "disabled": False}]
    assert plugins[NOTIFIER]["triggers"] == []
    local = plugins["a.py"]
    assert local["origin"] == "local" and local["sha256"] == _sha256(node.plugin_dir / "a.py")
    assert [t["trigger_name"] for t in local["triggers"]] == ["mine"]
    assert plugins["pkg"]["kind"] == "directory"
    assert [t["trigger_name"] for t in plugins["pkg"]["triggers"]] == ["pkg"]  # named ./pkg
    # why each is in the dependency set (plugins.lock, plugins.in)
    assert {ref: p["in_use"] for ref, p in plugins.items()} == {
        WAL_PLUGIN: "pinned",
        NOTIFIER: "pinned",
        "a.py": "trigger",
        "pkg": "trigger",
    }
    assert data["pylock"] == str(node.plugin_dir / "pylock.toml")
    packages = {p["name"]: p for p in data["packages"]}
    assert packages["pm-libx"] == {
        "name": "pm-libx",
        "version": "2.0",
        "required_by": ["pm-liby"],
        "installed_version": "2.0",
        "status": "ok",
    }
    assert packages["pm-liby"]["required_by"] == ["a.py"]
    assert packages["pm-liby"]["status"] == "ok"


def test_a_file_that_merely_lies_in_the_plugin_dir_is_not_in_use(
    capsys: pytest.CaptureFixture[str], node: Node
) -> None:
    (node.plugin_dir / "stray.py").write_text("x = 1\n")
    result = run_cli(capsys, "list", *node.args())
    assert result.code == 0, result.err
    row = next(line for line in result.out.splitlines() if "stray.py" in line)
    assert "local, not in use" in row
    data = json.loads(run_cli(capsys, "list", "--format", "json", *node.args()).out)
    assert {p["ref"]: p["in_use"] for p in data["plugins"]}["stray.py"] is None


def test_csv_is_plugin_rows_a_blank_line_then_package_rows(
    capsys: pytest.CaptureFixture[str], node: Node
) -> None:
    result = run_cli(
        capsys, "list", "--format", "csv", "--data-dir", str(node.data_dir), *node.args()
    )
    assert result.code == 0, result.err
    plugin_part, package_part = result.out.split("\n\n")
    plugins = list(csv.DictReader(io.StringIO(plugin_part)))
    assert list(plugins[0]) == ["ref", "origin", "kind", "version", "sha256", "size", "triggers"]
    wal = next(row for row in plugins if row["ref"] == WAL_PLUGIN)
    assert wal["sha256"] == _sha256(FIXTURES / "repo" / WAL_PATH)  # full hashes in csv
    assert wal["triggers"] == "db/wal"
    packages = list(csv.DictReader(io.StringIO(package_part)))
    assert list(packages[0]) == [
        "package",
        "version",
        "required_by",
        "installed_version",
        "status",
    ]
    assert {(p["package"], p["required_by"], p["status"]) for p in packages} == {
        ("pm-libx", "pm-liby", "ok"),
        ("pm-liby", "a.py", "ok"),
    }


def test_pretty_says_triggers_are_unknown_without_a_source(
    capsys: pytest.CaptureFixture[str], node: Node
) -> None:
    result = run_cli(capsys, "list", *node.args())
    assert result.code == 0, result.err
    lines = result.out.splitlines()
    assert lines[0].startswith("plugins (triggers unknown: pass --data-dir DIR")
    wal_row = next(line for line in lines if WAL_PLUGIN in line)  # the full ref, on one line
    sha = _sha256(FIXTURES / "repo" / WAL_PATH)
    assert sha[:12] in wal_row and sha not in wal_row
    assert "pinned" in wal_row and wal_row.rstrip("│ ").endswith("?")
    assert any(line.startswith("packages (") and "pylock.toml" in line for line in lines)
    assert any("pm-liby" in line and "a.py" in line and "yes" in line for line in lines)


def test_pretty_tables_fit_a_narrow_terminal_by_wrapping(
    capsys: pytest.CaptureFixture[str], node: Node, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sys

    monkeypatch.setenv("COLUMNS", "60")
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)
    result = run_cli(capsys, "list", "--data-dir", str(node.data_dir), *node.args())
    assert result.code == 0, result.err
    lines = _ANSI.sub("", result.out).splitlines()
    tables = [line for line in lines if line[:1] in "┏┃┡│└"]
    assert tables and max(len(line) for line in tables) <= 60
    assert "…" not in result.out  # wrapped, never cut
    cells = "".join(line.split("│")[1].strip() for line in tables if line.startswith("│"))
    assert WAL_PLUGIN in cells  # the reference is all there, over several lines


def test_triggers_from_the_server_and_a_plugin_no_one_has(
    capsys: pytest.CaptureFixture[str],
    node: Node,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rows = [
        {
            "database_name": "db",
            "trigger_name": "w",
            "plugin_filename": WAL_PLUGIN,
            "disabled": True,
        },
        {
            "database_name": "db",
            "trigger_name": "g",
            "plugin_filename": "gone.py",
            "disabled": False,
        },
    ]
    body = json.dumps(rows).encode()
    with RepoServer(tmp_path) as server:
        url = server.url
        server.overrides["/api/v3/configure/processing_engine_trigger"] = lambda handler: reply(
            handler, 200, body, {"Content-Type": "application/json"}
        )
        given = run_cli(capsys, "list", "--format", "json", "-H", url, *node.args())
        monkeypatch.setenv("INFLUXDB3_HOST_URL", url)
        from_env = run_cli(capsys, "list", "--format", "json", *node.args())
    assert given.code == 0, given.err
    data = json.loads(given.out)
    assert data["triggers_source"] == {"kind": "server", "location": url}
    plugins = {p["ref"]: p for p in data["plugins"]}
    assert plugins[WAL_PLUGIN]["triggers"] == [
        {"database": "db", "trigger_name": "w", "disabled": True}
    ]
    assert plugins["gone.py"]["origin"] == "missing"
    assert plugins["gone.py"]["sha256"] is None
    assert json.loads(from_env.out)["triggers_source"]["kind"] == "server"


def test_missing_and_extraneous_packages(
    capsys: pytest.CaptureFixture[str], node: Node, uv_sandbox: None
) -> None:
    node.uv_pip("uninstall", "pm-liby")
    node.uv_pip("install", "--no-index", "--find-links", str(node.wheels), "pm-utils==0.3.1")
    result = run_cli(capsys, "list", "--format", "json", *node.args())
    assert result.code == 0, result.err
    packages = {p["name"]: p for p in json.loads(result.out)["packages"]}
    assert packages["pm-liby"]["status"] == "missing"
    assert packages["pm-liby"]["installed_version"] is None
    assert packages["pm-utils"]["status"] == "extraneous"
    assert packages["pm-utils"]["version"] is None
    assert packages["pm-utils"]["installed_version"] == "0.3.1"


# -- matching, bad input -------------------------------------------------------------------------


def test_a_trigger_names_its_plugin_by_ref_path_or_registry_specifier() -> None:
    rows = {
        "gh:a/b.py": PluginRow("gh:a/b.py", "pinned"),
        "registry:down>=1": PluginRow("registry:down>=1", "pinned", rev="1.4.0"),
        "registry:down==2.1.0": PluginRow("registry:down==2.1.0", "pinned", rev="2.1.0"),
        "dir/x.py": PluginRow("dir/x.py", "local"),
    }
    assert match_plugin("gh:a/b.py", rows) == "gh:a/b.py"
    assert match_plugin("./dir//x.py", rows) == "dir/x.py"
    assert match_plugin("registry:down>=1", rows) == "registry:down>=1"  # its own pin
    assert match_plugin("registry:Down", rows) == "registry:down==2.1.0"  # highest allowed
    assert match_plugin("registry:down<2", rows) == "registry:down>=1"
    assert match_plugin("registry:down>3", rows) is None
    assert match_plugin("gh:a/c.py", rows) is None
    assert match_plugin("gh:../x", rows) is None  # an invalid reference matches nothing


def test_bad_data_dir_unreadable_catalog_and_no_plugin_dir_are_errors(
    capsys: pytest.CaptureFixture[str], node: Node, tmp_path: Path
) -> None:
    missing = tmp_path / "nope"
    gone = run_cli(capsys, "list", "--data-dir", str(missing), *node.args())
    assert gone.code == 1
    assert gone.err.startswith(f"error: data directory {missing} does not exist")
    (node.data_dir / "catalog.json").write_text("{not json")
    broken = run_cli(capsys, "list", "--data-dir", str(node.data_dir), *node.args())
    assert broken.code == 1
    assert f"cannot read the catalog file {node.data_dir / 'catalog.json'}" in broken.err
    no_dir = run_cli(capsys, "list", "--cache-dir", str(node.cache))
    assert no_dir.code == 1 and no_dir.err.startswith("error: no plugin directory")


def test_env_names_the_data_dir(
    capsys: pytest.CaptureFixture[str], node: Node, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PLUGINMGR_DATA_DIR", str(node.data_dir))
    result = run_cli(capsys, "list", "--format", "json", *node.args())
    assert result.code == 0, result.err
    assert json.loads(result.out)["triggers_source"]["kind"] == "catalog"
    assert NOTIFIER_PATH in result.out
