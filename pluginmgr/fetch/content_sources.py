"""Reading a resolved source's bytes: downloads into the store (``gh:`` over HTTP or file://,
``git+``, ``registry:``) and local plugins hashed in place. `PluginManager` decides when; this
module only knows how."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from ..errors import ResolveError
from ..settings import Settings
from .content_checks import check_python_files
from .fetched import FetchProgress
from .hashes import sha256_hex, tree_manifest
from .lockfile import LockEntry
from .repo_sums import RepoSums
from .resolver import GitSource, HttpSource, LocalSource, RegistrySource, Source
from .store import Store
from .transports import Transport

__all__ = ["Content", "download", "local_content"]


@dataclass(frozen=True, slots=True)
class Content:
    """Bytes fetched from a source and put in the store (or, local, hashed in place)."""

    kind: str
    sha256: str
    size: int
    source: str
    not_modified: bool
    commit: str | None = None
    rev: str | None = None
    dependencies: tuple[Content, ...] = ()
    ref: str | None = None


def download(
    text: str,
    source: Source,
    pinned: LockEntry | None,
    *,
    settings: Settings,
    store: Store,
    transport: Transport,
    progress: FetchProgress | None = None,
    repo_sums: RepoSums | None = None,
) -> Content:
    """Download ``source`` into ``store``; a ``pinned`` git commit or registry version (from
    the lock) is what is fetched, else what the reference names now.

    :param repo_sums: the records (``SHA256SUMS``, ``mirror.json``) a ``gh:`` file must match
        when ``--plugin-repo`` keeps them (a mirror); None checks none.
    """
    if isinstance(source, RegistrySource):
        return _download_registry(text, source, pinned, settings, store, transport)
    if isinstance(source, HttpSource):
        token = settings.plugin_repo_token if source.authorized else None
        callback = None if progress is None else (lambda got, total: progress(text, got, total))
        from .url import fetch_url  # loaded by the first download: a local read never pays

        expect = None
        if repo_sums is not None and source.path is not None:
            # read once the file arrived: a failed fetch costs no request for the records
            base = source.url[: -len(source.path)]
            expect = partial(repo_sums.check, base, source.path, what=source.url, token=token)

        result = fetch_url(
            source.url,
            transport=transport,
            store=store,
            max_bytes=settings.max_file_bytes,
            token=token,
            progress=callback,
            deadline=settings.fetch_deadline,
            # a gh: file must stay inside --plugin-repo, symlinks resolved
            root=settings.plugin_repo if source.authorized else None,
            expect=expect,
        )
        return Content("file", result.sha256, result.size, source.url, result.not_modified)
    if isinstance(source, GitSource):
        pinned_commit = pinned.commit if pinned is not None else None
        return _download_git(source, pinned_commit, settings, store)
    raise ResolveError(f"{text}: cannot download a {type(source).__name__}", ref=text)


def _download_git(
    source: GitSource, pinned_commit: str | None, settings: Settings, store: Store
) -> Content:
    # gitpython is slow to import; only git references pay for it
    from .git_source import fetch_git

    git = fetch_git(
        source.url,
        pinned_commit or source.rev,
        source.path,
        repos_dir=store.root / "git",
        max_bytes=settings.max_file_bytes,
    )
    where = f"{source.url}@{git.commit}#path={source.path}"
    hint = "fix the file in the repository, or pin a revision where it compiles; nothing was pinned"
    check_python_files(where, git.files, hint=hint)
    if git.kind == "file":
        data = next(iter(git.files.values()))
        digest, size = store.put(data), len(data)
    else:
        digest, size = store.put_tree(git.files), sum(map(len, git.files.values()))
    return Content(git.kind, digest, size, where, False, commit=git.commit)


def _download_registry(
    text: str,
    source: RegistrySource,
    pinned: LockEntry | None,
    settings: Settings,
    store: Store,
    transport: Transport,
) -> Content:
    from .registry_source import REGISTRY_KIND, fetch_registry

    resolution = fetch_registry(
        source.index_url,
        source.name,
        source.specifier,
        ref=text,
        transport=transport,
        store=store,
        max_bytes=settings.max_file_bytes,
        pinned_version=pinned.rev if pinned is not None else None,
        pinned_artifact=pinned.commit if pinned is not None else None,
    )
    found = [resolution.root, *resolution.dependencies]
    contents = [
        Content(
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


def local_content(source: LocalSource) -> Content:
    """A plugin-dir file or package, hashed where it is (a package as a tree manifest)."""
    if source.is_directory:
        files = _read_tree(source.path)
        digest, size = sha256_hex(tree_manifest(files)), sum(map(len, files.values()))
    else:
        data = source.path.read_bytes()
        digest, size = sha256_hex(data), len(data)
    kind = "directory" if source.is_directory else "file"
    return Content(kind, digest, size, str(source.path), False)


def _read_tree(root: Path) -> dict[str, bytes]:
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"
    }
