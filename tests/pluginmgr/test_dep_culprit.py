"""The culprit of a conflict: found by leaving inputs out, through real uv runs, bounded."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from pluginmgr.deps.conflict import log_derivation
from pluginmgr.deps.culprit import (
    CulpritReport,
    Suspect,
    find_culprits,
    required_names,
    suspects_of,
)
from pluginmgr.deps.inputs import DependencyInputs
from pluginmgr.deps.installers import InstallOptions, find_uv
from pluginmgr.deps.probe import UvProbe
from pluginmgr.deps.pylock import Requester
from pluginmgr.deps.resolver import ResolveOptions, explain_conflict, resolve, search_culprits
from pluginmgr.deps.venv import bundled_python
from pluginmgr.errors import DependencyConflictError

pytestmark = pytest.mark.usefixtures("uv_sandbox")

#: many == pins uv's derivation can name, as an operator's constraints.txt can hold
_NOISE: tuple[str, ...] = ("pm-rich==15.0", *(f"pm-noise-{n}==1.0" for n in range(1, 5)))


def _inputs(
    *requesters: tuple[str, Sequence[str]], constraints: Sequence[str] = ()
) -> DependencyInputs:
    return DependencyInputs(
        tuple(Requester(name, "pep723", tuple(reqs)) for name, reqs in requesters),
        tuple(constraints),
        "3.11",
        "cpython",
        "linux",
    )


def _options(wheels: Path, tmp_path: Path) -> ResolveOptions:
    sources = InstallOptions(find_links=(str(wheels),), no_index=True, offline=True)
    return ResolveOptions(
        uv=find_uv()[0], python=bundled_python(), sources=sources, log_dir=tmp_path
    )


def _conflict(inputs: DependencyInputs, options: ResolveOptions) -> DependencyConflictError:
    with pytest.raises(DependencyConflictError) as caught:
        resolve(inputs, options)
    return caught.value


_PREFIX = "no set of packages satisfies every plugin: "


# -- through real uv runs ------------------------------------------------------------------------


_DATEUTIL = "constraints.txt's pm-dateutil==4.0"


def test_a_pin_buried_under_other_named_pins_is_the_culprit(
    culprit_wheels: Path, tmp_path: Path
) -> None:
    inputs = _inputs(
        ("iceberg.py", ["pm-iceberg"]),
        ("other.py", ["pm-noise-3"]),
        constraints=[*_NOISE, "pm-dateutil==4.0"],
    )
    error = _conflict(inputs, _options(culprit_wheels, tmp_path))
    assert error.message.startswith(
        _PREFIX + f"{_DATEUTIL} conflicts with iceberg.py's pm-iceberg (pep723)"
    ), error.message
    assert error.culprits == (_DATEUTIL, "iceberg.py's pm-iceberg (pep723)")
    # the pin is reached through four packages; uv's derivation names the pm-noise-1 and
    # pm-rich pins too (they rule out newer releases of pm-iceberg), but they are not culprits:
    # leaving either out lets in a release that still fails. They follow as involved.
    assert "pm-chain-d depend on pm-dateutil<3" in error.explanation
    assert "pm-rich<15 and pm-rich==15.0" in error.explanation
    assert "pm-noise-1>=2 and pm-noise-1==1.0" in error.explanation
    assert error.message.endswith(
        "; uv's explanation also names: constraints.txt constrains pm-rich==15.0, "
        "constraints.txt constrains pm-noise-1==1.0"
    ), error.message
    assert "cut short" not in error.message
    # the way out names an environment of its own for the plugin among the culprits
    assert error.hint is not None
    assert "give iceberg.py's trigger its own environment" in error.hint
    assert "create trigger NAME --isolated" in error.hint


def test_the_servers_own_distributions_are_no_pins(culprit_wheels: Path, tmp_path: Path) -> None:
    # pm-dateutil stands in for the python-dateutil 4.0 the server had: without a pin on it,
    # the plugin gets the release its chain needs, whatever the server's environment holds
    inputs = _inputs(("iceberg.py", ["pm-iceberg"]))
    lock = resolve(inputs, _options(culprit_wheels, tmp_path))
    versions = {p.name: p.version for p in lock.packages}
    assert versions["pm-dateutil"] == "2.9"
    assert "httpx" not in versions and "click" not in versions  # the server's, not the set's


def test_a_set_of_twenty_plugins_and_sixty_pins_takes_few_runs(
    culprit_wheels: Path, tmp_path: Path
) -> None:
    pins = [*_NOISE, "pm-dateutil==4.0", *(f"pm-other-{n}==1.0" for n in range(55))]
    plugins = [(f"p{n}.py", [f"pm-noise-{1 + n % 4}"]) for n in range(20)]
    plugins.insert(13, ("iceberg.py", ["pm-noise-2", "pm-iceberg", "pm-noise-3"]))
    inputs = _inputs(*plugins, constraints=pins)
    options = _options(culprit_wheels, tmp_path)
    error = _conflict(inputs, options)
    assert error.culprits == (_DATEUTIL, "iceberg.py's pm-iceberg (pep723)")
    # what it cost: the requester uv says "you require" of is tried first, the others in two
    # groups whose removal does not help, one run each
    report = search_culprits(inputs, options, error.explanation)
    assert report.cut_short is None and report.runs <= 8, report


def test_you_require_names_the_root_requirements_not_the_pins() -> None:
    line = "And because you require pm-iceberg and pm-noise-1==1.0, we can conclude that …"
    assert required_names(line, ["pm-noise-1==1.0"]) == {"pm-iceberg"}
    both = "cause: Because you require pm-libx<2 and pm-libx>=2, we can conclude that …"
    assert required_names(both) == {"pm-libx"}


def test_a_constraint_is_the_culprit(culprit_wheels: Path, tmp_path: Path) -> None:
    constraints = ["pm-noise-1<2", "pm-dateutil>=4", *_NOISE[1:]]
    inputs = _inputs(("iceberg.py", ["pm-iceberg"]), constraints=constraints)
    error = _conflict(inputs, _options(culprit_wheels, tmp_path))
    assert error.message.startswith(
        _PREFIX + "constraints.txt's pm-dateutil>=4 conflicts with iceberg.py's pm-iceberg"
    ), error.message


def test_a_plugin_declaration_is_the_culprit(culprit_wheels: Path, tmp_path: Path) -> None:
    inputs = _inputs(
        ("a.py", ["pm-rich>=13", "pm-noise-1"]),
        ("b.py", ["pm-noise-2", "pm-iceberg"]),
        ("c.py", ["pm-noise-3", "pm-dateutil>=4", "pm-noise-4"]),
        ("d.py", ["pm-core"]),
    )
    error = _conflict(inputs, _options(culprit_wheels, tmp_path))
    # the requesters are halved, then the culprit requesters' requirements
    assert error.culprits == ("b.py's pm-iceberg (pep723)", "c.py's pm-dateutil>=4 (pep723)")
    assert error.message.startswith(
        _PREFIX + "b.py's pm-iceberg (pep723) conflicts with c.py's pm-dateutil>=4 (pep723)"
    )


def test_the_search_is_bounded_and_says_so(culprit_wheels: Path, tmp_path: Path) -> None:
    inputs = _inputs(
        ("iceberg.py", ["pm-iceberg"]),
        ("other.py", ["pm-noise-3"]),
        constraints=[*_NOISE, "pm-dateutil==4.0"],
    )
    options = _options(culprit_wheels, tmp_path)
    probe = UvProbe(inputs, uv=options.uv, python=options.python, sources=options.sources)
    report = find_culprits(suspects_of(inputs), probe, max_runs=3)
    assert probe.runs == 3 and report.runs == 3
    assert report.cut_short == "stopped after 3 uv runs"
    # three runs were enough for the pin (the pins uv moved, pm-rich and pm-dateutil, then each
    # of them alone); the declaration's side was not searched
    assert [c.describe() for c in report.culprits] == [_DATEUTIL]
    bare = DependencyConflictError("no set of packages satisfies every plugin", explanation="")
    message = explain_conflict(bare, inputs, culprits=report).message
    assert message.endswith("(the search for the culprit was cut short: stopped after 3 uv runs)")
    timed = find_culprits(suspects_of(inputs), probe, max_seconds=0.0)
    assert timed.runs == 0 and timed.cut_short == "stopped after 0 uv runs at the time limit"


def test_a_long_derivation_is_kept_whole_and_logged(tmp_path: Path) -> None:
    lines = "\n".join(f"And because step {n} …" for n in range(100))
    error = DependencyConflictError("no set", explanation=lines)
    assert error.shown_lines() == lines.splitlines()  # no log file: nothing is left out
    log_derivation(error, tmp_path)
    assert error.log_path is not None
    log = Path(error.log_path)
    assert log.parent == tmp_path and log.name.startswith("pluginmgr-conflict-")
    assert log.read_text(encoding="utf-8") == lines + "\n"
    shown = error.shown_lines()
    assert shown[:40] == lines.splitlines()[:40]
    assert shown[40:] == [f"(60 more lines; see {log})"]
    short = DependencyConflictError("no set", explanation="one\ntwo")
    log_derivation(short, tmp_path)
    assert short.log_path is None


# -- the search itself, over a model of uv ------------------------------------------------------


def _model(cores: list[set[Suspect]]) -> tuple[list[int], object]:
    """A probe over minimal conflicts ``cores``: resolvable when no core is whole; its answer
    moves the dropped pins that belong to a core (so they read as violated)."""
    runs = [0]

    def probe(dropped: frozenset[Suspect], extra: tuple[str, ...]) -> dict[str, str] | None:
        runs[0] += 1
        if any(core.isdisjoint(dropped) for core in cores):
            return None
        moved = [s for s in dropped if any(s in core for core in cores)]
        return {s.package: "999" for s in moved}

    return runs, probe


def test_one_pin_among_a_hundred_and_fifty_costs_few_runs() -> None:
    pins = [Suspect("constraint", f"pkg-{n}=={n}.0") for n in range(150)]
    requirements = [Suspect("requirement", f"req-{n}", f"p{n}.py", "pep723") for n in range(6)]
    cores = [{pins[97], requirements[4]}]
    runs, probe = _model(cores)
    named = [s.package for s in pins[:40]]  # uv names many innocent pins first
    report: CulpritReport = find_culprits(
        [*pins, *requirements],
        probe,  # type: ignore[arg-type]  # the model's signature is the Probe's
        named=named,
    )
    assert report.sentence() == (
        "constraints.txt's pkg-97==97.0 conflicts with p4.py's req-4 (pep723)"
    )
    assert report.cut_short is None
    assert report.runs == runs[0] <= 8


def test_pins_needed_only_together_are_named_together() -> None:
    a, b = Suspect("constraint", "liba==1.0"), Suspect("constraint", "libb==1.0")
    req = Suspect("requirement", "app>=2", "p.py", "manifest.toml")
    runs, probe = _model([{a, req}, {b, req}])  # leaving a or b out alone does not help
    report = find_culprits(
        [a, b, Suspect("constraint", "other==1.0"), req],
        probe,  # type: ignore[arg-type]  # the model's signature is the Probe's
    )
    assert report.sentence() == (
        "constraints.txt's liba==1.0, constraints.txt's libb==1.0 (together) conflicts with "
        "p.py's app>=2 (manifest.toml)"
    )
    assert report.runs == runs[0] == 3  # the pins relaxed, then each of the two moved alone


def test_a_violated_pin_or_constraint() -> None:
    pin = Suspect("constraint", "python-dateutil==4.0.0")
    assert pin.package == "python-dateutil"
    assert pin.violated_by({"python-dateutil": "2.9.0.post0"})
    assert not pin.violated_by({"python-dateutil": "4.0"})  # the same version, spelled short
    assert not pin.violated_by({"rich": "13.0"})  # not in the resolution: breaks nothing
    marker = Suspect("constraint", 'numpy<2; python_version < "3"')
    assert not marker.violated_by({"numpy": "2.4"})  # the marker is false here
    assert Suspect("constraint", "numpy<2").violated_by({"numpy": "2.4"})
