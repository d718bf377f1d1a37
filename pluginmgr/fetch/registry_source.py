"""``registry:NAME[SPEC]`` references: index -> version -> verified artifact -> safe tree.

The registry is the InfluxData plugin SDK's (registries-and-mirrors.md §0, §1.7): an ``index.json``
listing every published ``(name, version)`` with the ``sha256:`` of its
``{artifacts_url}/{name}-{version}.tar.gz``. What the SDK leaves to consumers happens here:

* **Selection**: the highest non-yanked version matching the specifier (`packaging` rules, so
  pre-releases only when the specifier asks for them). A version pinned by the lock file is taken
  as is, even if it was yanked since ("existing lockfiles can still resolve the exact artifact").
* **Integrity**: the artifact's sha256 is checked against the index *before* the archive is
  opened. Artifacts are immutable and addressed by that hash, so one already in the store is never
  downloaded again; a mismatching download never enters the store.
* **Safe extraction** (`safe_archive.safe_extract`, re-exported here): only regular files and
  directories with clean names, within memory limits; nothing is written to disk: the files
  become a content-addressed tree (`Store.put_tree`).
* **Layout**: SDK artifacts hold the plugin directory's files at the archive root
  (``manifest.toml`` plus ``__init__.py`` or a single top-level ``<name>.py``). A registry plugin is
  therefore always installed as a *directory* plugin (lock kind ``"directory"``) materialized as
  ``trees/<tree sha>/<name>/``; the loader finds the entry point the SDK way.
* **Plugin dependencies** (``dependencies.plugins``, index 2.1) are resolved transitively in the
  same index (a mirror rewrites URLs, so a dependency's ``index_url`` is informational), one
  version per plugin name: the first selection must satisfy every later specifier, otherwise the
  conflict is an error naming both requirers (no backtracking). A cycle is an error naming it.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Final
from urllib.parse import urljoin

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import InvalidVersion, Version

from registry_index import (
    IndexEntry,
    RegistryIndex,
    RegistryIndexError,
    canonical_name,
    read_index,
    read_manifest,
)

from ..errors import HTTPStatusError, IntegrityError, ResolveError
from .content_checks import check_python_files
from .hashes import sha256_hex
from .safe_archive import (
    MAX_ARCHIVE_MEMBERS,
    MAX_EXTENDED_HEADER,
    UnsafeArchiveError,
    safe_extract,
)
from .store import Store
from .transports import FetchRequest, Transport
from .url import fetch_url

__all__ = [
    "MAX_ARCHIVE_MEMBERS",
    "MAX_EXTENDED_HEADER",
    "RegistryPlugin",
    "RegistryResolution",
    "UnsafeArchiveError",
    "canonical_name",
    "fetch_registry",
    "load_index",
    "locked_dependency_ref",
    "plugin_dependencies",
    "safe_extract",
    "select_version",
]

REGISTRY_KIND: Final = "directory"
_BROKEN_HINT: Final = (
    "the artifact holds broken Python: publish a fixed version; nothing was pinned"
)
_PINNED_REF: Final = re.compile(r"registry:([A-Za-z][A-Za-z0-9_-]{0,63})==([^,;<>=!~ ]+)")


@dataclass(frozen=True, slots=True)
class RegistryPlugin:
    """One resolved, verified and stored registry plugin version."""

    name: str
    version: str
    artifact_url: str
    artifact_hash: str  # "sha256:<hex>", as in the index
    tree_sha256: str
    size: int

    @property
    def pinned_ref(self) -> str:
        """The exact reference for this version, ``registry:NAME==VERSION``."""
        return f"registry:{self.name}=={self.version}"


@dataclass(frozen=True, slots=True)
class RegistryResolution:
    """The requested plugin and its transitive plugin dependencies (first-seen order)."""

    root: RegistryPlugin
    dependencies: tuple[RegistryPlugin, ...] = ()


def load_index(
    index_url: str, *, transport: Transport, store: Store, max_bytes: int
) -> RegistryIndex:
    """Fetch (revalidating a cached copy) and parse the registry index at ``index_url``.

    A relative ``artifacts_url`` (a mirror writes one) is made absolute against ``index_url``,
    so a mirror's index works wherever the mirror is served from.
    """
    fetched = fetch_url(index_url, transport=transport, store=store, max_bytes=max_bytes)
    data = store.read(fetched.sha256)
    try:
        index = read_index(data.decode("utf-8"), source=index_url)
        artifacts_url = urljoin(index_url, index.artifacts_url.rstrip("/") + "/")
        return dataclasses.replace(index, artifacts_url=artifacts_url)
    except UnicodeDecodeError as exc:
        raise ResolveError(f"registry index {index_url} is not UTF-8: {exc}") from None
    except RegistryIndexError as exc:
        raise ResolveError(f"invalid registry index: {exc}") from None


def _describe_versions(entries: tuple[IndexEntry, ...]) -> str:
    if not entries:
        return "none"
    return ", ".join(f"{e.version} (yanked)" if e.yanked else e.version for e in entries)


def _entries(index: RegistryIndex, name: str) -> tuple[IndexEntry, ...]:
    wanted = canonical_name(name)
    found = [e for e in index.plugins if canonical_name(e.name) == wanted]
    return tuple(sorted(found, key=lambda e: Version(e.version)))


def select_version(
    index: RegistryIndex,
    name: str,
    specifier: SpecifierSet,
    *,
    source: str,
    pinned_version: str | None = None,
) -> IndexEntry:
    """The highest non-yanked entry of ``name`` matching ``specifier`` (or the pinned version)."""
    entries = _entries(index, name)
    if not entries:
        message = f"registry index {source} has no plugin named {name!r}"
        raise ResolveError(message, hint="check the name with `pluginmgr search`")
    if pinned_version is not None:
        for entry in entries:
            if Version(entry.version) == Version(pinned_version):
                return entry
        message = (
            f"{name} {pinned_version} is pinned in the lock file but missing from registry index "
            f"{source} (available: {_describe_versions(entries)})"
        )
        raise ResolveError(message, hint="published versions are immutable; check the registry")
    matching = [e for e in entries if not e.yanked and specifier.contains(e.version)]
    if not matching:
        spec_text = str(specifier) or "(any version)"
        message = (
            f"no version of {name!r} matching {spec_text} in registry index {source} "
            f"(available: {_describe_versions(entries)})"
        )
        raise ResolveError(message, hint="widen the version specifier")
    return matching[-1]


def _resolve_closure(
    index: RegistryIndex,
    name: str,
    specifier: SpecifierSet,
    *,
    source: str,
    requester: str,
    pinned_version: str | None,
) -> list[IndexEntry]:
    """The root entry followed by every transitive plugin dependency, one version per name."""
    chosen: dict[str, tuple[IndexEntry, str]] = {}
    order: list[IndexEntry] = []

    def visit(
        dep_name: str, spec: SpecifierSet, by: str, path: tuple[str, ...], pin: str | None
    ) -> None:
        key = canonical_name(dep_name)
        if key in path:
            cycle = " -> ".join([*path[path.index(key) :], key])
            raise ResolveError(f"plugin dependency cycle: {cycle}", hint="break the cycle")
        if key in chosen:
            entry, first_by = chosen[key]
            if not spec.contains(entry.version, prereleases=True):
                message = (
                    f"conflicting requirements for plugin {dep_name!r}: {by} needs {spec}, but "
                    f"{first_by} selected {entry.version}"
                )
                raise ResolveError(message, hint="align the version ranges of the dependents")
            return
        entry = select_version(index, dep_name, spec, source=source, pinned_version=pin)
        chosen[key] = (entry, by)
        order.append(entry)
        here = f"{entry.name} {entry.version}"
        for dep in entry.dependencies.plugins:
            try:
                dep_spec = SpecifierSet(dep.version)
            except InvalidSpecifier:
                message = f"{here} in {source} has an invalid dependency range {dep.version!r}"
                raise ResolveError(message) from None
            visit(dep.name, dep_spec, here, (*path, key), None)

    visit(name, specifier, requester, (), pinned_version)
    return order


def _artifact_bytes(
    index: RegistryIndex, entry: IndexEntry, *, transport: Transport, store: Store, max_bytes: int
) -> bytes:
    """The verified artifact: from the store when present (immutable), else downloaded."""
    url = index.artifact_url(entry)
    if store.has(entry.sha256):
        try:
            return store.read(entry.sha256)
        except (KeyError, FileNotFoundError, IntegrityError):
            pass  # corrupted copies are quarantined by the store; download again
    response = transport.handle(FetchRequest(url=url, max_bytes=max_bytes))
    if not response.ok:
        raise HTTPStatusError(response.status_message(url), status=response.status, url=url)
    actual = sha256_hex(response.body)
    if actual != entry.sha256:
        message = (
            f"artifact {url} has sha256:{actual}, but the registry index lists {entry.hash}; "
            "it was not extracted"
        )
        raise IntegrityError(message, hint="the artifact or the mirror was tampered with")
    store.put(response.body)
    return response.body


def _install(
    index: RegistryIndex, entry: IndexEntry, *, transport: Transport, store: Store, max_bytes: int
) -> RegistryPlugin:
    url = index.artifact_url(entry)
    data = _artifact_bytes(index, entry, transport=transport, store=store, max_bytes=max_bytes)
    files = safe_extract(data, source=url, max_bytes=max_bytes)
    check_python_files(url, files, hint=_BROKEN_HINT)
    tree = store.put_tree(files)
    return RegistryPlugin(
        name=entry.name,
        version=entry.version,
        artifact_url=url,
        artifact_hash=entry.hash,
        tree_sha256=tree,
        size=sum(map(len, files.values())),
    )


def fetch_registry(
    index_url: str,
    name: str,
    specifier: SpecifierSet,
    *,
    ref: str,
    transport: Transport,
    store: Store,
    max_bytes: int,
    pinned_version: str | None = None,
    pinned_artifact: str | None = None,
) -> RegistryResolution:
    """Resolve ``name`` (and its plugin dependencies), verify, extract and store each one.

    ``pinned_version``/``pinned_artifact`` come from the lock file: that exact version is used
    and the index must still list the same artifact hash.
    """
    if pinned_version is not None:
        try:
            Version(pinned_version)
        except InvalidVersion:
            pinned_version = None
    index = load_index(index_url, transport=transport, store=store, max_bytes=max_bytes)
    entries = _resolve_closure(
        index, name, specifier, source=index_url, requester=ref, pinned_version=pinned_version
    )
    root = entries[0]
    if pinned_artifact is not None and pinned_artifact != root.hash:
        message = (
            f"{ref}: registry index {index_url} lists {root.hash} for {root.name} {root.version}, "
            f"but the lock file pins {pinned_artifact}"
        )
        raise IntegrityError(message, hint="published versions are immutable; check the registry")
    installed = [
        _install(index, entry, transport=transport, store=store, max_bytes=max_bytes)
        for entry in entries
    ]
    return RegistryResolution(root=installed[0], dependencies=tuple(installed[1:]))


def plugin_dependencies(plugin_dir: Path) -> list[tuple[str, SpecifierSet]] | None:
    """The plugin dependencies an installed registry plugin declares in its ``manifest.toml``.

    ``None`` when the manifest is missing or unreadable (the caller then asks the index).
    """
    try:
        text = (plugin_dir / "manifest.toml").read_text(encoding="utf-8")
        manifest = read_manifest(text, path=str(plugin_dir / "manifest.toml"))
        return [(d.name, d.specifier) for d in manifest.dependencies.plugins]
    except (OSError, UnicodeDecodeError, RegistryIndexError, InvalidSpecifier):
        return None


def locked_dependency_ref(refs: Iterable[str], name: str, specifier: SpecifierSet) -> str | None:
    """The highest ``registry:NAME==VERSION`` among ``refs`` that satisfies ``specifier``."""
    best: tuple[Version, str] | None = None
    for ref in refs:
        match = _PINNED_REF.fullmatch(ref)
        if match is None or canonical_name(match.group(1)) != canonical_name(name):
            continue
        try:
            version = Version(match.group(2))
        except InvalidVersion:
            continue
        if specifier.contains(version, prereleases=True) and (best is None or version > best[0]):
            best = (version, ref)
    return best[1] if best is not None else None
