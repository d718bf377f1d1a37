"""Durable file replacement for the engine's own files (catalog, cache, WAL, the store's files).

`engine_runtime` must not import `pluginmgr`, so it keeps its own copy of the write-then-rename
idiom, here where the plugin host (which saves the plugin cache) can import it too; this is
the only one in the package.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

__all__ = ["fsync_dir", "write_atomic"]


def fsync_dir(directory: Path) -> None:
    """Make renames and new files in ``directory`` durable."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to a private (0600) temp file beside ``path``, fsync it, swap it in, and
    fsync the directory so the rename survives a crash (where the platform allows)."""
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o600)  # mkstemp already does; the cache pickle must stay private
        with os.fdopen(fd, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise
    with contextlib.suppress(OSError):  # not possible on every platform or file system
        fsync_dir(path.parent)
