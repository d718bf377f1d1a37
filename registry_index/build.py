"""Build a registry index and its artifacts from a tree of plugin directories.

`build_index` reads files but writes nothing: it returns the index, the artifact bytes by file
name, and every metadata error it met (one bad plugin does not stop the others). Writing them to
disk is the caller's job (`pluginmgr index build`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from registry_index.artifact import artifact_hash, build_artifact
from registry_index.errors import MetadataError
from registry_index.index import INDEX_SCHEMA_VERSIONS, IndexEntry, RegistryIndex
from registry_index.manifest import read_manifest

__all__ = ["BuildReport", "build_index"]

_MANIFEST = "manifest.toml"
_SKIPPED_DIRS = frozenset({"__pycache__", ".git", ".venv", "node_modules"})


@dataclass(frozen=True, slots=True)
class BuildReport:
    """What `build_index` produced: the index, artifact bytes by file name, and the errors."""

    index: RegistryIndex
    artifacts: dict[str, bytes] = field(default_factory=dict)
    errors: tuple[MetadataError, ...] = ()

    @property
    def ok(self) -> bool:
        """True when every plugin's metadata was valid."""
        return not self.errors


def build_index(
    root: Path,
    *,
    artifacts_url: str,
    published_at: str,
    schema_version: str = INDEX_SCHEMA_VERSIONS[-1],
) -> BuildReport:
    """Index every plugin directory (one holding `manifest.toml`) under `root`.

    Each plugin becomes an entry published at `published_at` with the hash of its deterministic
    artifact. Malformed manifests and duplicate `(name, version)` pairs are collected in
    `BuildReport.errors`, naming the manifest's path relative to `root`.
    """
    entries: list[IndexEntry] = []
    artifacts: dict[str, bytes] = {}
    errors: list[MetadataError] = []
    for manifest_path in _manifests(root):
        shown = manifest_path.relative_to(root).as_posix()
        try:
            manifest = read_manifest(manifest_path.read_text(encoding="utf-8"), path=shown)
        except MetadataError as exc:
            errors.append(exc)
            continue
        except (OSError, UnicodeDecodeError) as exc:
            errors.append(MetadataError(path=shown, reason=f"cannot read: {exc}"))
            continue
        if manifest.artifact_name in artifacts:
            reason = f"{manifest.name} {manifest.version} is already defined by another manifest"
            errors.append(MetadataError(path=shown, reason=reason))
            continue
        data = build_artifact(manifest_path.parent, manifest)
        artifacts[manifest.artifact_name] = data
        entries.append(
            IndexEntry(
                name=manifest.name,
                version=manifest.version,
                published_at=published_at,
                description=manifest.description,
                triggers=manifest.triggers,
                hash=artifact_hash(data),
                dependencies=manifest.dependencies,
                homepage=manifest.homepage,
                repository=manifest.repository,
                documentation=manifest.documentation,
            )
        )
    index = RegistryIndex(
        schema_version=schema_version, artifacts_url=artifacts_url, plugins=tuple(entries)
    )
    return BuildReport(index=index, artifacts=artifacts, errors=tuple(errors))


def _manifests(root: Path) -> list[Path]:
    found = []
    for path in root.rglob(_MANIFEST):
        parts = path.relative_to(root).parts
        if path.is_file() and not path.is_symlink() and not _SKIPPED_DIRS & set(parts):
            found.append(path)
    return sorted(found)
