"""`pylock_outcomes`: exactly the files nodes locked, for ``mirror sync --with-deps --pylock``.

A node's plugin venv is ``<PLUGIN_DIR>/pylock.toml`` (PEP 751). Given one or more locks, the
mirror's ``DEST/wheels`` gets the files they name and nothing pip would resolve on its own: for
each package whose marker holds for the target interpreter, the
best wheel for the target's tags (else the sdist). The target is the running interpreter, or
``--python-version`` / ``--platform``; a marker that cannot be decided for it keeps the package.
Reading the locks and that choice are `pylock_plan`'s; this module fetches the chosen files.

Each file comes from the first source that has it: a ``--find-links`` directory (by file name),
then the lock's ``url`` (``--no-index`` skips http(s) ones), then its ``path`` (relative to the
lock). The bytes are streamed into a temp file beside the target and hashed on the way; only a
file that matches the lock's hash is renamed into place. A file DEST already holds with the
locked hash is re-hashed and costs nothing; a damaged copy is replaced.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import threading
from collections.abc import Generator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Final
from urllib.parse import quote, urlsplit

from ..deps.pylock import LockedFile
from ..deps.wheel_target import Target
from ..errors import NetworkError, PluginManagerError
from ..fetch.transports import file_url_to_path
from ..settings import DEFAULT_CONNECT_TIMEOUT, DEFAULT_READ_TIMEOUT
from .fetch import Outcome
from .plan import Job
from .pylock_plan import LoadedLock, Want, plan_files
from .state import FileState, dest_path

if TYPE_CHECKING:
    import httpx  # imported at the first http(s) download

__all__ = ["pylock_outcomes"]

_CHUNK: Final = 1 << 20
_USER_AGENT: Final = "pluginmgr/0.1 (+https://github.com/influxdata/influxdb3_plugins)"


# -- fetching: stream, hash, rename -----------------------------------------------------------


class _Missing(Exception):
    """This source does not have the file; try the next one."""


@dataclass
class _Digests:
    """The sha256 of the bytes (what DEST records) and the lock's algorithm, fed together."""

    algorithm: str
    size: int = 0
    _sha256: hashlib._Hash = field(default_factory=hashlib.sha256)
    _locked: hashlib._Hash | None = None

    def __post_init__(self) -> None:
        if self.algorithm != "sha256":
            self._locked = hashlib.new(self.algorithm)

    def update(self, chunk: bytes) -> None:
        self.size += len(chunk)
        self._sha256.update(chunk)
        if self._locked is not None:
            self._locked.update(chunk)

    @property
    def sha256(self) -> str:
        return self._sha256.hexdigest()

    @property
    def locked(self) -> str:
        return (self._locked or self._sha256).hexdigest()


def _algorithm(file: LockedFile) -> str | None:
    """The lock's hash to check ``file`` with: sha256 when listed, else one hashlib has."""
    if file.sha256:
        return "sha256"
    usable = sorted(set(file.hashes) & hashlib.algorithms_guaranteed)
    return usable[0] if usable else None


def _hash_file(path: Path, algorithm: str) -> _Digests:
    digests = _Digests(algorithm)
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(_CHUNK), b""):
            digests.update(chunk)
    return digests


def _sources(want: Want, find_links: Sequence[str], no_index: bool) -> tuple[list[str], str]:
    """Where to look for the file, in order (URLs or local paths), and what was skipped."""
    name, file = want.file.name, want.file
    sources = []
    for link in find_links:
        if link.startswith(("http://", "https://")):
            sources.append(link.rstrip("/") + "/" + quote(name))
        else:
            local = file_url_to_path(link) if link.startswith("file://") else Path(link)
            sources.append(str(local / name))
    skipped = ""
    if file.url and file.url.startswith(("http://", "https://")) and no_index:
        skipped = f"its url {file.url} was not tried (--no-index)"
    elif file.url:
        sources.append(file.url)
    if file.path:
        sources.append(str(want.lock.path.parent / file.path))
    return sources, skipped


class _Fetcher:
    """Puts locked files into DEST/wheels from the first source that has them, verified."""

    def __init__(self, dest: Path, find_links: Sequence[str], no_index: bool, retries: int):
        self._dest = dest
        self._find_links = tuple(find_links)
        self._no_index = no_index
        self._retries = retries
        self._client: httpx.Client | None = None
        self._lock = threading.Lock()

    def settle(self, want: Want, prev: FileState | None) -> Outcome:
        """`want`'s outcome; never raises for a per-file problem (it becomes a failed outcome)."""
        try:
            return self._settle(want, prev)
        except (PluginManagerError, OSError) as exc:
            return Outcome(Job(want.path, want.lock.path.as_uri()), "failed", error=str(exc))

    def _settle(self, want: Want, prev: FileState | None) -> Outcome:
        target = dest_path(self._dest, want.path)
        algorithm = _algorithm(want.file)
        if algorithm is None:
            message = (
                f"{want.file.name} in {want.lock.path} has no hash this Python can check "
                f"({', '.join(want.file.hashes)}); re-lock it with `pluginmgr deps lock`"
            )
            return Outcome(Job(want.path, want.lock.path.as_uri()), "failed", error=message)
        expected = want.file.hashes[algorithm]
        present = target.is_file()
        held = _hash_file(target, algorithm) if present else None
        if held is None or held.locked != expected:  # absent, damaged or tampered: fetch it
            return self._download(want, target, algorithm, present or prev is not None)
        state = FileState(sha256=held.sha256, size=held.size)
        if prev is None:
            status = "new"  # first recorded (it was in DEST/wheels already)
        else:
            status = "unchanged" if prev.sha256 == state.sha256 else "updated"
        return Outcome(Job(want.path, target.as_uri()), status, state=state)

    def _download(self, want: Want, target: Path, algorithm: str, replaces: bool) -> Outcome:
        sources, skipped = _sources(want, self._find_links, self._no_index)
        misses = []
        for source in sources:
            try:
                return self._land(want, source, target, algorithm, replaces)
            except _Missing as exc:
                misses.append(str(exc))
        tried = "; ".join([*misses, *([skipped] if skipped else [])])
        message = (
            f"{want.file.name} ({want.package.name} {want.package.version}, {want.lock.path}) "
            f"was found nowhere: {tried or 'the lock gives no url or path for it'} (hint: put "
            "it in a --find-links directory)"
        )
        return Outcome(Job(want.path, want.lock.path.as_uri()), "failed", error=message)

    def _land(
        self, want: Want, source: str, target: Path, algorithm: str, replaces: bool
    ) -> Outcome:
        """Copy ``source`` beside ``target``, check it, rename it; `_Missing` if it is not there."""
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
        try:
            with os.fdopen(fd, "wb") as handle:
                digests = self._copy(source, handle, algorithm, want.file.size)
                handle.flush()
                os.fsync(handle.fileno())
            expected = want.file.hashes[algorithm]
            if digests.locked != expected:
                return _mismatch(want, source, digests, algorithm)
            os.chmod(tmp, 0o644)
            os.replace(tmp, target)
        finally:
            Path(tmp).unlink(missing_ok=True)
        state = FileState(sha256=digests.sha256, size=digests.size)
        status = "updated" if replaces else "new"
        return Outcome(Job(want.path, _as_url(source)), status, state=state)

    def _copy(self, source: str, handle: IO[bytes], algorithm: str, size: int | None) -> _Digests:
        digests = _Digests(algorithm)
        remote = source.startswith(("http://", "https://"))
        chunks = self._http(source) if remote else _local(source)
        try:
            for chunk in chunks:
                digests.update(chunk)
                if size is not None and digests.size > size:
                    break  # longer than the lock says: it cannot match, stop reading
                handle.write(chunk)
        finally:
            chunks.close()
        return digests

    def _http(self, url: str) -> Generator[bytes]:
        import httpx

        try:
            with self._get_client().stream("GET", url) as response:
                if not response.is_success:  # a 404 or a broken server: try the next source
                    raise _Missing(f"{url}: {response.status_code} {response.reason_phrase}")
                yield from response.iter_bytes(_CHUNK)
        except httpx.HTTPError as exc:  # translated here, once
            raise _Missing(f"{url}: {type(exc).__name__}: {exc}") from exc

    def _get_client(self) -> httpx.Client:
        import httpx

        with self._lock:
            if self._client is None:
                self._client = httpx.Client(
                    timeout=httpx.Timeout(DEFAULT_READ_TIMEOUT, connect=DEFAULT_CONNECT_TIMEOUT),
                    follow_redirects=True,
                    transport=httpx.HTTPTransport(retries=self._retries),
                    headers={"User-Agent": _USER_AGENT},
                )
            return self._client

    def close(self) -> None:
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None


def _mismatch(want: Want, source: str, digests: _Digests, algorithm: str) -> Outcome:
    size, lock = want.file.size, want.lock.path
    if size is not None and digests.size > size:
        found = f"is larger than the {size} bytes {lock} locks"
    else:
        expected = want.file.hashes[algorithm]
        found = f"has {algorithm}:{digests.locked}, but {lock} locks {algorithm}:{expected}"
    message = (
        f"{want.file.name} from {source} {found}; not mirrored (hint: the source holds another "
        "build: replace or remove it there, or re-lock with `pluginmgr deps lock`)"
    )
    return Outcome(Job(want.path, _as_url(source)), "failed", error=message)


def _local(source: str) -> Generator[bytes]:
    try:
        path = file_url_to_path(source) if source.startswith("file://") else Path(source)
        with path.open("rb") as handle:
            yield from iter(lambda: handle.read(_CHUNK), b"")
    except NetworkError as exc:
        raise _Missing(f"{source}: {exc.message}") from exc
    except OSError as exc:
        raise _Missing(f"{source}: {exc.strerror or exc}") from exc


def _as_url(source: str) -> str:
    if urlsplit(source).scheme in ("http", "https", "file"):
        return source
    return Path(source).resolve().as_uri()


# -- the entry point --------------------------------------------------------------------------


def pylock_outcomes(
    dest: Path,
    locks: Sequence[LoadedLock],
    known: Mapping[str, FileState],
    target: Target,
    *,
    find_links: Sequence[str] = (),
    no_index: bool = False,
    concurrency: int = 8,
    retries: int = 0,
) -> tuple[list[Outcome], tuple[str, ...]]:
    """Put the files ``locks`` name for ``target`` into DEST/wheels; one outcome per file.

    Returns the outcomes (for SHA256SUMS and mirror.json, like `wheel_outcomes`) and the DEST
    paths of the files now in place, sorted.
    """
    wants, failed = plan_files(locks, target)
    fetcher = _Fetcher(dest, find_links, no_index, retries)
    try:
        with ThreadPoolExecutor(max_workers=max(1, min(concurrency, len(wants) or 1))) as pool:
            settled = list(pool.map(lambda w: fetcher.settle(w, known.get(w.path)), wants))
    finally:
        fetcher.close()
    outcomes = [*failed, *settled]
    placed = tuple(sorted(o.job.path for o in settled if o.state is not None))
    return outcomes, placed
