"""What fetching produces: `FetchedPlugin` (verified content on disk), `FetchReport`,
`VerifyReport`, and the lock entry that pins a fetched plugin (with its logical source)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from ..errors import PluginManagerError
from .lockfile import LockEntry
from .refs import GhRef, RegistryRef, parse_ref

__all__ = [
    "PLUGIN_REGISTRY_SOURCE",
    "PLUGIN_REPO_SOURCE",
    "FetchProgress",
    "FetchReport",
    "FetchedPlugin",
    "VerifyReport",
    "lock_entry",
    "logical_source",
]

#: `logical_source` prefixes
PLUGIN_REPO_SOURCE: Final = "plugin-repo:"
PLUGIN_REGISTRY_SOURCE: Final = "plugin-registry:"

#: called as (reference, bytes received, total or None) while bytes stream in
FetchProgress = Callable[[str, int, int | None], None]


@dataclass(frozen=True, slots=True)
class FetchedPlugin:
    """A plugin ready to load: verified content at ``path``.

    ``origin`` says how it was obtained: ``locked`` (from the store, pinned, no network),
    ``not-modified`` (revalidated, 304), ``downloaded`` or ``local``.
    """

    ref: str
    kind: str
    source: str
    sha256: str
    size: int
    path: Path
    origin: str
    fetched_at: str
    commit: str | None = None
    rev: str | None = None
    #: registry plugins fetched with this one (transitive plugin dependencies), pinned too
    dependencies: tuple[FetchedPlugin, ...] = ()


@dataclass(frozen=True, slots=True)
class FetchReport:
    """Results of fetching several references; failures do not stop the others."""

    plugins: list[FetchedPlugin] = field(default_factory=list)
    errors: list[tuple[str, PluginManagerError]] = field(default_factory=list)

    def all_plugins(self) -> list[FetchedPlugin]:
        """The plugins and the registry dependencies fetched with them."""
        return [*self.plugins, *(d for p in self.plugins for d in p.dependencies)]


@dataclass(frozen=True, slots=True)
class VerifyReport:
    """Outcome of `PluginManager.verify`; ``ok`` when nothing is corrupted or missing."""

    blobs_checked: int
    corrupted: list[str]
    lock_problems: list[tuple[str, str]]

    @property
    def ok(self) -> bool:
        return not self.corrupted and not self.lock_problems


def lock_entry(plugin: FetchedPlugin) -> LockEntry:
    """The lock entry pinning ``plugin``, with its logical source (`logical_source`)."""
    rev = plugin.rev
    if rev is None and plugin.commit is not None:
        ref = parse_ref(plugin.ref)
        rev = getattr(ref, "rev", None)
    return LockEntry(
        ref=plugin.ref,
        kind=plugin.kind,
        source=logical_source(plugin.ref, plugin.source, plugin.rev),
        sha256=plugin.sha256,
        size=plugin.size,
        fetched_at=plugin.fetched_at,
        rev=rev,
        commit=plugin.commit,
    )


def logical_source(ref: str, source: str, rev: str | None) -> str:
    """Where the pinned content lives, independent of the node: ``plugin-repo:PATH`` for
    ``gh:`` (that path in whichever --plugin-repo the node uses: upstream or a mirror),
    ``plugin-registry:NAME==VERSION`` for registry plugins, the git URL, commit and path for
    git. A lock written on one node stays byte-identical on every node that fetches the same
    bytes through another mirror."""
    parsed = parse_ref(ref)
    if isinstance(parsed, GhRef):
        return f"{PLUGIN_REPO_SOURCE}{parsed.path}"
    if isinstance(parsed, RegistryRef):
        return f"{PLUGIN_REGISTRY_SOURCE}{parsed.name}=={rev}"
    return source
