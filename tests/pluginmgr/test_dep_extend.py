"""`extend_lock`: a plugin whose requirements the locked packages already meet joins the lock
without the resolver; anything that could change the resolution gives None."""

from __future__ import annotations

from pathlib import Path

import pytest

from pluginmgr.deps.extend import extend_lock, records
from pluginmgr.deps.inputs import DependencyInputs
from pluginmgr.deps.lock_cache import cached_lock
from pluginmgr.deps.pylock import LockedPackage, PyLock, Requester
from pluginmgr.deps.pylock_writer import write_pylock

_PY = ("3.11", "cpython", "linux-x86_64")
_OLD = Requester("a.py", "pep723", ("pm-liby",))


def _lock(*requesters: Requester, constraints: tuple[str, ...] = ()) -> PyLock:
    inputs = DependencyInputs(requesters, constraints, *_PY)
    return PyLock(
        packages=(
            LockedPackage("pm-libx", "2.0", required_by=("pm-liby",)),
            LockedPackage("pm-liby", "1.0", required_by=("a.py",)),
            LockedPackage("pm-win", "1.0", marker='sys_platform == "win32"'),
        ),
        requesters=requesters,
        constraints=constraints,
        inputs_sha256=inputs.sha256,
        python=_PY[0],
        implementation=_PY[1],
        platform=_PY[2],
    )


def _inputs(*requesters: Requester, constraints: tuple[str, ...] = ()) -> DependencyInputs:
    return DependencyInputs(requesters, constraints, *_PY)


def test_a_new_plugin_met_by_the_lock_is_recorded() -> None:
    new = Requester("b.py", "manifest.toml", ("pm-libx>=2", "pm-liby==1.0"))
    inputs = _inputs(_OLD, new)
    extended = extend_lock(_lock(_OLD), inputs)
    assert extended is not None
    assert extended.inputs_sha256 == inputs.sha256
    assert extended.requesters == (_OLD, new)
    assert {p.name: p.required_by for p in extended.packages} == {
        "pm-libx": ("b.py", "pm-liby"),
        "pm-liby": ("a.py", "b.py"),
        "pm-win": (),
    }
    assert records(extended, "b.py", "manifest.toml", ("pm-liby==1.0", "pm-libx>=2"))
    assert not records(extended, "b.py", "pep723", ("pm-liby==1.0", "pm-libx>=2"))
    assert not records(extended, "c.py", "manifest.toml", ())


@pytest.mark.parametrize(
    "requirement",
    [
        "pm-libx<2",  # the locked version is not allowed
        "pm-other",  # not locked
        "pm-libx[fast]>=2",  # an extra may pull in more
        'pm-libx>=2; python_version >= "3"',  # a marker: resolve for the interpreter
        "pm-libx @ https://example.invalid/pm_libx-2.0-py3-none-any.whl",  # a URL
        "pm-win",  # locked for another platform only
    ],
)
def test_anything_the_lock_does_not_plainly_meet_resolves(requirement: str) -> None:
    new = Requester("b.py", "pep723", (requirement,))
    assert extend_lock(_lock(_OLD), _inputs(_OLD, new)) is None


def test_a_changed_or_removed_requester_or_new_constraints_resolve() -> None:
    new = Requester("b.py", "pep723", ("pm-libx",))
    changed = Requester("a.py", "pep723", ("pm-liby", "pm-libx"))
    assert extend_lock(_lock(_OLD), _inputs(changed, new)) is None
    assert extend_lock(_lock(_OLD, new), _inputs(new)) is None  # a.py left: orphans possible
    assert extend_lock(_lock(_OLD), _inputs(_OLD, new, constraints=("pm-libx<3",))) is None
    assert extend_lock(_lock(_OLD), _inputs(_OLD)) is None  # nothing added: not an extension
    other_python = DependencyInputs((_OLD, new), (), "3.12", "cpython", "linux-x86_64")
    assert extend_lock(_lock(_OLD), other_python) is None


def test_the_lock_is_parsed_once_per_version_of_the_file(tmp_path: Path) -> None:
    path = tmp_path / "pylock.toml"
    assert cached_lock(path) is None
    write_pylock(path, _lock(_OLD))
    first = cached_lock(path)
    assert first is not None and cached_lock(path) is first
    new = Requester("b.py", "pep723", ("pm-libx",))
    write_pylock(path, _lock(_OLD, new))
    second = cached_lock(path)
    assert second is not first and second is not None
    assert [r.name for r in second.requesters] == ["a.py", "b.py"]
