"""`PluginManager`: reference -> verified bytes on disk, through the lock file and the store.

Policy for a remote reference (``gh:``, ``git+``), in order:

1. **Pinned and present**: the lock file pins a sha256 and the store holds those bytes (re-hashed
   on read) -> use them (`pluginmgr.fetch.pinned_content`). No network at all; this is every warm
   start.
2. **Pinned, bytes missing or corrupted**: fetch from the current source and require the pinned
   hash. A mirror (another ``--plugin-repo``) serving the same bytes passes; different bytes fail
   with `IntegrityError` until ``pluginmgr lock --upgrade`` accepts them.
3. **Not pinned, or ``refresh``**: fetch (conditionally, so unchanged content costs a 304), store,
   record the version, pin it.

``registry:NAME[SPEC]`` references follow the same policy; the network step reads the index,
picks a version, verifies and safely extracts the artifact and its plugin dependencies
(`pluginmgr.fetch.registry_source`). Their lock entries keep ``rev`` = the version, ``commit`` = the
artifact's ``sha256:`` hash and ``source`` = ``plugin-registry:NAME==VERSION``; dependencies
are pinned as ``registry:NAME==VERSION``.

`collect` is the fetching half alone (nothing recorded or pinned): upgrade plans
(`pluginmgr.node.pin_plan`) fetch everything first and pin only when all of it succeeded. `dry_run`
gives a manager whose writes all go to a scratch store and an in-memory lock.

``offline`` never opens a socket: anything not satisfiable from lock + store is an `OfflineError`
naming the reference. Local references are read in place and hashed; they are not pinned,
because they are the user's own working files (upstream hot-reloads them).
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Final

from ..errors import IntegrityError, OfflineError, PluginManagerError, ResolveError
from ..settings import MAX_REDIRECTS, Settings
from .fetched import (
    FetchedPlugin,
    FetchProgress,
    FetchReport,
    VerifyReport,
    lock_entry,
)
from .lockfile import LockEntry, format_timestamp, read_lock, update_lock
from .pinned_content import fetched_plugin, materialize, pinned_plugin, with_locked_dependencies
from .refs import LocalRef, parse_ref
from .repo_sums import RepoSums
from .resolver import LocalSource, RegistrySource, Source, resolve
from .scratch_store import ScratchStore
from .store import Store, Version
from .transports import HTTPTransport, RoutingTransport, Transport

__all__ = ["PluginManager"]

_MAX_PARALLEL: Final = 16  # in-flight requests; uv allows 50, a static server copes


class PluginManager:
    """The front door for resolving, fetching, pinning and verifying plugins."""

    def __init__(
        self, settings: Settings, *, transport: Transport | None = None, store: Store | None = None
    ) -> None:
        self.settings = settings
        self._owns_store = store is None  # a store passed in is the caller's to close
        self.store = store or Store(settings.cache_dir)
        #: a dry run's pins (`dry_run`), read over the lock file; None writes the file
        self._pending: dict[str, LockEntry] | None = None
        self._lock_cache: tuple[tuple[int, int, int], dict[str, LockEntry]] | None = None
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
        #: the records (SHA256SUMS, mirror.json) of each repository fetched from, read once
        self._repo_sums = RepoSums(self._transport)

    def close(self) -> None:
        self._transport.close()
        if self._owns_store:
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
        lock = self.read_lock()
        report = self.collect(refs, refresh=refresh, lock=lock, progress=progress, on_done=on_done)
        fetched = report.all_plugins()
        self.record_versions(fetched)
        self._pin(fetched, lock)
        return report

    def collect(
        self,
        refs: Sequence[str],
        *,
        refresh: bool,
        lock: Mapping[str, LockEntry],
        progress: FetchProgress | None = None,
        on_done: Callable[[str], None] | None = None,
    ) -> FetchReport:
        """Fetch references into the store without recording or pinning anything."""
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
        return report

    def read_lock(self) -> dict[str, LockEntry]:
        """The lock file's entries, with a dry run's pending pins over them.

        Parsed once per version of the file (its inode, size and mtime): a plan reads the
        lock for every sibling of every plugin, and TOML parsing is the slow part.
        """
        path = self.settings.lock_path
        try:
            stat = path.stat()
        except FileNotFoundError:
            entries = {}
        else:
            key = (stat.st_ino, stat.st_size, stat.st_mtime_ns)
            if self._lock_cache is None or self._lock_cache[0] != key:
                self._lock_cache = (key, read_lock(path))
            entries = dict(self._lock_cache[1])
        if self._pending is not None:
            entries.update(self._pending)
        return entries

    def write_pins(
        self, entries: Sequence[LockEntry], *, removed: Sequence[str] = ()
    ) -> dict[str, LockEntry]:
        """Pin ``entries`` and unpin ``removed`` in one write of the lock file."""
        if self._pending is not None:
            self._pending.update({e.ref: e for e in entries})
            for ref in removed:
                self._pending.pop(ref, None)
            return self.read_lock()
        return update_lock(self.settings.lock_path, entries, removed=removed)

    @contextmanager
    def dry_run(self) -> Iterator[PluginManager]:
        """A manager that fetches like this one but writes nothing outside a temporary
        directory: blobs, trees, git clones and URL metadata go to a scratch store that reads
        through to this one (so revalidation stays conditional), pins stay in memory."""
        with tempfile.TemporaryDirectory(prefix="pluginmgr-dry-") as scratch:
            dry = PluginManager(
                self.settings,
                transport=self._transport,
                store=ScratchStore(self.store, Path(scratch)),
            )
            dry._pending = {}
            try:
                yield dry
            finally:
                dry.store.close()  # not the transport: it is this manager's

    def record_versions(self, plugins: Sequence[FetchedPlugin]) -> None:
        """Add fetched (not locked or local) content to each reference's version history."""
        now = time.time()
        seen = [
            Version(p.ref, p.sha256, p.size, now, now, p.source, p.kind, p.commit, p.rev)
            for p in plugins
            if p.origin in ("downloaded", "not-modified")
        ]
        if seen:
            self.store.record_versions(seen)

    def _pin(self, plugins: Sequence[FetchedPlugin], lock: Mapping[str, LockEntry]) -> None:
        entries = [lock_entry(p) for p in plugins if p.origin != "local"]
        unchanged = all(e.ref in lock and lock[e.ref].same_content(e) for e in entries)
        # the common warm start pins nothing new: skip the file lock and the re-read
        if entries and not unchanged and not self.settings.offline:
            self.write_pins(entries)

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
            pinned = self.pinned(text, entry)
            if pinned is not None and isinstance(source, RegistrySource):
                pinned = with_locked_dependencies(self.store, pinned, lock or {})
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
        from .content_sources import download

        pinned = entry if entry is not None and not refresh else None
        content = download(
            text,
            source,
            pinned,
            settings=self.settings,
            store=self.store,
            transport=self._transport,
            progress=progress,
            repo_sums=self._repo_sums,
        )
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
        return fetched_plugin(self.store, text, content, origin=origin, fetched_at=fetched_at)

    def pinned(self, text: str, entry: LockEntry) -> FetchedPlugin | None:
        """The pinned content from the store (re-hashed); None if absent or corrupted."""
        return pinned_plugin(self.store, text, entry)

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

    def _local(self, text: str, source: LocalSource) -> FetchedPlugin:
        from .content_sources import local_content

        content = local_content(source)
        stamp = format_timestamp(source.path.stat().st_mtime)
        return fetched_plugin(
            self.store, text, content, origin="local", fetched_at=stamp, path=source.path
        )

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
        for ref, entry in sorted(self.read_lock().items()):
            try:
                materialize(self.store, entry.kind, entry.sha256, ref)
            except (KeyError, FileNotFoundError):
                problems.append(
                    (ref, f"pinned content {entry.sha256[:12]} is missing from the store")
                )
            except IntegrityError as exc:
                problems.append((ref, exc.message))
        return VerifyReport(checked, corrupted, problems)

    def locked_refs(self) -> list[str]:
        """References pinned in the lock file, sorted."""
        return sorted(self.read_lock())
