"""Planning a mirror sync: which files a plugin repository's library and index call for.

Pure functions over parsed metadata: the plugins `--plugins` selects (with the plugins they
require), each one's files at their original paths, the index's artifacts, and where artifacts
land in DEST (the index's `artifacts_url` rewritten relative to DEST).
"""

from __future__ import annotations

import dataclasses
import posixpath
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from difflib import get_close_matches
from typing import Final
from urllib.parse import urljoin

from registry_index import LibraryEntry, RegistryIndex, read_index, write_index

from ..errors import MirrorError

__all__ = [
    "Job",
    "index_jobs",
    "library_jobs",
    "normalise_source",
    "rewrite_index",
    "select_plugins",
    "unique_jobs",
    "vouch",
]

#: files beside a plugin's entry point that are mirrored when the source has them
_SIBLINGS: Final = ("manifest.toml", "requirements.txt", "README.md")
#: artifacts hosted outside the source repository land here in DEST
_EXTERNAL_ARTIFACTS: Final = "artifacts"


@dataclass(frozen=True, slots=True)
class Job:
    """One file to mirror: its DEST path, its URL, and what to check or change."""

    path: str
    url: str
    optional: bool = False
    #: the hash the source published for these bytes, and who published it (for errors)
    sha256: str | None = None
    rewrite: Callable[[bytes], bytes] | None = None
    vouched_by: str = "the index hash"


def normalise_source(source: str) -> str:
    if not source.startswith(("http://", "https://", "file://")):
        message = f"unsupported mirror source {source!r}"
        raise MirrorError(
            message, hint="use an http(s):// or file:// repository base URL, or git+URL@REV"
        )
    return source if source.endswith("/") else source + "/"


def _artifact_dir(base: str, artifacts_url: str) -> tuple[str, str]:
    """(absolute artifacts URL with a trailing slash, its directory relative to DEST)."""
    absolute = urljoin(base, artifacts_url.rstrip("/") + "/")
    if absolute.startswith(base):
        return absolute, absolute[len(base) :].rstrip("/") or "."
    return absolute, _EXTERNAL_ARTIFACTS


def rewrite_index(base: str, source: str) -> Callable[[bytes], bytes]:
    def rewrite(body: bytes) -> bytes:
        index = read_index(body.decode("utf-8"), source=source)
        _, relative = _artifact_dir(base, index.artifacts_url)
        return write_index(dataclasses.replace(index, artifacts_url=relative)).encode()

    return rewrite


def _closure(wanted: set[str], edges: dict[str, set[str]]) -> set[str]:
    todo, seen = list(wanted), set()
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo.extend(edges.get(name, ()))
    return seen


def _aliases(library: list[LibraryEntry], names: Iterable[str]) -> list[dict[str, set[str]]]:
    """Ways to name a plugin, most exact first: name, name in any case, directory, its last part.

    A directory is the entry file's folder (``influxdata/downsampler``); index-only plugins
    have a name and nothing else.
    """
    exact: dict[str, set[str]] = {}
    folded: dict[str, set[str]] = {}
    folders: dict[str, set[str]] = {}
    leaves: dict[str, set[str]] = {}
    for name in names:
        exact.setdefault(name, set()).add(name)
        folded.setdefault(name.casefold(), set()).add(name)
    for entry in library:
        folders.setdefault(entry.path.casefold(), set()).add(entry.name)
        folder = posixpath.dirname(entry.path).casefold()
        if folder:  # a plugin at the repository root has no directory to be named by
            folders.setdefault(folder, set()).add(entry.name)
            leaves.setdefault(posixpath.basename(folder), set()).add(entry.name)
    return [exact, folded, folders, leaves]


def _match(wanted: str, tiers: list[dict[str, set[str]]]) -> str | None:
    """The one plugin ``wanted`` names, or None; a name that fits several is refused."""
    folded = wanted.strip("/").casefold()
    for i, tier in enumerate(tiers):
        found = tier.get(wanted if i == 0 else folded, set())
        if len(found) > 1:
            message = f"--plugins {wanted!r} matches several plugins: {', '.join(sorted(found))}"
            raise MirrorError(message, hint="name one exactly, or by its directory path")
        if found:
            return next(iter(found))
    return None


def _unknown_error(unknown: list[str], tiers: list[dict[str, set[str]]]) -> MirrorError:
    by_key = {key: names for tier in tiers[1:] for key, names in tier.items()}
    close = {
        name
        for wanted in unknown
        for key in get_close_matches(wanted.casefold(), by_key, n=3, cutoff=0.6)
        for name in by_key[key]
    }
    guess = f": did you mean {', '.join(sorted(close))}?" if close else ""
    known = ", ".join(sorted(tiers[0])) or "none"
    message = f"the source has no plugin named {', '.join(unknown)}{guess} (it has: {known})"
    return MirrorError(message, hint="fix --plugins; names match in any case, or by directory")


def select_plugins(
    names: Sequence[str] | None, library: list[LibraryEntry], index: RegistryIndex | None
) -> set[str] | None:
    """Plugin names to mirror (with their required plugins); None means all of them.

    A name matches a plugin's library or index name in any case, or its directory
    (``influxdata/downsampler`` or ``downsampler``); an exact name wins over the rest.
    """
    if names is None:
        return None
    edges: dict[str, set[str]] = {}
    for entry in library:
        edges.setdefault(entry.name, set()).update(p.name for p in entry.required_plugins)
    for item in index.plugins if index else ():
        edges.setdefault(item.name, set()).update(p.name for p in item.dependencies.plugins)
    tiers = _aliases(library, edges)
    matched = {wanted: _match(wanted, tiers) for wanted in names}
    unknown = [wanted for wanted, name in matched.items() if name is None]
    if unknown:
        raise _unknown_error(unknown, tiers)
    return _closure({name for name in matched.values() if name is not None}, edges)


def library_jobs(base: str, library: Iterable[LibraryEntry], chosen: set[str] | None) -> list[Job]:
    jobs: list[Job] = []
    for entry in library:
        if chosen is not None and entry.name not in chosen:
            continue
        jobs.append(Job(entry.path, base + entry.path))
        folder = posixpath.dirname(entry.path)
        for sibling in _SIBLINGS:
            path = posixpath.join(folder, sibling)
            jobs.append(Job(path, base + path, optional=True))
    return jobs


def index_jobs(
    base: str, index: RegistryIndex, artifacts_url: str, chosen: set[str] | None
) -> list[Job]:
    absolute, relative = _artifact_dir(base, artifacts_url)
    jobs = []
    for entry in index.plugins:
        if chosen is None or entry.name in chosen:
            name = entry.artifact_name
            path = name if relative == "." else f"{relative}/{name}"
            jobs.append(Job(path, absolute + name, sha256=entry.sha256))
    return jobs


def vouch(jobs: Iterable[Job], sums: Mapping[str, str] | None) -> list[Job]:
    """Attach the hashes a source's ``SHA256SUMS`` lists; drop optional files it does not list.

    A source that publishes its sums has listed every file it has, so an optional sibling missing
    from them is absent and costs no request. Without sums the jobs are returned as they are.
    """
    if sums is None:
        return list(jobs)
    vouched = []
    for job in jobs:
        digest = sums.get(job.path)
        if digest is None:
            if not job.optional:
                vouched.append(job)
        elif job.sha256 is None and job.rewrite is None:
            vouched.append(
                dataclasses.replace(job, sha256=digest, vouched_by="the source's SHA256SUMS")
            )
        else:
            vouched.append(job)
    return vouched


def unique_jobs(jobs: Iterable[Job]) -> list[Job]:
    by_path: dict[str, Job] = {}
    for job in jobs:
        held = by_path.get(job.path)
        if held is None or (held.optional and not job.optional):
            by_path[job.path] = job
    return list(by_path.values())
