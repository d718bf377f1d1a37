"""``registry:NAME[SPEC]`` references against a registry index served over loopback and file://."""

from __future__ import annotations

import dataclasses
import io
import json
import os
import tarfile
import time
import tomllib
from collections.abc import Callable
from pathlib import Path

import pytest

from pluginmgr import PluginManager, Settings
from pluginmgr.errors import IntegrityError, OfflineError, ResolveError
from pluginmgr.fetch.lockfile import read_lock
from pluginmgr.fetch.registry_source import UnsafeArchiveError, safe_extract
from pluginmgr.settings import DEFAULT_PLUGIN_REGISTRY
from pluginmgr.testing import RepoServer
from registry_index import IndexEntry, RegistryIndex, artifact_hash, build_index, write_index

PUBLISHED = "2026-11-01T00:00:00+00:00"

# (name, version, plugin dependencies as (name, range))
PLUGINS: list[tuple[str, str, list[tuple[str, str]]]] = [
    ("downsampler", "1.3.0", []),
    ("downsampler", "1.4.0", []),
    ("downsampler", "1.5.0", []),
    ("downsampler", "1.6.0", []),  # yanked below
    ("downsampler", "2.0.0", []),
    ("notifier", "1.0.0", []),
    ("notifier", "1.2.0", []),
    ("threshold", "1.0.0", [("notifier", ">=1.0,<2")]),
    ("alerts", "1.0.0", [("threshold", ">=1"), ("notifier", "<1.1")]),
    ("cyc_a", "1.0.0", [("cyc_b", ">=1")]),
    ("cyc_b", "1.0.0", [("cyc_a", ">=1")]),
]
YANKED = {("downsampler", "1.6.0")}


def _write_plugin(root: Path, name: str, version: str, deps: list[tuple[str, str]]) -> None:
    directory = root / f"{name}-{version}"
    directory.mkdir(parents=True)
    lines = [
        'manifest_schema_version = "1.3"',
        "",
        "[plugin]",
        f'name = "{name}"',
        f'version = "{version}"',
        f'description = "{name} test plugin"',
        'triggers = ["process_writes"]',
        "",
        "[dependencies]",
        "python = []",
    ]
    for dep_name, spec in deps:
        lines += ["", "[[dependencies.plugins]]", f'name = "{dep_name}"', f'version = "{spec}"']
    (directory / "manifest.toml").write_text("\n".join(lines) + "\n")
    (directory / f"{name}.py").write_text(
        f'VERSION = "{version}"\n\n\n'
        "def process_writes(influxdb3_local, table_batches, args=None):\n"
        "    pass\n"
    )
    (directory / "lib").mkdir()
    (directory / "lib" / "helper.py").write_text(f"# {name} {version}\n")


def _publish(registry: Path, artifacts_url: str, extra: dict[str, bytes] | None = None) -> None:
    """Write ``index.json`` and ``artifacts/`` under ``registry``; ``extra`` adds raw archives."""
    sources = registry.parent / f"{registry.name}-src"
    for name, version, deps in PLUGINS:
        _write_plugin(sources, name, version, deps)
    report = build_index(sources, artifacts_url=artifacts_url, published_at=PUBLISHED)
    assert report.ok, report.errors
    entries = [
        dataclasses.replace(e, yanked=(e.name, e.version) in YANKED) for e in report.index.plugins
    ]
    artifacts = dict(report.artifacts)
    for file_name, data in (extra or {}).items():
        name, _, version = file_name.removesuffix(".tar.gz").rpartition("-")
        entries.append(
            IndexEntry(
                name=name,
                version=version,
                published_at=PUBLISHED,
                description="hostile",
                triggers=("process_writes",),
                hash=artifact_hash(data),
            )
        )
        artifacts[file_name] = data
    (registry / "artifacts").mkdir(parents=True)
    for file_name, data in artifacts.items():
        (registry / "artifacts" / file_name).write_bytes(data)
    index = RegistryIndex(schema_version="2.1", artifacts_url=artifacts_url, plugins=tuple(entries))
    (registry / "index.json").write_text(write_index(index))


def _tar(*members: tuple[tarfile.TarInfo, bytes | None]) -> bytes:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w:gz", format=tarfile.PAX_FORMAT) as tar:
        for info, data in members:
            if data is not None:
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
            else:
                tar.addfile(info)
    return raw.getvalue()


def _member(name: str, kind: bytes = tarfile.REGTYPE, link: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = link
    info.mode = 0o644
    return info


_OK = (_member("evil.py"), b"def process_writes(a, b, args=None): pass\n")
HOSTILE: dict[str, tuple[bytes, str]] = {
    "symlink": (_tar(_OK, (_member("x.py", tarfile.SYMTYPE, "/etc/passwd"), None)), "symbolic"),
    "hardlink": (_tar(_OK, (_member("y.py", tarfile.LNKTYPE, "evil.py"), None)), "hard link"),
    "dotdot": (_tar(_OK, (_member("../x.py"), b"x")), "'..'"),
    "absolute": (_tar(_OK, (_member("/tmp/x.py"), b"x")), "absolute path"),
    "device": (_tar(_OK, (_member("dev", tarfile.CHRTYPE), None)), "character device"),
    "fifo": (_tar(_OK, (_member("pipe", tarfile.FIFOTYPE), None)), "FIFO"),
    "backslash": (_tar(_OK, (_member("a\\..\\x.py"), b"x")), "backslash"),
}


@pytest.fixture
def registry_url(repo_root: Path, repo_server: RepoServer) -> str:
    registry = repo_root / "registry"
    extra = {f"evil{kind}-1.0.0.tar.gz": data for kind, (data, _) in HOSTILE.items()}
    _publish(registry, f"{repo_server.url}registry/artifacts", extra)
    return f"{repo_server.url}registry/index.json"


@pytest.fixture
def reg(
    make_settings: Callable[..., Settings], registry_url: str, repo_server: RepoServer
) -> PluginManager:
    repo_server.reset()
    return PluginManager(make_settings(plugin_registry=registry_url))


def _version(plugin_path: Path, name: str) -> str:
    text = (plugin_path / f"{name}.py").read_text()
    return text.split('"')[1]


def test_setting_default_env_and_flag() -> None:
    assert Settings.from_sources({}).plugin_registry == DEFAULT_PLUGIN_REGISTRY
    env = {"PLUGINMGR_PLUGIN_REGISTRY": "file:///srv/index.json"}
    settings = Settings.from_sources(env)
    assert settings.plugin_registry == "file:///srv/index.json"
    assert settings.sources["plugin_registry"] == "env:PLUGINMGR_PLUGIN_REGISTRY"
    flagged = Settings.from_sources(env, plugin_registry="https://r.example/index.json")
    assert flagged.plugin_registry == "https://r.example/index.json"


def test_highest_matching_non_yanked_version_is_installed_and_pinned(
    reg: PluginManager, repo_server: RepoServer
) -> None:
    ref = "registry:downsampler>=1.4,<2"
    with reg:
        plugin = reg.fetch(ref)
    assert plugin.kind == "directory" and plugin.rev == "1.5.0"  # 1.6.0 is yanked
    assert plugin.path.name == "downsampler"
    assert _version(plugin.path, "downsampler") == "1.5.0"
    assert (plugin.path / "manifest.toml").is_file()
    assert (plugin.path / "lib" / "helper.py").is_file()
    assert plugin.source.endswith("/registry/artifacts/downsampler-1.5.0.tar.gz")
    assert [r.path for r in repo_server.requests] == [
        "/registry/index.json",
        "/registry/artifacts/downsampler-1.5.0.tar.gz",
    ]
    entry = read_lock(reg.settings.lock_path)[ref]
    assert entry.kind == "directory" and entry.rev == "1.5.0"
    assert entry.sha256 == plugin.sha256
    assert entry.source == "plugin-registry:downsampler==1.5.0"
    assert entry.commit is not None and entry.commit.startswith("sha256:")
    lock_text = reg.settings.lock_path.read_text()
    assert tomllib.loads(lock_text)["format_version"] == 1


def test_warm_fetch_with_lock_makes_no_request(
    reg: PluginManager, make_settings: Callable[..., Settings], repo_server: RepoServer
) -> None:
    ref = "registry:downsampler>=1.4,<2"
    with reg:
        first = reg.fetch(ref)
    repo_server.reset()
    with PluginManager(reg.settings) as again:
        warm = again.fetch(ref)
    assert repo_server.requests == []
    assert warm.origin == "locked" and warm.path == first.path and warm.sha256 == first.sha256
    with PluginManager(dataclasses.replace(reg.settings, offline=True)) as offline:
        assert offline.fetch(ref).sha256 == first.sha256
        with pytest.raises(OfflineError, match="registry:notifier"):
            offline.fetch("registry:notifier")


def test_pinned_version_survives_a_newer_release_and_a_lost_store(
    reg: PluginManager, repo_root: Path, repo_server: RepoServer
) -> None:
    ref = "registry:notifier"
    with reg:
        assert reg.fetch(ref).rev == "1.2.0"
    # lose the store: the pinned version (not a newer one) is fetched and must match the pin
    import shutil

    shutil.rmtree(reg.settings.cache_dir)
    with PluginManager(reg.settings) as again:
        plugin = again.fetch(ref)
    assert plugin.rev == "1.2.0" and plugin.origin == "downloaded"


def test_exact_and_any_specifiers(reg: PluginManager) -> None:
    with reg:
        assert reg.fetch("registry:downsampler").rev == "2.0.0"
        assert reg.fetch("registry:downsampler==1.3.0").rev == "1.3.0"


def test_unsatisfiable_spec_names_name_spec_and_versions(reg: PluginManager) -> None:
    with reg, pytest.raises(ResolveError) as caught:
        reg.fetch("registry:downsampler>=3")
    message = str(caught.value)
    assert "'downsampler'" in message and ">=3" in message
    assert "1.3.0, 1.4.0, 1.5.0, 1.6.0 (yanked), 2.0.0" in message
    assert not reg.settings.lock_path.exists()


def test_yanked_version_is_not_selected_even_when_only_match(reg: PluginManager) -> None:
    with reg, pytest.raises(ResolveError, match=r"1\.6\.0 \(yanked\)"):
        reg.fetch("registry:downsampler==1.6.0")


def test_unknown_plugin(reg: PluginManager) -> None:
    with reg, pytest.raises(ResolveError, match="no plugin named 'nope'"):
        reg.fetch("registry:nope")


def test_tampered_artifact_is_refused_before_extraction(
    reg: PluginManager, repo_root: Path
) -> None:
    artifact = repo_root / "registry" / "artifacts" / "notifier-1.2.0.tar.gz"
    artifact.write_bytes(artifact.read_bytes() + b"\0")
    with reg, pytest.raises(IntegrityError) as caught:
        reg.fetch("registry:notifier")
    message = str(caught.value)
    assert "notifier-1.2.0.tar.gz" in message and "the registry index lists sha256:" in message
    assert not reg.settings.lock_path.exists()
    assert not (reg.settings.cache_dir / "trees").exists()


@pytest.mark.parametrize("kind", sorted(HOSTILE))
def test_hostile_archive_is_refused(reg: PluginManager, kind: str) -> None:
    _, expected = HOSTILE[kind]
    with reg, pytest.raises(UnsafeArchiveError, match="member") as caught:
        reg.fetch(f"registry:evil{kind}")
    assert expected in str(caught.value)
    assert not reg.settings.lock_path.exists()
    assert not (reg.settings.cache_dir / "trees").exists()


def test_archive_over_the_size_cap_is_refused() -> None:
    data = _tar((_member("big.py"), b"x" * 200))
    with pytest.raises(UnsafeArchiveError, match=r"'big\.py' takes the archive over the 100-byte"):
        safe_extract(data, source="big.tar.gz", max_bytes=100)


def test_corrupt_archive_is_refused() -> None:
    with pytest.raises(UnsafeArchiveError, match="cannot read archive"):
        safe_extract(b"not a tarball", source="junk.tar.gz", max_bytes=1000)


def test_transitive_dependency_is_fetched_and_pinned(
    reg: PluginManager, repo_server: RepoServer
) -> None:
    with reg:
        plugin = reg.fetch("registry:threshold")
    [dep] = plugin.dependencies
    assert dep.ref == "registry:notifier==1.2.0" and dep.rev == "1.2.0"
    assert _version(dep.path, "notifier") == "1.2.0" and dep.path.name == "notifier"
    lock = read_lock(reg.settings.lock_path)
    assert set(lock) == {"registry:threshold", "registry:notifier==1.2.0"}
    assert lock["registry:notifier==1.2.0"].sha256 == dep.sha256
    repo_server.reset()
    with PluginManager(reg.settings) as again:
        assert again.fetch("registry:notifier==1.2.0").origin == "locked"
        warm = again.fetch("registry:threshold")
    assert repo_server.requests == []
    assert warm.origin == "locked"
    assert [(d.ref, d.origin, d.path) for d in warm.dependencies] == [
        ("registry:notifier==1.2.0", "locked", dep.path)
    ]


def test_locked_plugin_with_unpinned_dependency_goes_back_to_the_registry(
    reg: PluginManager, repo_server: RepoServer
) -> None:
    from pluginmgr.fetch.lockfile import update_lock

    with reg:
        reg.fetch("registry:threshold")
    update_lock(reg.settings.lock_path, [], removed=["registry:notifier==1.2.0"])
    repo_server.reset()
    with PluginManager(reg.settings) as again:
        plugin = again.fetch("registry:threshold")
    assert plugin.origin == "downloaded" and [d.rev for d in plugin.dependencies] == ["1.2.0"]
    assert "registry:notifier==1.2.0" in read_lock(reg.settings.lock_path)


def test_conflicting_dependency_ranges(reg: PluginManager) -> None:
    with reg, pytest.raises(ResolveError, match="conflicting requirements for plugin 'notifier'"):
        reg.fetch("registry:alerts")


def test_dependency_cycle_is_detected(reg: PluginManager) -> None:
    with reg, pytest.raises(ResolveError, match="cycle: cyc_a -> cyc_b -> cyc_a"):
        reg.fetch("registry:cyc_a")


def test_file_registry(make_settings: Callable[..., Settings], tmp_path: Path) -> None:
    registry = tmp_path / "air-gap"
    _publish(registry, (registry / "artifacts").as_uri())
    settings = make_settings(plugin_registry=(registry / "index.json").as_uri())
    with PluginManager(settings) as mgr:
        plugin = mgr.fetch("registry:threshold>=1")
    assert plugin.rev == "1.0.0" and plugin.source.startswith("file://")
    assert [d.rev for d in plugin.dependencies] == ["1.2.0"]


def test_unsupported_registry_scheme(make_settings: Callable[..., Settings]) -> None:
    with PluginManager(make_settings(plugin_registry="ftp://x/index.json")) as mgr:
        with pytest.raises(ResolveError, match="unsupported plugin registry"):
            mgr.fetch("registry:notifier")


def _unyank(registry_url: str, repo_root: Path, name: str, version: str) -> None:
    """Publish ``name`` ``version`` after all (as a new release would appear)."""
    index_path = repo_root / "registry" / "index.json"
    data = json.loads(index_path.read_text())
    for entry in data["plugins"]:
        if (entry["name"], entry["version"]) == (name, version):
            entry["yanked"] = False
    index_path.write_text(json.dumps(data))
    os.utime(index_path, (time.time() + 5, time.time() + 5))


def test_upgrade_plan_finds_the_newest_matching_version_and_writes_nothing(
    reg: PluginManager, registry_url: str, repo_root: Path
) -> None:
    from pluginmgr.node.pin_plan import apply_plan, plan_upgrade

    ref = "registry:downsampler<2"
    with reg:
        assert reg.fetch(ref).rev == "1.5.0"
        blobs = sorted(reg.store.iter_blobs())
        _unyank(registry_url, repo_root, "downsampler", "1.6.0")
        plan = plan_upgrade(reg, dry_run=True)
        assert sorted(reg.store.iter_blobs()) == blobs, "a dry plan stores nothing"
        [change] = plan.changes
        assert change.status == "upgraded"
        assert change.old is not None and change.new is not None
        assert (change.old.rev, change.new.rev) == ("1.5.0", "1.6.0")
        assert change.new.source == "plugin-registry:downsampler==1.6.0"
        assert read_lock(reg.settings.lock_path)[ref].rev == "1.5.0"
        real = plan_upgrade(reg, dry_run=False)
        apply_plan(reg, real)
    assert read_lock(reg.settings.lock_path)[ref].rev == "1.6.0"


def test_removing_a_registry_plugin_drops_the_dependencies_only_it_needed(
    reg: PluginManager,
) -> None:
    from pluginmgr.node.pin_plan import apply_plan, plan_removal

    with reg:
        reg.fetch("registry:threshold")
        reg.fetch("registry:downsampler==1.4.0")
        plan = plan_removal(reg, ["registry:threshold"])
        assert [c.ref for c in plan.changes] == ["registry:threshold", "registry:notifier==1.2.0"]
        apply_plan(reg, plan)
    assert set(read_lock(reg.settings.lock_path)) == {"registry:downsampler==1.4.0"}
