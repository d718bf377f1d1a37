"""The registry `index.json` (InfluxData plugin SDK, index schema 2.0 and 2.1).

Shape (plugin-library.md §1.3, registries-and-mirrors.md §1.7)::

    {"index_schema_version": "2.1", "artifacts_url": "https://.../registry",
     "plugins": [{"name", "version", "published_at", "description", "triggers",
                  "homepage"?, "repository"?, "documentation"?,
                  "dependencies": {"database_version", "python": [...], "plugins"?: [...]},
                  "hash": "sha256:<64 hex>", "yanked"?: true}]}

Artifacts live at `{artifacts_url}/{name}-{version}.tar.gz`. Schema 2.1 adds
`dependencies.plugins`. `write_index` is canonical: sorted keys, entries by name then version,
2-space JSON with a trailing newline, so an unchanged registry rewrites byte for byte.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Final

from packaging.version import Version

from registry_index._fields import (
    FieldError,
    check_name,
    check_triggers,
    check_version,
    get_bool,
    get_list,
    get_str,
    get_str_list,
    get_table,
    optional_str,
)
from registry_index.errors import IndexFormatError
from registry_index.manifest import Dependencies, read_dependencies

__all__ = [
    "INDEX_SCHEMA_VERSIONS",
    "IndexEntry",
    "RegistryIndex",
    "canonical_name",
    "read_index",
    "write_index",
]

#: index schema versions this reader understands; the writer's default is the last one
INDEX_SCHEMA_VERSIONS: Final = ("2.0", "2.1")
_HASH = re.compile(r"sha256:[0-9a-f]{64}")
_URL_FIELDS: Final = ("homepage", "repository", "documentation")


def canonical_name(name: str) -> str:
    """SDK name identity: case-insensitive, ``-`` and ``_`` equal."""
    return name.lower().replace("-", "_")


@dataclass(frozen=True, slots=True)
class IndexEntry:
    """One published `(name, version)` of a plugin; immutable except for `yanked`."""

    name: str
    version: str
    published_at: str
    description: str
    triggers: tuple[str, ...]
    hash: str
    dependencies: Dependencies = field(default_factory=Dependencies)
    homepage: str | None = None
    repository: str | None = None
    documentation: str | None = None
    yanked: bool = False

    @property
    def artifact_name(self) -> str:
        """The artifact file name, `{name}-{version}.tar.gz`."""
        return f"{self.name}-{self.version}.tar.gz"

    @property
    def sha256(self) -> str:
        """The artifact's SHA-256 as 64 hex digits (without the `sha256:` prefix)."""
        return self.hash.removeprefix("sha256:")


@dataclass(frozen=True, slots=True)
class RegistryIndex:
    """A registry index: where the artifacts live and every published plugin version."""

    schema_version: str
    artifacts_url: str
    plugins: tuple[IndexEntry, ...] = ()

    def artifact_url(self, entry: IndexEntry) -> str:
        """The URL of `entry`'s artifact under `artifacts_url`."""
        return f"{self.artifacts_url.rstrip('/')}/{entry.artifact_name}"

    def versions(self, name: str) -> tuple[IndexEntry, ...]:
        """Every entry named `name`, oldest version first."""
        found = [entry for entry in self.plugins if entry.name == name]
        return tuple(sorted(found, key=lambda entry: Version(entry.version)))


def read_index(text: str, *, source: str) -> RegistryIndex:
    """Parse and verify an `index.json`; `source` (a path or URL) names it in errors.

    Raises `IndexFormatError` for invalid JSON, an unknown `index_schema_version`, a missing or
    mistyped key, a bad version, trigger or hash, or a duplicate `(name, version)`; errors about
    one entry name it.
    """
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise IndexFormatError(source=source, reason=f"invalid JSON: {exc}") from exc
    if not isinstance(data, Mapping):
        raise IndexFormatError(source=source, reason="the index must be a JSON object")
    try:
        schema = get_str(data, "index_schema_version", where="")
        if schema not in INDEX_SCHEMA_VERSIONS:
            supported = ", ".join(INDEX_SCHEMA_VERSIONS)
            raise FieldError(f"unknown index_schema_version {schema!r} (supported: {supported})")
        artifacts_url = get_str(data, "artifacts_url", where="")
        items = get_list(data, "plugins", where="", required=True)
    except FieldError as exc:
        raise IndexFormatError(source=source, reason=str(exc)) from None
    entries: list[IndexEntry] = []
    seen: set[tuple[str, Version]] = set()
    for i, item in enumerate(items):
        label = _label(item, i)
        try:
            entry = _entry_from(item, allow_plugins=schema != "2.0")
        except FieldError as exc:
            raise IndexFormatError(source=source, entry=label, reason=str(exc)) from None
        identity = (canonical_name(entry.name), Version(entry.version))
        if identity in seen:
            reason = "duplicate (name, version): published versions are immutable"
            raise IndexFormatError(source=source, entry=label, reason=reason)
        seen.add(identity)
        entries.append(entry)
    return RegistryIndex(schema_version=schema, artifacts_url=artifacts_url, plugins=tuple(entries))


def write_index(index: RegistryIndex) -> str:
    """Serialise `index` canonically (sorted keys, entries by name then version, 2-space JSON).

    Raises `IndexFormatError` when a schema 2.0 index holds plugin dependencies (2.1 only).
    """
    if index.schema_version == "2.0":
        for entry in index.plugins:
            if entry.dependencies.plugins:
                reason = "dependencies.plugins needs index_schema_version 2.1"
                label = f"{entry.name} {entry.version}"
                raise IndexFormatError(source="<write_index>", entry=label, reason=reason)
    plugins = sorted(index.plugins, key=lambda entry: (entry.name, Version(entry.version)))
    data = {
        "index_schema_version": index.schema_version,
        "artifacts_url": index.artifacts_url,
        "plugins": [_entry_to(entry) for entry in plugins],
    }
    return json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def _label(item: object, i: int) -> str:
    if isinstance(item, Mapping) and isinstance(item.get("name"), str):
        version = item.get("version")
        return f"{item['name']} {version}" if isinstance(version, str) else str(item["name"])
    return f"plugins[{i}]"


def _entry_from(item: object, *, allow_plugins: bool) -> IndexEntry:
    if not isinstance(item, Mapping):
        raise FieldError("entry must be an object")
    name = check_name(get_str(item, "name", where=""), field="name")
    version = check_version(get_str(item, "version", where=""), field="version")
    published_at = get_str(item, "published_at", where="")
    try:
        datetime.fromisoformat(published_at)
    except ValueError:
        raise FieldError(f"published_at {published_at!r} is not an ISO 8601 time") from None
    digest = get_str(item, "hash", where="")
    if not _HASH.fullmatch(digest):
        raise FieldError(f"hash {digest!r} is not 'sha256:' followed by 64 lowercase hex digits")
    triggers = get_str_list(item, "triggers", where="", required=True)
    dependencies = read_dependencies(
        get_table(item, "dependencies", where=""),
        where="dependencies.",
        allow_plugins=allow_plugins,
    )
    return IndexEntry(
        name=name,
        version=version,
        published_at=published_at,
        description=get_str(item, "description", where=""),
        triggers=check_triggers(triggers, field="triggers"),
        hash=digest,
        dependencies=dependencies,
        homepage=optional_str(item, "homepage", where=""),
        repository=optional_str(item, "repository", where=""),
        documentation=optional_str(item, "documentation", where=""),
        yanked=get_bool(item, "yanked", where="", default=False),
    )


def _entry_to(entry: IndexEntry) -> dict[str, object]:
    deps = entry.dependencies
    dependencies: dict[str, object] = {"python": list(deps.python)}
    if deps.database_version is not None:
        dependencies["database_version"] = deps.database_version
    if deps.plugins:
        dependencies["plugins"] = [
            {"name": p.name, "version": p.version}
            | ({"index_url": p.index_url} if p.index_url is not None else {})
            for p in deps.plugins
        ]
    data: dict[str, object] = {
        "name": entry.name,
        "version": entry.version,
        "published_at": entry.published_at,
        "description": entry.description,
        "triggers": list(entry.triggers),
        "dependencies": dependencies,
        "hash": entry.hash,
    }
    for key in _URL_FIELDS:
        value = getattr(entry, key)
        if value is not None:
            data[key] = value
    if entry.yanked:
        data["yanked"] = True
    return data
