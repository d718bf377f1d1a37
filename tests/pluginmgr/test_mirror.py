"""`sync_mirror` / `verify_mirror` against a real loopback repository and a file:// one."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path

import pytest

from pluginmgr import PluginManager, Settings
from pluginmgr.errors import MirrorError
from pluginmgr.mirror.discover import LIBRARY_PATH
from pluginmgr.mirror.sync import sync_mirror, verify_mirror
from pluginmgr.testing import RepoServer, reply
from registry_index import read_index
from tests.conftest import NOTIFIER_PATH, WAL_PATH, WAL_PLUGIN
from tests.git_helpers import git_cli
from tests.registry_helpers import add_library_entry, drop_library_entry, publish_registry


@pytest.fixture
def server(source_root: Path, repo_server: RepoServer) -> RepoServer:
    return repo_server


def snapshot(dest: Path) -> dict[str, tuple[int, int]]:
    return {
        p.relative_to(dest).as_posix(): (p.stat().st_ino, p.stat().st_mtime_ns)
        for p in dest.rglob("*")
        if p.is_file()
    }


def test_sync_then_fetch_gh_reference_from_the_mirror(
    server: RepoServer,
    source_root: Path,
    tmp_path: Path,
    make_settings: Callable[..., Settings],
) -> None:
    dest = tmp_path / "mirror"
    seen: list[tuple[str, int, int]] = []
    report = sync_mirror(server.url, dest, retries=0, progress=lambda *a: seen.append(a))
    assert report.ok, report.failures
    assert WAL_PATH in report.new and LIBRARY_PATH in report.new
    assert "influxdata/downsampler/manifest.toml" in report.new
    assert "influxdata/downsampler/README.md" not in report.new  # 404 = absent, not a failure
    assert seen and seen[-1][1] == seen[-1][2]
    settings = make_settings(plugin_repo=dest.as_uri() + "/")
    server.stop()  # the air gap: only the mirror is reachable from here on

    with PluginManager(settings) as manager:
        fetched = manager.fetch(WAL_PLUGIN)
    assert fetched.path.read_bytes() == (source_root / WAL_PATH).read_bytes()

    sums = (dest / "SHA256SUMS").read_text().splitlines()
    names = [line.split("  ", 1)[1] for line in sums]
    assert names == sorted(names) and WAL_PATH in names
    wal_hash = hashlib.sha256((source_root / WAL_PATH).read_bytes()).hexdigest()
    assert f"{wal_hash}  {WAL_PATH}" in sums
    state = json.loads((dest / "mirror.json").read_text())
    assert state["format_version"] == 1 and state["source"] == report.source
    assert state["files"][WAL_PATH]["sha256"] == wal_hash
    assert state["files"][WAL_PATH]["etag"]
    assert verify_mirror(dest).ok


def test_resync_without_changes_sends_one_conditional_request_per_file(
    server: RepoServer, tmp_path: Path
) -> None:
    dest = tmp_path / "mirror"
    first = sync_mirror(server.url, dest, retries=0)
    before = snapshot(dest)
    server.reset()

    again = sync_mirror(server.url, dest, retries=0)

    assert again.ok and not again.new and not again.updated
    assert set(again.unchanged) == set(first.new)
    mirrored = json.loads((dest / "mirror.json").read_text())["files"]
    file_requests = [r for r in server.requests if r.status != 404]
    assert len(file_requests) == len(mirrored)
    assert {r.status for r in file_requests} == {304}
    assert all("If-None-Match" in r.headers for r in file_requests)
    assert again.bytes_downloaded == 0
    assert snapshot(dest) == before  # nothing written, not even mirror.json


def test_changed_source_file_is_updated(
    server: RepoServer, source_root: Path, tmp_path: Path
) -> None:
    dest = tmp_path / "mirror"
    sync_mirror(server.url, dest, retries=0)
    (source_root / WAL_PATH).write_text("# changed upstream\n")

    report = sync_mirror(server.url, dest, retries=0)

    assert report.updated == (WAL_PATH,)
    assert (dest / WAL_PATH).read_text() == "# changed upstream\n"
    assert verify_mirror(dest).ok


def test_prune_removes_only_what_the_source_dropped(
    server: RepoServer, source_root: Path, tmp_path: Path
) -> None:
    dest = tmp_path / "mirror"
    sync_mirror(server.url, dest, retries=0)
    drop_library_entry(source_root, "downsampler")

    kept = sync_mirror(server.url, dest, retries=0)
    assert "influxdata/downsampler/downsampler.py" in kept.stale and not kept.deleted
    assert (dest / "influxdata/downsampler/downsampler.py").is_file()

    pruned = sync_mirror(server.url, dest, retries=0, prune=True)
    assert pruned.deleted == (
        "influxdata/downsampler/downsampler.py",
        "influxdata/downsampler/manifest.toml",
    )
    assert not (dest / "influxdata/downsampler").exists()
    assert (dest / WAL_PATH).is_file()
    assert "downsampler" not in (dest / "SHA256SUMS").read_text()
    assert verify_mirror(dest).ok


def test_verify_names_tampered_and_missing_files(server: RepoServer, tmp_path: Path) -> None:
    dest = tmp_path / "mirror"
    sync_mirror(server.url, dest, retries=0)
    (dest / WAL_PATH).write_text("# evil\n")
    (dest / NOTIFIER_PATH).unlink()

    result = verify_mirror(dest)

    assert not result.ok
    assert result.tampered == (WAL_PATH,)
    assert result.missing == (NOTIFIER_PATH,)


def test_verify_refuses_a_directory_that_is_not_a_mirror(tmp_path: Path) -> None:
    with pytest.raises(MirrorError, match="mirror sync SOURCE"):
        verify_mirror(tmp_path)


def test_failed_file_keeps_previous_copy_and_the_rest_sync(
    server: RepoServer, source_root: Path, tmp_path: Path
) -> None:
    dest = tmp_path / "mirror"
    sync_mirror(server.url, dest, retries=0)
    original = (dest / WAL_PATH).read_bytes()
    (source_root / WAL_PATH).write_text("# new wal\n")
    (source_root / NOTIFIER_PATH).write_text("# new notifier\n")
    server.overrides["/" + WAL_PATH] = lambda handler: reply(handler, 500, b"boom")

    report = sync_mirror(server.url, dest, retries=0, prune=True)

    assert not report.ok
    assert [f.path for f in report.failures] == [WAL_PATH]
    assert "500" in report.failures[0].message
    assert (dest / WAL_PATH).read_bytes() == original
    assert report.updated == (NOTIFIER_PATH,)
    assert (dest / NOTIFIER_PATH).read_text() == "# new notifier\n"
    assert not report.deleted
    assert verify_mirror(dest).ok


def test_file_source_and_its_resync(source_root: Path, tmp_path: Path) -> None:
    dest = tmp_path / "mirror"
    first = sync_mirror(source_root.as_uri(), dest)
    assert first.ok and WAL_PATH in first.new
    assert (dest / WAL_PATH).read_bytes() == (source_root / WAL_PATH).read_bytes()

    again = sync_mirror(source_root.as_uri(), dest)
    assert again.ok and not again.new and not again.updated and again.bytes_downloaded == 0


def test_plugins_filter_takes_required_plugins_too(server: RepoServer, tmp_path: Path) -> None:
    dest = tmp_path / "mirror"
    report = sync_mirror(server.url, dest, retries=0, plugins=["wal_plugin"])
    assert WAL_PATH in report.new and NOTIFIER_PATH in report.new
    assert not (dest / "influxdata/downsampler").exists()

    with pytest.raises(MirrorError, match="no plugin named nope"):
        sync_mirror(server.url, dest, retries=0, plugins=["nope"])


GREETER_PATH = "examples/greeter/greeter.py"


@pytest.mark.parametrize(
    "wanted",
    ["Resampler", "resampler", "RESAMPLER", "greeter", "examples/greeter", "Examples/Greeter/"],
)
def test_plugins_match_a_name_in_any_case_or_the_plugin_directory(
    source_root: Path, tmp_path: Path, wanted: str
) -> None:
    add_library_entry(source_root, "Resampler", GREETER_PATH)
    dest = tmp_path / "mirror"
    report = sync_mirror(source_root.as_uri(), dest, plugins=[wanted, "influxdata/downsampler"])
    assert report.ok, report.failures
    assert GREETER_PATH in report.new
    assert (dest / "influxdata/downsampler/downsampler.py").is_file()
    assert not (dest / NOTIFIER_PATH).exists() and not (dest / WAL_PATH).exists()


def test_an_exact_name_wins_over_a_directory_of_another_plugin(
    source_root: Path, tmp_path: Path
) -> None:
    add_library_entry(source_root, "greeter", "examples/hello_request/hello_request.py")
    add_library_entry(source_root, "Resampler", GREETER_PATH)
    report = sync_mirror(source_root.as_uri(), tmp_path / "mirror", plugins=["greeter"])
    assert "examples/hello_request/hello_request.py" in report.new
    assert GREETER_PATH not in report.new


def test_an_index_only_plugin_matches_in_any_case(source_root: Path, tmp_path: Path) -> None:
    publish_index(source_root, "registry")
    drop_library_entry(source_root, "downsampler")
    report = sync_mirror(source_root.as_uri(), tmp_path / "mirror", plugins=["DownSampler"])
    assert report.ok, report.failures
    assert any(p.startswith("registry/downsampler-") for p in report.new)
    assert not any(p.startswith("registry/notifier-") for p in report.new)


def test_an_unknown_plugin_name_lists_close_matches_and_every_name(
    source_root: Path, tmp_path: Path
) -> None:
    with pytest.raises(MirrorError) as caught:
        sync_mirror(source_root.as_uri(), tmp_path / "mirror", plugins=["notifer", "nope"])
    assert str(caught.value) == (
        "the source has no plugin named notifer, nope: did you mean notifier? "
        "(it has: downsampler, notifier, wal_plugin) "
        "(hint: fix --plugins; names match in any case, or by directory)"
    )
    assert not (tmp_path / "mirror" / NOTIFIER_PATH).exists()


def test_a_directory_two_plugins_share_is_refused_as_ambiguous(
    source_root: Path, tmp_path: Path
) -> None:
    add_library_entry(source_root, "Greeter A", GREETER_PATH)
    add_library_entry(source_root, "Greeter B", "examples/greeter/other.py")
    with pytest.raises(
        MirrorError, match=r"'greeter' matches several plugins: Greeter A, Greeter B"
    ):
        sync_mirror(source_root.as_uri(), tmp_path / "mirror", plugins=["greeter"])
    report = sync_mirror(source_root.as_uri(), tmp_path / "mirror", plugins=["greeter a"])
    assert GREETER_PATH in report.new


def publish_index(root: Path, artifacts_url: str) -> dict[str, bytes]:
    """The repository's plugins as a registry: ``index.json`` at the root, ``registry/``."""
    return publish_registry(
        root / "influxdata", root, artifacts_url=artifacts_url, artifacts_dir="registry"
    )


def test_index_artifacts_are_mirrored_and_the_index_rewritten(
    server: RepoServer, source_root: Path, tmp_path: Path
) -> None:
    publish_index(source_root, server.url + "registry")
    dest = tmp_path / "mirror"

    report = sync_mirror(server.url, dest, retries=0)

    assert report.ok, report.failures
    index = read_index((dest / "index.json").read_text(), source="mirror")
    assert index.artifacts_url == "registry"
    for entry in index.plugins:
        artifact = dest / "registry" / entry.artifact_name
        assert hashlib.sha256(artifact.read_bytes()).hexdigest() == entry.sha256
    assert verify_mirror(dest).ok
    again = sync_mirror(server.url, dest, retries=0)
    assert again.ok and not again.new and not again.updated


def test_unsupported_and_empty_sources(tmp_path: Path) -> None:
    with pytest.raises(MirrorError, match="unsupported mirror source"):
        sync_mirror("ftp://example.invalid/repo/", tmp_path / "m")
    with pytest.raises(MirrorError, match="neither"):
        sync_mirror((tmp_path / "empty").as_uri(), tmp_path / "m")


@pytest.mark.git
def test_git_source_at_a_revision(source_root: Path, tmp_path: Path) -> None:
    git_cli(source_root, "init", "-q", "-b", "main")
    git_cli(source_root, "add", "-A")
    git_cli(source_root, "commit", "-q", "-m", "plugins")
    commit = git_cli(source_root, "rev-parse", "HEAD")
    (source_root / WAL_PATH).write_text("# uncommitted, never mirrored\n")
    dest, cache = tmp_path / "mirror", tmp_path / "git-cache"
    source = f"git+{source_root.as_uri()}@main"

    report = sync_mirror(source, dest, git_cache=cache)

    assert report.ok, report.failures
    assert report.rev == commit
    assert WAL_PATH in report.new and "influxdata/notifier/manifest.toml" in report.new
    assert (dest / WAL_PATH).read_bytes() == git_show(source_root, WAL_PATH)
    state = json.loads((dest / "mirror.json").read_text())
    assert state["source"] == source and state["rev"] == commit
    again = sync_mirror(source, dest, git_cache=cache)
    assert again.ok and not again.new and not again.updated and again.bytes_downloaded == 0


def git_show(root: Path, path: str) -> bytes:
    return (git_cli(root, "show", f"HEAD:{path}") + "\n").encode()


def test_artifact_not_matching_the_index_hash_is_not_mirrored(
    server: RepoServer, source_root: Path, tmp_path: Path
) -> None:
    name = sorted(publish_index(source_root, "registry"))[0]
    (source_root / "registry" / name).write_bytes(b"not the published artifact")

    report = sync_mirror(server.url, tmp_path / "mirror", retries=0)

    assert [f.path for f in report.failures] == [f"registry/{name}"]
    assert "does not match the index hash" in report.failures[0].message
    assert not (tmp_path / "mirror" / "registry" / name).exists()
