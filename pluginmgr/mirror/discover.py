"""What a mirror sync starts from: the source opened (`open_source`: a repository base URL, a
git source or a registry index), and the plugins and index it offers discovered (`discover`:
the library's ``plugin_library.json`` and/or the root ``index.json``, through the source's own
``SHA256SUMS`` when it publishes one)."""

from __future__ import annotations

from dataclasses import dataclass
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

from ..errors import MirrorError
from ..fetch.repo_sums import strict_sums
from ..fetch.transports import FetchRequest, Transport
from ..settings import DEFAULT_CONNECT_TIMEOUT, DEFAULT_READ_TIMEOUT
from .fetch import Outcome, Syncer, settle_jobs
from .git import GIT_BASE, GitTreeTransport, default_git_cache, parse_git_source
from .plan import (
    Job,
    normalise_source,
    rewrite_index,
    vouch,
)
from .state import SHA256SUMS, MirrorState, dest_path

__all__ = [
    "INDEX_PATH",
    "LIBRARY_PATH",
    "Discovery",
    "Source",
    "content",
    "default_transport",
    "discover",
    "open_source",
]


LIBRARY_PATH: Final = "influxdata/library/plugin_library.json"


INDEX_PATH: Final = "index.json"


_MAX_SUMS_BYTES: Final = 64 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class Source:
    """Where a sync reads from."""

    label: str  #: the source as recorded in mirror.json
    base: str  #: the URL job paths are relative to
    transport: Transport
    index_url: str | None = None  #: a registry index given directly: nothing else is probed


def open_source(
    source: str, transport: Transport | None, retries: int, git_cache: Path | None
) -> Source:
    active = transport if transport is not None else default_transport(retries)
    if source.startswith("git+"):
        url, rev = parse_git_source(source)
        cache = git_cache if git_cache is not None else default_git_cache()
        return Source(
            source, GIT_BASE, GitTreeTransport(url, rev, repos_dir=cache, fallback=active)
        )
    base = normalise_source(source)
    if urlsplit(source).path.endswith(".json"):  # a registry index, not a repository
        return Source(source, source.rsplit("/", 1)[0] + "/", active, index_url=source)
    return Source(base, base, active)


def default_transport(retries: int) -> Transport:
    from ..fetch.transports import HTTPTransport, RoutingTransport

    http = HTTPTransport(
        connect_timeout=DEFAULT_CONNECT_TIMEOUT, read_timeout=DEFAULT_READ_TIMEOUT, retries=retries
    )
    return RoutingTransport(http)


@dataclass(frozen=True, slots=True)
class Discovery:
    outcomes: list[Outcome]
    library: list[LibraryEntry]
    index: RegistryIndex | None
    artifacts_url: str | None
    sums: dict[str, str] | None


def source_sums(syncer: Syncer) -> dict[str, str] | None:
    """The source's own ``SHA256SUMS`` (None when it publishes none); one request."""
    url = syncer.base + SHA256SUMS
    response = syncer.request(FetchRequest(url=url, max_bytes=_MAX_SUMS_BYTES))
    if response.status == 404:
        return None
    if not response.ok:
        reason = response.status_message(url)
        raise MirrorError(f"cannot mirror {syncer.base}: {reason}", hint="check SOURCE")
    return strict_sums(response.body.decode("utf-8", errors="replace"))


def discover(syncer: Syncer, source: Source, previous: MirrorState | None) -> Discovery:
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
        sums = source_sums(syncer)
        jobs = vouch([Job(LIBRARY_PATH, base + LIBRARY_PATH, optional=True), index_job], sums)
    else:
        sums, jobs = None, [index_job]
    outcomes = settle_jobs(syncer, jobs, len(jobs), None)
    settled = {o.job.path: o for o in outcomes}
    try:
        library_text = content(settled.get(LIBRARY_PATH), dest)
        library = read_plugin_library(library_text, path=LIBRARY_PATH) if library_text else []
        index_text = content(settled.get(INDEX_PATH), dest)
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
    return Discovery(outcomes, library, index, artifacts_url, sums)


def content(outcome: Outcome | None, dest: Path) -> str | None:
    if outcome is None:
        return None
    if outcome.body is not None:
        return outcome.body.decode("utf-8")
    if outcome.status == "unchanged":
        return dest_path(dest, outcome.job.path).read_text(encoding="utf-8")
    return None
