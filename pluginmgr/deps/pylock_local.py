"""uv's resolution made into the lock a node commits: paths relative to the lock, a Python floor.

uv writes a wheel from a local ``--find-links`` folder as an absolute ``file://`` URL, and the
interpreter's full version as ``requires-python`` (``>=3.11.7``). Both tie the lock to one
machine: another checkout path, or a 3.11.2 interpreter (which uv then refuses), breaks it. So:

* a ``file:`` URL of a wheel or sdist becomes a ``path`` relative to the lock's directory (PEP
  751 reads ``path`` that way), the same whatever the caller's cwd and however the plugin dir
  was spelled, and so does a requester's absolute ``location`` (`relative_files`);
  `absolute_files` is the inverse, for a copy of the lock read from elsewhere (uv's
  preferences, in a temporary directory);
* ``requires-python`` ``>=X.Y.Z`` becomes ``>=X.Y``, the floor a lock resolved for ``X.Y``
  means (`python_floor`).
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import InvalidVersion, Version

from ..fetch.transports import local_path
from .pylock import LockedFile, LockedPackage, PyLock

__all__ = ["absolute_files", "local_file", "python_floor", "relative_files"]


def python_floor(spec: str | None) -> str | None:
    """``>=3.11.7`` -> ``>=3.11``; any other specifier is kept as it is."""
    if not spec:
        return spec
    try:
        specifiers = list(SpecifierSet(spec))
        if len(specifiers) != 1 or specifiers[0].operator != ">=":
            return spec
        version = Version(specifiers[0].version)
    except (InvalidSpecifier, InvalidVersion):
        return spec
    return f">={version.major}.{version.minor}" if len(version.release) > 2 else spec


def local_file(item: LockedFile, lock_dir: Path) -> Path | None:
    """The file on this machine that ``item`` names (its path, or a ``file:`` URL), if any."""
    if item.path:
        return lock_dir / item.path
    if item.url and item.url.startswith("file:"):
        return local_path(item.url)
    return None


def _relative(item: LockedFile, lock_dir: Path) -> LockedFile:
    if item.path or not item.url or not item.url.startswith("file:"):
        return item
    path = local_path(item.url)
    if path is None:
        return item
    relative = os.path.relpath(path.resolve(), lock_dir.resolve())
    return replace(item, url=None, path=Path(relative).as_posix())


def _absolute(item: LockedFile, lock_dir: Path) -> LockedFile:
    if not item.path or Path(item.path).is_absolute():
        return item
    path = Path(os.path.normpath(lock_dir.resolve() / item.path))
    return replace(item, path=None, url=path.as_uri())


def _files(package: LockedPackage, lock_dir: Path, *, relative: bool) -> LockedPackage:
    move = _relative if relative else _absolute
    sdist = move(package.sdist, lock_dir) if package.sdist is not None else None
    return replace(package, wheels=tuple(move(w, lock_dir) for w in package.wheels), sdist=sdist)


def _location(location: str | None, lock_dir: Path) -> str | None:
    """A requester's absolute location relative to ``lock_dir``; None outside it (a store
    path, which differs per node and says nothing to a reader of the lock)."""
    if not location or not Path(location).is_absolute():
        return location
    try:
        return Path(location).relative_to(lock_dir.absolute()).as_posix()
    except ValueError:
        return None


def relative_files(lock: PyLock, lock_dir: Path) -> PyLock:
    """``lock`` with each ``file:`` URL of a wheel or sdist as a path relative to ``lock_dir``,
    and each requester's absolute location too."""
    packages = tuple(_files(p, lock_dir, relative=True) for p in lock.packages)
    requesters = tuple(
        replace(r, location=_location(r.location, lock_dir)) for r in lock.requesters
    )
    return replace(lock, packages=packages, requesters=requesters)


def absolute_files(lock: PyLock, lock_dir: Path) -> PyLock:
    """``lock`` (read from ``lock_dir``) with each relative path as an absolute ``file:`` URL."""
    packages = tuple(_files(p, lock_dir, relative=False) for p in lock.packages)
    return replace(lock, packages=packages)
