"""Reading ``mirror sync --pylock`` locks, and choosing the one file of each package to mirror.

Apart from `pylock`, which fetches what this chooses: here nothing touches the network or DEST.
For each package whose marker holds for the target (an undecidable marker keeps it), the best
wheel for the target's tags is chosen, else the sdist; a package with neither, or a file two
locks give different hashes, becomes a failed outcome.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from packaging.markers import UndefinedEnvironmentName
from packaging.tags import Tag
from packaging.utils import InvalidWheelFilename, parse_wheel_filename

from ..deps.pylock import PYLOCK_NAME, LockedFile, LockedPackage, PyLock, read_pylock
from ..deps.wheel_target import Target
from ..errors import LockfileError, MirrorError
from .fetch import Outcome
from .plan import Job
from .wheels import WHEELS_DIR

__all__ = ["LoadedLock", "Want", "load_pylocks", "plan_files"]

_LOCK_HINT: Final = (
    "give a pylock.toml (`pluginmgr deps lock` writes PLUGIN_DIR/pylock.toml) or the plugin "
    "directory that holds one"
)


# -- the locks --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LoadedLock:
    """A ``--pylock`` as read: where the file is (its ``path`` entries are relative to it)."""

    path: Path
    lock: PyLock


def _load_one(given: Path) -> LoadedLock:
    path = given / PYLOCK_NAME if given.is_dir() else given
    try:
        lock = read_pylock(path)
    except LockfileError as exc:
        reason = exc.message  # it names the file; say it once
        if reason.startswith(str(path)):
            reason = reason[len(str(path)) :].lstrip(": ").removeprefix("is ")
        message = f"--pylock {given}: {reason}"
        raise MirrorError(message, hint=exc.hint or _LOCK_HINT) from exc
    if lock is None:
        reason = f"it has no {PYLOCK_NAME}" if given.is_dir() else "no such file"
        raise MirrorError(f"--pylock {given}: {reason}", hint=_LOCK_HINT)
    return LoadedLock(path.resolve(), lock)


def load_pylocks(given: Iterable[Path]) -> tuple[LoadedLock, ...]:
    """Read each ``--pylock`` (a directory means DIR/pylock.toml); `MirrorError` names a bad one."""
    return tuple(_load_one(path) for path in given)


# -- planning: which file of which package ----------------------------------------------------


@dataclass(frozen=True, slots=True)
class Want:
    """One file to put in DEST/wheels, and the lock that names it."""

    file: LockedFile
    package: LockedPackage
    lock: LoadedLock

    @property
    def path(self) -> str:
        return f"{WHEELS_DIR}/{self.file.name}"


def _best_wheel(wheels: Iterable[LockedFile], ranks: Mapping[Tag, int]) -> LockedFile | None:
    best: tuple[int, LockedFile] | None = None
    for wheel in wheels:
        try:
            tags = parse_wheel_filename(wheel.name)[3]
        except InvalidWheelFilename:
            continue  # no installer would take it
        rank = min((ranks[tag] for tag in tags if tag in ranks), default=None)
        if rank is not None and (best is None or rank < best[0]):
            best = (rank, wheel)
    return best[1] if best else None


def _no_file(package: LockedPackage, loaded: LoadedLock, target: Target) -> Outcome:
    listed = ", ".join(w.name for w in package.wheels) or "none"
    made_for = ""
    if loaded.lock.python:
        where = f" on {loaded.lock.platform}" if loaded.lock.platform else ""
        made_for = f" (resolved for Python {loaded.lock.python}{where})"
    message = (
        f"{package.name} {package.version} in {loaded.path}{made_for} has no wheel for "
        f"{target.label} and no sdist (its wheels: {listed}); mirror for the interpreter the "
        "lock was made for (--python-version, --platform), or re-lock on a node with that "
        "interpreter (`pluginmgr deps lock`)"
    )
    return Outcome(Job(WHEELS_DIR, loaded.path.as_uri()), "failed", error=message)


def _conflict(held: Want, want: Want) -> Outcome:
    message = (
        f"{want.file.name} is locked with sha256:{held.file.sha256} in {held.lock.path} and "
        f"sha256:{want.file.sha256} in {want.lock.path}; not mirrored (hint: one file cannot "
        "have two hashes: re-lock one of them with `pluginmgr deps lock`)"
    )
    return Outcome(Job(want.path, want.lock.path.as_uri()), "failed", error=message)


def _applies(package: LockedPackage, environments: Iterable[Mapping[str, str]]) -> bool:
    """Whether the package's marker holds in any of ``environments``; when undecidable, yes."""
    try:
        return any(package.applies(environment) for environment in environments)
    except UndefinedEnvironmentName:  # e.g. PEP 751 `extras` / `dependency_groups`
        return True


def plan_files(locks: Iterable[LoadedLock], target: Target) -> tuple[list[Want], list[Outcome]]:
    """The files the locks name for ``target`` (one per file name), and the failures."""
    ranks: dict[Tag, int] = {}
    for rank, tag in enumerate(target.tags()):
        ranks.setdefault(tag, rank)
    environments = target.environments()
    wants: dict[str, Want] = {}
    conflicted: set[str] = set()
    failed: list[Outcome] = []
    for loaded in locks:
        for package in loaded.lock.packages:
            if not _applies(package, environments):
                continue
            chosen = _best_wheel(package.wheels, ranks) or package.sdist
            if chosen is None:
                failed.append(_no_file(package, loaded, target))
                continue
            want = Want(chosen, package, loaded)
            held = wants.setdefault(chosen.name, want)
            if dict(held.file.hashes) != dict(chosen.hashes):
                failed.append(_conflict(held, want))
                conflicted.add(chosen.name)
    return [w for name, w in wants.items() if name not in conflicted], failed
