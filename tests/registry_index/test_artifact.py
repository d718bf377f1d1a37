"""Deterministic artifacts, exclude patterns, and `build_index` over a plugin tree."""

from __future__ import annotations

import gzip
import io
import os
import shutil
import tarfile
from pathlib import Path

import pytest

from registry_index import (
    ExcludeRules,
    Manifest,
    MetadataError,
    artifact_hash,
    build_artifact,
    build_index,
    packed_files,
    read_index,
    read_manifest,
    write_index,
)

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
PUBLISHED = "2026-11-22T00:00:00Z"


@pytest.fixture
def plugin(tmp_path: Path) -> Path:
    target = tmp_path / "threshold_check"
    shutil.copytree(FIXTURES / "registry/threshold_check", target)
    return target


def _manifest(plugin_dir: Path) -> Manifest:
    return read_manifest((plugin_dir / "manifest.toml").read_text(), path="manifest.toml")


def _members(data: bytes) -> list[tarfile.TarInfo]:
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        return tar.getmembers()


def test_exclude_keeps_plugin_file_manifest_and_readme(plugin: Path) -> None:
    (plugin / "__pycache__").mkdir()
    (plugin / "__pycache__/threshold_check.cpython-311.pyc").write_bytes(b"\0")
    files = packed_files(plugin, _manifest(plugin).exclude)
    assert files == ["README.md", "manifest.toml", "threshold_check.py"]


def test_artifact_is_deterministic(plugin: Path) -> None:
    manifest = _manifest(plugin)
    first = build_artifact(plugin, manifest)
    assert build_artifact(plugin, manifest) == first
    os.utime(plugin / "threshold_check.py", (1, 1))
    (plugin / "README.md").chmod(0o600)
    assert build_artifact(plugin, manifest) == first
    assert first[4:8] == b"\0\0\0\0"  # gzip header mtime
    assert first[3] & 0x08 == 0  # no FNAME flag
    for member in _members(first):
        assert (member.mtime, member.uid, member.gid, member.uname, member.gname) == (
            0,
            0,
            0,
            "",
            "",
        )
        assert member.mode == (0o755 if member.isdir() else 0o644)


def test_copied_tree_hashes_the_same(plugin: Path, tmp_path: Path) -> None:
    copy = tmp_path / "elsewhere" / "copy"
    shutil.copytree(plugin, copy)
    manifest = _manifest(plugin)
    assert artifact_hash(build_artifact(copy, manifest)) == artifact_hash(
        build_artifact(plugin, manifest)
    )


def test_content_change_changes_hash(plugin: Path) -> None:
    manifest = _manifest(plugin)
    before = artifact_hash(build_artifact(plugin, manifest))
    (plugin / "threshold_check.py").write_text("# changed\n", encoding="utf-8")
    assert artifact_hash(build_artifact(plugin, manifest)) != before
    (plugin / "helper.py").write_text("# excluded, so no change\n", encoding="utf-8")
    after = artifact_hash(build_artifact(plugin, manifest))
    assert artifact_hash(build_artifact(plugin, manifest)) == after


def test_members_sorted_with_directories(tmp_path: Path) -> None:
    (tmp_path / "pkg/sub").mkdir(parents=True)
    for name in ("pkg/sub/b.py", "pkg/a.py", "__init__.py", "manifest.toml"):
        (tmp_path / name).write_text(name, encoding="utf-8")
    (tmp_path / "link.py").symlink_to(tmp_path / "__init__.py")
    manifest = read_manifest(
        'manifest_schema_version = "1.2"\n[plugin]\nname = "p"\nversion = "1.0.0"\n'
        'description = "d"\ntriggers = []\n',
        path="m",
    )
    names = [m.name for m in _members(build_artifact(tmp_path, manifest))]
    assert names == ["__init__.py", "manifest.toml", "pkg", "pkg/a.py", "pkg/sub", "pkg/sub/b.py"]
    with gzip.open(io.BytesIO(build_artifact(tmp_path, manifest))) as raw:
        assert raw.read(5)  # a plain gzip stream


@pytest.mark.parametrize(
    ("patterns", "path", "is_dir", "excluded"),
    [
        (["*.py", "!keep.py"], "keep.py", False, False),
        (["*.py", "!keep.py"], "other.py", False, True),
        (["*.py", "!keep.py"], "deep/other.py", False, True),
        (["tests/"], "tests", True, True),
        (["tests/"], "tests", False, False),
        (["/top.txt"], "top.txt", False, True),
        (["/top.txt"], "sub/top.txt", False, False),
        (["docs/*.md"], "docs/a.md", False, True),
        (["docs/*.md"], "docs/x/a.md", False, False),
        (["tests/**"], "tests/unit/test_a.py", False, True),
        (["**/fixtures"], "a/b/fixtures", True, True),
        (["*.pyc"], "x.pyc", False, True),
        (["data?.csv"], "data1.csv", False, True),
        (["data[0-9].csv"], "dataX.csv", False, False),
        (["# comment", ""], "# comment", False, False),
        (["*.md", "!README.md", "README.md"], "README.md", False, True),
    ],
)
def test_exclude_rules(patterns: list[str], path: str, is_dir: bool, excluded: bool) -> None:
    assert ExcludeRules.compile(patterns).excludes(path, is_dir=is_dir) is excluded


def test_excluded_directory_is_not_descended(tmp_path: Path) -> None:
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests/keep.py").write_text("", encoding="utf-8")
    (tmp_path / "p.py").write_text("", encoding="utf-8")
    assert packed_files(tmp_path, ["tests/", "!tests/keep.py"]) == ["p.py"]


def test_build_index_over_fixture_tree(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    shutil.copytree(FIXTURES / "repo", root)
    shutil.copytree(FIXTURES / "registry/threshold_check", root / "influxdata/threshold_check")
    report = build_index(root, artifacts_url="file:///mirror", published_at=PUBLISHED)
    assert report.ok
    assert sorted(report.artifacts) == [
        "downsampler-1.4.0.tar.gz",
        "notifier-1.2.0.tar.gz",
        "threshold_check-1.3.0.tar.gz",
    ]
    index = read_index(write_index(report.index), source="built")
    assert index == report.index
    for entry in index.plugins:
        assert entry.hash == artifact_hash(report.artifacts[entry.artifact_name])
    again = build_index(root, artifacts_url="file:///mirror", published_at=PUBLISHED)
    assert write_index(again.index) == write_index(report.index)
    assert again.artifacts == report.artifacts


def test_build_index_collects_metadata_errors(tmp_path: Path) -> None:
    shutil.copytree(FIXTURES / "repo/influxdata/notifier", tmp_path / "notifier")
    shutil.copytree(FIXTURES / "repo/influxdata/notifier", tmp_path / "notifier_copy")
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken/manifest.toml").write_text("manifest_schema_version = [", encoding="utf-8")
    (tmp_path / "old").mkdir()
    (tmp_path / "old/manifest.toml").write_text(
        'manifest_schema_version = "1.0"\n', encoding="utf-8"
    )
    report = build_index(tmp_path, artifacts_url="file:///m", published_at=PUBLISHED)
    assert not report.ok
    assert [entry.name for entry in report.index.plugins] == ["notifier"]
    assert all(isinstance(error, MetadataError) for error in report.errors)
    by_path = {error.path: error.reason for error in report.errors}
    assert set(by_path) == {
        "broken/manifest.toml",
        "notifier_copy/manifest.toml",
        "old/manifest.toml",
    }
    assert "invalid TOML" in by_path["broken/manifest.toml"]
    assert "already defined" in by_path["notifier_copy/manifest.toml"]
    assert "unknown manifest_schema_version '1.0'" in by_path["old/manifest.toml"]
