"""Content in the store turned into `FetchedPlugin`s: the warm path of `PluginManager`.

`pinned_plugin` answers a reference from its lock entry alone (the bytes re-hashed, a registry
plugin with its locked dependencies, `with_locked_dependencies`); `fetched_plugin` and
`materialize` give any stored content (pinned or just downloaded) its verified path on disk.

Apart from `manager` because none of it needs the network, the transport or the lock file's
writer: only the store.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

from ..errors import IntegrityError
from .fetched import FetchedPlugin
from .lockfile import LockEntry
from .refs import RegistryRef, parse_ref
from .store import Store

if TYPE_CHECKING:  # the fetching half loads at the first fetch: a no-op install never pays
    from .content_sources import Content

__all__ = ["fetched_plugin", "materialize", "pinned_plugin", "with_locked_dependencies"]

_LOGGER = logging.getLogger(__name__)


def pinned_plugin(store: Store, text: str, entry: LockEntry) -> FetchedPlugin | None:
    """The pinned content from the store (re-hashed); None if absent or corrupted."""
    from .content_sources import Content

    try:
        path = materialize(store, entry.kind, entry.sha256, text)
    except (KeyError, FileNotFoundError):
        return None
    except IntegrityError as exc:
        _LOGGER.warning("%s: %s; fetching it again", text, exc.message)
        return None
    content = Content(
        entry.kind, entry.sha256, entry.size, entry.source, False, entry.commit, entry.rev
    )
    return fetched_plugin(
        store, text, content, origin="locked", fetched_at=entry.fetched_at, path=path
    )


def with_locked_dependencies(
    store: Store, plugin: FetchedPlugin, lock: Mapping[str, LockEntry]
) -> FetchedPlugin | None:
    """Attach a locked registry plugin's pinned dependencies; ``None`` if any is missing."""
    from .registry_source import (
        canonical_name,
        locked_dependency_ref,
        plugin_dependencies,
    )

    found: list[FetchedPlugin] = []
    seen: set[str] = set()
    todo = [plugin.path]
    while todo:
        declared = plugin_dependencies(todo.pop())
        if declared is None:
            return None
        for name, spec in declared:
            if canonical_name(name) in seen:
                continue
            seen.add(canonical_name(name))
            ref = locked_dependency_ref(lock, name, spec)
            dep = pinned_plugin(store, ref, lock[ref]) if ref is not None else None
            if dep is None:
                return None
            found.append(dep)
            todo.append(dep.path)
    return dataclasses.replace(plugin, dependencies=tuple(found))


def fetched_plugin(
    store: Store,
    text: str,
    content: Content,
    *,
    origin: str,
    fetched_at: str,
    path: Path | None = None,
) -> FetchedPlugin:
    """``content`` (and its dependencies) as a `FetchedPlugin`, at ``path`` or materialized
    from the store."""
    if path is None:
        path = materialize(store, content.kind, content.sha256, text)
    dependencies = tuple(
        fetched_plugin(store, dep.ref or text, dep, origin=origin, fetched_at=fetched_at)
        for dep in content.dependencies
    )
    return FetchedPlugin(
        ref=text,
        kind=content.kind,
        source=content.source,
        sha256=content.sha256,
        size=content.size,
        path=path,
        origin=origin,
        fetched_at=fetched_at,
        commit=content.commit,
        rev=content.rev,
        dependencies=dependencies,
    )


def materialize(store: Store, kind: str, sha256: str, text: str) -> Path:
    """The verified on-disk path for pinned content (raises KeyError if absent)."""
    if kind == "directory":
        parsed = parse_ref(text) if text.startswith("registry:") else None
        if isinstance(parsed, RegistryRef):
            return store.materialize_tree(sha256, parsed.name)
        name = PurePosixPath(text.rpartition("path=")[2] or "plugin").name
        return store.materialize_tree(sha256, name)
    store.read(sha256)
    return store.blob_path(sha256)
