"""Answers about the lock without the resolver: `extend_lock` (a lock that already holds what new
requesters ask for, extended) and `records` (a plugin the lock already records).

Creating a trigger (or ``install deps REF``) adds a plugin to the set. When each of its
requirements names a locked package at a version it allows, and can pull in nothing else (no
extras, markers or URLs), a resolution of the new inputs with the lock as uv's preferences keeps
every pin and adds no package. The new lock is then the old one with the requester recorded,
its packages' ``required-by`` naming it, and the new inputs-sha256: no uv run, and the same
file a resolution would write. Anything else (a requester gone or changed, new constraints,
another interpreter, a requirement the lock does not meet) gives None: resolve.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from .lock_graph import graph_problems

if TYPE_CHECKING:
    from .inputs import DependencyInputs
    from .pylock import LockedPackage, PyLock, Requester

__all__ = ["extend_lock", "records"]


def records(lock: PyLock, name: str, declared_in: str, requirements: Sequence[str]) -> bool:
    """Whether ``lock`` records requester ``name`` with exactly these requirements (then a
    trigger of that plugin brings nothing the lock lacks)."""
    found = next((r for r in lock.requesters if r.name == name), None)
    return (
        found is not None
        and found.declared_in == declared_in
        and sorted(found.requirements) == sorted(requirements)
    )


def _added(lock: PyLock, inputs: DependencyInputs) -> list[Requester] | None:
    """The requesters ``inputs`` has beyond the lock's; None unless every one of the lock's is
    still there unchanged (one gone could leave packages nobody needs)."""
    then = {r.name: r for r in lock.requesters}
    added = []
    for requester in inputs.requesters:
        old = then.pop(requester.name, None)
        if old is None:
            added.append(requester)
        elif (old.declared_in, sorted(old.requirements)) != (
            requester.declared_in,
            sorted(requester.requirements),
        ):
            return None
    return None if then else added


def _met_by(text: str, locked: dict[str, LockedPackage]) -> LockedPackage | None:
    """The locked package that meets requirement ``text`` and can pull in nothing the lock
    lacks; None when there is none or the requirement could reach further."""
    try:
        requirement = Requirement(text)
    except InvalidRequirement:
        return None
    if requirement.extras or requirement.marker or requirement.url:
        return None
    package = locked.get(canonicalize_name(requirement.name))
    if package is None or package.marker:
        return None
    try:
        version = Version(package.version)
    except InvalidVersion:
        return None
    return package if requirement.specifier.contains(version, prereleases=True) else None


def extend_lock(lock: PyLock, inputs: DependencyInputs) -> PyLock | None:
    """``lock`` with the requesters ``inputs`` adds, when the lock already meets them (see the
    module docstring); None when a resolution is needed."""
    if sorted(lock.constraints) != sorted(inputs.constraints):
        return None
    if (lock.python, lock.implementation, lock.platform) != (
        inputs.python,
        inputs.implementation,
        inputs.platform,
    ):
        return None
    added = _added(lock, inputs)
    if not added or graph_problems(lock):
        return None
    locked = lock.by_name()
    needed_by: dict[str, set[str]] = {}
    for requester in added:
        for text in requester.requirements:
            package = _met_by(text, locked)
            if package is None:
                return None
            needed_by.setdefault(package.key, set()).add(requester.name)
    packages = tuple(
        replace(p, required_by=tuple(sorted({*p.required_by, *needed_by[p.key]})))
        if p.key in needed_by
        else p
        for p in lock.packages
    )
    return replace(
        lock, packages=packages, requesters=inputs.requesters, inputs_sha256=inputs.sha256
    )
