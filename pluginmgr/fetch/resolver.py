"""Pure resolution: a parsed reference plus settings -> the concrete source to read bytes from.

No I/O happens here except for local references, whose traversal check must look at the real
directory (symlinks). Registry references resolve to the configured index (``plugin_registry``);
the index itself is read at download time (`pluginmgr.fetch.registry_source`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from packaging.specifiers import SpecifierSet

from ..errors import ResolveError
from ..settings import Settings
from .plugin_dir import find_local_plugin
from .refs import (
    REPO_SCHEMES,
    GhRef,
    GitRef,
    LocalRef,
    PluginRef,
    RegistryRef,
    gh_url,
    validate_repo_base,
)

__all__ = ["GitSource", "HttpSource", "LocalSource", "RegistrySource", "Source", "resolve"]


@dataclass(frozen=True, slots=True)
class HttpSource:
    """A single file at ``url`` (http, https or file); ``authorized`` sends the repo token."""

    url: str
    authorized: bool = False
    path: str | None = None  #: a ``gh:`` file's path under ``--plugin-repo``


@dataclass(frozen=True, slots=True)
class GitSource:
    """``path`` at ``rev`` (``None`` = default branch) of the git repository at ``url``."""

    url: str
    rev: str | None
    path: str


@dataclass(frozen=True, slots=True)
class LocalSource:
    """A file or package directory under ``--plugin-dir``."""

    path: Path
    is_directory: bool


@dataclass(frozen=True, slots=True)
class RegistrySource:
    """Plugin ``name``, highest version matching ``specifier``, in the index at ``index_url``."""

    index_url: str
    name: str
    specifier: SpecifierSet


Source = HttpSource | GitSource | LocalSource | RegistrySource


def resolve(ref: PluginRef, settings: Settings) -> Source:
    """Turn a reference into the source it names under ``settings``."""
    if isinstance(ref, GhRef):
        base = validate_repo_base(settings.plugin_repo)
        return HttpSource(url=gh_url(base, ref.path), authorized=True, path=ref.path)
    if isinstance(ref, GitRef):
        return GitSource(url=ref.url, rev=ref.rev, path=ref.path)
    if isinstance(ref, LocalRef):
        found = find_local_plugin(settings.plugin_dir, ref.path)
        return LocalSource(path=found.path, is_directory=found.is_directory)
    if isinstance(ref, RegistryRef):
        index_url = settings.plugin_registry
        if urlsplit(index_url).scheme.lower() not in REPO_SCHEMES:
            message = (
                f"{ref.text}: unsupported plugin registry {index_url!r}: it must be an http://, "
                "https:// or file:// URL of an index.json"
            )
            hint = "set --plugin-registry or PLUGINMGR_PLUGIN_REGISTRY"
            raise ResolveError(message, ref=ref.text, hint=hint)
        return RegistrySource(index_url=index_url, name=ref.name, specifier=ref.specifier)
    raise AssertionError(f"unhandled reference type {type(ref).__name__}")
