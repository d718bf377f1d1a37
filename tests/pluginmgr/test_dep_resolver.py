"""The resolver's graph (who needs what): from local metadata and from uv's annotations alike."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from pluginmgr.deps.inputs import DependencyInputs
from pluginmgr.deps.installers import InstallOptions, find_uv
from pluginmgr.deps.pylock import Requester
from pluginmgr.deps.resolver import ResolveOptions, resolve
from pluginmgr.deps.venv import bundled_python
from tests.conftest import UvCalls
from tests.wheels import FIXTURE_PACKAGES, build_wheel

pytestmark = pytest.mark.usefixtures("uv_sandbox")


def _inputs(*requesters: tuple[str, tuple[str, ...]]) -> DependencyInputs:
    return DependencyInputs(
        tuple(Requester(name, "pep723", reqs) for name, reqs in requesters),
        (),
        "3.11",
        "cpython",
        "linux",
    )


@pytest.mark.parametrize(
    "requesters",
    [
        (("a.py", ("pm-liby",)), ("b.py", ("pm-libx",))),
        (("a.py", ("pm-alpha", "pm-utils<0.4")),),
        (("a.py", ('pm-alpha ; python_version < "3"', "pm-gamma")),),
        (("a.py", ("pm-extras[all]",)),),
        (("a.py", ("pm-extras[fast]",)), ("b.py", ("pm-extras",))),
    ],
)
def test_the_metadata_graph_is_uvs_graph(
    dep_wheels: Path,
    wheelhouse: Path,
    tmp_path: Path,
    requesters: tuple[tuple[str, tuple[str, ...]], ...],
) -> None:
    extras = build_wheel(FIXTURE_PACKAGES / "pm_extras", tmp_path / "extras").parent
    sources = InstallOptions(
        find_links=(str(dep_wheels), str(wheelhouse), str(extras)), no_index=True, offline=True
    )
    options = ResolveOptions(uv=find_uv()[0], python=bundled_python(), sources=sources)
    inputs = _inputs(*requesters)
    ours = resolve(inputs, options)
    theirs = resolve(inputs, dataclasses.replace(options, graph_from_uv=True))
    assert [(p.name, p.version, p.required_by) for p in ours.packages] == [
        (p.name, p.version, p.required_by) for p in theirs.packages
    ]
    assert ours.packages  # the cases resolve to something
    assert all(p.required_by for p in ours.packages)


def test_the_second_run_for_uvs_graph_reads_only_uvs_cache(
    dep_wheels: Path, uv_calls: UvCalls
) -> None:
    sources = InstallOptions(find_links=(str(dep_wheels),), no_index=True)  # online
    options = ResolveOptions(uv=find_uv()[0], python=bundled_python(), sources=sources)
    inputs = _inputs(("a.py", ("pm-liby",)), ("b.py", ("pm-libx",)))
    ours = resolve(inputs, options)
    theirs = resolve(inputs, dataclasses.replace(options, graph_from_uv=True))
    assert [(p.name, p.required_by) for p in theirs.packages] == [
        ("pm-libx", ("b.py", "pm-liby")),
        ("pm-liby", ("a.py",)),
    ]
    assert [(p.name, p.required_by) for p in ours.packages] == [
        (p.name, p.required_by) for p in theirs.packages
    ]
    lines = uv_calls.log.read_text().splitlines()
    assert len(lines) == 3  # ours: one run; theirs: the lock, then the graph from the cache
    assert "--offline" not in lines[1].split() and "--offline" in lines[2].split()
