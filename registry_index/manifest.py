"""`manifest.toml`: the per-plugin registry manifest (schema 1.2 and 1.3).

Shape (plugin-library.md §1.3)::

    manifest_schema_version = "1.3"
    [plugin]
    name, version, description, triggers, homepage?, repository?, documentation?, exclude?
    [dependencies]
    database_version = ">=3.0.0"
    python = ["pint>=0.20"]                 # PEP 508 strings
    [[dependencies.plugins]]                # schema 1.3 only
    name = "notifier", version = ">=1.0.0,<2.0.0", index_url = ".../index.json"

Every problem is a `MetadataError` naming the file and the reason; nothing else escapes.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final

from packaging.specifiers import SpecifierSet
from packaging.version import Version

from registry_index._fields import (
    FieldError,
    check_name,
    check_requirement,
    check_specifier,
    check_triggers,
    check_version,
    get_list,
    get_str,
    get_str_list,
    get_table,
    optional_str,
)
from registry_index.errors import MetadataError

__all__ = [
    "MANIFEST_SCHEMA_VERSIONS",
    "Dependencies",
    "Manifest",
    "PluginDependency",
    "read_dependencies",
    "read_manifest",
]

#: manifest schema versions this reader understands
MANIFEST_SCHEMA_VERSIONS: Final = ("1.2", "1.3")


@dataclass(frozen=True, slots=True)
class PluginDependency:
    """A plugin-to-plugin dependency (`[[dependencies.plugins]]`, manifest 1.3 / index 2.1)."""

    name: str
    version: str
    index_url: str | None = None

    @property
    def specifier(self) -> SpecifierSet:
        """The version range as a `SpecifierSet`."""
        return SpecifierSet(self.version)


@dataclass(frozen=True, slots=True)
class Dependencies:
    """What a plugin needs: a database version range, Python packages and other plugins."""

    database_version: str | None = None
    python: tuple[str, ...] = ()
    plugins: tuple[PluginDependency, ...] = ()


@dataclass(frozen=True, slots=True)
class Manifest:
    """A parsed `manifest.toml`."""

    schema_version: str
    name: str
    version: str
    description: str
    triggers: tuple[str, ...]
    homepage: str | None = None
    repository: str | None = None
    documentation: str | None = None
    exclude: tuple[str, ...] = ()
    dependencies: Dependencies = field(default_factory=Dependencies)

    @property
    def parsed_version(self) -> Version:
        """The version as a `packaging` `Version`."""
        return Version(self.version)

    @property
    def artifact_name(self) -> str:
        """The registry artifact file name, `{name}-{version}.tar.gz`."""
        return f"{self.name}-{self.version}.tar.gz"


def read_dependencies(
    table: Mapping[str, object], *, where: str, allow_plugins: bool
) -> Dependencies:
    """Read a `dependencies` table (manifest or index); raises `FieldError`."""
    database_version = optional_str(table, "database_version", where=where)
    if database_version is not None:
        check_specifier(database_version, field=f"{where}database_version")
    python = get_str_list(table, "python", where=where)
    for i, requirement in enumerate(python):
        check_requirement(requirement, field=f"{where}python[{i}]")
    raw_plugins = get_list(table, "plugins", where=where)
    if raw_plugins and not allow_plugins:
        raise FieldError(f"{where}plugins needs a newer schema version")
    plugins = []
    for i, raw in enumerate(raw_plugins):
        at = f"{where}plugins[{i}]."
        if not isinstance(raw, Mapping):
            raise FieldError(f"{at[:-1]} must be a table")
        name = check_name(get_str(raw, "name", where=at), field=f"{at}name")
        version = check_specifier(get_str(raw, "version", where=at), field=f"{at}version")
        index_url = optional_str(raw, "index_url", where=at)
        plugins.append(PluginDependency(name=name, version=version, index_url=index_url))
    return Dependencies(database_version=database_version, python=python, plugins=tuple(plugins))


def read_manifest(text: str, *, path: str) -> Manifest:
    """Parse the text of a `manifest.toml`; `path` names the file in errors.

    Raises `MetadataError` for bad TOML (with its line), a missing key, a bad version or range,
    an unknown trigger or an unknown schema version.
    """
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise MetadataError(path=path, reason=f"invalid TOML: {exc}") from exc
    try:
        return _manifest_from(data)
    except FieldError as exc:
        raise MetadataError(path=path, reason=str(exc)) from None


def _manifest_from(data: Mapping[str, object]) -> Manifest:
    schema = data.get("manifest_schema_version")
    if schema is None:
        raise FieldError("missing required key manifest_schema_version")
    if schema not in MANIFEST_SCHEMA_VERSIONS:
        supported = ", ".join(MANIFEST_SCHEMA_VERSIONS)
        raise FieldError(
            f"unknown manifest_schema_version {schema!r} (this pluginmgr reads {supported})"
        )
    plugin = get_table(data, "plugin", where="")
    at = "plugin."
    name = check_name(get_str(plugin, "name", where=at), field="plugin.name")
    version = check_version(get_str(plugin, "version", where=at), field="plugin.version")
    triggers = get_str_list(plugin, "triggers", where=at, required=True)
    deps_table = data.get("dependencies", {})
    if not isinstance(deps_table, Mapping):
        raise FieldError("dependencies is not a table")
    return Manifest(
        schema_version=str(schema),
        name=name,
        version=version,
        description=get_str(plugin, "description", where=at),
        triggers=check_triggers(triggers, field="plugin.triggers"),
        homepage=optional_str(plugin, "homepage", where=at),
        repository=optional_str(plugin, "repository", where=at),
        documentation=optional_str(plugin, "documentation", where=at),
        exclude=get_str_list(plugin, "exclude", where=at),
        dependencies=read_dependencies(
            deps_table, where="dependencies.", allow_plugins=schema != "1.2"
        ),
    )
