"""`sync_mirror`: copy a plugin repository into a static tree that air-gapped nodes can use.

The model is ``terraform providers mirror`` and the Go module proxy (registries-and-mirrors.md
§1.1, §2.3): DEST holds every file at its original path, so ``--plugin-repo file:///DEST/`` (or any
static web server over DEST) resolves the same ``gh:`` references as the source. Plugins are
discovered through ``influxdata/library/plugin_library.json`` (each entry's file plus the sibling
``manifest.toml``, ``requirements.txt`` and ``README.md`` when present) and/or a root
``index.json`` (then its artifacts too, and DEST gets an ``index.json`` whose ``artifacts_url`` is
relative to itself). ``mirror.json`` keeps the validators each file was served with, so a re-sync
sends one conditional request per file and writes nothing for a 304; ``SHA256SUMS`` lists every
file for `verify_mirror` and for ``sha256sum -c``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import threading
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

from registry_index import (
    LibraryEntry,
    RegistryIndex,
    RegistryIndexError,
    read_index,
    read_plugin_library,
)

from .atomic import atomic_write
from .declared_deps import declared_deps_for_path
from .errors import FETCH_STATUS_MESSAGE, PluginManagerError
from .mirror_git import GIT_BASE, GitTreeTransport, default_git_cache, parse_git_source
from .mirror_plan import (
    Job,
    index_jobs,
    library_jobs,
    normalise_source,
    rewrite_index,
    select_plugins,
    unique_jobs,
)
from .mirror_state import (
    MIRROR_JSON,
    SHA256SUMS,
    FileState,
    MirrorError,
    MirrorState,
    VerifyResult,
    dest_path,
    file_sha256,
    prune_files,
    read_state,
    render_sums,
    state_json,
    verify_mirror,
    write_if_changed,
)
from .mirror_wheels import WHEELS_DIR, WheelOptions, download_wheels
from .settings import DEFAULT_CONNECT_TIMEOUT, DEFAULT_READ_TIMEOUT, DEFAULT_RETRIES
from .transports import FetchRequest, FetchResponse, Transport

__all__ = [
    "INDEX_PATH",
    "LIBRARY_PATH",
    "MirrorError",
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
_MAX_BYTES: Final = 256 * 1024 * 1024

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
    #: with ``with_deps``: the wheels (paths under DEST) the mirrored plugins need
    wheels: tuple[str, ...] = ()

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
class _Outcome:
    job: Job
    status: str  # new | updated | unchanged | absent | failed
    state: FileState | None = None
    body: bytes | None = None  # the source's bytes, when they were downloaded
    error: str | None = None


@dataclass
class _Syncer:
    """Fetches one file per request, conditionally, and writes it atomically under DEST."""

    base: str
    dest: Path
    transport: Transport
    previous: dict[str, FileState]
    max_bytes: int = _MAX_BYTES
    requests: int = 0
    bytes_downloaded: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def fetch(self, job: Job) -> _Outcome:
        try:
            return self._fetch(job)
        except (PluginManagerError, RegistryIndexError, OSError) as exc:
            return _Outcome(job, "failed", error=str(exc))

    def _fetch(self, job: Job) -> _Outcome:
        target = dest_path(self.dest, job.path)
        prev = self.previous.get(job.path)
        headers = _conditional_headers(prev, target)
        request = FetchRequest(url=job.url, max_bytes=self.max_bytes, headers=headers)
        response = self.transport.handle(request)
        with self._lock:
            self.requests += 1
            self.bytes_downloaded += len(response.body)
        if response.status == 304 and headers and prev is not None:
            return _Outcome(job, "unchanged", state=prev)
        if response.status == 404 and job.optional:
            return _Outcome(job, "absent")
        if not response.ok:
            status = f"{response.status} {response.reason}".strip()
            return _Outcome(
                job, "failed", error=FETCH_STATUS_MESSAGE.format(status=status, url=job.url)
            )
        return self._store(job, target, response)

    def _store(self, job: Job, target: Path, response: FetchResponse) -> _Outcome:
        body = response.body
        if job.sha256 is not None and hashlib.sha256(body).hexdigest() != job.sha256:
            error = f"{job.url} does not match the index hash sha256:{job.sha256}; not mirrored"
            return _Outcome(job, "failed", error=error)
        data = job.rewrite(body) if job.rewrite is not None else body
        state = FileState(
            sha256=hashlib.sha256(data).hexdigest(),
            size=len(data),
            etag=response.headers.get("etag"),
            last_modified=response.headers.get("last-modified"),
        )
        present = target.is_file()
        # a server that ignores conditional requests re-sends unchanged bytes: do not rewrite
        if present and _same_file(target, state):
            return _Outcome(job, "unchanged", state=state, body=body)
        atomic_write(target, data)
        return _Outcome(job, "updated" if present else "new", state=state, body=body)


def _conditional_headers(prev: FileState | None, target: Path) -> dict[str, str]:
    # a 304 only helps if DEST still holds the bytes it would vouch for
    if prev is None or not target.is_file() or target.stat().st_size != prev.size:
        return {}
    headers = {}
    if prev.etag:
        headers["If-None-Match"] = prev.etag
    if prev.last_modified:
        headers["If-Modified-Since"] = prev.last_modified
    return headers


def _same_file(target: Path, state: FileState) -> bool:
    if target.stat().st_size != state.size:
        return False
    return hashlib.sha256(target.read_bytes()).hexdigest() == state.sha256


def _open_source(
    source: str, transport: Transport | None, retries: int, git_cache: Path | None
) -> tuple[str, str, Transport]:
    """(the source as recorded, the base URL jobs use, the transport that serves it)."""
    if source.startswith("git+"):
        url, rev = parse_git_source(source)
        fallback = transport if transport is not None else _default_transport(retries)
        cache = git_cache if git_cache is not None else default_git_cache()
        return source, GIT_BASE, GitTreeTransport(url, rev, repos_dir=cache, fallback=fallback)
    base = normalise_source(source)
    return base, base, transport if transport is not None else _default_transport(retries)


def _default_transport(retries: int) -> Transport:
    from .transports import HTTPTransport, RoutingTransport

    http = HTTPTransport(
        connect_timeout=DEFAULT_CONNECT_TIMEOUT, read_timeout=DEFAULT_READ_TIMEOUT, retries=retries
    )
    return RoutingTransport(http)


def _discover(
    syncer: _Syncer, previous: MirrorState | None
) -> tuple[list[_Outcome], list[LibraryEntry], RegistryIndex | None, str | None]:
    """Fetch the library and the index; return their outcomes, contents and artifacts_url."""
    base, dest = syncer.base, syncer.dest
    library_out = syncer.fetch(Job(LIBRARY_PATH, base + LIBRARY_PATH, optional=True))
    index_job = Job(
        INDEX_PATH,
        base + INDEX_PATH,
        optional=True,
        rewrite=rewrite_index(base, base + INDEX_PATH),
    )
    index_out = syncer.fetch(index_job)
    outcomes = [library_out, index_out]
    try:
        library_text = _content(library_out, dest)
        library = read_plugin_library(library_text, path=LIBRARY_PATH) if library_text else []
        index_text = _content(index_out, dest)
        index = read_index(index_text, source=base + INDEX_PATH) if index_text else None
    except RegistryIndexError as exc:
        raise MirrorError(f"cannot mirror {base}: {exc}", hint="fix the source's metadata") from exc
    artifacts_url: str | None = None
    if index is not None:
        artifacts_url = index.artifacts_url
        if index_out.status == "unchanged" and previous and previous.source_artifacts_url:
            artifacts_url = previous.source_artifacts_url
    if library_text is None and index_text is None:
        failed = [o.error for o in outcomes if o.error]
        reason = "; ".join(failed) if failed else f"it has neither {LIBRARY_PATH} nor {INDEX_PATH}"
        raise MirrorError(f"cannot discover plugins at {base}: {reason}", hint="check SOURCE")
    return outcomes, library, index, artifacts_url


def _content(outcome: _Outcome, dest: Path) -> str | None:
    if outcome.body is not None:
        return outcome.body.decode("utf-8")
    if outcome.status == "unchanged":
        return dest_path(dest, outcome.job.path).read_text(encoding="utf-8")
    return None


def _run(
    syncer: _Syncer, jobs: list[Job], concurrency: int, progress: MirrorProgress | None
) -> list[_Outcome]:
    outcomes: list[_Outcome] = []
    with ThreadPoolExecutor(max_workers=max(1, concurrency)) as pool:
        futures = [pool.submit(syncer.fetch, job) for job in jobs]
        for future in as_completed(futures):
            outcome = future.result()
            outcomes.append(outcome)
            if progress is not None:
                progress(outcome.job.path, len(outcomes), len(jobs))
    return outcomes


def _plugin_requirements(
    dest: Path, paths: Iterable[str], settled: dict[str, _Outcome]
) -> tuple[list[str], list[_Outcome]]:
    """The requirements the mirrored plugin files declare (read from DEST), and the failures."""
    requirements: list[str] = []
    failed: list[_Outcome] = []
    for path in paths:
        outcome = settled.get(path)
        target = dest_path(dest, path)
        if outcome is None or outcome.status in ("failed", "absent") or not target.is_file():
            continue  # already reported as a failure (or never planned)
        try:
            requirements += declared_deps_for_path(target).requirements
        except PluginManagerError as exc:
            job = Job(path, outcome.job.url)
            failed.append(_Outcome(job, "failed", error=f"cannot read its dependencies: {exc}"))
    return list(dict.fromkeys(requirements)), failed


def _wheel_outcomes(
    dest: Path,
    plugin_paths: Iterable[str],
    outcomes: list[_Outcome],
    known: dict[str, FileState],
    options: WheelOptions,
) -> tuple[list[_Outcome], tuple[str, ...]]:
    """Download the plugins' wheels into DEST/wheels; one outcome per wheel (or the failure)."""
    settled = {o.job.path: o for o in outcomes}
    requirements, failed = _plugin_requirements(dest, plugin_paths, settled)
    wheels_dir = dest / WHEELS_DIR
    try:
        report = download_wheels(
            requirements,
            wheels_dir,
            find_links=options.find_links,
            no_index=options.no_index,
            index_url=options.index_url,
            python_version=options.python_version,
            platform=options.platform,
        )
    except PluginManagerError as exc:
        job = Job(WHEELS_DIR, "pip download")
        return [*failed, _Outcome(job, "failed", error=str(exc))], ()
    result = failed
    paths = []
    for name in report.wheels:
        path = f"{WHEELS_DIR}/{name}"
        target = wheels_dir / name
        state = FileState(sha256=file_sha256(target), size=target.stat().st_size)
        prev = known.get(path)
        if prev is None:  # first recorded (pip may have found it already in DEST/wheels)
            status = "new"
        else:
            status = "unchanged" if prev.sha256 == state.sha256 else "updated"
        result.append(_Outcome(Job(path, target.as_uri()), status, state=state))
        paths.append(path)
    return result, tuple(paths)


def _by_status(outcomes: Iterable[_Outcome], status: str) -> tuple[str, ...]:
    return tuple(sorted(o.job.path for o in outcomes if o.status == status))


def _finish(
    syncer: _Syncer,
    outcomes: list[_Outcome],
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
    :param with_deps: also download into ``DEST/wheels`` (with ``pip download``, see
        `download_wheels`) every wheel the mirrored plugins' declared requirements resolve to;
        ``wheel_options`` says where from and for which interpreter/platform.
    Raises `MirrorError` when nothing can be discovered at ``source``; a failed file does not
    raise, it is listed in `MirrorReport.failures` and DEST keeps its previous copy.
    """
    label, base, active = _open_source(source, transport, retries, git_cache)
    own_transport = active is not transport
    dest = dest.resolve()
    dest.mkdir(parents=True, exist_ok=True)
    previous = read_state(dest)
    known = dict(previous.files) if previous and previous.source == label else {}
    syncer = _Syncer(base, dest, active, known)
    try:
        outcomes, library, index, artifacts_url = _discover(syncer, previous)
        chosen = select_plugins(plugins, library, index)
        jobs = library_jobs(base, library, chosen)
        if index is not None and artifacts_url is not None:
            jobs += index_jobs(base, index, artifacts_url, chosen)
        planned = {o.job.path for o in outcomes}
        outcomes += _run(
            syncer, [j for j in unique_jobs(jobs) if j.path not in planned], concurrency, progress
        )
    finally:
        if own_transport:
            active.close()
    rev = active.commit if isinstance(active, GitTreeTransport) else None
    wheels: tuple[str, ...] = ()
    if with_deps:
        plugin_paths = [e.path for e in library if chosen is None or e.name in chosen]
        extra, wheels = _wheel_outcomes(
            dest, plugin_paths, outcomes, known, wheel_options or WheelOptions()
        )
        outcomes += extra
    return _finish(
        syncer,
        outcomes,
        previous,
        prune=prune,
        artifacts_url=artifacts_url,
        label=label,
        rev=rev,
        wheels=wheels,
    )
