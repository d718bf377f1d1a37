"""What a node accepts as a trigger's plugin, apart from its code: where it comes from
(``serve --plugin-dir-only``) and which InfluxDB versions it declares it supports.

The version gate: an official plugin's ``manifest.toml`` (beside a file plugin, or inside a
directory or registry plugin) says ``[dependencies] database_version = ">=3.8.2"``; a plugin
whose range excludes `INFLUXDB_VERSION`, the InfluxDB version whose API and plugin behaviour this
node implements, is refused at ``create trigger`` and ``update trigger`` with both versions named,
unless the caller passes ``ignore_database_version``. A plugin without a manifest, or a manifest
without ``database_version``, declares nothing and passes.
"""

from __future__ import annotations

import tomllib
from typing import TYPE_CHECKING, Final

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import Version

from ..deps.plugin_deps import plugin_sibling
from ..errors import (
    PLUGIN_INSTALLATION_DISABLED_MESSAGE,
    DatabaseVersionError,
    DependencyDeclarationError,
    PluginInstallationDisabledError,
)
from ..fetch.refs import LocalRef, parse_ref

if TYPE_CHECKING:
    from ..fetch.fetched import FetchedPlugin
    from ..fetch.manager import PluginManager

__all__ = [
    "INFLUXDB_VERSION",
    "check_database_version",
    "declared_database_version",
    "refuse_outside_plugin_dir",
    "refuse_upload",
]

#: the InfluxDB 3 version this node implements (its API, flags and plugin behaviour)
INFLUXDB_VERSION: Final = "3.11.0"
_MANIFEST: Final = "manifest.toml"


def declared_database_version(manager: PluginManager, plugin: FetchedPlugin) -> str | None:
    """The ``[dependencies] database_version`` range of the plugin's manifest.toml; None
    without one. Only that field is read: a manifest holding just ``[dependencies]`` (as the
    dependency reader takes it) is fine.

    :raises DependencyDeclarationError: the manifest is not TOML, or the field not a string.
    """
    data = plugin_sibling(manager, plugin, _MANIFEST)
    if data is None:
        return None
    try:
        table = tomllib.loads(data.decode("utf-8", errors="replace")).get("dependencies", {})
    except tomllib.TOMLDecodeError as exc:
        message = f"{plugin.ref}: {_MANIFEST} is not valid TOML: {exc}"
        raise DependencyDeclarationError(message, ref=plugin.ref) from None
    declared = table.get("database_version") if isinstance(table, dict) else None
    if declared is not None and not isinstance(declared, str):
        message = f"{plugin.ref}: database_version in its {_MANIFEST} must be a string"
        raise DependencyDeclarationError(message, ref=plugin.ref)
    return declared


def check_database_version(
    manager: PluginManager,
    plugin: FetchedPlugin,
    *,
    ref: str,
    ignore: bool = False,
    node_version: str = INFLUXDB_VERSION,
) -> None:
    """Refuse ``plugin`` when its declared range excludes ``node_version`` (unless ``ignore``).

    :raises DatabaseVersionError: with both versions and the way to override.
    """
    if ignore:
        return
    declared = declared_database_version(manager, plugin)
    if declared is None:
        return
    try:
        supported = SpecifierSet(declared)
    except InvalidSpecifier:
        message = f"{ref}: invalid database_version {declared!r} in its {_MANIFEST}"
        raise DependencyDeclarationError(message, ref=ref) from None
    if supported.contains(Version(node_version), prereleases=True):
        return
    message = (
        f"{ref} supports InfluxDB {declared} (database_version in its {_MANIFEST}), and this "
        f"node implements InfluxDB {node_version}"
    )
    hint = (
        "use a version of the plugin that supports it, or pass --ignore-database-version "
        '(API: "ignore_database_version": true) to run it anyway'
    )
    raise DatabaseVersionError(message, ref=ref, hint=hint)


def refuse_outside_plugin_dir(ref: str) -> None:
    """``--plugin-dir-only``: refuse a plugin that is not a path in the plugin directory
    (``gh:``, ``git+``, registry references), in upstream's words."""
    if not isinstance(parse_ref(ref), LocalRef):
        # upstream's message alone (it already says what to do): clients match it
        raise PluginInstallationDisabledError(PLUGIN_INSTALLATION_DISABLED_MESSAGE)


def refuse_upload() -> None:
    """``--plugin-dir-only``: refuse writing plugin files over the API, in upstream's words."""
    raise PluginInstallationDisabledError(PLUGIN_INSTALLATION_DISABLED_MESSAGE)
