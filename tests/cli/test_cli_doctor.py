"""``pluginmgr doctor``: a healthy node, then one thing broken at a time, on a copy of a real node
(see `tests.cli.test_cli_list.build_node`), copied for each test."""

from __future__ import annotations

import json
import socket
import sys
from pathlib import Path
from typing import Any

import pytest

from pluginmgr.fetch.lockfile import read_lock
from pluginmgr.node.checks import disk_status
from tests.conftest import FIXTURES, WAL_PLUGIN
from tests.dep_wheels import declare
from tests.helpers import CliResult, run_cli
from tests.node_helpers import Node, write_catalog

GREETER = "gh:examples/greeter/greeter.py"


def doctor(
    capsys: pytest.CaptureFixture[str], node: Node, *args: str, repo: str | None = None
) -> CliResult:
    """``pluginmgr doctor`` on the node (its repository, or ``repo``)."""
    node_args = node.args(repo=repo)
    return run_cli(capsys, "doctor", "--data-dir", str(node.data_dir), *node_args, *args)


def checks(result: CliResult) -> dict[str, dict[str, Any]]:
    data = json.loads(result.out)
    assert data["format_version"] == 1
    return {check["name"]: check for check in data["checks"]}


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/"


def test_a_healthy_node_is_all_ok(capsys: pytest.CaptureFixture[str], node: Node) -> None:
    result = doctor(capsys, node, "--format", "json")
    assert result.code == 0, result.out + result.err
    found = checks(result)
    assert list(found)[:7] == [
        "plugin-dir",
        "store",
        "venv-python",
        "pylock",
        "venv-sync",
        "imports:a.py",
        "triggers",
    ]
    assert {"trigger:db/wal", "trigger:db/mine", "trigger:db/pkg", "repo", "store"} <= set(found)
    # free space depends on the machine running the tests: it only must not fail
    assert {c["status"] for n, c in found.items() if not n.startswith("disk:")} == {"ok"}
    assert all(c["fix"] is None for c in found.values() if c["status"] == "ok")
    assert "1 dependency installed" in found["trigger:db/mine"]["detail"]
    assert found["repo"]["detail"].startswith(f"{node.repo_url} answered in ")
    assert json.loads(result.out)["ok"] is True

    pretty = doctor(capsys, node)
    assert pretty.code == 0
    lines = pretty.out.splitlines()
    assert lines[0] == f"ok    plugin-dir: {node.plugin_dir}"
    assert len(lines) == len(found) + 1 and lines[-1].endswith(", 0 failures")


def test_an_unreachable_repository_fails_naming_it(
    capsys: pytest.CaptureFixture[str], node: Node
) -> None:
    dead = closed_port_url()
    result = doctor(capsys, node, "--format", "json", repo=dead)
    assert result.code == 1
    found = checks(result)
    repo = found["repo"]
    assert repo["status"] == "fail"
    assert repo["detail"].startswith(f"cannot reach {dead} (")
    assert "--plugin-repo" in repo["fix"]
    assert found["trigger:db/wal"]["status"] == "ok"  # pinned: it runs without the repository
    pretty = run_cli(capsys, "doctor", "--data-dir", str(node.data_dir), *node.args(repo=dead))
    line = next(line for line in pretty.out.splitlines() if line.startswith("fail  repo: "))
    assert dead in line and "-> fix: check --plugin-repo" in line
    assert pretty.out.splitlines()[-1].endswith("1 failure")


def test_offline_skips_the_repositories(capsys: pytest.CaptureFixture[str], node: Node) -> None:
    result = doctor(capsys, node, "--offline", "--format", "json")
    assert result.code == 0, result.out
    assert "repo" not in checks(result)


def test_a_corrupted_store_blob_fails(capsys: pytest.CaptureFixture[str], node: Node) -> None:
    sha256 = read_lock(node.plugin_dir / "plugins.lock")[WAL_PLUGIN].sha256
    blob = node.cache / "blobs" / "sha256" / sha256[:2] / sha256[2:]
    blob.chmod(0o644)
    blob.write_text("tampered")
    result = doctor(capsys, node, "--format", "json")
    assert result.code == 1
    store = checks(result)["store"]
    assert store["status"] == "fail"
    assert f"blob {sha256[:12]} corrupted" in store["detail"]
    assert store["fix"] == "pluginmgr lock"


def test_a_stale_pylock_fails_with_the_lock_command(
    capsys: pytest.CaptureFixture[str], node: Node
) -> None:
    declare(node.plugin_dir, "a.py", ["pm-libx<2"], "pep723")
    result = doctor(capsys, node, "--format", "json")
    assert result.code == 1
    found = checks(result)
    assert found["pylock"]["status"] == "fail"
    assert (
        "is stale: a.py now declares pm-libx<2 (the lock has pm-liby)" in found["pylock"]["detail"]
    )
    assert found["pylock"]["fix"] == "pluginmgr deps lock"
    # the trigger running a.py would not start: what it declares now is not installed
    mine = found["trigger:db/mine"]
    assert mine["status"] == "fail" and "missing pm-libx<2" in mine["detail"]
    assert mine["fix"] == "pluginmgr install deps a.py"


def test_a_trigger_plugin_not_in_use_warns_and_an_unused_file_is_ignored(
    capsys: pytest.CaptureFixture[str], node: Node
) -> None:
    declare(node.plugin_dir, "unused.py", ["pm-nothing"], "pep723")  # not in the set: no effect
    (node.plugin_dir / "plugins.in").write_text("pkg trigger\n")  # a.py's line lost
    result = doctor(capsys, node, "--format", "json")
    found = checks(result)
    mine = found["trigger:db/mine"]
    assert mine["status"] == "warn", mine
    assert "plugins.in does not list it: the next `deps lock` leaves" in mine["detail"]
    assert mine["fix"] == "pluginmgr install deps a.py"
    # the lock still has a.py, which has left the set: stale, and said so
    assert found["pylock"]["status"] == "fail"
    assert "a.py is no longer in use (it had pm-liby)" in found["pylock"]["detail"]
    (node.plugin_dir / "plugins.in").write_text("../a.py\n")
    broken = checks(doctor(capsys, node, "--format", "json"))
    assert broken["plugins.in"]["status"] == "fail"
    assert "line 1: not a local plugin path" in broken["plugins.in"]["detail"]


def test_no_pylock_only_warns(capsys: pytest.CaptureFixture[str], node: Node) -> None:
    (node.plugin_dir / "pylock.toml").unlink()
    result = doctor(capsys, node, "--format", "json")
    assert result.code == 0, result.out
    pylock = checks(result)["pylock"]
    assert pylock["status"] == "warn" and pylock["fix"] == "pluginmgr deps lock"
    assert "venv-sync" not in checks(result)


def test_a_venv_whose_interpreter_is_gone_fails(
    capsys: pytest.CaptureFixture[str], node: Node
) -> None:
    healthy = checks(doctor(capsys, node, "--format", "json"))["venv-python"]
    assert healthy["status"] == "ok"
    assert healthy["detail"].startswith(f"{node.venv} runs Python {sys.version_info[0]}.")
    python = node.venv / "bin" / "python"
    python.unlink()
    python.symlink_to("/nonexistent/python3")
    result = doctor(capsys, node, "--format", "json")
    assert result.code == 1
    check = checks(result)["venv-python"]
    assert check["status"] == "fail"
    assert check["detail"].startswith(f"{node.venv} links to an interpreter that no longer exists")
    assert check["fix"] == (
        f"rm -rf {node.venv} && pluginmgr deps sync --plugin-dir {node.plugin_dir}"
    )


def test_drift_between_the_venv_and_the_lock_fails_with_sync(
    capsys: pytest.CaptureFixture[str], node: Node, uv_sandbox: None
) -> None:
    node.uv_pip("uninstall", "pm-liby")
    node.uv_pip("install", "--no-index", "--find-links", str(node.wheels), "pm-utils==0.3.1")
    result = doctor(capsys, node, "--format", "json")
    assert result.code == 1
    drift = checks(result)["venv-sync"]
    assert drift["status"] == "fail" and drift["fix"] == "pluginmgr deps sync"
    assert "pm-liby missing (locked 1.0)" in drift["detail"]
    assert "pm-utils 0.3.1 (not locked)" in drift["detail"]


def test_a_plugin_that_cannot_import_fails_naming_the_error(
    capsys: pytest.CaptureFixture[str], node: Node, uv_sandbox: None
) -> None:
    # every requirement is in the lock and installed; the imports still fail
    body = "def process_writes(influxdb3_local, table_batches, args=None):\n    pass\n"
    (node.plugin_dir / "undeclared.py").write_text(
        '# /// script\n# dependencies = ["pm-liby"]\n# ///\n'
        "import json\nimport pm_liby\ntry:\n    import pm_optional\nexcept ImportError:\n"
        "    pm_optional = None\nimport pm_gamma\n" + body
    )
    (node.plugin_dir / "too_old.py").write_text(
        '# /// script\n# dependencies = ["pm-libx"]\n# ///\n'
        "from pm_libx import VERSION, parse_v2\n" + body
    )
    sources = ["--no-index", "--find-links", str(node.wheels)]
    for plugin in ("undeclared.py", "too_old.py"):
        installed = run_cli(capsys, "install", "deps", plugin, *node.args(), *sources)
        assert installed.code == 0, installed.err
    result = doctor(capsys, node, "--format", "json")
    assert result.code == 1
    found = checks(result)
    assert found["imports:a.py"]["status"] == "ok"
    missing = found["imports:undeclared.py"]
    assert missing["status"] == "fail"
    assert missing["detail"] == (
        "undeclared.py cannot import: `import pm_gamma` fails: "
        "ModuleNotFoundError: No module named 'pm_gamma'"
    )
    assert "pluginmgr deps constrain" in missing["fix"]
    old = found["imports:too_old.py"]
    assert old["status"] == "fail"
    assert old["detail"].startswith(
        "too_old.py cannot import: `from pm_libx import VERSION, parse_v2` fails: "
        "ImportError: cannot import name 'parse_v2' from 'pm_libx'"
    )


def test_triggers_whose_plugin_is_not_there(
    capsys: pytest.CaptureFixture[str], node: Node, tmp_path: Path
) -> None:
    data = write_catalog(
        tmp_path / "data",
        [("greet", GREETER, "request:greet"), ("old", "gone.py", "every:1m")],
        disabled=["old"],
    )
    result = run_cli(capsys, "doctor", "--format", "json", "--data-dir", str(data), *node.args())
    assert result.code == 1
    found = checks(result)
    greet = found["trigger:db/greet"]
    assert greet["status"] == "fail"
    assert greet["detail"].startswith(f"{GREETER}: {GREETER} is not pinned in ")
    assert greet["fix"] == f"pluginmgr fetch {GREETER}"
    old = found["trigger:db/old"]  # disabled: a warning, not a failure
    assert old["status"] == "warn" and "Plugin not found" in old["detail"]
    assert old["fix"].startswith(f"put the plugin at {node.plugin_dir}/gone.py")


def test_a_pinned_registry_plugin_has_its_registry_probed(
    capsys: pytest.CaptureFixture[str], node: Node, tmp_path: Path
) -> None:
    from tests.registry_helpers import publish_registry

    registry = tmp_path / "registry"
    artifacts = registry.as_uri() + "/"
    publish_registry(
        FIXTURES / "repo" / "influxdata", registry, artifacts_url=artifacts, artifacts_dir="."
    )
    index = (registry / "index.json").as_uri()
    ref = "registry:downsampler>=1.0,<2"
    assert run_cli(capsys, "fetch", ref, *node.args(), "--plugin-registry", index).code == 0
    data = write_catalog(tmp_path / "data", [("down", ref, "every:1h")])
    args = ["--format", "json", "--data-dir", str(data), *node.args()]
    listed = run_cli(capsys, "list", *args)
    [row] = [p for p in json.loads(listed.out)["plugins"] if p["ref"] == ref]
    assert row["version"] == "1.4.0" and row["kind"] == "directory"
    assert row["triggers"] == [{"database": "db", "trigger_name": "down", "disabled": False}]

    result = run_cli(capsys, "doctor", *args, "--plugin-registry", index)
    assert result.code == 0, result.out
    found = checks(result)
    assert found["registry"]["status"] == "ok"
    assert found["registry"]["detail"].startswith(f"{index} exists")
    assert found["trigger:db/down"]["status"] == "ok"
    gone = (tmp_path / "elsewhere" / "index.json").as_uri()
    moved = run_cli(capsys, "doctor", *args, "--plugin-registry", gone)
    assert moved.code == 1
    assert checks(moved)["registry"]["status"] == "fail"
    assert gone in checks(moved)["registry"]["detail"]


# -- bad input -----------------------------------------------------------------------------------


def test_bad_data_dir_and_unreadable_catalog_fail_the_trigger_check(
    capsys: pytest.CaptureFixture[str], node: Node, tmp_path: Path
) -> None:
    missing = tmp_path / "nope"
    gone = run_cli(capsys, "doctor", "--format", "json", "--data-dir", str(missing), *node.args())
    assert gone.code == 1
    triggers = checks(gone)["triggers"]
    assert triggers["status"] == "fail"
    assert triggers["detail"] == f"data directory {missing} does not exist"
    (node.data_dir / "catalog.json").write_text("[]")
    broken = doctor(capsys, node, "--format", "json")
    assert broken.code == 1
    triggers = checks(broken)["triggers"]
    assert triggers["status"] == "fail" and "unsupported format_version" in triggers["detail"]
    assert checks(broken)["store"]["status"] == "ok"  # the other checks still run
    down = run_cli(capsys, "doctor", "--format", "json", "-H", closed_port_url(), *node.args())
    assert down.code == 1
    triggers = checks(down)["triggers"]
    assert triggers["status"] == "fail"
    assert triggers["detail"].startswith("cannot reach the server at http://127.0.0.1:")
    assert "-H/--host" in triggers["fix"]


def test_no_trigger_source_warns_and_no_plugin_dir_fails(
    capsys: pytest.CaptureFixture[str], node: Node
) -> None:
    unknown = run_cli(capsys, "doctor", "--format", "json", *node.args())
    assert unknown.code == 0
    triggers = checks(unknown)["triggers"]
    assert triggers["status"] == "warn" and triggers["detail"].startswith("not checked: ")
    no_dir = run_cli(capsys, "doctor", "--format", "json", "--cache-dir", str(node.cache))
    assert no_dir.code == 1
    found = checks(no_dir)
    assert found["plugin-dir"]["status"] == "fail" and "venv-python" not in found


def test_disk_thresholds() -> None:
    mib, gib = 1024 * 1024, 1024 * 1024 * 1024
    assert disk_status(99 * mib, 1000 * gib) == "fail"
    assert disk_status(500 * mib, 1000 * gib) == "warn"  # under 1 GiB
    assert disk_status(40 * gib, 1000 * gib) == "warn"  # under 5%
    assert disk_status(60 * gib, 1000 * gib) == "ok"


def test_a_source_serving_other_bytes_warns_with_the_upgrade_plan_command(
    capsys: pytest.CaptureFixture[str], node: Node, tmp_path: Path
) -> None:
    import shutil

    from pluginmgr.testing import RepoServer
    from tests.conftest import WAL_PATH

    moved = Path(shutil.copytree(FIXTURES / "repo", tmp_path / "moved"))
    (moved / WAL_PATH).write_text("# upstream moved on\n")
    lock_before = (node.plugin_dir / "plugins.lock").read_bytes()
    with RepoServer(moved) as server:
        result = doctor(capsys, node, "--format", "json", repo=server.url)
    upstream = checks(result)["upstream"]
    assert upstream["status"] == "warn"
    assert WAL_PLUGIN in upstream["detail"] and "now serve other content" in upstream["detail"]
    assert upstream["fix"].startswith("pluginmgr lock --upgrade --dry-run")
    assert (node.plugin_dir / "plugins.lock").read_bytes() == lock_before
    assert result.code == 0, "a moved source is a warning: the store still has the pinned bytes"
