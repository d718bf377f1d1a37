"""Plugins from git repositories (``git+URL[@REV]#path=PATH``), fetched with GitPython.

Design:

* **One bare repository per URL** at ``repos_dir/<first 16 hex of sha256(url)>``, kept between
  runs; each resolved commit gets a ``refs/pluginmgr/pins/<sha>`` ref. A full sha already there
  is served with no fetch at all, so a lock file's pin works when the remote is gone.
* **Shallow fetches of one thing**: ``git fetch --depth=1 URL <src>`` for the remote's ``HEAD``, a
  branch, a tag or a full sha, into a fresh temporary ref (not ``FETCH_HEAD``, which concurrent
  processes would share). Abbreviated shas, and servers that refuse a sha in ``want`` (protocol v0
  without ``uploadpack.allowReachableSHA1InWant``), fall back to one full fetch of heads and tags
  into ``refs/pluginmgr/`` (unshallowing the cache), then a local lookup.
* **Pin by commit**: callers record `GitContent.commit`; tags and branches move, a sha does not.
* Files are read from tree objects; nothing is checked out, so no hook or filter ever runs.
* **Crash leftovers**: fetches of one repository are serialized by a ``flock`` of ours, so under
  it any git ``*.lock`` file in the repository (``shallow.lock`` after a killed fetch) is stale
  and is removed, with a warning, before fetching.

Security (GitPython cautions, registries-and-mirrors.md §4):

* No shell, and a fixed argv built here. GitPython's unsafe-option checks were bypassed more than
  once (CVE-2022-24439 ``ext::`` URLs, CVE-2023-40267, option-abbreviation bypasses), so they are
  not relied on: user input comes after ``--end-of-options`` (git >= 2.24), URLs containing ``::``
  (transport helpers) or starting with ``-`` are refused, and ``-c protocol.allow=never``
  allowlists only the http, https, ssh, git and file transports.
* ``GIT_TERMINAL_PROMPT=0`` and a kill timeout on every fetch: a private repository fails instead
  of waiting for a password (an ssh passphrase prompt is ended by the timeout).
* Symlinks and submodules are refused, never followed, and so are file names with control
  characters (a newline would forge a tree manifest line). Each file is size-capped (a directory's
  total at 10x) before its bytes are read.
* GitPython leaks resources in long-running processes (README "Limitations"): every `Repo` is
  closed, with its ``cat-file`` helpers, before `fetch_git` returns.
"""

from __future__ import annotations

import hashlib
import logging
import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, Final

import git

from ..atomic import file_lock
from ..errors import GitError, TooLargeError
from .hashes import has_control_chars
from .refs import is_valid_git_rev

__all__ = ["GitContent", "GitPathNotFoundError", "fetch_git"]

_LOGGER = logging.getLogger(__name__)

_FULL_SHA: Final = re.compile(r"[0-9a-fA-F]{40}")
_SHA_LIKE: Final = re.compile(r"[0-9a-fA-F]{7,40}")
_PROTOCOLS: Final = ("http", "https", "ssh", "git", "file")
_GIT_CONFIG: Final = ("protocol.allow=never", *(f"protocol.{p}.allow=always" for p in _PROTOCOLS))
_FULL_REFSPECS: Final = tuple(f"+refs/{k}/*:refs/pluginmgr/{k}/*" for k in ("heads", "tags"))
_LINK_MODE: Final = 0o120000
_DIR_LIMIT_FACTOR: Final = 10
# git stderr: the remote lacks (or will not serve) the ref or sha; the repository is missing or
# we may not read it
_NO_REV: Final = ("couldn't find remote ref", "not our ref", "unadvertised object")
_NO_REPO: Final = ("does not appear to be a git repository", "not found", "could not read from")
_NO_ACCESS: Final = ("terminal prompts disabled", "authentication failed", "permission denied")
_REPO_HINT: Final = "check the URL and that you have access"
_REV_HINT: Final = "use an existing commit sha, tag or branch"


@dataclass(frozen=True, slots=True)
class GitContent:
    """Plugin content read from one commit."""

    commit: str  #: the full 40-hex sha the revision resolved to
    kind: str  #: ``"file"`` or ``"directory"``
    files: dict[str, bytes]  #: file: ``{name: bytes}``; directory: ``{relative posix path: bytes}``


@dataclass(frozen=True, slots=True)
class _Job:
    """One `fetch_git` call: the cache repository and what to fetch into it."""

    repo: git.Repo
    url: str
    rev: str | None
    timeout: float

    @property
    def rev_label(self) -> str:
        return self.rev if self.rev is not None else "HEAD"

    def error(self, message: str, hint: str | None = None) -> GitError:
        return GitError(message, url=self.url, hint=hint)


class GitPathNotFoundError(GitError):
    """The revision exists but has nothing at the path asked for."""


class _RevisionNotFound(GitError):
    """The remote has no such ref, or refuses to serve the sha asked for."""


def fetch_git(
    url: str, rev: str | None, path: str, *, repos_dir: Path, max_bytes: int, timeout: float = 60.0
) -> GitContent:
    """Fetch `rev` of the repository at `url` (shallow where possible); read `path` from it."""
    _check_inputs(url, rev)
    cache = repos_dir / hashlib.sha256(url.encode()).hexdigest()[:16]
    # one fetch per cache repository at a time: git's shallow.lock would fail a concurrent one
    lock = cache.with_name(f".{cache.name}.lck")
    with _translate_errors(url, cache), file_lock(lock), _open_cache(cache) as repo:
        _remove_stale_locks(cache)
        job = _Job(repo, url, rev, timeout)
        commit = _resolve(job)
        return _read(job, commit, path, max_bytes)


def _check_inputs(url: str, rev: str | None) -> None:
    if not url or url.startswith("-") or "::" in url or any(ord(c) < 32 for c in url):
        message = f"refusing git URL {url!r}: empty, option-like, '::' or control characters"
        raise GitError(message, url=url, hint="use an https://, ssh://, git:// or file:// URL")
    if rev is not None and not is_valid_git_rev(rev):
        message = f"invalid git revision {rev!r} for {url!r}"
        raise GitError(message, url=url, hint="use a commit sha, tag or branch name")


@contextmanager
def _translate_errors(url: str, cache: Path) -> Iterator[None]:
    """Map what GitPython raises outside a fetch or a revision lookup to `GitError`."""
    try:
        yield
    except git.exc.GitCommandNotFound as exc:
        message = f"cannot fetch {url!r}: the git executable was not found"
        raise GitError(message, url=url, hint="install git 2.24 or newer") from exc
    except git.GitCommandError as exc:
        message = f"git failed in the cache repository of {url!r}: {_detail(exc)}"
        raise GitError(message, url=url, hint=f"delete {cache} and retry") from exc
    except (git.exc.GitError, git.exc.ODBError, OSError) as exc:
        message = f"cannot use the git cache repository {str(cache)!r} for {url!r}: {exc}"
        raise GitError(message, url=url, hint=f"check permissions, or delete {cache}") from exc


def _open_cache(cache: Path) -> git.Repo:
    if (cache / "HEAD").is_file():
        repo = git.Repo(cache)
    else:
        cache.mkdir(parents=True, exist_ok=True)
        repo = git.Repo.init(cache, bare=True)
    repo.git.update_environment(GIT_TERMINAL_PROMPT="0")
    return repo


def _remove_stale_locks(cache: Path) -> None:
    """Delete git's ``*.lock`` files left in ``cache`` by a killed fetch.

    Only called while holding our flock on the cache: no other pluginmgr process is inside the
    repository, so any git lock file there (``shallow.lock``, ``index.lock``, a ref's ``.lock``)
    belongs to a dead git and would fail every later fetch.
    """
    for path in sorted(cache.rglob("*.lock")):
        if path.is_file() and not path.is_symlink():
            _LOGGER.warning("removing stale git lock file %s (left by an interrupted fetch)", path)
            path.unlink(missing_ok=True)


def _resolve(job: _Job) -> git.Commit:
    rev = job.rev_label
    if _FULL_SHA.fullmatch(rev):
        with suppress(_RevisionNotFound):
            commit = _lookup(job, rev)
            _LOGGER.debug("git commit %s of %s is cached: no fetch", rev, job.url)
            return commit
    try:
        commit = _fetch_one(job, rev)
    except _RevisionNotFound:
        if not _SHA_LIKE.fullmatch(rev):
            raise
        commit = _fetch_all(job, rev)  # an abbreviated sha, or a server refusing fetch by sha
    # a ref keeps the commit through `git gc` (FETCH_HEAD and shallow tips do not)
    job.repo.git.update_ref(f"refs/pluginmgr/pins/{commit.hexsha}", commit.hexsha)
    return commit


def _fetch_one(job: _Job, src: str) -> git.Commit:
    tmp = f"refs/pluginmgr/fetch/{uuid.uuid4().hex}"
    _run_fetch(job, ("--depth=1",), (f"+{src}:{tmp}",))
    try:
        return _lookup(job, tmp)
    finally:
        job.repo.git.update_ref("-d", tmp)


def _fetch_all(job: _Job, rev: str) -> git.Commit:
    options = ("--unshallow",) if Path(job.repo.git_dir, "shallow").exists() else ()
    _run_fetch(job, options, _FULL_REFSPECS)
    return _lookup(job, rev)


def _lookup(job: _Job, name: str) -> git.Commit:
    try:
        return job.repo.commit(name)  # peels annotated tags (``^0``)
    except (ValueError, git.exc.ODBError) as exc:
        hint = _REV_HINT
        if _SHA_LIKE.fullmatch(job.rev_label) and not _FULL_SHA.fullmatch(job.rev_label):
            hint += "; an abbreviated sha must be unique, or give all 40 hex digits"
        raise _RevisionNotFound(_unknown_rev(job), url=job.url, hint=hint) from exc


def _unknown_rev(job: _Job) -> str:
    if job.rev is None:
        return f"git repository {job.url!r} has no default branch (HEAD)"
    return f"unknown git revision {job.rev!r} in {job.url!r}"


def _run_fetch(job: _Job, options: tuple[str, ...], refspecs: tuple[str, ...]) -> None:
    _LOGGER.debug("git fetch %s %s %s", " ".join(options), job.url, " ".join(refspecs))
    args = ("--no-tags", *options, "--end-of-options", job.url, *refspecs)
    try:
        job.repo.git(c=_GIT_CONFIG).fetch(*args, kill_after_timeout=job.timeout)
    except git.GitCommandError as exc:
        raise _fetch_error(job, exc) from exc


def _fetch_error(job: _Job, exc: git.GitCommandError) -> GitError:
    text = " ".join(_stderr_lines(exc)).lower()
    if "did not complete in" in text:  # GitPython's kill_after_timeout message
        message = f"git fetch of {job.url!r} timed out after {job.timeout:g}s"
        return job.error(message, "the server is slow or unreachable; retry later")
    if any(fragment in text for fragment in _NO_REV):
        hint = "name a branch or tag with @REV" if job.rev is None else _REV_HINT
        return _RevisionNotFound(_unknown_rev(job), url=job.url, hint=hint)
    if any(fragment in text for fragment in (*_NO_REPO, *_NO_ACCESS)):
        return job.error(f"git fetch of {job.url!r} failed: repository not found", _REPO_HINT)
    message = f"git fetch of {job.url!r} failed: {_detail(exc)}"
    return job.error(message, "check the URL, the network and the revision")


def _stderr_lines(exc: git.GitCommandError) -> list[str]:
    # GitPython stores stderr pre-formatted as "\n  stderr: '<text>'"
    text = str(exc.stderr or "").removeprefix("\n  stderr: '").removesuffix("'")
    return [line.strip() for line in text.splitlines() if line.strip()]


def _detail(exc: git.GitCommandError) -> str:
    """The last ``fatal:``/``error:`` line of git's stderr (else its last line)."""
    lines = _stderr_lines(exc)
    for line in reversed(lines):
        for prefix in ("fatal:", "error:"):
            if line.startswith(prefix):
                return line[len(prefix) :].strip()
    return lines[-1] if lines else f"exit status {exc.status}"


def _read(job: _Job, commit: git.Commit, path: str, max_bytes: int) -> GitContent:
    try:
        item = commit.tree / path
    except KeyError:
        message = (
            f"git path {path!r} not found in {job.url!r} at {job.rev_label} "
            f"(commit {commit.hexsha[:12]})"
        )
        hint = "check #path= against the repository at that revision"
        raise GitPathNotFoundError(message, url=job.url, hint=hint) from None
    _refuse_special(job, commit, item)
    if item.type == "tree":
        return GitContent(commit.hexsha, "directory", _read_tree(job, commit, item, max_bytes))
    data = _read_blob(job, item, max_bytes)
    return GitContent(commit.hexsha, "file", {PurePosixPath(path).name: data})


def _refuse_special(job: _Job, commit: git.Commit, item: Any) -> None:
    if item.type == "submodule":
        what = "is a submodule; pluginmgr does not fetch submodules"
    elif item.type == "blob" and item.mode & 0o170000 == _LINK_MODE:
        what = "is a symlink; pluginmgr does not follow symlinks"
    elif item.name in ("", ".", "..") or "\\" in item.name:
        what = "has an unsafe file name"
    elif has_control_chars(item.name):
        what = "has a control character (newline, NUL, ...) in its file name"
    else:
        return
    message = f"git path {item.path!r} at {commit.hexsha[:12]} of {job.url!r} {what}"
    raise job.error(message, "make the plugin out of regular files and directories")


def _read_tree(job: _Job, commit: git.Commit, tree: git.Tree, max_bytes: int) -> dict[str, bytes]:
    if not any(i.name == "__init__.py" and i.type == "blob" for i in tree):
        message = (
            f"git path {tree.path!r} at {commit.hexsha[:12]} is a directory without __init__.py; "
            "point #path= at a .py file or a package directory"
        )
        raise job.error(message)
    limit, total = _DIR_LIMIT_FACTOR * max_bytes, 0
    files: dict[str, bytes] = {}
    for rel, blob in _walk(job, commit, tree, ""):
        total += blob.size
        if total > limit:
            message = f"plugin directory {tree.path!r} in {job.url!r} is larger than {limit} bytes"
            hint = "the cap is 10x --max-file-size; raise --max-file-size if it is legitimate"
            raise TooLargeError(message, url=job.url, hint=hint)
        files[rel] = _read_blob(job, blob, max_bytes)
    return files


def _walk(job: _Job, commit: git.Commit, tree: git.Tree, prefix: str) -> Iterator[tuple[str, Any]]:
    """Every regular file under `tree` as (relative path, blob), minus ``__pycache__``/``*.pyc``."""
    for item in tree:
        _refuse_special(job, commit, item)
        rel = f"{prefix}{item.name}"
        if item.type == "tree":
            if item.name != "__pycache__":
                yield from _walk(job, commit, item, f"{rel}/")
        elif not item.name.endswith(".pyc"):
            yield rel, item


def _read_blob(job: _Job, blob: Any, max_bytes: int) -> bytes:
    if blob.size > max_bytes:
        limit = f"the {max_bytes}-byte limit"
        message = f"plugin file {blob.path!r} in {job.url!r} is larger than {limit}"
        raise TooLargeError(message, url=job.url, hint="raise --max-file-size if it is legitimate")
    return bytes(blob.data_stream.read())
