"""Internal: where a `DurableStore` keeps its persisted files and their catalog.

A `FileLocation` is a pyarrow ``FileSystem`` and a base path in it: the local store directory
by default (``files.json`` and ``files/`` beside the WAL), or ``bucket/<node-id>/store`` on an
S3-compatible object store (`s3_location`), with the same relative layout. The WAL never moves:
its group commits need a local file to fsync.

The two differ in how a write is made safe, so the code that writes asks `local`:

* local: a new file is created 0600 and fsynced, the catalog is written to a temporary file,
  fsynced and renamed over ``files.json``, and the directory is fsynced;
* S3: a PUT is atomic (an object is whole or absent), so a file is one PUT and the catalog is
  one PUT of ``files.json`` made after the files it names exist.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Final

import pyarrow.fs as pafs  # type: ignore[import-untyped]  # pyarrow ships no stubs

from engine_runtime.store._wal import StoreOpenError

__all__ = ["CATALOG_NAME", "FILES_DIR", "FileLocation", "s3_location"]

CATALOG_NAME: Final = "files.json"
FILES_DIR: Final = "files"
_LOCAL: Final = pafs.LocalFileSystem()
#: seconds to connect and to wait for an answer: a start fails in seconds, not minutes
_CONNECT_TIMEOUT: Final = 5.0
_REQUEST_TIMEOUT: Final = 30.0


@dataclass(frozen=True, slots=True)
class FileLocation:
    """A filesystem and the base path of the store's files in it.

    :param endpoint: the object store's endpoint, named in errors (empty: AWS's own).
    """

    filesystem: pafs.FileSystem
    base: str
    local: bool = True
    endpoint: str = ""

    @classmethod
    def on_disk(cls, store_dir: Path) -> FileLocation:
        """The store directory itself (the default)."""
        return cls(_LOCAL, str(store_dir))

    @property
    def catalog(self) -> str:
        """The path of ``files.json``."""
        return f"{self.base}/{CATALOG_NAME}"

    @property
    def files(self) -> str:
        """The path of the files' directory."""
        return f"{self.base}/{FILES_DIR}"

    def file(self, relative: str) -> str:
        """The path of one file, ``relative`` as the catalog names it."""
        return f"{self.base}/{FILES_DIR}/{relative}"

    def describe(self, path: str | None = None) -> str:
        """``path`` (the base by default) as a user writes it: a local path or ``s3://...``."""
        shown = self.base if path is None else path
        return shown if self.local else f"s3://{shown}"

    def check(self) -> None:
        """Reach the bucket and ``files.json`` once, at open, so a wrong endpoint, bucket or
        credentials fail the start in one line rather than the first persist.

        :raises StoreOpenError: the object store cannot be reached or read.
        """
        if self.local:
            return
        bucket = self.base.split("/", 1)[0]
        where = f"the object store at {self.endpoint or 'AWS S3'}, bucket {bucket!r}"
        hint = "check --aws-endpoint, --bucket and the credentials (--aws-access-key-id, ...)"
        try:
            found = self.filesystem.get_file_info(bucket)
            if found.type == pafs.FileType.NotFound:
                msg = f"{where}: the bucket does not exist"
                raise StoreOpenError(msg, hint="create the bucket, or pass the right --bucket")
            self.filesystem.get_file_info(self.catalog)
        except OSError as exc:
            detail = " ".join(str(exc).split())
            msg = f"cannot reach {where}: {detail}"
            raise StoreOpenError(msg, hint=hint) from exc


def s3_location(
    bucket: str,
    prefix: str,
    *,
    access_key: str | None = None,
    secret_key: str | None = None,
    session_token: str | None = None,
    region: str = "us-east-1",
    endpoint: str | None = None,
    allow_http: bool = False,
    anonymous: bool = False,
) -> FileLocation:
    """``s3://bucket/prefix`` through pyarrow's S3 client; without keys, the AWS default chain
    (environment, profile, instance role) is used. ``endpoint`` selects any S3-compatible
    server; an ``http://`` one needs ``allow_http``."""
    scheme = "http" if endpoint and endpoint.startswith("http://") else "https"
    if scheme == "http" and not allow_http:
        msg = f"the object store endpoint {endpoint} is plain HTTP"
        raise StoreOpenError(msg, hint="pass --aws-allow-http, or use an https:// endpoint")
    keys = {}
    if access_key or secret_key:
        keys = {"access_key": access_key, "secret_key": secret_key}
        if session_token:
            keys["session_token"] = session_token
    filesystem = pafs.S3FileSystem(
        region=region,
        endpoint_override=endpoint or None,
        scheme=scheme,
        anonymous=anonymous,
        connect_timeout=_CONNECT_TIMEOUT,
        request_timeout=_REQUEST_TIMEOUT,
        **keys,
    )
    base = "/".join(part for part in (bucket.strip("/"), prefix.strip("/")) if part)
    return FileLocation(filesystem, base, local=False, endpoint=endpoint or "")
