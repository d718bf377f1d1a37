"""Shared field checks for the readers (internal).

Each check raises `FieldError` with a reason naming the field; the public readers turn it into
`MetadataError` or `IndexFormatError` with the file or index source attached.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Final

from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import InvalidVersion, Version

__all__ = [
    "MANIFEST_TRIGGERS",
    "FieldError",
    "check_name",
    "check_requirement",
    "check_specifier",
    "check_triggers",
    "check_version",
    "get_bool",
    "get_list",
    "get_str",
    "get_str_list",
    "get_table",
    "optional_str",
]

#: the trigger vocabulary of manifest.toml and index.json (plugin-library.md §2.2)
MANIFEST_TRIGGERS: Final = frozenset(
    {"process_writes", "process_scheduled_call", "process_request"}
)
_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,63}")


class FieldError(ValueError):
    """A field is missing or has the wrong shape (internal; readers attach the file)."""


def get_table(data: Mapping[str, object], key: str, *, where: str) -> Mapping[str, object]:
    """Return the required table `key` of `data`."""
    value = data.get(key)
    if not isinstance(value, Mapping):
        problem = "missing" if value is None else "not a table"
        raise FieldError(f"{where}{key} is {problem}")
    return value


def get_str(data: Mapping[str, object], key: str, *, where: str) -> str:
    """Return the required string `key` of `data`."""
    value = data.get(key)
    if value is None:
        raise FieldError(f"missing required key {where}{key}")
    if not isinstance(value, str):
        raise FieldError(f"{where}{key} must be a string, got {type(value).__name__}")
    return value


def optional_str(data: Mapping[str, object], key: str, *, where: str) -> str | None:
    """Return the optional string `key` of `data`, None when absent."""
    if data.get(key) is None:
        return None
    return get_str(data, key, where=where)


def get_bool(data: Mapping[str, object], key: str, *, where: str, default: bool) -> bool:
    """Return the optional boolean `key` of `data`."""
    value = data.get(key, default)
    if not isinstance(value, bool):
        raise FieldError(f"{where}{key} must be true or false, got {value!r}")
    return value


def get_list(
    data: Mapping[str, object], key: str, *, where: str, required: bool = False
) -> list[object]:
    """Return the list `key` of `data` (empty when absent and not required)."""
    value = data.get(key)
    if value is None:
        if required:
            raise FieldError(f"missing required key {where}{key}")
        return []
    if not isinstance(value, list):
        raise FieldError(f"{where}{key} must be a list, got {type(value).__name__}")
    return value


def get_str_list(
    data: Mapping[str, object], key: str, *, where: str, required: bool = False
) -> tuple[str, ...]:
    """Return the list of strings `key` of `data`."""
    items = get_list(data, key, where=where, required=required)
    for i, item in enumerate(items):
        if not isinstance(item, str):
            raise FieldError(f"{where}{key}[{i}] must be a string, got {item!r}")
    return tuple(str(item) for item in items)


def check_name(name: str, *, field: str) -> str:
    """Check the registry name rule: 1-64 ASCII, a letter first, then letters, digits, _ or -."""
    if not _NAME.fullmatch(name):
        raise FieldError(
            f"{field} {name!r} is not a valid plugin name (1-64 characters, a letter first, "
            "then letters, digits, '_' or '-')"
        )
    return name


def check_version(version: str, *, field: str) -> str:
    """Check that `version` parses as a version (packaging)."""
    try:
        Version(version)
    except InvalidVersion:
        raise FieldError(f"{field} {version!r} is not a valid version") from None
    return version


def check_specifier(spec: str, *, field: str) -> str:
    """Check that `spec` parses as a version specifier set such as '>=1.0,<2'."""
    try:
        SpecifierSet(spec)
    except InvalidSpecifier:
        raise FieldError(f"{field} {spec!r} is not a valid version range") from None
    return spec


def check_requirement(requirement: str, *, field: str) -> str:
    """Check that `requirement` is a PEP 508 requirement string."""
    try:
        Requirement(requirement)
    except InvalidRequirement as exc:
        raise FieldError(f"{field} {requirement!r} is not a PEP 508 requirement: {exc}") from None
    return requirement


def check_triggers(triggers: tuple[str, ...], *, field: str) -> tuple[str, ...]:
    """Check that every trigger belongs to the manifest vocabulary."""
    unknown = sorted(set(triggers) - MANIFEST_TRIGGERS)
    if unknown:
        allowed = ", ".join(sorted(MANIFEST_TRIGGERS))
        raise FieldError(f"{field} has unknown trigger(s) {unknown}; allowed: {allowed}")
    return triggers
