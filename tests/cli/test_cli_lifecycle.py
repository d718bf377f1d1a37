"""The pin lifecycle from the command line: upgrade plans, atomic upgrades, outdated, rollback,
gc, the logical lock source and same-second revalidation, against real loopback repositories
and real git repositories."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from pathlib import Path

import diskcache
import pytest

from pluginmgr.fetch.lockfile import read_lock
from pluginmgr.testing import RepoServer
from tests.conftest import NOTIFIER, NOTIFIER_PATH, WAL_PATH, WAL_PLUGIN
from tests.git_helpers import make_origin
from tests.helpers import repo_args, run_cli

EXTRA_PATHS = ("extra/one/one.py", "extra/two/two.py")
EXTRA = tuple(f"gh:{p}" for p in EXTRA_PATHS)
ALL = (WAL_PLUGIN, NOTIFIER, *EXTRA)


@pytest.fixture
def cache(tmp_path: Path) -> Path:
    return tmp_path / "cache"


@pytest.fixture
def args(repo_server: RepoServer, plugin_dir: Path, cache: Path, repo_root: Path) -> list[str]:
    for path in EXTRA_PATHS:
        target = repo_root / path
        target.parent.mkdir(parents=True)
        target.write_text(
            f"# {path}\ndef process_writes(influxdb3_local, tables, args=None):\n    pass\n"
        )
    return repo_args(repo_server.url, plugin_dir, cache)


def snapshot(*roots: Path) -> dict[str, object]:
    """Every file under ``roots`` (sha256 and mtime in ns, so even a touch shows) and every
    entry of the store's metadata (SQLite's own files change when it is merely opened)."""
    found: dict[str, object] = {}
    for root in roots:
        for path in sorted(root.rglob("*")):
            if path.is_file() and path.parent.name != "meta":
                data = path.read_bytes()
                found[str(path)] = (hashlib.sha256(data).hexdigest(), path.stat().st_mtime_ns)
        if (root / "meta").is_dir():
            with diskcache.Cache(str(root / "meta")) as meta:
                found[f"{root}/meta"] = {key: meta[key] for key in meta.iterkeys()}
    return found


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def edit(path: Path, text: str) -> None:
    """Change a file's content; keep its mtime moving forward by at least a second."""
    before = path.stat().st_mtime
    path.write_text(text)
    os.utime(path, (before + 2, before + 2))


def test_dry_run_plans_without_writing_anything_and_exits_2(
    capsys: pytest.CaptureFixture[str],
    args: list[str],
    plugin_dir: Path,
    cache: Path,
    repo_root: Path,
    repo_server: RepoServer,
) -> None:
    assert run_cli(capsys, "fetch", *ALL, *args).code == 0
    old = sha(repo_root / WAL_PATH)
    edit(repo_root / WAL_PATH, "# wal v2, a longer file than before\n")
    before = snapshot(plugin_dir, cache)
    repo_server.reset()

    result = run_cli(capsys, "lock", "--upgrade", "--dry-run", *args)

    assert result.code == 2, result.err
    assert snapshot(plugin_dir, cache) == before, "a dry run writes nothing, not even metadata"
    new = sha(repo_root / WAL_PATH)
    text = " ".join(result.out.split())
    assert f"upgraded {WAL_PLUGIN} {old[:12]} → -952 B {new[:12]}" in text
    assert "plan: 1 to upgrade, 3 unchanged (dry run: nothing written)" in text
    # one conditional request per file: 304 for the unchanged, 200 for the edited one (which
    # is checked against the records a mirror keeps: SHA256SUMS, mirror.json, none here)
    files = [r for r in repo_server.requests if r.path.endswith(".py")]
    assert sorted(r.status for r in files) == [200, 304, 304, 304]
    assert all("If-None-Match" in r.headers for r in files)
    assert len(repo_server.requests) == len(files) + 2

    data = json.loads(
        run_cli(capsys, "lock", "--upgrade", "--dry-run", "--format", "json", *args).out
    )
    wal = next(c for c in data["changes"] if c["ref"] == WAL_PLUGIN)
    assert (wal["status"], wal["old"]["sha256"], wal["new"]["sha256"]) == ("upgraded", old, new)
    assert data["changed"] is True and data["written"] is False


def test_dry_run_with_nothing_to_change_exits_0(
    capsys: pytest.CaptureFixture[str], args: list[str]
) -> None:
    assert run_cli(capsys, "fetch", *ALL, *args).code == 0
    result = run_cli(capsys, "lock", "--upgrade", "--dry-run", *args)
    assert result.code == 0, result.err
    assert "plan: 4 unchanged" in result.out


def test_upgrade_applies_the_plan_and_status_words_describe_the_pin(
    capsys: pytest.CaptureFixture[str], args: list[str], plugin_dir: Path, repo_root: Path
) -> None:
    assert run_cli(capsys, "fetch", *ALL, *args).code == 0
    # a dry run first fills nothing: the real upgrade still says "upgraded", not "not-modified"
    edit(repo_root / NOTIFIER_PATH, "# notifier v2\n")
    assert run_cli(capsys, "lock", "--upgrade", "--dry-run", *args).code == 2
    result = run_cli(capsys, "lock", "--upgrade", *args)
    assert result.code == 0, result.err
    assert "upgraded" in result.out and "plan: 1 upgraded, 3 unchanged; wrote" in result.out
    assert read_lock(plugin_dir / "plugins.lock")[NOTIFIER].sha256 == sha(repo_root / NOTIFIER_PATH)

    again = run_cli(capsys, "lock", "--upgrade", *args)
    assert again.code == 0
    assert "plan: 4 unchanged" in again.out and "not-modified" not in again.out


def test_a_404_mid_upgrade_leaves_the_lock_byte_for_byte(
    capsys: pytest.CaptureFixture[str], args: list[str], plugin_dir: Path, repo_root: Path
) -> None:
    assert run_cli(capsys, "fetch", *ALL, *args).code == 0
    lock_before = (plugin_dir / "plugins.lock").read_bytes()
    edit(repo_root / WAL_PATH, "# wal v2\n")
    edit(repo_root / EXTRA_PATHS[0], "# one v2\n")
    (repo_root / EXTRA_PATHS[1]).unlink()

    result = run_cli(capsys, "lock", "--upgrade", *args)

    assert result.code == 1
    assert (plugin_dir / "plugins.lock").read_bytes() == lock_before
    assert "404 Not Found" in result.out and EXTRA_PATHS[1] in result.out
    assert "nothing changed" in result.out
    # no versions were recorded for the half that succeeded
    history = json.loads(run_cli(capsys, "versions", WAL_PLUGIN, "--format", "json", *args).out)
    assert len(history["versions"]) == 1


def test_unreachable_repository_fails_the_plan_and_changes_nothing(
    capsys: pytest.CaptureFixture[str], args: list[str], plugin_dir: Path
) -> None:
    assert run_cli(capsys, "fetch", WAL_PLUGIN, *args).code == 0
    lock_before = (plugin_dir / "plugins.lock").read_bytes()
    closed = [*args, "--plugin-repo", "http://127.0.0.1:9/", "--connect-timeout", "1"]
    for command in (["lock", "--upgrade"], ["lock", "--upgrade", "--dry-run"], ["outdated"]):
        result = run_cli(capsys, *command, *closed)
        assert result.code == 1, command
        assert "127.0.0.1:9" in result.out + result.err
    assert (plugin_dir / "plugins.lock").read_bytes() == lock_before


def test_declared_requirement_changes_are_in_the_plan(
    capsys: pytest.CaptureFixture[str], args: list[str], repo_root: Path
) -> None:
    path = repo_root / EXTRA_PATHS[0]
    block = "# /// script\n# dependencies = [{deps}]\n# ///\n"
    path.write_text(
        block.format(deps='"pm-libx<2"') + "def process_writes(a, b, args=None): pass\n"
    )
    assert run_cli(capsys, "fetch", EXTRA[0], *args).code == 0
    edit(
        path,
        block.format(deps='"pm-libx>=2", "pm-gamma"')
        + "def process_writes(a, b, args=None): pass\n",
    )

    plan = run_cli(capsys, "lock", "--upgrade", "--dry-run", "--format", "json", *args)
    change = json.loads(plan.out)["changes"][0]
    assert change["requirements_added"] == ["pm-libx>=2", "pm-gamma"]
    assert change["requirements_removed"] == ["pm-libx<2"]

    applied = run_cli(capsys, "lock", "--upgrade", *args)
    assert applied.code == 0, applied.err
    # no pylock.toml here: the command says which commands take the change into the venv
    assert "`pluginmgr deps lock`" in applied.err and "+pm-libx>=2" in applied.out


def test_usage_errors(capsys: pytest.CaptureFixture[str], args: list[str]) -> None:
    result = run_cli(capsys, "lock", "--dry-run", *args)
    assert result.code == 2 and "--dry-run shows an upgrade plan: add --upgrade" in result.err
    unknown = run_cli(capsys, "lock", "--upgrade", "gh:does/not/exist.py", *args)
    assert unknown.code == 1 and "404 Not Found" in unknown.out


# -- the lock is the same on every node -----------------------------------------------------------


def test_a_mirror_serving_the_same_bytes_leaves_the_committed_lock_clean(
    capsys: pytest.CaptureFixture[str],
    args: list[str],
    plugin_dir: Path,
    repo_root: Path,
    tmp_path: Path,
) -> None:
    assert run_cli(capsys, "fetch", *ALL, *args).code == 0
    lock_path = plugin_dir / "plugins.lock"
    committed = lock_path.read_bytes()
    assert f'source = "plugin-repo:{WAL_PATH}"' in committed.decode()
    mirror_root = tmp_path / "mirror"
    shutil.copytree(repo_root, mirror_root)
    with RepoServer(mirror_root) as mirror:
        node = [*args, "--plugin-repo", mirror.url, "--cache-dir", str(tmp_path / "node-cache")]
        assert run_cli(capsys, "fetch", *ALL, *node).code == 0
        assert run_cli(capsys, "lock", "--upgrade", *node).code == 0
    assert lock_path.read_bytes() == committed


# -- revalidation by Last-Modified alone ----------------------------------------------------------


def test_an_edit_in_the_same_second_as_the_fetch_is_not_missed(
    capsys: pytest.CaptureFixture[str], repo_root: Path, plugin_dir: Path, cache: Path
) -> None:
    with RepoServer(repo_root, etag=False) as server:
        args = repo_args(server.url, plugin_dir, cache)
        target = repo_root / WAL_PATH
        # the file changed in the second the server answers (a few seconds ahead here, so the
        # fetch cannot cross into the next second): its Last-Modified equals or passes Date
        stamp = int(time.time()) + 5
        os.utime(target, (stamp, stamp))
        assert run_cli(capsys, "fetch", WAL_PLUGIN, *args).code == 0
        # edited again within that second: Last-Modified cannot tell the two apart
        target.write_bytes(target.read_bytes().replace(b"def ", b"def  ", 1)[:-1])
        os.utime(target, (stamp, stamp))
        result = run_cli(capsys, "lock", "--upgrade", "--format", "json", *args)
    assert result.code == 0, result.err
    change = json.loads(result.out)["changes"][0]
    assert change["status"] == "upgraded"
    assert read_lock(plugin_dir / "plugins.lock")[WAL_PLUGIN].sha256 == sha(target)


def test_an_old_last_modified_is_still_used_for_a_304(
    capsys: pytest.CaptureFixture[str], repo_root: Path, plugin_dir: Path, cache: Path
) -> None:
    target = repo_root / WAL_PATH
    hour_ago = target.stat().st_mtime - 3600
    os.utime(target, (hour_ago, hour_ago))
    with RepoServer(repo_root, etag=False) as server:
        args = repo_args(server.url, plugin_dir, cache)
        assert run_cli(capsys, "fetch", WAL_PLUGIN, *args).code == 0
        server.reset()
        assert run_cli(capsys, "lock", "--upgrade", *args).code == 0
        assert [r.status for r in server.requests] == [304]
        assert "If-Modified-Since" in server.requests[0].headers


# -- outdated --------------------------------------------------------------------------------------


def test_outdated_lists_what_moved_and_writes_nothing(
    capsys: pytest.CaptureFixture[str],
    args: list[str],
    plugin_dir: Path,
    cache: Path,
    repo_root: Path,
) -> None:
    assert run_cli(capsys, "fetch", *ALL, *args).code == 0
    assert "every pinned plugin is up to date (4 checked)" in run_cli(capsys, "outdated", *args).out
    edit(repo_root / EXTRA_PATHS[1], "# two v2\n")
    before = snapshot(plugin_dir, cache)
    result = run_cli(capsys, "outdated", *args)
    assert result.code == 0, result.err
    assert EXTRA[1] in result.out and WAL_PLUGIN not in result.out
    assert snapshot(plugin_dir, cache) == before


# -- git references --------------------------------------------------------------------------------


def test_git_branch_upgrade_plan_leaves_the_git_cache_alone(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, plugin_dir: Path, cache: Path
) -> None:
    origin = make_origin(tmp_path / "origin")
    ref = f"git+{origin.url}@main#path=plugins/hello.py"
    args = ["--plugin-dir", str(plugin_dir), "--cache-dir", str(cache)]
    assert run_cli(capsys, "fetch", ref, *args).code == 0
    c3 = origin.commit("three", {"plugins/hello.py": b"v3\n"})
    before = snapshot(plugin_dir, cache)
    plan = run_cli(capsys, "lock", "--upgrade", "--dry-run", "--format", "json", *args)
    assert plan.code == 2, plan.err
    assert snapshot(plugin_dir, cache) == before
    change = json.loads(plan.out)["changes"][0]
    assert change["old"]["commit"] == origin.c2 and change["new"]["commit"] == c3
    assert run_cli(capsys, "lock", "--upgrade", *args).code == 0
    assert read_lock(plugin_dir / "plugins.lock")[ref].commit == c3


# -- rollback and gc ------------------------------------------------------------------------------


def _two_versions(
    capsys: pytest.CaptureFixture[str], args: list[str], repo_root: Path
) -> tuple[str, str]:
    assert run_cli(capsys, "fetch", WAL_PLUGIN, *args).code == 0
    first = sha(repo_root / WAL_PATH)
    edit(repo_root / WAL_PATH, "# wal v2\n")
    assert run_cli(capsys, "lock", "--upgrade", *args).code == 0
    return first, sha(repo_root / WAL_PATH)


def test_rollback_previous_and_to_work_offline(
    capsys: pytest.CaptureFixture[str], args: list[str], plugin_dir: Path, repo_root: Path
) -> None:
    first, second = _two_versions(capsys, args, repo_root)
    lock_path = plugin_dir / "plugins.lock"

    back = run_cli(capsys, "rollback", WAL_PLUGIN, "--offline", *args)
    assert back.code == 0, back.err
    assert f"rolled back {WAL_PLUGIN} {second[:12]} →" in " ".join(back.out.split())
    assert read_lock(lock_path)[WAL_PLUGIN].sha256 == first
    # the pinned bytes are served from the store, offline
    assert run_cli(capsys, "fetch", WAL_PLUGIN, "--offline", *args).code == 0

    forward = run_cli(capsys, "rollback", WAL_PLUGIN, "--to", second[:8], "--offline", *args)
    assert forward.code == 0, forward.err
    assert read_lock(lock_path)[WAL_PLUGIN].sha256 == second


def test_rollback_bad_input(
    capsys: pytest.CaptureFixture[str], args: list[str], plugin_dir: Path, repo_root: Path
) -> None:
    first, second = _two_versions(capsys, args, repo_root)
    lock_before = (plugin_dir / "plugins.lock").read_bytes()
    cases = {
        ("rollback", NOTIFIER): f"error: {NOTIFIER} is not pinned in ",
        ("rollback", WAL_PLUGIN, "--to", "ffff0000"): "matches no version",
        ("rollback", WAL_PLUGIN, "--to", "xyz"): "is not a sha256 prefix",
        ("rollback", WAL_PLUGIN, "--to", second[:6]): "already pins",
    }
    for argv, expected in cases.items():
        result = run_cli(capsys, *argv, *args)
        assert result.code == 1, argv
        assert expected in result.err and result.err.count("\n") == 1, result.err
    assert run_cli(capsys, "rollback", WAL_PLUGIN, *args).code == 0
    oldest = run_cli(capsys, "rollback", WAL_PLUGIN, *args)
    assert oldest.code == 1 and "no version older than the pinned" in oldest.err
    both = run_cli(capsys, "rollback", WAL_PLUGIN, "--to", first[:8], "--previous", *args)
    assert both.code == 2
    assert (plugin_dir / "plugins.lock").read_bytes() != lock_before  # the one good rollback


def test_gc_keeps_pins_and_recent_versions_and_forgets_the_rest(
    capsys: pytest.CaptureFixture[str], args: list[str], cache: Path, repo_root: Path
) -> None:
    first, second = _two_versions(capsys, args, repo_root)
    blob = cache / "blobs" / "sha256" / first[:2] / first[2:]
    assert blob.is_file()

    grace = run_cli(capsys, "gc", "--keep", "0", *args)  # default grace: both were just written
    assert grace.code == 0 and "deleted 0 blobs" in grace.out
    dry = run_cli(capsys, "gc", "--keep", "0", "--grace", "0", "--dry-run", *args)
    assert "would delete 1 blobs" in dry.out and blob.is_file()
    kept = run_cli(capsys, "gc", "--keep", "1", "--grace", "0", *args)
    assert "deleted 0 blobs" in kept.out, "the newest version besides the pin is a rollback target"

    done = run_cli(capsys, "gc", "--keep", "0", "--grace", "0", *args)
    assert done.code == 0 and "deleted 1 blobs" in done.out and "forgot 1 versions" in done.out
    assert not blob.exists()
    assert run_cli(capsys, "verify", *args).code == 0, "the pinned content is intact"
    history = json.loads(run_cli(capsys, "versions", WAL_PLUGIN, "--format", "json", *args).out)
    assert [v["sha256"] for v in history["versions"]] == [second]
    gone = run_cli(capsys, "rollback", WAL_PLUGIN, *args)
    assert gone.code == 1 and "no version older" in gone.err


def test_why_is_deps_why(capsys: pytest.CaptureFixture[str], args: list[str]) -> None:
    result = run_cli(capsys, "why", "pm-alpha", *args)
    assert result.code == 1 and "pylock.toml" in result.err
