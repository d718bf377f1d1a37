"""A real S3-compatible server on loopback for the object-store tests: moto's, in a thread.

Each test takes its own bucket (`S3Server.bucket`), so one server serves a whole module.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Final

import pyarrow.fs as pafs  # type: ignore[import-untyped]  # pyarrow ships no stubs

from engine_runtime.store._location import FileLocation, s3_location

KEY_ID: Final = "test-key-id"
SECRET: Final = "test-secret"
_NAMES: Final = itertools.count()


@dataclass
class S3Server:
    """A running server: its endpoint and an admin view of its buckets."""

    endpoint: str
    filesystem: pafs.FileSystem = field(init=False)

    def __post_init__(self) -> None:
        self.filesystem = pafs.S3FileSystem(
            access_key=KEY_ID,
            secret_key=SECRET,
            region="us-east-1",
            endpoint_override=self.endpoint,
            scheme="http",
            allow_bucket_creation=True,
        )

    def bucket(self) -> str:
        """A new, empty bucket."""
        name = f"bucket-{next(_NAMES)}"
        self.filesystem.create_dir(name)
        return name

    def location(self, bucket: str, prefix: str = "node/store") -> FileLocation:
        """The store's files at ``s3://bucket/prefix``, as serve builds it."""
        return s3_location(
            bucket,
            prefix,
            access_key=KEY_ID,
            secret_key=SECRET,
            endpoint=self.endpoint,
            allow_http=True,
        )

    def objects(self, prefix: str) -> list[str]:
        """Every object under ``prefix`` (``bucket/...``), relative to it, sorted."""
        selector = pafs.FileSelector(prefix, recursive=True, allow_not_found=True)
        infos = self.filesystem.get_file_info(selector)
        start = len(prefix) + 1
        return sorted(i.path[start:] for i in infos if i.type == pafs.FileType.File)


@contextmanager
def running_s3() -> Iterator[S3Server]:
    """moto's server on a free loopback port, stopped at exit."""
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per request otherwise
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        yield S3Server(f"http://{host}:{port}")
    finally:
        server.stop()
