"""What a mirror sync spends: registry index sources, immutable artifacts, mirrors of mirrors."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from engine_runtime import DryRunner
from pluginmgr import PluginManager, Settings
from pluginmgr.errors import MirrorError
from pluginmgr.mirror.state import parse_sums
from pluginmgr.mirror.sync import sync_mirror, verify_mirror
from pluginmgr.node.plugin_source import FetchedPluginSource
from pluginmgr.testing import RepoServer
from tests.conftest import NOTIFIER_PATH, WAL_PATH
from tests.pluginmgr.test_mirror import publish_index

pytestmark = pytest.mark.usefixtures("source_root")


@pytest.fixture
def registry(source_root: Path, repo_server: RepoServer) -> dict[str, bytes]:
    """``index.json`` + ``registry/*.tar.gz`` published next to the repository files."""
    return publish_index(source_root, repo_server.url + "registry")


@pytest.fixture
def tier1(repo_server: RepoServer, tmp_path: Path) -> Iterator[RepoServer]:
    """A first mirror of the repository, served over loopback like any static web server."""
    dest = tmp_path / "tier1"
    report = sync_mirror(repo_server.url, dest, retries=0)
    assert report.ok, report.failures
    with RepoServer(dest) as served:
        yield served


def test_registry_index_url_as_source_mirrors_the_index_and_its_artifacts(
    repo_server: RepoServer,
    registry: dict[str, bytes],
    tmp_path: Path,
    make_settings: Callable[..., Settings],
) -> None:
    dest = tmp_path / "mirror"

    report = sync_mirror(repo_server.url + "index.json", dest, retries=0)

    assert report.ok, report.failures
    assert set(report.new) == {"index.json", *(f"registry/{name}" for name in registry)}
    assert not (dest / WAL_PATH).exists()  # an index brings only itself and its artifacts
    assert report.requests == 1 + len(registry)
    repo_server.reset()
    again = sync_mirror(repo_server.url + "index.json", dest, retries=0)
    assert again.ok and not again.new and not again.updated
    assert again.requests == 1  # the index, conditionally; the artifacts are immutable
    assert [r.status for r in repo_server.requests] == [304]
    assert verify_mirror(dest).ok

    settings = make_settings(plugin_registry=(dest / "index.json").as_uri())
    repo_server.stop()  # the air gap
    with PluginManager(settings) as manager:
        fetched = manager.fetch("registry:notifier")
        # the artifact holds notifier_plugin.py and no __init__.py, as in the official library
        result = DryRunner().request(FetchedPluginSource(manager, "registry:notifier"), "db")
    plugin_file = fetched.path / Path(NOTIFIER_PATH).name
    assert plugin_file.read_bytes() == (repo_server.root / NOTIFIER_PATH).read_bytes()
    assert result["status"] == 400, result
    assert json.loads(result["body"]) == {"error": "notification_text is required"}


def test_missing_registry_index_is_a_clear_error(repo_server: RepoServer, tmp_path: Path) -> None:
    with pytest.raises(MirrorError, match=r"cannot discover plugins at .*index\.json.*404"):
        sync_mirror(repo_server.url + "index.json", tmp_path / "mirror", retries=0)
    assert not (tmp_path / "mirror" / "mirror.json").exists()


def test_artifacts_dest_holds_cost_no_request_and_a_lost_one_is_fetched_again(
    repo_server: RepoServer, registry: dict[str, bytes], tmp_path: Path
) -> None:
    dest = tmp_path / "mirror"
    sync_mirror(repo_server.url, dest, retries=0)
    lost = sorted(registry)[0]
    (dest / "registry" / lost).unlink()
    repo_server.reset()

    report = sync_mirror(repo_server.url, dest, retries=0)

    artifact_requests = [r.path for r in repo_server.requests if r.path.startswith("/registry/")]
    assert artifact_requests == [f"/registry/{lost}"]
    assert report.new == (f"registry/{lost}",)
    assert verify_mirror(dest).ok


def test_a_tampered_artifact_in_dest_is_replaced_from_the_source(
    repo_server: RepoServer, registry: dict[str, bytes], tmp_path: Path
) -> None:
    dest = tmp_path / "mirror"
    sync_mirror(repo_server.url, dest, retries=0)
    name = sorted(registry)[0]
    (dest / "registry" / name).write_bytes(b"tampered")
    assert not verify_mirror(dest).ok

    report = sync_mirror(repo_server.url, dest, retries=0)

    assert report.updated == (f"registry/{name}",)
    assert (dest / "registry" / name).read_bytes() == registry[name]
    assert verify_mirror(dest).ok


def test_mirror_of_a_mirror_resyncs_with_one_request(tier1: RepoServer, tmp_path: Path) -> None:
    dest = tmp_path / "tier2"
    cold = sync_mirror(tier1.url, dest, retries=0)
    assert cold.ok, cold.failures
    listed = parse_sums((tier1.root / "SHA256SUMS").read_text())
    assert set(cold.new) == set(listed)
    # the sums list every file, so absent siblings cost no 404
    assert 404 not in {r.status for r in tier1.requests[1:]}
    tier1.reset()

    again = sync_mirror(tier1.url, dest, retries=0)

    assert again.ok and not again.new and not again.updated
    assert [r.path for r in tier1.requests] == ["/SHA256SUMS"]
    assert again.requests == 1
    assert verify_mirror(dest).ok


def test_mirror_of_a_mirror_fetches_exactly_what_changed(tier1: RepoServer, tmp_path: Path) -> None:
    dest = tmp_path / "tier2"
    sync_mirror(tier1.url, dest, retries=0)
    changed = b"# a new upstream release\n"
    (tier1.root / WAL_PATH).write_bytes(changed)
    sums = (tier1.root / "SHA256SUMS").read_text()
    old = hashlib.sha256((dest / WAL_PATH).read_bytes()).hexdigest()
    (tier1.root / "SHA256SUMS").write_text(sums.replace(old, hashlib.sha256(changed).hexdigest()))
    tier1.reset()

    report = sync_mirror(tier1.url, dest, retries=0)

    assert report.updated == (WAL_PATH,)
    assert [r.path for r in tier1.requests] == ["/SHA256SUMS", "/" + WAL_PATH]
    assert (dest / WAL_PATH).read_bytes() == changed


def test_file_not_matching_the_source_sums_is_refused(tier1: RepoServer, tmp_path: Path) -> None:
    (tier1.root / NOTIFIER_PATH).write_text("# altered after the sums were written\n")
    dest = tmp_path / "tier2"

    report = sync_mirror(tier1.url, dest, retries=0)

    assert [f.path for f in report.failures] == [NOTIFIER_PATH]
    assert "does not match the source's SHA256SUMS" in report.failures[0].message
    assert not (dest / NOTIFIER_PATH).exists()
    assert (dest / WAL_PATH).is_file()  # the rest synced


def test_a_page_served_as_sha256sums_is_not_taken_for_an_empty_listing(
    repo_server: RepoServer, source_root: Path, tmp_path: Path
) -> None:
    (source_root / "SHA256SUMS").write_text("<html><body>Welcome!</body></html>\n")
    plain = sync_mirror((source_root).as_uri(), tmp_path / "reference", retries=0)

    report = sync_mirror(repo_server.url, tmp_path / "mirror", retries=0)

    assert report.ok and set(report.new) == set(plain.new)
    assert (tmp_path / "mirror" / "influxdata/notifier/manifest.toml").is_file()
