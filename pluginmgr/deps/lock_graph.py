"""`graph_problems`: whether a pylock.toml's graph holds, read from the lock alone.

Every locked package must be needed: its ``required-by`` names requesters that declare it or
packages of the lock, and following those entries up from the package reaches a requester.
A package added to the file by hand (or by anything but a resolution) breaks this: nobody
declares it, so no requester reaches it, or its ``required-by`` names a plugin that does not
declare it. ``deps sync`` would install it all the same (the lock is the truth for a sync),
so a lock whose graph does not hold is stale: ``deps sync`` refuses it and ``doctor`` says why,
and a resolution (``deps lock``) writes the graph again from the declarations.
"""

from __future__ import annotations

from collections.abc import Mapping

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from .pylock import PyLock

__all__ = ["graph_problems"]


def _declared(requirements: tuple[str, ...]) -> set[str]:
    names: set[str] = set()
    for text in requirements:
        try:
            names.add(canonicalize_name(Requirement(text).name))
        except InvalidRequirement:
            continue  # the inputs check names a bad declaration; here it declares nothing
    return names


def graph_problems(
    lock: PyLock, environment: Mapping[str, str] | None = None, *, limit: int = 5
) -> list[str]:
    """What does not hold in ``lock``'s graph, one sentence each (the first ``limit``, then how
    many more); empty when it holds.

    :param environment: the markers of the interpreter the lock is for (None: this one); a
        package whose marker excludes it is never installed, so it needs no requester.
    """
    packages = lock.by_name()
    declared = {r.name: _declared(r.requirements) for r in lock.requesters}
    problems: list[str] = []
    # a package never installed here is taken as needed, and so what it requires
    reached = [p.key for p in lock.packages if not p.applies(environment)]
    children: dict[str, list[str]] = {}
    for package in lock.packages:
        label = f"{package.name} {package.version}".strip()
        for parent in package.required_by:
            if parent in declared and package.key in declared[parent]:
                reached.append(package.key)
            elif parent in declared:
                problems.append(f"{label} names {parent} in required-by, which does not declare it")
            elif canonicalize_name(parent) in packages:
                children.setdefault(canonicalize_name(parent), []).append(package.key)
            else:
                problems.append(
                    f"{label} names {parent} in required-by, which is neither a requester nor a "
                    "package of the lock"
                )
    seen = set(reached)
    while reached:
        for child in children.get(reached.pop(), ()):
            if child not in seen:
                seen.add(child)
                reached.append(child)
    problems += [
        f"{p.name} {p.version}".strip() + " is locked, but no requester needs it"
        for p in lock.packages
        if p.key not in seen
    ]
    if len(problems) > limit:
        problems[limit:] = [f"and {len(problems) - limit} more such problems"]
    return problems
