"""The files the loopback package index (`tests.pypi_index.PackageIndex`) serves in the tests.

`index_files` writes a wheel AND an sdist of every project in `fixtures/packages` (each
subdirectory, variants included) and of `tests.dep_wheels.PROJECTS` into one folder, as a
release on PyPI carries both. Every file gets a fixed modification time, which the index
serves as its PEP 700 ``upload-time``: each project's releases are two months apart in version
order from 2024-03-01, and an sdist is uploaded a minute before its wheel. A test that needs an
older upload sets the time of its own copy with `os.utime`.

The bytes are built once per process (the builders are deterministic) and written into each
folder asked for, so a session fixture and a benchmark share the work.
"""

from __future__ import annotations

import functools
import os
import tempfile
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Final

from packaging.utils import parse_sdist_filename, parse_wheel_filename
from packaging.version import Version

from tests.dep_wheels import build_dep_wheels
from tests.wheels import FIXTURE_PACKAGES, build_sdist, build_wheel

__all__ = ["FIXTURE_YANKED", "index_files"]

_YANK_REASON: Final = "broken release: use pm-gamma 0.1.0"
#: what the session's index yanks: pm-gamma 0.2.0, both files (a reason, as PyPI shows it)
FIXTURE_YANKED: Final = {
    "pm_gamma-0.2.0-py3-none-any.whl": _YANK_REASON,
    "pm_gamma-0.2.0.tar.gz": _YANK_REASON,
}
_FIRST_UPLOAD: Final = datetime(2024, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)
_RELEASE_GAP: Final = timedelta(days=61)
_SDIST_EARLIER: Final = timedelta(minutes=1)


def _name_version(filename: str) -> tuple[str, Version]:
    if filename.endswith(".whl"):
        name, version, _build, _tags = parse_wheel_filename(filename)
    else:
        name, version = parse_sdist_filename(filename)
    return str(name), version


def _upload_times(filenames: list[str]) -> dict[str, datetime]:
    """Each project's releases in version order, `_RELEASE_GAP` apart; sdists a bit earlier."""
    releases: dict[str, set[Version]] = defaultdict(set)
    for filename in filenames:
        name, version = _name_version(filename)
        releases[name].add(version)
    times = {}
    for filename in filenames:
        name, version = _name_version(filename)
        rank = sorted(releases[name]).index(version)
        when = _FIRST_UPLOAD + rank * _RELEASE_GAP
        times[filename] = when - _SDIST_EARLIER if not filename.endswith(".whl") else when
    return times


@functools.cache
def _built() -> dict[str, tuple[bytes, int]]:
    """filename -> (bytes, mtime in ns) of every file `index_files` writes."""
    with tempfile.TemporaryDirectory(prefix="pluginmgr-index-files-") as tmp:
        out, projects = Path(tmp) / "out", Path(tmp) / "projects"
        sources = [path for path in sorted(FIXTURE_PACKAGES.iterdir()) if path.is_dir()]
        build_dep_wheels(projects, out)
        sources += sorted(projects.iterdir())
        for source in sources:
            build_wheel(source, out)
            build_sdist(source, out)
        files = {path.name: path.read_bytes() for path in out.iterdir()}
    times = _upload_times(sorted(files))
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    return {
        name: (data, (times[name] - epoch) // timedelta(microseconds=1) * 1000)
        for name, data in files.items()
    }


def index_files(dest: Path) -> Path:
    """Write the wheels and sdists the loopback index serves into ``dest``; return ``dest``."""
    dest.mkdir(parents=True, exist_ok=True)
    for name, (data, mtime_ns) in _built().items():
        target = dest / name
        if not target.is_file() or target.read_bytes() != data:
            target.write_bytes(data)
        os.utime(target, ns=(mtime_ns, mtime_ns))
    return dest
