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
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from registry_index import (
    RegistryIndex,
)

from ..deps.wheel_target import Target
from ..fetch.transports import Transport
from ..settings import DEFAULT_RETRIES
from .discover import (
    discover,
    open_source,
)
from .fetch import MirrorProgress, Outcome, Syncer, settle_jobs
from .git import GitTreeTransport
from .plan import (
    index_jobs,
    library_jobs,
    select_plugins,
    unique_jobs,
    vouch,
)
from .pylock import pylock_outcomes
from .pylock_plan import LoadedLock, load_pylocks
from .state import (
    MIRROR_JSON,
    SHA256SUMS,
    FileState,
    MirrorState,
    VerifyResult,
    dest_lock,
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
    "MirrorFailure",
    "MirrorProgress",
    "MirrorReport",
    "VerifyResult",
    "WheelOptions",
    "sync_mirror",
    "verify_mirror",
]


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
    src = open_source(source, transport, retries, git_cache)
    previous = read_state(dest)
    known = dict(previous.files) if previous and previous.source == src.label else {}
    syncer = Syncer(src.base, dest, src.transport, known)
    try:
        found = discover(syncer, src, previous)
        chosen = select_plugins(plugins, found.library, found.index)
        jobs = library_jobs(src.base, found.library, chosen)
        if found.index is not None and found.artifacts_url is not None:
            jobs += index_jobs(src.base, found.index, found.artifacts_url, chosen)
        planned = {o.job.path for o in found.outcomes}
        todo = vouch([j for j in unique_jobs(jobs) if j.path not in planned], found.sums)
        outcomes = found.outcomes + settle_jobs(syncer, todo, concurrency, progress)
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
