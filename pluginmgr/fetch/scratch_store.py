"""`ScratchStore`: a store that reads through to another and writes only to a scratch directory.

A dry run (``lock --upgrade --dry-run``, ``outdated``, ``doctor``) must do everything a real
upgrade does (conditional requests, downloads, git fetches, archive extraction, hashing) and
leave the real store exactly as it was: blobs, trees, git clones, URL metadata and version
history. Reads fall through to the real store, so a revalidation still sends the validators
recorded there and a 304 still finds its blob; every write lands in the scratch directory,
which the caller deletes.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from .hashes import sha256_hex
from .store import Store, UrlMeta, Version

__all__ = ["ScratchStore"]


class ScratchStore(Store):
    """Blobs and metadata of ``base`` for reading; new ones only under ``root``."""

    def __init__(self, base: Store, root: Path) -> None:
        # not Store.__init__: the scratch keeps its URL metadata in memory (opening a
        # diskcache costs more than a whole dry run's other local work)
        self.root = root
        self.base = base
        (root / "blobs" / "sha256").mkdir(parents=True, exist_ok=True)
        self._urls: dict[str, UrlMeta] = {}

    def close(self) -> None:
        self._urls.clear()

    def blob_path(self, sha256: str) -> Path:
        own = super().blob_path(sha256)
        if own.exists():
            return own
        theirs = self.base.blob_path(sha256)
        return theirs if theirs.exists() else own

    def put(self, data: bytes) -> str:
        digest = sha256_hex(data)
        if self.base.blob_path(digest).exists():
            return digest  # not even its mtime is touched
        return super().put(data)

    def url_meta(self, url: str) -> UrlMeta | None:
        return self._urls.get(url) or self.base.url_meta(url)

    def set_url_meta(self, url: str, meta: UrlMeta) -> None:
        self._urls[url] = meta

    def versions(self, ref: str) -> list[Version]:
        return self.base.versions(ref)

    def record_versions(self, seen: Iterable[Version]) -> list[Version]:
        return []  # the history is the real store's; a dry run sees nothing new in it
