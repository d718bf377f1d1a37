"""The requirements a plugin declares, wherever the plugin came from.

`declared_deps` is pure and reads siblings through a callback; this module supplies the callback
for each kind of source: the filesystem for local plugins, the same repository for ``gh:`` files
(``manifest.toml`` next to the file, fetched, verified and pinned like the plugin; a 404 means
"absent"), and the same commit for ``git+`` plugins.
"""

from __future__ import annotations

from pathlib import PurePosixPath

from ..errors import GitError, HTTPStatusError
from ..fetch.fetched import FetchedPlugin
from ..fetch.manager import PluginManager
from ..fetch.refs import GhRef, GitRef, parse_ref
from .declared import DeclaredDeps, declared_deps, declared_deps_for_path

__all__ = ["plugin_requirements", "plugin_sibling"]


def _sibling_ref(plugin: FetchedPlugin, name: str) -> str | None:
    ref = parse_ref(plugin.ref)
    if isinstance(ref, GhRef):
        base = PurePosixPath(ref.path).parent
        return f"gh:{(base / name).as_posix()}"
    if isinstance(ref, GitRef) and plugin.commit is not None:
        base = PurePosixPath(ref.path).parent
        return f"git+{ref.url}@{plugin.commit}#path={(base / name).as_posix()}"
    return None


def plugin_sibling(
    manager: PluginManager, plugin: FetchedPlugin, name: str, *, pinned_only: bool = False
) -> bytes | None:
    """The file ``name`` next to a fetched plugin file, from the same source; None if absent.

    Local plugins read the filesystem; ``gh:`` and ``git+`` siblings are fetched (verified and
    pinned like the plugin), and a 404 or a path missing at the commit means absent. With
    ``pinned_only`` a sibling the lock file does not pin counts as absent and nothing is
    fetched: siblings are pinned when a plugin's declaration is first read, so this gives every
    node with the same lock file the same answer, offline and without a request.
    """
    if plugin.origin == "local" or plugin.kind == "directory":
        folder = plugin.path if plugin.path.is_dir() else plugin.path.parent
        target = folder / name
        return target.read_bytes() if target.is_file() else None
    sibling = _sibling_ref(plugin, name)
    if sibling is None or (pinned_only and sibling not in manager.locked_refs()):
        return None
    try:
        return manager.fetch(sibling).path.read_bytes()
    except HTTPStatusError as exc:
        if exc.status == 404:
            return None
        raise
    except GitError as exc:
        if "not found" in exc.message:
            return None
        raise


def plugin_requirements(
    manager: PluginManager, plugin: FetchedPlugin, *, pinned_only: bool = False
) -> DeclaredDeps:
    """Read the plugin's declaration: manifest.toml, then PEP 723, then requirements.txt.

    :param pinned_only: read only siblings the lock file pins (see `plugin_sibling`).
    """
    if plugin.origin == "local" or plugin.kind == "directory":
        return declared_deps_for_path(plugin.path)

    def read_sibling(name: str) -> bytes | None:
        return plugin_sibling(manager, plugin, name, pinned_only=pinned_only)

    name = PurePosixPath(plugin.ref.rpartition("path=")[2] or plugin.ref).name
    text = plugin.path.read_text(encoding="utf-8", errors="replace")
    return declared_deps(name, text, read_sibling)
