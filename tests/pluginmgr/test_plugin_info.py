"""`describe_plugin` for fetched plugins: gh: with a sibling manifest, registry, bad references."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from pluginmgr import PluginManager, Settings
from pluginmgr.node.plugin_info import describe_plugin
from pluginmgr.testing import RepoServer
from tests.conftest import NOTIFIER
from tests.registry_helpers import publish_registry


def test_gh_plugin_reads_its_sibling_manifest_and_header(manager: PluginManager) -> None:
    info = describe_plugin(manager, NOTIFIER)
    assert (info.kind, info.name, info.version) == ("gh", "notifier", "1.2.0")
    assert info.triggers == ("process_request",)
    assert info.arguments == {"http": ()}
    assert info.problems == () and info.sha256


def test_registry_plugin_is_described_from_its_artifact(
    repo_root: Path, repo_server: RepoServer, make_settings: Callable[..., Settings]
) -> None:
    publish_registry(repo_root / "influxdata", repo_root / "registry", artifacts_url="artifacts")
    settings = make_settings(plugin_registry=repo_server.url + "registry/index.json")
    with PluginManager(settings) as manager:
        info = describe_plugin(manager, "registry:notifier")
    assert (info.kind, info.name, info.version) == ("registry", "notifier", "1.2.0")
    assert info.triggers == ("process_request",) and info.problems == ()


def test_unresolvable_reference_is_a_problem_not_an_exception(manager: PluginManager) -> None:
    info = describe_plugin(manager, "gh:influxdata/nope/nope.py")
    assert (info.kind, info.name) == ("gh", "nope")
    assert len(info.problems) == 1 and "404" in info.problems[0]
    bad = describe_plugin(manager, "gh:../escape.py")
    assert bad.kind == "invalid" and bad.problems
