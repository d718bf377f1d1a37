"""`sync_mirror`: copy a plugin repository into a static tree that air-gapped nodes can use.

The model is ``terraform providers mirror`` and the Go module proxy (registries-and-mirrors.md
§1.1, §2.3): DEST holds every file at its original path, so ``--plugin-repo file:///DEST/`` (or any
static web server over DEST) resolves the same ``gh:`` references as the source.

SOURCE is a repository base URL (http(s)/file, or ``git+URL@REV``) or a registry index URL
(``.../index.json``). A repository's plugins are discovered through
``influxdata/library/plugin_library.json`` (each entry's file plus the sibling ``manifest.toml``,
``requirements.txt`` and ``README.md`` when present) and/or a root ``index.json`` (then its
artifacts too). An index given directly brings only itself and its artifacts. DEST's
``index.json`` has its ``artifacts_url`` made relative to DEST.

What a re-sync spends (`mirror_fetch`): nothing for an artifact DEST holds with the index hash
(versions are immutable) or for a file whose hash the source's own ``SHA256SUMS`` lists (a
pluginmgr mirror publishes one, so mirrors of mirrors are cheap); one conditional request for
every other file, and nothing written on a 304. DEST gets ``SHA256SUMS`` (for `verify_mirror` and
``sha256sum -c``) and ``mirror.json`` (source, rev, time, validators).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Final
from urllib.parse import urlsplit

from registry_index import (
    LibraryEntry,
    RegistryIndex,
    RegistryIndexError,
    read_index,
    read_plugin_library,
)

from ..deps.wheel_target import Target
from ..errors import MirrorError
from ..fetch.transports import FetchRequest, Transport
from ..settings import DEFAULT_CONNECT_TIMEOUT, DEFAULT_READ_TIMEOUT, DEFAULT_RETRIES
from .fetch import Outcome, Syncer
from .git import GIT_BASE, GitTreeTransport, default_git_cache, parse_git_source
from .plan import (
    Job,
    index_jobs,
    library_jobs,
    normalise_source,
    rewrite_index,
    select_plugins,
    unique_jobs,
    vouch,
)
from .pylock import LoadedLock, load_pylocks, pylock_outcomes
from .state import (
    MIRROR_JSON,
    SHA256SUMS,
    FileState,
    MirrorState,
    VerifyResult,
    dest_lock,
    dest_path,
    parse_sums,
    prune_files,
    read_state,
    remove_temp_files,
    render_sums,
    state_json,
    verify_mirror,
    write_if_changed,
)
from .wheels import WheelOptions, wheel_outcomes

__all__ = [
    "INDEX_PATH",
    "LIBRARY_PATH",
    "MirrorFailure",
    "MirrorProgress",
    "MirrorReport",
    "VerifyResult",
    "WheelOptions",
    "sync_mirror",
    "verify_mirror",
]

LIBRARY_PATH: Final = "influxdata/library/plugin_library.json"
INDEX_PATH: Final = "index.json"
_MAX_SUMS_BYTES: Final = 64 * 1024 * 1024

#: called after each file settles with (path, files done, files planned)
MirrorProgress = Callable[[str, int, int], None]


@dataclass(frozen=True, slots=True)
class MirrorFailure:
    """A file that could not be mirrored this run; DEST keeps its previous copy, if any."""

    path: str
    url: str
    message: str


@dataclass(frozen=True, slots=True)
class MirrorReport:
    """What `sync_mirror` did, by file path relative to DEST."""

    source: str
    dest: Path
    rev: str | None = None
    new: tuple[str, ...] = ()
    updated: tuple[str, ...] = ()
    unchanged: tuple[str, ...] = ()
    deleted: tuple[str, ...] = ()
    stale: tuple[str, ...] = ()
    failures: tuple[MirrorFailure, ...] = ()
    requests: int = 0
    bytes_downloaded: int = 0
    #: with ``with_deps``: the wheels (paths under DEST) the plugins need, or the pylocks lock
    wheels: tuple[str, ...] = ()
    #: temp files a killed sync had left in DEST, removed before this one started
    temp_files_removed: int = 0

    @property
    def ok(self) -> bool:
        """True when every planned file was mirrored."""
        return not self.failures

    def to_dict(self) -> dict[str, object]:
        """A JSON-ready view (for ``--format json``)."""
        data = dataclasses.asdict(self)
        data["dest"] = str(self.dest)
        data["ok"] = self.ok
        return data


@dataclass(frozen=True, slots=True)
class _Source:
    """Where a sync reads from."""

    label: str  #: the source as recorded in mirror.json
    base: str  #: the URL job paths are relative to
    transport: Transport
    index_url: str | None = None  #: a registry index given directly: nothing else is probed


def _open_source(
    source: str, transport: Transport | None, retries: int, git_cache: Path | None
) -> _Source:
    active = transport if transport is not None else _default_transport(retries)
    if source.startswith("git+"):
        url, rev = parse_git_source(source)
        cache = git_cache if git_cache is not None else default_git_cache()
        return _Source(
            source, GIT_BASE, GitTreeTransport(url, rev, repos_dir=cache, fallback=active)
        )
    base = normalise_source(source)
    if urlsplit(source).path.endswith(".json"):  # a registry index, not a repository
        return _Source(source, source.rsplit("/", 1)[0] + "/", active, index_url=source)
    return _Source(base, base, active)


def _default_transport(retries: int) -> Transport:
    from ..fetch.transports import HTTPTransport, RoutingTransport

    http = HTTPTransport(
        connect_timeout=DEFAULT_CONNECT_TIMEOUT, read_timeout=DEFAULT_READ_TIMEOUT, retries=retries
    )
    return RoutingTransport(http)


@dataclass(frozen=True, slots=True)
class _Discovery:
    outcomes: list[Outcome]
    library: list[LibraryEntry]
    index: RegistryIndex | None
    artifacts_url: str | None
    sums: dict[str, str] | None


def _source_sums(syncer: Syncer) -> dict[str, str] | None:
    """The source's own ``SHA256SUMS`` (None when it publishes none); one request."""
    url = syncer.base + SHA256SUMS
    response = syncer.request(FetchRequest(url=url, max_bytes=_MAX_SUMS_BYTES))
    if response.status == 404:
        return None
    if not response.ok:
        reason = response.status_message(url)
        raise MirrorError(f"cannot mirror {syncer.base}: {reason}", hint="check SOURCE")
    text = response.body.decode("utf-8", errors="replace")
    sums = parse_sums(text)
    # a server that answers 200 with a page for anything (a soft 404) must not look like a
    # source that lists no files: sums are used only when every line is a sum
    if not sums or len(sums) != sum(1 for line in text.splitlines() if line.strip()):
        return None
    return sums


def _discover(syncer: Syncer, source: _Source, previous: MirrorState | None) -> _Discovery:
    """Fetch the source's sums, library and index; parse what they say."""
    base, dest = syncer.base, syncer.dest
    index_url = source.index_url or base + INDEX_PATH
    index_job = Job(
        INDEX_PATH,
        index_url,
        optional=source.index_url is None,
        rewrite=rewrite_index(base, index_url),
    )
    if source.index_url is None:
        sums = _source_sums(syncer)
        jobs = vouch([Job(LIBRARY_PATH, base + LIBRARY_PATH, optional=True), index_job], sums)
    else:
        sums, jobs = None, [index_job]
    outcomes = _run(syncer, jobs, len(jobs), None)
    settled = {o.job.path: o for o in outcomes}
    try:
        library_text = _content(settled.get(LIBRARY_PATH), dest)
        library = read_plugin_library(library_text, path=LIBRARY_PATH) if library_text else []
        index_text = _content(settled.get(INDEX_PATH), dest)
        index = read_index(index_text, source=index_url) if index_text else None
    except RegistryIndexError as exc:
        raise MirrorError(
            f"cannot mirror {source.label}: {exc}", hint="fix the source's metadata"
        ) from exc
    artifacts_url: str | None = None
    if index is not None:
        artifacts_url = index.artifacts_url
        if settled[INDEX_PATH].status == "unchanged" and previous and previous.source_artifacts_url:
            artifacts_url = previous.source_artifacts_url
    if library_text is None and index_text is None:
        failed = [o.error for o in outcomes if o.error]
        if source.index_url is None:
            missing = f"it has neither {LIBRARY_PATH} nor {INDEX_PATH}"
        else:
            missing = "the index could not be read"
        reason = "; ".join(failed) if failed else missing
        raise MirrorError(
            f"cannot discover plugins at {source.label}: {reason}", hint="check SOURCE"
        )
    return _Discovery(outcomes, library, index, artifacts_url, sums)


def _content(outcome: Outcome | None, dest: Path) -> str | None:
    if outcome is None:
        return None
    if outcome.body is not None:
        return outcome.body.decode("utf-8")
    if outcome.status == "unchanged":
        return dest_path(dest, outcome.job.path).read_text(encoding="utf-8")
    return None


def _run(
    syncer: Syncer, jobs: list[Job], concurrency: int, progress: MirrorProgress | None
) -> list[Outcome]:
    """Settle every job: those DEST already vouches for here, the rest ``concurrency`` at once."""
    outcomes: list[Outcome] = []

    def settled(outcome: Outcome) -> None:
        outcomes.append(outcome)
        if progress is not None:
            progress(outcome.job.path, len(outcomes), len(jobs))

    remote = []
    for job in jobs:
        local = syncer.settled_locally(job)
        if local is None:
            remote.append(job)
        else:
            settled(local)
    if remote:
        with ThreadPoolExecutor(max_workers=max(1, min(concurrency, len(remote)))) as pool:
            for future in as_completed([pool.submit(syncer.fetch, job) for job in remote]):
                settled(future.result())
    return outcomes


def _by_status(outcomes: Iterable[Outcome], status: str) -> tuple[str, ...]:
    return tuple(sorted(o.job.path for o in outcomes if o.status == status))


def _finish(
    syncer: Syncer,
    outcomes: list[Outcome],
    previous: MirrorState | None,
    *,
    prune: bool,
    artifacts_url: str | None,
    label: str,
    rev: str | None,
    wheels: tuple[str, ...] = (),
) -> MirrorReport:
    files = dict(previous.files) if previous else {}
    for outcome in outcomes:
        if outcome.state is not None:
            files[outcome.job.path] = outcome.state
    in_source = {o.job.path for o in outcomes if o.status != "absent"}
    stale = set(files) - in_source
    failures = tuple(
        MirrorFailure(o.job.path, o.job.url, o.error or "failed")
        for o in sorted(outcomes, key=lambda o: o.job.path)
        if o.status == "failed"
    )
    deleted: list[str] = []
    if prune and not failures:  # never prune from a partial view of the source
        deleted = prune_files(syncer.dest, stale)
        for path in deleted:
            files.pop(path, None)
        stale = set()
    changed = write_if_changed(syncer.dest / SHA256SUMS, render_sums(files))
    changed = changed or any(o.status in ("new", "updated") for o in outcomes) or bool(deleted)
    synced_at = previous.synced_at if previous and not changed else _now()
    state = MirrorState(label, synced_at, files, artifacts_url, rev)
    write_if_changed(syncer.dest / MIRROR_JSON, state_json(state))
    return MirrorReport(
        source=label,
        dest=syncer.dest,
        rev=rev,
        new=_by_status(outcomes, "new"),
        updated=_by_status(outcomes, "updated"),
        unchanged=_by_status(outcomes, "unchanged"),
        deleted=tuple(deleted),
        stale=tuple(sorted(stale)),
        failures=failures,
        requests=syncer.requests,
        bytes_downloaded=syncer.bytes_downloaded,
        wheels=wheels,
    )


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def sync_mirror(
    source: str,
    dest: Path,
    *,
    plugins: Sequence[str] | None = None,
    prune: bool = False,
    transport: Transport | None = None,
    concurrency: int = 8,
    progress: MirrorProgress | None = None,
    retries: int = DEFAULT_RETRIES,
    git_cache: Path | None = None,
    with_deps: bool = False,
    wheel_options: WheelOptions | None = None,
) -> MirrorReport:
    """Mirror the plugin repository at ``source`` (http(s) or file base URL) into ``dest``.

    :param plugins: mirror only these plugins (and the plugins they require); None means all.
    :param prune: delete files a previous sync wrote that the source no longer has (skipped when
        any file failed, so a flaky source never empties the mirror).
    :param transport: how to fetch; default http(s) + file with ``retries`` retries.
    :param git_cache: bare repository cache for ``git+URL@REV`` sources (default
        ``$XDG_CACHE_HOME/pluginmgr/git``); ``mirror.json`` records the commit REV resolved to.
    :param progress: called with (path, done, total) after each file settles.
    :param with_deps: also fill ``DEST/wheels``: with ``wheel_options.pylocks``, exactly the
        files those pylock.toml files lock for the target interpreter (`pylock_outcomes`, each
        verified against the lock's hash); without, every wheel the mirrored plugins' declared
        requirements resolve to (``pip download``, see `download_wheels`). ``wheel_options``
        says where from and for which interpreter/platform.
    Raises `MirrorError` when nothing can be discovered at ``source``, or before anything is
    downloaded when a pylock is missing or invalid; a failed file does not raise, it is listed
    in `MirrorReport.failures` and DEST keeps its previous copy.
    """
    options = wheel_options or WheelOptions()
    # a missing or invalid pylock, or a bad target, refuses before DEST is made
    locks = load_pylocks(options.pylocks) if with_deps else ()
    target = Target.parse(options.python_version, options.platform) if locks else Target()
    dest = dest.resolve()
    dest.mkdir(parents=True, exist_ok=True)
    with dest_lock(dest):  # one sync per DEST: the temp files left there are a killed sync's
        cleaned = remove_temp_files(dest)
        report = _sync(
            source, dest, plugins, prune, transport, concurrency, progress, retries, git_cache,
            with_deps, options, locks, target,
        )  # fmt: skip
    return dataclasses.replace(report, temp_files_removed=cleaned)


def _sync(
    source: str,
    dest: Path,
    plugins: Sequence[str] | None,
    prune: bool,
    transport: Transport | None,
    concurrency: int,
    progress: MirrorProgress | None,
    retries: int,
    git_cache: Path | None,
    with_deps: bool,
    options: WheelOptions,
    locks: Sequence[LoadedLock],
    target: Target,
) -> MirrorReport:
    """`sync_mirror` once DEST exists and is locked."""
    src = _open_source(source, transport, retries, git_cache)
    previous = read_state(dest)
    known = dict(previous.files) if previous and previous.source == src.label else {}
    syncer = Syncer(src.base, dest, src.transport, known)
    try:
        found = _discover(syncer, src, previous)
        chosen = select_plugins(plugins, found.library, found.index)
        jobs = library_jobs(src.base, found.library, chosen)
        if found.index is not None and found.artifacts_url is not None:
            jobs += index_jobs(src.base, found.index, found.artifacts_url, chosen)
        planned = {o.job.path for o in found.outcomes}
        todo = vouch([j for j in unique_jobs(jobs) if j.path not in planned], found.sums)
        outcomes = found.outcomes + _run(syncer, todo, concurrency, progress)
    finally:
        if src.transport is not transport:
            src.transport.close()
    rev = src.transport.commit if isinstance(src.transport, GitTreeTransport) else None
    wheels: tuple[str, ...] = ()
    if with_deps and locks:
        extra, wheels = _locked_wheels(dest, locks, known, target, options, concurrency, retries)
        outcomes += extra
    elif with_deps:
        plugin_paths = [e.path for e in found.library if chosen is None or e.name in chosen]
        extra, wheels = wheel_outcomes(
            dest,
            plugin_paths,
            _index_requirements(found.index, chosen),
            outcomes,
            known,
            options,
        )
        outcomes += extra
    return _finish(
        syncer,
        outcomes,
        previous,
        prune=prune,
        artifacts_url=found.artifacts_url,
        label=src.label,
        rev=rev,
        wheels=wheels,
    )


def _locked_wheels(
    dest: Path,
    locks: Sequence[LoadedLock],
    known: dict[str, FileState],
    target: Target,
    options: WheelOptions,
    concurrency: int,
    retries: int,
) -> tuple[list[Outcome], tuple[str, ...]]:
    return pylock_outcomes(
        dest,
        locks,
        known,
        target,
        find_links=options.find_links,
        no_index=options.no_index,
        concurrency=concurrency,
        retries=retries,
    )


def _index_requirements(index: RegistryIndex | None, chosen: set[str] | None) -> list[str]:
    """The Python requirements of each chosen plugin's newest non-yanked version in the index.

    Only the newest: pip resolves all requirements together, and old versions' pins would
    conflict with new ones. Nodes that pin an older version install its wheels online or from a
    wheelhouse of their own.
    """
    if index is None:
        return []
    requirements: list[str] = []
    for name in sorted({e.name for e in index.plugins}):
        if chosen is not None and name not in chosen:
            continue
        live = [e for e in index.versions(name) if not e.yanked]
        if live:
            requirements += live[-1].dependencies.python
    return requirements
