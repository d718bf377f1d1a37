"""Filling a real disk: the ``tiny_disk`` fixture (tests/conftest.py) mounts a 1 MiB tmpfs."""

from __future__ import annotations

import errno
import os
from pathlib import Path


def fill(disk: Path) -> Path:
    """Fill ``disk`` up, to the last page; returns the filler file."""
    filler = disk / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        for size in (1 << 16, 4096, 1):
            try:
                while True:
                    os.write(fd, b"\0" * size)
            except OSError as exc:
                assert exc.errno == errno.ENOSPC
    finally:
        os.close(fd)
    return filler
