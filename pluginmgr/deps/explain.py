"""Reading a pylock.toml's graph: who needs a package (`why`), each requester's packages (`tree`).

Both read only the lock's ``required-by`` entries and requesters: no resolver, no network.
Each requester carries why it is in the set (``pinned``, ``trigger``, ``added``,
``all-plugins``, ``operator``; None in a lock written before the reason was recorded).
"""

from __future__ import annotations

from dataclasses import dataclass

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from ..errors import InstallError
from .pylock import PYLOCK_NAME, LockedPackage, PyLock, Requester

__all__ = ["WhyPath", "label", "tree", "why"]


@dataclass(frozen=True, slots=True)
class WhyPath:
    """How a requester comes to need a package: its declaration, then the packages between."""

    requester: str
    declared_in: str
    requirement: str
    chain: tuple[str, ...]  #: package names from the declared one down to the asked one
    reason: str | None = None  #: why the requester is in the set


def label(requester: Requester | WhyPath) -> str:
    """``name (declared-in, reason)``, as ``why`` and ``tree`` print a requester."""
    name = requester.requester if isinstance(requester, WhyPath) else requester.name
    facts = ", ".join(f for f in (requester.declared_in, requester.reason) if f)
    return f"{name} ({facts})" if facts else name


def why(lock: PyLock, name: str) -> tuple[LockedPackage, list[WhyPath]]:
    """Who needs ``name``, directly or through which packages (read from the lock)."""
    packages = lock.by_name()
    target = packages.get(canonicalize_name(name))
    if target is None:
        message = f"{name} is not in {PYLOCK_NAME}: no plugin needs it"
        raise InstallError(message, hint="`pluginmgr deps tree` lists what is locked")
    requesters = {r.name: r for r in lock.requesters}
    paths: list[WhyPath] = []
    stack: list[tuple[str, tuple[str, ...]]] = [(target.key, (target.name,))]
    seen: set[tuple[str, str]] = set()
    while stack:
        key, chain = stack.pop()
        for parent in packages[key].required_by if key in packages else ():
            if parent in requesters:
                requester = requesters[parent]
                head = canonicalize_name(chain[0])
                spec = next(
                    (
                        r
                        for r in requester.requirements
                        if canonicalize_name(Requirement(r).name) == head
                    ),
                    chain[0],
                )
                paths.append(WhyPath(parent, requester.declared_in, spec, chain, requester.reason))
            elif (parent, key) not in seen and parent in packages:
                seen.add((parent, key))
                stack.append((parent, (packages[parent].name, *chain)))
    paths.sort(key=lambda p: (p.requester, len(p.chain), p.chain))
    return target, paths


def tree(lock: PyLock) -> list[tuple[Requester, list[tuple[int, LockedPackage]]]]:
    """Per requester: (requester, [(depth, package)...]) walking the lock's graph."""
    packages = lock.by_name()
    children: dict[str, list[str]] = {}
    for package in lock.packages:
        for parent in package.required_by:
            children.setdefault(parent, []).append(package.key)
    out = []
    for requester in lock.requesters:
        rows: list[tuple[int, LockedPackage]] = []
        stack = [
            (key, 0, frozenset({key}))
            for key in sorted(children.get(requester.name, ()), reverse=True)
        ]
        while stack:
            key, depth, path = stack.pop()
            rows.append((depth, packages[key]))
            below = sorted(children.get(key, ()), reverse=True)
            stack += [(child, depth + 1, path | {child}) for child in below if child not in path]
        out.append((requester, rows))
    return out
