"""Fetching one mirrored file: skip it when a hash vouches for DEST's copy, else ask conditionally.

A file costs no request at all when something the source published already vouches for it: an
index artifact is immutable and named by its ``sha256:`` hash, and a source that publishes a
``SHA256SUMS`` (a pluginmgr mirror does) lists the hash of every file. DEST's copy is re-hashed
before it is trusted. Anything else is revalidated with the ETag / Last-Modified the source sent
last time, and a 304 writes nothing. Downloaded bytes are checked against the vouching hash before
they are written, atomically.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from registry_index import (
    RegistryIndexError,
)

from ..atomic import atomic_write
from ..errors import PluginManagerError
from ..fetch.content_checks import check_plugin_source
from ..fetch.hashes import sha256_file, sha256_hex
from ..fetch.transports import (
    FetchRequest,
    FetchResponse,
    Transport,
    conditional_headers,
    trusted_last_modified,
)
from .plan import (
    Job,
)
from .state import (
    FileState,
    dest_path,
)

__all__ = [
    "MAX_FILE_BYTES",
    "MirrorProgress",
    "Outcome",
    "Syncer",
    "settle_jobs",
]

MAX_FILE_BYTES: Final = 256 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class Outcome:
    """How one job settled: new | updated | unchanged | absent | failed."""

    job: Job
    status: str
    state: FileState | None = None
    body: bytes | None = None  # the source's bytes, when they were downloaded
    error: str | None = None


@dataclass
class Syncer:
    """Settles jobs against one source and DEST; counts the requests and bytes it spent."""

    base: str
    dest: Path
    transport: Transport
    previous: dict[str, FileState]
    max_bytes: int = MAX_FILE_BYTES
    #: seconds one file's download may take in total (None: the transport's default)
    deadline: float | None = None
    requests: int = 0
    bytes_downloaded: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def fetch(self, job: Job) -> Outcome:
        """Settle `job` over the network (after `settled_locally` found nothing vouching for
        DEST's copy); never raises for a per-file problem (it becomes a failed outcome)."""
        try:
            return self._settle(job)
        except (PluginManagerError, RegistryIndexError, OSError) as exc:
            return Outcome(job, "failed", error=str(exc))

    def request(self, request: FetchRequest) -> FetchResponse:
        """Send `request` to the source, counting it and its body bytes."""
        response = self.transport.handle(request)
        with self._lock:
            self.requests += 1
            self.bytes_downloaded += len(response.body)
        return response

    def settled_locally(self, job: Job) -> Outcome | None:
        """`job`'s outcome when a published hash vouches for DEST's copy (no request), else None."""
        try:
            target = dest_path(self.dest, job.path)
            vouched = _vouched_state(job, target, self.previous.get(job.path))
        except (PluginManagerError, OSError) as exc:
            return Outcome(job, "failed", error=str(exc))
        return None if vouched is None else Outcome(job, "unchanged", state=vouched)

    def _settle(self, job: Job) -> Outcome:
        target = dest_path(self.dest, job.path)
        prev = self.previous.get(job.path)
        headers = _conditional_headers(prev, target)
        request = FetchRequest(
            job.url,
            max_bytes=self.max_bytes,
            headers=headers,
            deadline=self.deadline,
            root=self.base,
        )
        response = self.request(request)
        if response.status == 304 and headers and prev is not None:
            return Outcome(job, "unchanged", state=prev)
        if response.status == 404 and job.optional:
            return Outcome(job, "absent")
        if not response.ok:
            return Outcome(job, "failed", error=response.status_message(job.url))
        return self._store(job, target, response)

    def _store(self, job: Job, target: Path, response: FetchResponse) -> Outcome:
        body = response.body
        # a soft-404 page must not become the mirror's copy of a plugin
        check_plugin_source(job.url, body, response.headers)
        digest = sha256_hex(body)
        if job.sha256 is not None and digest != job.sha256:
            error = f"{job.url} does not match {job.vouched_by} (sha256:{job.sha256}); not mirrored"
            return Outcome(job, "failed", error=error)
        data = job.rewrite(body) if job.rewrite is not None else body
        state = FileState(
            sha256=digest if data is body else sha256_hex(data),
            size=len(data),
            etag=response.headers.get("etag"),
            last_modified=trusted_last_modified(response.headers, time.time()),
        )
        present = target.is_file()
        # a server that ignores conditional requests re-sends unchanged bytes: do not rewrite
        if present and _same_file(target, state):
            return Outcome(job, "unchanged", state=state, body=body)
        atomic_write(target, data)
        return Outcome(job, "updated" if present else "new", state=state, body=body)


def _vouched_state(job: Job, target: Path, prev: FileState | None) -> FileState | None:
    """DEST's state for `job` when a published hash proves DEST already holds its bytes."""
    if job.sha256 is None or job.rewrite is not None or not target.is_file():
        return None
    if sha256_file(target) != job.sha256:
        return None
    if prev is not None and prev.sha256 == job.sha256:
        return prev  # keep the validators recorded with it
    return FileState(sha256=job.sha256, size=target.stat().st_size)


def _conditional_headers(prev: FileState | None, target: Path) -> dict[str, str]:
    # a 304 only helps if DEST still holds the bytes it would vouch for
    if prev is None or not target.is_file() or target.stat().st_size != prev.size:
        return {}
    return conditional_headers(prev.etag, prev.last_modified)


def _same_file(target: Path, state: FileState) -> bool:
    if target.stat().st_size != state.size:
        return False
    return sha256_file(target) == state.sha256


#: called after each file settles with (path, files done, files planned)
MirrorProgress = Callable[[str, int, int], None]


def settle_jobs(
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
