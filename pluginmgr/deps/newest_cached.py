"""The newest release of each locked package, from what uv's cache already knows: no request.

The old-version check (`pluginmgr.deps.age`) runs right after ``deps lock`` resolved the set, and
that resolution just left every locked package's index page in uv's cache. Asking the index for
those pages again (`pluginmgr.deps.index_versions`) costs a request per package, as much as uv's
resolution itself against a slow index. So first: one ``uv pip compile --offline --no-deps`` of
the bare names, which resolves each package to its newest release installable here (not yanked,
Requires-Python met, a wheel unless building is allowed) from the cached pages; the locked
release's upload time comes from the lock's own files (PEP 700 ``upload-time``). None when uv
cannot answer offline (a page not cached), and the caller asks the index as before.
"""

from __future__ import annotations

import datetime as dt
import tempfile
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Final

from packaging.version import InvalidVersion, Version

from ..process import run
from .index_versions import Release, index_url
from .uv_compile import compile_command, read_pins

if TYPE_CHECKING:
    from .installers import InstallOptions
    from .pylock import LockedPackage

__all__ = ["newest_cached"]

_SECONDS: Final = 30.0


def _uploaded(package: LockedPackage) -> dt.datetime | None:
    """The earliest ``upload-time`` of the locked files (None: the lock does not say)."""
    times = [
        item.extra["upload-time"]
        for item in (*package.wheels, *((package.sdist,) if package.sdist else ()))
        if isinstance(item.extra.get("upload-time"), dt.datetime)
    ]
    return min(times, default=None)


def newest_cached(
    packages: Sequence[LockedPackage], *, uv: Path, python: Path, sources: InstallOptions
) -> dict[str, list[Release]] | None:
    """Canonical name -> [the locked release, the newest one] from uv's cache, or None when
    uv cannot tell offline, a locked version is a pre-release (which a bare name skips), or
    the sources name no index (``--offline``, ``--no-index``: nothing would be asked)."""
    if index_url(sources) is None:  # offline or no index: the local folders are cheap to read
        return None
    try:
        if not packages or any(Version(p.version).is_prerelease for p in packages):
            return None
    except InvalidVersion:
        return None
    with tempfile.TemporaryDirectory(prefix="pluginmgr-newest-") as tmp:
        names, out = Path(tmp) / "names.in", Path(tmp) / "newest.txt"
        names.write_text("".join(f"{p.name}\n" for p in packages), encoding="utf-8")
        command = compile_command(uv, python, replace(sources, offline=True))
        command += ["--no-header", "--no-annotate", "--no-deps", names, "-o", out]
        if run(command, timeout=_SECONDS).returncode != 0:
            return None
        text = out.read_text(encoding="utf-8")
    newest = read_pins(text)
    found: dict[str, list[Release]] = {}
    for package in packages:
        if package.key not in newest:
            return None
        locked = Release(Version(package.version), _uploaded(package), False, None)
        found[package.key] = [locked, Release(Version(newest[package.key]), None, False, None)]
    return found
