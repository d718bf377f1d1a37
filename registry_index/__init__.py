"""registry_index: plugin metadata and the registry index, as pure data.

Reads `manifest.toml`, the docstring JSON header and `plugin_library.json`; reads, verifies and
writes the SDK registry `index.json` (schema 2.0/2.1); builds deterministic plugin artifacts.
No network and no subprocess: callers in `pluginmgr` fetch bytes and write files.
"""

from __future__ import annotations

from registry_index.artifact import ExcludeRules, artifact_hash, build_artifact, packed_files
from registry_index.build import BuildReport, build_index
from registry_index.docstring import ArgSpec, PluginHeader, read_plugin_header
from registry_index.errors import IndexFormatError, MetadataError, RegistryIndexError
from registry_index.index import (
    IndexEntry,
    RegistryIndex,
    canonical_name,
    read_index,
    write_index,
)
from registry_index.library import LibraryEntry, RequiredPlugin, read_plugin_library
from registry_index.manifest import Dependencies, Manifest, PluginDependency, read_manifest

__all__ = [
    "ArgSpec",
    "BuildReport",
    "Dependencies",
    "ExcludeRules",
    "IndexEntry",
    "IndexFormatError",
    "LibraryEntry",
    "Manifest",
    "MetadataError",
    "PluginDependency",
    "PluginHeader",
    "RegistryIndex",
    "RegistryIndexError",
    "RequiredPlugin",
    "artifact_hash",
    "build_artifact",
    "build_index",
    "canonical_name",
    "packed_files",
    "read_index",
    "read_manifest",
    "read_plugin_header",
    "read_plugin_library",
    "write_index",
]
