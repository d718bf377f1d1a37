"""`plugin_library.json`: the catalogue the InfluxDB 3 Explorer UI reads (plugin-library.md §1.3).

Shape::

    {"plugin_library": {"version": "1.0.0", "last_updated": "...", "plugins": [
        {"name", "path", "description", "author", "docs_file_link",
         "required_plugins": [{"name", "path"}], "required_libraries": ["pkg>=1"],
         "last_update": "YYYY-MM-DD",
         "trigger_types_supported": ["scheduler", "data_writes", "http"]}
    ]}}

The library drifts from the manifests (looser pins, one wrong trigger list); `manifest.toml`
is the source of truth, this file is a catalogue.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from registry_index._fields import (
    FieldError,
    check_requirement,
    get_list,
    get_str,
    get_str_list,
    get_table,
    optional_str,
)
from registry_index.errors import MetadataError

__all__ = ["LIBRARY_TRIGGERS", "LibraryEntry", "RequiredPlugin", "read_plugin_library"]

#: the plugin_library.json trigger vocabulary (plugin-library.md §2.2)
LIBRARY_TRIGGERS: Final = frozenset({"scheduler", "data_writes", "http"})


@dataclass(frozen=True, slots=True)
class RequiredPlugin:
    """A plugin another library entry needs: `{name, path}`."""

    name: str
    path: str


@dataclass(frozen=True, slots=True)
class LibraryEntry:
    """One plugin in `plugin_library.json`."""

    name: str
    path: str
    description: str
    author: str | None = None
    docs_file_link: str | None = None
    required_plugins: tuple[RequiredPlugin, ...] = ()
    required_libraries: tuple[str, ...] = ()
    last_update: str | None = None
    trigger_types_supported: tuple[str, ...] = ()


def read_plugin_library(text: str, *, path: str) -> list[LibraryEntry]:
    """Parse `plugin_library.json` text; `path` names the file in `MetadataError`s."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise MetadataError(path=path, reason=f"invalid JSON: {exc}") from exc
    try:
        if not isinstance(data, Mapping):
            raise FieldError("the JSON must be an object")
        library = get_table(data, "plugin_library", where="")
        items = get_list(library, "plugins", where="plugin_library.", required=True)
        return [_entry_from(item, f"plugin_library.plugins[{i}]") for i, item in enumerate(items)]
    except FieldError as exc:
        raise MetadataError(path=path, reason=str(exc)) from None


def _entry_from(item: object, where: str) -> LibraryEntry:
    if not isinstance(item, Mapping):
        raise FieldError(f"{where} must be an object")
    name = get_str(item, "name", where=f"{where}.")
    at = f"{where} ({name})."
    required_plugins = []
    for i, raw in enumerate(get_list(item, "required_plugins", where=at)):
        if not isinstance(raw, Mapping):
            raise FieldError(f"{at}required_plugins[{i}] must be an object with name and path")
        sub = f"{at}required_plugins[{i}]."
        required_plugins.append(
            RequiredPlugin(
                name=get_str(raw, "name", where=sub), path=get_str(raw, "path", where=sub)
            )
        )
    libraries = get_str_list(item, "required_libraries", where=at)
    for i, requirement in enumerate(libraries):
        check_requirement(requirement, field=f"{at}required_libraries[{i}]")
    triggers = get_str_list(item, "trigger_types_supported", where=at)
    unknown = sorted(set(triggers) - LIBRARY_TRIGGERS)
    if unknown:
        allowed = ", ".join(sorted(LIBRARY_TRIGGERS))
        raise FieldError(f"{at}trigger_types_supported has unknown {unknown}; allowed: {allowed}")
    return LibraryEntry(
        name=name,
        path=get_str(item, "path", where=at),
        description=get_str(item, "description", where=at),
        author=optional_str(item, "author", where=at),
        docs_file_link=optional_str(item, "docs_file_link", where=at),
        required_plugins=tuple(required_plugins),
        required_libraries=libraries,
        last_update=optional_str(item, "last_update", where=at),
        trigger_types_supported=triggers,
    )
