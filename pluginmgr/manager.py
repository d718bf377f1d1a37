"""`PluginManager`: reference -> verified bytes on disk, through the lock file and the store.

Policy for a remote reference (``gh:``, ``git+``), in order:

1. **Pinned and present**: the lock file pins a sha256 and the store holds those bytes (re-hashed
   on read) -> use them. No network at all; this is every warm start.
2. **Pinned, bytes missing or corrupted**: fetch from the current source and require the pinned
   hash. A mirror (another ``--plugin-repo``) serving the same bytes passes; different bytes fail
   with `IntegrityError` until ``pluginmgr lock --upgrade`` accepts them.
3. **Not pinned, or ``refresh``**: fetch (conditionally, so unchanged content costs a 304), store,
   record the version, pin it.

``registry:NAME[SPEC]`` references follow the same policy; the network step reads the index,
picks a version, verifies and safely extracts the artifact and its plugin dependencies
(`pluginmgr.registry_source`). Their lock entries keep ``rev`` = the version, ``commit`` = the
artifact's ``sha256:`` hash and ``source`` = the artifact URL; dependencies are pinned as
``registry:NAME==VERSION``.

``offline`` never opens a socket: anything not satisfiable from lock + store is an `OfflineError`
naming the reference. Local references are read in place and hashed; they are not pinned,
because they are the user's own working files (upstream hot-reloads them).
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path, PurePosixPath
from typing import Final

from .errors import IntegrityError, OfflineError, PluginManagerError, ResolveError
from .fetch import fetch_url
from .lockfile import LockEntry, format_timestamp, read_lock, update_lock
from .refs import LocalRef, RegistryRef, parse_ref
from .registry_source import (
    REGISTRY_KIND,
    canonical_name,
    fetch_registry,
    locked_dependency_ref,
    plugin_dependencies,
)
from .resolver import GitSource, HttpSource, LocalSource, RegistrySource, Source, resolve
from .settings import MAX_REDIRECTS, Settings
from .store import Store, Version, sha256_hex, tree_manifest
from .transports import HTTPTransport, RoutingTransport, Transport

__all__ = ["FetchProgress", "FetchReport", "FetchedPlugin", "PluginManager", "VerifyReport"]

_LOGGER = logging.getLogger(__name__)
_MAX_PARALLEL: Final = 16  # in-flight requests; uv allows 50, a static server copes

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


@dataclass(frozen=True, slots=True)
class VerifyReport:
    """Outcome of `PluginManager.verify`; ``ok`` when nothing is corrupted or missing."""

    blobs_checked: int
    corrupted: list[str]
    lock_problems: list[tuple[str, str]]

    @property
    def ok(self) -> bool:
        return not self.corrupted and not self.lock_problems


@dataclass(frozen=True, slots=True)
class _Content:
    """Bytes fetched from a source and put in the store."""

    kind: str
    sha256: str
    size: int
    source: str
    not_modified: bool
    commit: str | None = None
    rev: str | None = None
    dependencies: tuple[_Content, ...] = ()
    ref: str | None = None


class PluginManager:
    """The front door for resolving, fetching, pinning and verifying plugins."""

    def __init__(self, settings: Settings, *, transport: Transport | None = None) -> None:
        self.settings = settings
        self.store = Store(settings.cache_dir)
        self._transport = transport or RoutingTransport(
            HTTPTransport(
                connect_timeout=settings.connect_timeout,
                read_timeout=settings.read_timeout,
                retries=settings.retries,
                retry_backoff=settings.retry_backoff,
                ca_bundle=settings.ca_bundle,
                max_redirects=MAX_REDIRECTS,
            )
        )

    def close(self) -> None:
        self._transport.close()
        self.store.close()

    def __enter__(self) -> PluginManager:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- fetching -----------------------------------------------------------------------------

    def fetch(self, ref: str, *, refresh: bool = False) -> FetchedPlugin:
        """Fetch one reference and pin it; raise on failure."""
        report = self.fetch_many([ref], refresh=refresh)
        if report.errors:
            raise report.errors[0][1]
        return report.plugins[0]

    def fetch_many(
        self,
        refs: Sequence[str],
        *,
        refresh: bool = False,
        progress: FetchProgress | None = None,
        on_done: Callable[[str], None] | None = None,
    ) -> FetchReport:
        """Fetch references, then record versions and write the lock file once.

        What the lock file and the store can answer is answered on this thread; only references
        that need the network go to a bounded thread pool.
        """
        lock = read_lock(self.settings.lock_path)
        outcomes: dict[str, FetchedPlugin | PluginManagerError] = {}
        pending: list[tuple[str, Source]] = []

        def settle(ref: str, step: Callable[[], FetchedPlugin | Source]) -> None:
            try:
                result = step()
            except PluginManagerError as exc:
                exc.ref = exc.ref or ref
                outcomes[ref] = exc
            else:
                if not isinstance(result, FetchedPlugin):
                    pending.append((ref, result))
                    return
                outcomes[ref] = result
            if on_done is not None:
                on_done(ref)

        unique = list(dict.fromkeys(refs))
        for ref in unique:
            step = partial(self._without_network, ref, lock.get(ref), refresh=refresh, lock=lock)
            settle(ref, step)
        work = list(pending)

        def download(item: tuple[str, Source]) -> None:
            ref, source = item
            entry = lock.get(ref)
            settle(ref, partial(self._with_network, ref, source, entry, refresh, progress))

        if len(work) == 1:
            download(work[0])
        elif work:
            with ThreadPoolExecutor(max_workers=min(_MAX_PARALLEL, len(work))) as pool:
                list(pool.map(download, work))
        report = FetchReport()
        for ref in unique:
            outcome = outcomes[ref]
            if isinstance(outcome, FetchedPlugin):
                report.plugins.append(outcome)
            else:
                report.errors.append((ref, outcome))
        fetched = [*report.plugins, *(d for p in report.plugins for d in p.dependencies)]
        self._record_versions(fetched)
        self._pin(fetched, lock)
        return report

    def _record_versions(self, plugins: Sequence[FetchedPlugin]) -> None:
        now = time.time()
        seen = [
            Version(p.ref, p.sha256, p.size, now, now, p.source, p.kind)
            for p in plugins
            if p.origin in ("downloaded", "not-modified")
        ]
        if seen:
            self.store.record_versions(seen)

    def _pin(self, plugins: Sequence[FetchedPlugin], lock: Mapping[str, LockEntry]) -> None:
        entries = [_lock_entry(p) for p in plugins if p.origin != "local"]
        unchanged = all(e.ref in lock and lock[e.ref].same_content(e) for e in entries)
        # the common warm start pins nothing new: skip the file lock and the re-read
        if entries and not unchanged and not self.settings.offline:
            update_lock(self.settings.lock_path, entries)

    def _without_network(
        self,
        text: str,
        entry: LockEntry | None,
        *,
        refresh: bool,
        lock: Mapping[str, LockEntry] | None = None,
    ) -> FetchedPlugin | Source:
        """Answer from the plugin dir, or the lock and the store; else the source to download."""
        source = resolve(parse_ref(text), self.settings)
        if isinstance(source, LocalSource):
            return self._local(text, source)
        if entry is not None and not refresh:
            pinned = self._from_store(text, entry)
            if pinned is not None and isinstance(source, RegistrySource):
                pinned = self._with_locked_dependencies(pinned, lock or {})
            if pinned is not None:
                return pinned
        if self.settings.offline:
            raise self._offline_error(text, entry)
        return source

    def _with_network(
        self,
        text: str,
        source: Source,
        entry: LockEntry | None,
        refresh: bool,
        progress: FetchProgress | None,
    ) -> FetchedPlugin:
        """Download ``source``; a pinned reference must come back with its pinned hash."""
        pinned = entry if entry is not None and not refresh else None
        pinned_commit = pinned.commit if pinned is not None else None
        if isinstance(source, RegistrySource):
            content = self._download_registry(text, source, pinned)
        else:
            content = self._download(text, source, pinned_commit=pinned_commit, progress=progress)
        if entry is not None and not refresh and content.sha256 != entry.sha256:
            message = (
                f"{text}: {content.source} served sha256 {content.sha256}, but "
                f"{self.settings.lock_path} pins {entry.sha256}"
            )
            hint = f"if the change is expected, run `pluginmgr lock --upgrade {text}`"
            raise IntegrityError(message, ref=text, hint=hint)
        origin = "not-modified" if content.not_modified else "downloaded"
        now = format_timestamp(time.time())
        fetched_at = (
            entry.fetched_at if entry is not None and entry.sha256 == content.sha256 else now
        )
        return self._fetched(text, content, origin=origin, fetched_at=fetched_at)

    def _from_store(self, text: str, entry: LockEntry) -> FetchedPlugin | None:
        try:
            path = self._materialize(entry.kind, entry.sha256, text)
        except (KeyError, FileNotFoundError):
            return None
        except IntegrityError as exc:
            _LOGGER.warning("%s: %s; fetching it again", text, exc.message)
            return None
        content = _Content(
            entry.kind, entry.sha256, entry.size, entry.source, False, entry.commit, entry.rev
        )
        return self._fetched(text, content, origin="locked", fetched_at=entry.fetched_at, path=path)

    def _with_locked_dependencies(
        self, plugin: FetchedPlugin, lock: Mapping[str, LockEntry]
    ) -> FetchedPlugin | None:
        """Attach a locked registry plugin's pinned dependencies; ``None`` if any is missing."""
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
                dep = self._from_store(ref, lock[ref]) if ref is not None else None
                if dep is None:
                    return None
                found.append(dep)
                todo.append(dep.path)
        return dataclasses.replace(plugin, dependencies=tuple(found))

    def _offline_error(self, text: str, entry: LockEntry | None) -> OfflineError:
        if entry is None:
            message = (
                f"{text} is not pinned in {self.settings.lock_path}; offline mode cannot fetch it"
            )
        else:
            message = (
                f"{text}: pinned content {entry.sha256[:12]} is not in the store at "
                f"{self.settings.cache_dir}; offline mode cannot fetch it"
            )
        return OfflineError(message, ref=text, hint=f"run `pluginmgr fetch {text}` while online")

    def _download(
        self,
        text: str,
        source: Source,
        *,
        pinned_commit: str | None,
        progress: FetchProgress | None,
    ) -> _Content:
        if isinstance(source, HttpSource):
            token = self.settings.plugin_repo_token if source.authorized else None
            callback = None if progress is None else (lambda got, total: progress(text, got, total))
            result = fetch_url(
                source.url,
                transport=self._transport,
                store=self.store,
                max_bytes=self.settings.max_file_bytes,
                token=token,
                progress=callback,
            )
            return _Content("file", result.sha256, result.size, source.url, result.not_modified)
        if isinstance(source, GitSource):
            return self._download_git(source, pinned_commit)
        raise ResolveError(f"{text}: cannot download a {type(source).__name__}", ref=text)

    def _download_git(self, source: GitSource, pinned_commit: str | None) -> _Content:
        # gitpython is slow to import; only git references pay for it
        from .git_source import fetch_git

        git = fetch_git(
            source.url,
            pinned_commit or source.rev,
            source.path,
            repos_dir=self.store.root / "git",
            max_bytes=self.settings.max_file_bytes,
        )
        if git.kind == "file":
            data = next(iter(git.files.values()))
            digest, size = self.store.put(data), len(data)
        else:
            digest, size = self.store.put_tree(git.files), sum(map(len, git.files.values()))
        where = f"{source.url}@{git.commit}#path={source.path}"
        return _Content(git.kind, digest, size, where, False, commit=git.commit)

    def _download_registry(
        self, text: str, source: RegistrySource, pinned: LockEntry | None
    ) -> _Content:
        resolution = fetch_registry(
            source.index_url,
            source.name,
            source.specifier,
            ref=text,
            transport=self._transport,
            store=self.store,
            max_bytes=self.settings.max_file_bytes,
            pinned_version=pinned.rev if pinned is not None else None,
            pinned_artifact=pinned.commit if pinned is not None else None,
        )
        found = [resolution.root, *resolution.dependencies]
        contents = [
            _Content(
                REGISTRY_KIND,
                p.tree_sha256,
                p.size,
                p.artifact_url,
                False,
                commit=p.artifact_hash,
                rev=p.version,
                ref=p.pinned_ref,
            )
            for p in found
        ]
        root, *dependencies = contents
        # the root is pinned under the reference it was asked for, its dependencies under theirs
        return dataclasses.replace(root, ref=None, dependencies=tuple(dependencies))

    def _local(self, text: str, source: LocalSource) -> FetchedPlugin:
        if source.is_directory:
            files = _read_tree(source.path)
            digest, size = sha256_hex(tree_manifest(files)), sum(map(len, files.values()))
        else:
            data = source.path.read_bytes()
            digest, size = sha256_hex(data), len(data)
        kind = "directory" if source.is_directory else "file"
        content = _Content(kind, digest, size, str(source.path), False)
        stamp = format_timestamp(source.path.stat().st_mtime)
        return self._fetched(text, content, origin="local", fetched_at=stamp, path=source.path)

    def _fetched(
        self,
        text: str,
        content: _Content,
        *,
        origin: str,
        fetched_at: str,
        path: Path | None = None,
    ) -> FetchedPlugin:
        if path is None:
            path = self._materialize(content.kind, content.sha256, text)
        dependencies = tuple(
            self._fetched(dep.ref or text, dep, origin=origin, fetched_at=fetched_at)
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

    def _materialize(self, kind: str, sha256: str, text: str) -> Path:
        """The verified on-disk path for pinned content (raises KeyError if absent)."""
        if kind == "directory":
            parsed = parse_ref(text) if text.startswith("registry:") else None
            if isinstance(parsed, RegistryRef):
                return self.store.materialize_tree(sha256, parsed.name)
            name = PurePosixPath(text.rpartition("path=")[2] or "plugin").name
            return self.store.materialize_tree(sha256, name)
        self.store.read(sha256)
        return self.store.blob_path(sha256)

    # -- queries ------------------------------------------------------------------------------

    def versions(self, ref: str) -> list[Version]:
        """Every distinct content seen for ``ref``, oldest first."""
        parsed = parse_ref(ref)
        if isinstance(parsed, LocalRef):
            message = f"{ref} is a local plugin: only fetched references (gh:, git+) have versions"
            raise ResolveError(message, ref=ref, hint="edit local plugins in place")
        return self.store.versions(parsed.text)

    def verify(self) -> VerifyReport:
        """Re-hash every blob in the store and check every lock entry has intact content."""
        corrupted: list[str] = []
        checked = 0
        for digest in list(self.store.iter_blobs()):
            checked += 1
            try:
                self.store.read(digest)
            except IntegrityError:
                corrupted.append(digest)
            except KeyError:
                continue
        problems: list[tuple[str, str]] = []
        for ref, entry in sorted(read_lock(self.settings.lock_path).items()):
            try:
                self._materialize(entry.kind, entry.sha256, ref)
            except (KeyError, FileNotFoundError):
                problems.append(
                    (ref, f"pinned content {entry.sha256[:12]} is missing from the store")
                )
            except IntegrityError as exc:
                problems.append((ref, exc.message))
        return VerifyReport(checked, corrupted, problems)

    def locked_refs(self) -> list[str]:
        """References pinned in the lock file, sorted."""
        return sorted(read_lock(self.settings.lock_path))


def _lock_entry(plugin: FetchedPlugin) -> LockEntry:
    rev = plugin.rev
    if rev is None and plugin.commit is not None:
        ref = parse_ref(plugin.ref)
        rev = getattr(ref, "rev", None)
    return LockEntry(
        ref=plugin.ref,
        kind=plugin.kind,
        source=plugin.source,
        sha256=plugin.sha256,
        size=plugin.size,
        fetched_at=plugin.fetched_at,
        rev=rev,
        commit=plugin.commit,
    )


def _read_tree(root: Path) -> dict[str, bytes]:
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"
    }
