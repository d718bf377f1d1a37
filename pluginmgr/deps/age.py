"""Locked versions far below what the index offers, and the pin that holds each one back.

A resolution can succeed and still be wrong: a pin or a declaration can force a package back
to a release years old (boto3 0.0.3 of 2014, which does not import on today's Python), and uv
exits 0. After a lock, `old_versions` compares every locked package with the newest release the
index offers for this interpreter (`pluginmgr.deps.index_versions`) and flags one that is

* a major version or more behind (``0.0.3`` against ``1.40.1``), or
* older than `MAX_AGE` (PEP 700 ``upload-time``, where the index gives it) with a newer one out.

For the first `MAX_SEARCHED` flagged packages it then asks what holds the package back: a pin
on the package itself that bars every wanted release (``PKG<4`` in requirements.in or
constraints.txt, the common case) is named at once, with no uv run (other holders are then not
looked for); otherwise the culprit search of `pluginmgr.deps.culprit`, with
``PKG>=NEWEST_MAJOR`` (or ``PKG>LOCKED``) added to every run; when that requirement fits as it
is, nothing holds it back but the previous lock (``deps lock --upgrade-package PKG`` moves
it).
"""

from __future__ import annotations

import datetime as dt
import platform
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Final

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from .culprit import Suspect, find_culprits, suspects_of
from .index_versions import Release, installable, releases
from .inputs import DependencyInputs
from .newest_cached import newest_cached
from .probe import UvProbe

if TYPE_CHECKING:
    from .installers import InstallOptions
    from .pylock import PyLock

__all__ = ["MAX_AGE", "MAX_SEARCHED", "OldVersion", "old_versions"]

#: a locked release older than this, with a newer one out, is flagged
MAX_AGE: Final = dt.timedelta(days=3 * 365)
#: at most this many flagged packages are searched for what holds them back
MAX_SEARCHED: Final = 3
_RUNS: Final = 8
_SECONDS: Final = 30.0


@dataclass(frozen=True, slots=True)
class OldVersion:
    """A locked package far below the newest release, and what holds it back."""

    name: str
    version: str
    newest: str
    #: when the locked release was uploaded (None: the index does not say)
    uploaded: dt.datetime | None
    #: the culprits: the pins and declarations whose removal lets it move
    held_back_by: tuple[str, ...] = ()
    #: nothing holds it back: only the previous lock kept it
    free: bool = False
    #: False when it was not searched (past `MAX_SEARCHED`)
    searched: bool = False
    cut_short: str | None = None

    def message(self) -> str:
        """``boto3 0.0.3 (2014) is locked, the index has 1.40.1: held back by …``."""
        year = f" ({self.uploaded.year})" if self.uploaded else ""
        head = f"{self.name} {self.version}{year} is locked, the index has {self.newest}"
        if self.free:
            why = (
                "nothing holds it back but the previous lock: "
                f"`pluginmgr deps lock --upgrade-package {self.name}` moves it"
            )
        elif self.held_back_by:
            why = f"held back by {' and '.join(self.held_back_by)}"
        elif not self.searched:
            why = f"not searched for what holds it back (only the first {MAX_SEARCHED} are)"
        elif self.cut_short:
            why = f"what holds it back was not found (the search was cut short: {self.cut_short})"
        else:
            why = "no pin or declaration alone holds it back (newer releases may not install here)"
        return f"{head}: {why}"


def _python(lock_python: str) -> str:
    """The full interpreter version a lock's ``major.minor`` stands for (to test
    Requires-Python as uv does): this one's when it matches, else ``X.Y.0``."""
    here = platform.python_version()
    return here if here.startswith(f"{lock_python}.") else f"{lock_python}.0"


def _flag(
    version: Version, found: Sequence[Release], python: str, now: dt.datetime
) -> tuple[Version, dt.datetime | None] | None:
    """(newest, the locked release's upload time) when ``version`` is far behind; else None."""
    usable = [
        r.version
        for r in found
        if installable(r, python) and (version.is_prerelease or not r.version.is_prerelease)
    ]
    newest = max(usable, default=None)
    if newest is None or newest <= version:
        return None
    uploaded = min(
        (r.uploaded for r in found if r.version == version and r.uploaded is not None),
        default=None,
    )
    behind = newest.release[0] > version.release[0]
    aged = uploaded is not None and now - uploaded > MAX_AGE
    return (newest, uploaded) if behind or aged else None


def old_versions(
    lock: PyLock,
    *,
    uv: Path,
    python: Path,
    sources: InstallOptions,
    now: dt.datetime | None = None,
) -> list[OldVersion]:
    """The locked packages far below the newest release, each with what holds it back.

    Reads the newest releases from uv's cache (`pluginmgr.deps.newest_cached`: one offline uv run,
    the resolution just cached every page), else asks the index once per package (concurrent,
    bounded; nothing with ``--offline`` and no find-links); then looks for what holds back the
    first `MAX_SEARCHED` flagged packages (`_search`: uv runs, bounded each).
    """
    packages = list(lock.packages)
    if not packages:
        return []
    found = newest_cached(packages, uv=uv, python=python, sources=sources)
    if found is None:  # not all in uv's cache: ask the index
        found = releases([p.name for p in packages], sources)
    now = now or dt.datetime.now(dt.UTC)
    target = _python(lock.python)
    inputs = DependencyInputs(
        lock.requesters, lock.constraints, lock.python, lock.implementation, lock.platform
    )
    flagged: list[OldVersion] = []
    for package in packages:
        flag = _flag(Version(package.version), found.get(package.key, []), target, now)
        if flag is None:
            continue
        newest, uploaded = flag
        old = OldVersion(package.name, package.version, str(newest), uploaded)
        if len(flagged) < MAX_SEARCHED:
            old = _search(old, Version(package.version), newest, inputs, uv, python, sources)
        flagged.append(old)
    return flagged


def _search(
    old: OldVersion,
    version: Version,
    newest: Version,
    inputs: DependencyInputs,
    uv: Path,
    python: Path,
    sources: InstallOptions,
) -> OldVersion:
    behind = newest.release[0] > version.release[0]
    wanted = f"{old.name}>={newest.release[0]}" if behind else f"{old.name}>{version}"
    suspects = suspects_of(inputs)
    floor, strict = (Version(str(newest.release[0])), False) if behind else (version, True)
    direct = [
        s for s in suspects if s.package == canonicalize_name(old.name) and _bars(s, floor, strict)
    ]
    if direct:  # a pin on the package itself bars every wanted release: no uv run needed
        found = tuple(s.describe() for s in direct)
        return replace(old, held_back_by=found, searched=True)
    probe = UvProbe(inputs, uv=uv, python=python, sources=sources, seconds=_SECONDS)
    report = find_culprits(
        suspects, probe, named=[old.name], extra=(wanted,), max_runs=_RUNS, max_seconds=_SECONDS
    )
    return OldVersion(
        old.name,
        old.version,
        old.newest,
        old.uploaded,
        held_back_by=tuple(c.describe() for c in report.culprits),
        free=report.resolvable,
        searched=True,
        cut_short=report.cut_short,
    )


def _bars(suspect: Suspect, floor: Version, strict: bool) -> bool:
    """Whether ``suspect`` admits no version ``>= floor`` (``> floor`` when ``strict``): an upper
    bound at or below it (``<``, ``<=``, ``==``, ``==X.*``, ``~=``). Unsure means False."""
    try:
        specifiers = Requirement(suspect.text).specifier
    except InvalidRequirement:
        return False
    for item in specifiers:
        operator, text = item.operator, item.version
        try:
            if operator in ("==", "===") and text.endswith(".*"):
                prefix = Version(text[:-2]).release
                top = Version(".".join(map(str, (*prefix[:-1], prefix[-1] + 1))))
                operator = "<"
            elif operator == "~=":
                release = Version(text).release
                top = Version(".".join(map(str, (*release[:-2], release[-2] + 1))))
                operator = "<"
            else:
                top = Version(text)
        except (InvalidVersion, IndexError):
            continue
        if operator == "<" and top <= floor:
            return True
        if operator in ("<=", "==", "===") and (top <= floor if strict else top < floor):
            return True
    return False
