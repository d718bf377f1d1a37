"""Pure resolution: a parsed reference plus settings -> the concrete source to read bytes from.

No I/O happens here except for local references, whose traversal check must look at the real
directory (symlinks). Registry references parse today but resolve once registry indexes exist.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .errors import ResolveError
from .plugin_dir import find_local_plugin
from .refs import GhRef, GitRef, LocalRef, PluginRef, RegistryRef, gh_url, validate_repo_base
from .settings import Settings

__all__ = ["GitSource", "HttpSource", "LocalSource", "Source", "resolve"]


@dataclass(frozen=True, slots=True)
class HttpSource:
    """A single file at ``url`` (http, https or file); ``authorized`` sends the repo token."""

    url: str
    authorized: bool = False


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


Source = HttpSource | GitSource | LocalSource


def resolve(ref: PluginRef, settings: Settings) -> Source:
    """Turn a reference into the source it names under ``settings``."""
    if isinstance(ref, GhRef):
        base = validate_repo_base(settings.plugin_repo)
        return HttpSource(url=gh_url(base, ref.path), authorized=True)
    if isinstance(ref, GitRef):
        return GitSource(url=ref.url, rev=ref.rev, path=ref.path)
    if isinstance(ref, LocalRef):
        found = find_local_plugin(settings.plugin_dir, ref.path)
        return LocalSource(path=found.path, is_directory=found.is_directory)
    if isinstance(ref, RegistryRef):
        message = (
            f"{ref.text}: registry references cannot be resolved yet (no registry index support)"
        )
        hint = "use a gh: or git+ reference until registry indexes land"
        raise ResolveError(message, ref=ref.text, hint=hint)
    raise AssertionError(f"unhandled reference type {type(ref).__name__}")
