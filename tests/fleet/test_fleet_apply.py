"""Plan and apply against three real ``pluginmgr serve`` nodes (ingest, query, process), with
every request checked against InfluxDB 3 Core's request shapes. Each test uses its own
database and plugin names, so the module shares one fleet of nodes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from pluginmgr.errors import DependencyConflictError
from pluginmgr.fleet import (
    FleetNode,
    FleetTrigger,
    NodeClient,
    RecreateUpdater,
    apply_fleet,
    plan_fleet,
    read_fleet_file,
    state_path,
)
from pluginmgr.fleet.node_api import TriggerRow
from pluginmgr.testing import RepoServer
from tests.fleet.api_shapes import SHAPES, ShapeRecorder, mismatches
from tests.fleet.conftest import FleetNodes
from tests.fleet.fleet_files import REQUEST, SCHEDULE, WAL, plugin, write_fleet
from tests.helpers import run_cli

pytestmark = pytest.mark.usefixtures("uv_sandbox")

WRITES = ("POST", "PUT", "DELETE")


def _client(url: str) -> NodeClient:
    return NodeClient(FleetNode("probe", url, frozenset(), "INFLUXDB3_AUTH_TOKEN"))


def _triggers(url: str, database: str) -> dict[str, TriggerRow]:
    with _client(url) as client:
        return {row.name: row for row in client.triggers(database)}


def _role_fleet(tmp_path: Path, nodes: FleetNodes, db: str) -> Path:
    wal = plugin(tmp_path, f"{db}_wal.py", WAL)
    req = plugin(tmp_path, f"{db}_req.py", REQUEST)
    sched = plugin(tmp_path, f"{db}_sched.py", SCHEDULE)
    plugin(tmp_path, f"{db}_dir/__init__.py", WAL)
    plugin(tmp_path, f"{db}_dir/helper.py", "VALUE = 1\n")
    plugin(tmp_path, f"{db}_dir/notes.txt", "not listed by system.plugin_files\n")
    triggers: list[dict[str, Any]] = [
        {
            "name": "wal",
            "database": db,
            "spec": "table:cpu",
            "plugin": wal,
            "arguments": {"window": "10m"},
        },
        {"name": "req", "database": db, "spec": f"request:{db}", "plugin": req},
        {"name": "sched", "database": db, "spec": "every:1h", "plugin": sched},
        # named for its database: the directory API finds a trigger by name in any database
        {
            "name": f"dir_{db}",
            "database": db,
            "spec": "all_tables",
            "plugin": f"{db}_dir",
            "roles": ["ingest", "process"],
        },
    ]
    return write_fleet(tmp_path, nodes.urls, triggers, databases=[db])


def test_plan_and_apply_by_role_then_an_empty_plan(
    tmp_path: Path, fleet_nodes: FleetNodes, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _role_fleet(tmp_path, fleet_nodes, "roles")
    planned = run_cli(capsys, "fleet", "plan", str(path))
    assert planned.code == 2, planned.err
    assert "+ trigger roles/wal (table:cpu -> roles_wal.py)" in planned.out
    assert "+ database roles" in planned.out
    assert all(len(line) <= 80 for line in planned.out.splitlines())

    recorder = ShapeRecorder()
    result = apply_fleet(read_fleet_file(path), on_request=recorder)
    assert result.failed == ()
    ingest, query, process = fleet_nodes.urls
    assert sorted(_triggers(ingest, "roles")) == ["dir_roles", "wal"]
    assert sorted(_triggers(query, "roles")) == ["req"]
    assert sorted(_triggers(process, "roles")) == ["dir_roles", "sched"]
    assert (fleet_nodes.plugin_dirs[0] / "roles_dir" / "helper.py").read_text() == "VALUE = 1\n"
    assert _triggers(ingest, "roles")["wal"].arguments == {"window": "10m"}

    again = ShapeRecorder()
    _lock, plan = plan_fleet(read_fleet_file(path), on_request=again)
    assert plan.pending == 0 and plan.failed == ()
    assert [r for r in again.routes() if r[0] in WRITES] == []  # no upload, no install
    assert mismatches(recorder) == [] and mismatches(again) == []

    assert run_cli(capsys, "fleet", "plan", str(path)).code == 0
    status = run_cli(capsys, "fleet", "status", str(path))
    assert status.code == 0 and status.out.count("in sync") == 3
    shown = run_cli(capsys, "fleet", "plan", str(path), "--format", "json")
    assert json.loads(shown.out)["pending"] == 0

    with _client(ingest) as client:  # the node's system tables have Core's columns
        for table, columns in SHAPES["system_tables"].items():
            rows = client.query("roles", f"SELECT * FROM system.{table}")  # noqa: S608
            assert rows and all(sorted(row) == sorted(columns) for row in rows), table


def test_a_file_edited_or_deleted_on_a_node_is_shown_and_repaired(
    tmp_path: Path, fleet_nodes: FleetNodes, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _role_fleet(tmp_path, fleet_nodes, "drift")
    fleet = read_fleet_file(path)
    assert apply_fleet(fleet).failed == ()
    edited = fleet_nodes.plugin_dirs[0] / "drift_wal.py"
    edited.write_text(WAL + "# changed by hand\n")
    (fleet_nodes.plugin_dirs[2] / "drift_sched.py").unlink()

    _lock, plan = plan_fleet(fleet)
    by_node = {p.node.name: p for p in plan.nodes}
    [change] = by_node["ingest-1"].changes
    assert (change.kind, change.action, change.key) == ("plugin", "update", "drift_wal.py")
    assert "edited on the node" in change.reason
    assert by_node["query-2"].changes == ()
    [missing] = by_node["process-3"].changes
    assert "missing on the node" in missing.reason

    status = run_cli(capsys, "fleet", "status", str(path))
    assert status.code == 1
    assert [line.split()[1] for line in status.out.splitlines()] == ["drifted", "in", "drifted"]

    recorder = ShapeRecorder()
    assert apply_fleet(fleet, on_request=recorder).failed == ()
    assert edited.read_text() == WAL
    assert (fleet_nodes.plugin_dirs[2] / "drift_sched.py").read_text() == SCHEDULE
    assert recorder.count("POST", "/api/v3/plugins/files") == 2
    assert plan_fleet(fleet)[1].pending == 0
    assert mismatches(recorder) == []


class _CountingUpdater(RecreateUpdater):
    def __init__(self) -> None:
        self.updated: list[str] = []

    def update(self, client: NodeClient, want: FleetTrigger, plugin_filename: str) -> None:
        self.updated.append(want.key)
        super().update(client, want, plugin_filename)


def test_changed_arguments_and_a_changed_directory_are_applied_as_updates(
    tmp_path: Path, fleet_nodes: FleetNodes
) -> None:
    path = _role_fleet(tmp_path, fleet_nodes, "upd")
    assert apply_fleet(read_fleet_file(path)).failed == ()
    text = path.read_text().replace('window = "10m"', 'window = "5m"')
    path.write_text(text)
    plugin(tmp_path, "upd_dir/helper.py", "VALUE = 2\n")
    (tmp_path / "upd_dir" / "notes.txt").unlink()
    fleet = read_fleet_file(path)

    _lock, plan = plan_fleet(fleet)
    ingest = plan.nodes[0]
    actions = {(c.kind, c.action, c.key) for c in ingest.changes}
    assert actions == {("trigger", "update", "upd/wal"), ("plugin", "update", "upd_dir")}
    [directory] = [c for c in ingest.changes if c.kind == "plugin"]
    assert directory.reason == (
        "upd_dir/notes.txt: removed from the plugin; upd_dir/helper.py: new content in the lock"
    )
    [update] = [c for c in ingest.changes if c.kind == "trigger"]
    assert update.fields == (("arguments", {"window": "10m"}, {"window": "5m"}),)

    recorder = ShapeRecorder()
    assert apply_fleet(fleet, on_request=recorder).failed == ()
    assert _triggers(fleet_nodes.urls[0], "upd")["wal"].arguments == {"window": "5m"}
    # in place: one PUT (InfluxDB 3.11's update trigger), nothing deleted or created
    assert recorder.count("PUT", "/api/v3/configure/processing_engine_trigger") == 1
    assert recorder.count("DELETE", "/api/v3/configure/processing_engine_trigger") == 0
    assert recorder.count("POST", "/api/v3/configure/processing_engine_trigger") == 0
    assert recorder.count("PUT", "/api/v3/plugins/directory") == 2  # ingest and process
    assert (fleet_nodes.plugin_dirs[2] / "upd_dir" / "helper.py").read_text() == "VALUE = 2\n"
    assert not (fleet_nodes.plugin_dirs[2] / "upd_dir" / "notes.txt").exists()  # atomic swap
    assert plan_fleet(fleet)[1].pending == 0
    assert mismatches(recorder) == []

    path.write_text(path.read_text().replace('window = "5m"', 'window = "1m"'))
    fleet = read_fleet_file(path)
    recorder = ShapeRecorder()
    updater = _CountingUpdater()  # re-creation, what a node before InfluxDB 3.11 gets
    assert apply_fleet(fleet, on_request=recorder, updater=updater).failed == ()
    assert updater.updated == ["upd/wal"]
    assert _triggers(fleet_nodes.urls[0], "upd")["wal"].arguments == {"window": "1m"}
    routes = recorder.routes()
    disable = ("POST", "/api/v3/configure/processing_engine_trigger/disable")
    assert routes.index(disable) < routes.index(
        ("DELETE", "/api/v3/configure/processing_engine_trigger")
    )
    assert plan_fleet(fleet)[1].pending == 0
    assert mismatches(recorder) == []


def test_a_trigger_disabled_by_hand_is_enabled_again(
    tmp_path: Path, fleet_nodes: FleetNodes
) -> None:
    path = _role_fleet(tmp_path, fleet_nodes, "hand")
    fleet = read_fleet_file(path)
    assert apply_fleet(fleet).failed == ()
    with _client(fleet_nodes.urls[1]) as client:
        client.disable_trigger("hand", "req")
        client.create_trigger(
            database="hand",
            name="by_hand",
            plugin_filename="hand_req.py",
            spec="request:by_hand",
            arguments=None,
            error_behavior="log",
            run_async=False,
            disabled=False,
        )
    query = plan_fleet(fleet)[1].nodes[1]
    [change] = query.changes
    assert (change.action, change.key) == ("enable", "hand/req")
    assert query.unmanaged == ("hand/by_hand",)  # shown, never touched
    assert apply_fleet(fleet, targets=["query-2"]).failed == ()
    assert _triggers(fleet_nodes.urls[1], "hand")["req"].disabled is False
    assert "by_hand" in _triggers(fleet_nodes.urls[1], "hand")


def test_a_removed_trigger_is_disabled_deleted_and_its_plugin_removed(
    tmp_path: Path, fleet_nodes: FleetNodes
) -> None:
    path = _role_fleet(tmp_path, fleet_nodes, "rm")
    assert apply_fleet(read_fleet_file(path)).failed == ()
    blocks = path.read_text().split("[[triggers]]")
    path.write_text("[[triggers]]".join(b for b in blocks if '"sched"' not in b))
    fleet = read_fleet_file(path)

    process = plan_fleet(fleet)[1].nodes[2]
    assert {(c.kind, c.action, c.key) for c in process.changes} == {
        ("trigger", "delete", "rm/sched"),
        ("plugin", "remove", "rm_sched.py"),
    }
    assert process.changes[-1].action == "remove"  # after the trigger that runs it is gone
    recorder = ShapeRecorder()
    assert apply_fleet(fleet, on_request=recorder).failed == ()
    assert sorted(_triggers(fleet_nodes.urls[2], "rm")) == ["dir_rm"]
    assert not (fleet_nodes.plugin_dirs[2] / "rm_sched.py").exists()  # deleted from the node
    assert recorder.count("DELETE", "/api/v3/plugins/files") == 1
    state = json.loads(state_path(path).read_text())
    assert "rm_sched.py" not in state["nodes"]["process-3"]["files"]
    assert plan_fleet(fleet)[1].pending == 0
    assert mismatches(recorder) == []


def test_a_node_down_is_named_and_the_others_are_applied(
    tmp_path: Path, fleet_nodes: FleetNodes, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.server.server_helpers import free_port

    down = f"http://127.0.0.1:{free_port()}"
    wal = "./" + plugin(tmp_path, "down_wal.py", WAL)  # on the nodes as down_wal.py
    triggers = [{"name": "wal", "database": "down", "spec": "table:cpu", "plugin": wal}]
    urls = [fleet_nodes.urls[0], down]
    path = write_fleet(tmp_path, urls, triggers, databases=["down"], names=["ingest-1", "ingest-2"])
    path.write_text(path.read_text().replace('roles = ["query"]', 'roles = ["ingest"]'))

    planned = run_cli(capsys, "fleet", "plan", str(path))
    assert planned.code == 1
    assert "node ingest-2" in planned.out and "cannot be reached" in planned.out
    assert "+ trigger down/wal" in planned.out  # the reachable node is still planned

    applied = run_cli(capsys, "fleet", "apply", str(path))
    assert applied.code == 1
    assert "node ingest-1: applied" in applied.out and "node ingest-2: FAILED" in applied.out
    assert _triggers(fleet_nodes.urls[0], "down")["wal"].plugin_filename == "down_wal.py"
    assert (fleet_nodes.plugin_dirs[0] / "down_wal.py").read_text() == WAL
    again = run_cli(capsys, "fleet", "apply", str(path), "--format", "json")
    nodes = json.loads(again.out)["nodes"]
    assert again.code == 1 and [(n["node"], n["ok"], n["done"]) for n in nodes] == [
        ("ingest-1", True, []),
        ("ingest-2", False, []),
    ]
    status = json.loads(run_cli(capsys, "fleet", "status", str(path), "--format", "json").out)
    assert [(n["reachable"], n["in_sync"]) for n in status["nodes"]] == [
        (True, True),
        (False, False),
    ]


def test_a_failing_node_stops_with_what_is_left(tmp_path: Path, fleet_nodes: FleetNodes) -> None:
    """The node refuses a trigger (a schedule spec on a plugin without the schedule entry
    point): its apply stops there, with the rest as what is left; the others go on."""
    wal = plugin(tmp_path, "left_wal.py", WAL)
    triggers = [
        {
            "name": "bad",
            "database": "left",
            "spec": "every:1h",
            "plugin": wal,
            "roles": ["process"],
        },
        {
            "name": "after",
            "database": "left",
            "spec": "table:cpu",
            "plugin": wal,
            "roles": ["process", "ingest"],
        },
    ]
    path = write_fleet(tmp_path, fleet_nodes.urls, triggers, databases=["left"])
    result = apply_fleet(read_fleet_file(path))
    outcomes = {o.node: o for o in result.outcomes}
    assert outcomes["ingest-1"].error is None
    failed = outcomes["process-3"]
    assert failed.error is not None and "left/bad" not in failed.error
    assert [(c.action, c.key) for c in failed.left] == [
        ("create", "left/bad"),
        ("create", "left/after"),
    ]
    assert sorted(_triggers(fleet_nodes.urls[0], "left")) == ["after"]


def test_a_package_conflict_stops_before_any_node_changes(
    tmp_path: Path, fleet_nodes: FleetNodes
) -> None:
    old = plugin(tmp_path, "conflict_old.py", WAL, requires=["pm-libx==1.0"])
    new = plugin(tmp_path, "conflict_new.py", WAL, requires=["pm-liby"])
    triggers = [
        {"name": "old", "database": "conflict", "spec": "table:a", "plugin": old},
        {"name": "new", "database": "conflict", "spec": "table:b", "plugin": new},
    ]
    top = {"find-links": [str(fleet_nodes.wheels)], "no-index": True}
    path = write_fleet(tmp_path, fleet_nodes.urls, triggers, databases=["conflict"], top=top)
    recorder = ShapeRecorder()
    with pytest.raises(DependencyConflictError, match=r"conflict_new\.py.*conflict_old\.py"):
        apply_fleet(read_fleet_file(path), on_request=recorder)
    assert recorder.requests == []
    with _client(fleet_nodes.urls[0]) as client:
        assert "conflict" not in client.databases()


def test_locked_packages_are_installed_once(tmp_path: Path, fleet_nodes: FleetNodes) -> None:
    uses = plugin(tmp_path, "pkg_wal.py", WAL, requires=["pm-liby"])
    triggers = [{"name": "wal", "database": "pkg", "spec": "table:a", "plugin": uses}]
    top = {"find-links": [str(fleet_nodes.wheels)], "no-index": True}
    path = write_fleet(tmp_path, fleet_nodes.urls[:1], triggers, databases=["pkg"], top=top)
    recorder = ShapeRecorder()
    assert apply_fleet(read_fleet_file(path), on_request=recorder).failed == ()
    installs = [body for method, p, _q, body in recorder.requests if p.endswith("install_packages")]
    assert installs == [{"packages": ["pm-libx==2.0", "pm-liby==1.0"]}]
    assert (tmp_path / "pylock.toml").is_file() and (tmp_path / "plugins.in").is_file()
    again = ShapeRecorder()
    assert plan_fleet(read_fleet_file(path), on_request=again)[1].pending == 0
    assert [r for r in again.routes() if r[0] in WRITES] == []
    assert mismatches(recorder) == []


def test_a_directory_is_uploaded_file_by_file_when_its_trigger_name_is_not_unique(
    tmp_path: Path, fleet_nodes: FleetNodes
) -> None:
    """The directory API names a trigger without its database: with two triggers of that name
    on the node, the files go one by one (POST), never into the other trigger's plugin."""
    triggers: list[dict[str, Any]] = []
    for db in ("twin_a", "twin_b"):
        plugin(tmp_path, f"{db}/__init__.py", WAL)
        plugin(tmp_path, f"{db}/helper.py", "VALUE = 1\n")
        triggers.append({"name": "twin", "database": db, "spec": "all_tables", "plugin": db})
    path = write_fleet(tmp_path, fleet_nodes.urls[:1], triggers, databases=["twin_a", "twin_b"])
    assert apply_fleet(read_fleet_file(path)).failed == ()
    plugin(tmp_path, "twin_b/helper.py", "VALUE = 2\n")
    recorder = ShapeRecorder()
    assert apply_fleet(read_fleet_file(path), on_request=recorder).failed == ()
    assert recorder.count("PUT", "/api/v3/plugins/directory") == 0
    assert recorder.count("POST", "/api/v3/plugins/files") == 2
    assert (fleet_nodes.plugin_dirs[0] / "twin_a" / "helper.py").read_text() == "VALUE = 1\n"
    assert (fleet_nodes.plugin_dirs[0] / "twin_b" / "helper.py").read_text() == "VALUE = 2\n"


def test_a_gh_plugin_stays_pinned_until_upgrade(
    tmp_path: Path,
    fleet_nodes: FleetNodes,
    repo_server: RepoServer,
    repo_root: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Every node gets the pinned bytes: a new release upstream changes nothing until
    ``--upgrade`` pins it, then the plan shows the plugin update and apply uploads it."""
    ref = "gh:examples/wal_plugin/wal_plugin.py"
    triggers = [{"name": "wal", "database": "pin", "spec": "table:cpu", "plugin": ref}]
    top = {"plugin-repo": repo_server.url}
    path = write_fleet(tmp_path, fleet_nodes.urls[:1], triggers, databases=["pin"], top=top)
    assert apply_fleet(read_fleet_file(path)).failed == ()
    released = repo_root / "examples" / "wal_plugin" / "wal_plugin.py"
    released.write_text(released.read_text() + "# release 2\n")

    assert run_cli(capsys, "fleet", "plan", str(path)).code == 0  # pinned: nothing moves
    upgraded = run_cli(capsys, "fleet", "plan", str(path), "--upgrade")
    assert upgraded.code == 2 and "~ plugin wal_plugin.py" in upgraded.out
    assert "new content in the lock" in upgraded.out
    assert run_cli(capsys, "fleet", "apply", str(path)).code == 0
    node_file = fleet_nodes.plugin_dirs[0] / "wal_plugin.py"
    assert node_file.read_text().endswith("# release 2\n")


def test_stop_on_error_starts_no_further_node(tmp_path: Path, fleet_nodes: FleetNodes) -> None:
    from tests.server.server_helpers import free_port

    wal = plugin(tmp_path, "stop_wal.py", WAL)
    triggers = [{"name": "wal", "database": "stop", "spec": "table:cpu", "plugin": wal}]
    urls = [f"http://127.0.0.1:{free_port()}", fleet_nodes.urls[0]]
    path = write_fleet(tmp_path, urls, triggers, databases=["stop"], names=["down", "up"])
    path.write_text(path.read_text().replace('roles = ["query"]', 'roles = ["ingest"]'))
    result = apply_fleet(read_fleet_file(path), parallel=1, stop_on_error=True)
    down, up = result.outcomes
    assert down.error is not None and "cannot be reached" in down.error
    assert up.error == "skipped: another node failed (--stop-on-error)"
    with _client(fleet_nodes.urls[0]) as client:
        assert "stop" not in client.databases()
