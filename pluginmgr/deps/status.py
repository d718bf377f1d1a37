"""Where a lock stands against the node: which packages moved between two locks, and what
changed since a lock was written (declarations, constraints, the venv's interpreter). Pure
functions over `PyLock` and `DependencyInputs`; `DependencySet` uses them."""

from __future__ import annotations

from dataclasses import dataclass

from .inputs import CONSTRAINTS_NAME, OPERATOR, DependencyInputs
from .pylock import PyLock

__all__ = [
    "LockStatus",
    "PackageChange",
    "interpreter_change",
    "package_changes",
    "requester_changes",
    "runtime_pinned_note",
]


@dataclass(frozen=True, slots=True)
class PackageChange:
    """One package's move between two locks (``old`` None: added; ``new`` None: removed)."""

    name: str
    old: str | None
    new: str | None


@dataclass(frozen=True, slots=True)
class LockStatus:
    """``missing``, ``fresh`` or ``stale`` (with what changed).

    ``interpreter_only``: the only change is the interpreter (a Python upgrade), which `sync`
    answers by re-resolving the same declarations for it, saying so.
    """

    state: str
    changes: tuple[str, ...] = ()
    interpreter_only: bool = False
    #: what is worth knowing but changes nothing (a lock resolved against the server's versions)
    notes: tuple[str, ...] = ()


def package_changes(previous: PyLock | None, new: PyLock) -> tuple[PackageChange, ...]:
    old = {p.key: p for p in previous.packages} if previous else {}
    now = new.by_name()
    out = []
    for name in sorted(old.keys() | now.keys()):
        before = old[name].version if name in old else None
        after = now[name].version if name in now else None
        if before != after:
            out.append(
                PackageChange(now[name].name if name in now else old[name].name, before, after)
            )
    return tuple(out)


def requester_changes(lock: PyLock, inputs: DependencyInputs) -> list[str]:
    then = {r.name: r for r in lock.requesters}
    now = {r.name: r for r in inputs.requesters}
    out = []
    for name in sorted(then.keys() | now.keys()):
        if name not in now:
            had = ", ".join(then[name].requirements)
            if name in inputs.members or name == OPERATOR:
                out.append(f"{name} no longer declares requirements (it had {had})")
            else:
                out.append(
                    f"{name} is no longer in use (it had {had}): plugins.lock does not pin it "
                    "and plugins.in does not list it"
                )
        elif name not in then:
            out.append(
                f"{name} ({now[name].declared_in}) now declares {', '.join(now[name].requirements)}"
            )
        elif sorted(then[name].requirements) != sorted(now[name].requirements):
            out.append(
                f"{name} now declares {', '.join(now[name].requirements)} "
                f"(the lock has {', '.join(then[name].requirements)})"
            )
    if sorted(lock.constraints) != sorted(inputs.constraints):
        out.append(
            f"{CONSTRAINTS_NAME} now has {', '.join(inputs.constraints) or 'nothing'} "
            f"(the lock has {', '.join(lock.constraints) or 'nothing'})"
        )
    return out


def interpreter_change(lock: PyLock, inputs: DependencyInputs) -> str | None:
    if (lock.python, lock.implementation, lock.platform) == (
        inputs.python,
        inputs.implementation,
        inputs.platform,
    ):
        return None
    return (
        f"the lock was resolved for {lock.implementation} {lock.python} on {lock.platform}, "
        f"this node runs {inputs.implementation} {inputs.python} on {inputs.platform}"
    )


def runtime_pinned_note(lock: PyLock) -> str | None:
    """What to say of a lock an older pluginmgr resolved with the server's own packages as pins
    (`PyLock.runtime_pinned`): they are installed into the venv now, at those versions."""
    if not lock.runtime_pinned:
        return None
    names = ", ".join(lock.runtime_pinned)
    return (
        f"the lock holds {names} at the server's own versions (an older pluginmgr pinned them); "
        "they are installed into the venv now: `pluginmgr deps lock --upgrade` lets them move"
    )
