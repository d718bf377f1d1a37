"""The bench's package index: `PackageIndex` (the tests' loopback PyPI-like index), and the same
in a process of its own (``python bench/_index_process.py DIR`` prints its URL, serves until
stdin closes), so the in-process modes share no interpreter lock with the index's threads, as
with a real index; `served_index` runs it."""

from __future__ import annotations

import contextlib
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # for tests.*

from tests.pypi_index import PackageIndex

__all__ = ["PackageIndex", "served_index"]


@contextlib.contextmanager
def served_index(files: Path) -> Iterator[str]:
    """The simple index URL of a `PackageIndex` over ``files``, served by a child process."""
    process = subprocess.Popen(
        [sys.executable, __file__, str(files)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None and process.stdin is not None
    try:
        yield process.stdout.readline().strip()
    finally:
        process.stdin.close()
        process.wait(timeout=30)


def _serve(files: Path) -> None:
    with PackageIndex(files) as index:
        print(index.url, flush=True)
        sys.stdin.read()  # until the parent closes it


if __name__ == "__main__":
    _serve(Path(sys.argv[1]))
