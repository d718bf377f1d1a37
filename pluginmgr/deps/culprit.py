"""Which constraint or declaration a failed resolution really needs: the culprit search.

uv's derivation of a conflict can run to thousands of lines and names many packages; the one
that matters may be deep inside it. Instead of reading it, this module asks uv again, over the
same inputs with some *suspects* left out. A suspect is one of::

    constraint   a line of the operator's constraints.txt
    requirement  one requirement of one requester (a plugin's declaration, requirements.in)

A suspect is a *culprit* when leaving it out alone makes the set resolvable. Resolvability is
monotone (leaving more out never breaks a resolvable set), so a group whose removal leaves the
set unresolvable holds no culprit, and the search discards it whole:

1. the constraints are relaxed as a group in one run; those that uv's answer violates are the
   suspects (the answer proves that leaving them out resolves), tested one at a time only when
   there are several;
2. requesters are halved (a group whose removal resolves is split, the others dropped), and
   a culprit requester's requirements in turn.

The search is bounded by a number of uv runs and a total time (uv's cache makes the reruns
fast); a report cut short says so. The edge, a `Probe`, is injected: `pluginmgr.deps.probe`
runs uv, tests pass a function.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final, Literal

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from ..errors import InstallError
from .inputs import CONSTRAINTS_NAME, DependencyInputs

__all__ = [
    "MAX_RUNS",
    "MAX_SECONDS",
    "Culprit",
    "CulpritReport",
    "Probe",
    "Suspect",
    "find_culprits",
    "required_names",
    "suspects_of",
]

_LOGGER = logging.getLogger(__name__)

#: at most this many uv runs per search
MAX_RUNS: Final = 12
#: and at most this many seconds (a run that would start later is not started)
MAX_SECONDS: Final = 60.0


SuspectKind = Literal["constraint", "requirement"]
_ORDER: Final[dict[str, int]] = {"constraint": 0, "requirement": 1}


@dataclass(frozen=True, slots=True, order=True)
class Suspect:
    """One input that can be left out of a resolution."""

    kind: SuspectKind
    #: the constraint line, or the requirement as declared
    text: str
    #: the requester (plugin reference or requirements.in) of a requirement
    requester: str = ""
    #: where that requester declares it (manifest.toml, pep723, …)
    declared_in: str = ""

    @property
    def package(self) -> str:
        """The canonical name of the package it is about."""
        try:
            return canonicalize_name(Requirement(self.text).name)
        except InvalidRequirement:
            return canonicalize_name(self.text.split("==")[0])

    def describe(self) -> str:
        """``constraints.txt's x<2``, ``a.py's x>=2 (manifest.toml)``."""
        if self.kind == "constraint":
            return f"{CONSTRAINTS_NAME}'s {self.text}"
        where = f" ({self.declared_in})" if self.declared_in not in ("", self.requester) else ""
        return f"{self.requester}'s {self.text}{where}"

    def violated_by(self, pins: Mapping[str, str]) -> bool:
        """Whether a resolution (canonical name -> version) breaks this constraint;
        a package the resolution does not hold breaks nothing."""
        version = pins.get(self.package)
        if version is None:
            return False
        try:
            requirement = Requirement(self.text)
            if requirement.marker is not None and not requirement.marker.evaluate({"extra": ""}):
                return False
            if requirement.url:
                return True  # cannot tell from a version: suspect it
            return not requirement.specifier.contains(Version(version), prereleases=True)
        except (InvalidRequirement, InvalidVersion):
            return True


@dataclass(frozen=True, slots=True)
class Culprit:
    """Suspects whose removal, together, makes the set resolvable (usually just one)."""

    suspects: tuple[Suspect, ...]
    #: False: one requester's requirements, not narrowed down (the search was cut short)
    narrowed: bool = True

    def describe(self) -> str:
        if len(self.suspects) == 1:
            return self.suspects[0].describe()
        if not self.narrowed:
            first = self.suspects[0]
            texts = ", ".join(s.text for s in self.suspects)
            where = (
                f" ({first.declared_in})" if first.declared_in not in ("", first.requester) else ""
            )
            return f"one of {first.requester}'s {texts}{where}"
        return f"{', '.join(s.describe() for s in self.suspects)} (together)"


@dataclass(frozen=True, slots=True)
class CulpritReport:
    """What the search found, and what it cost."""

    culprits: tuple[Culprit, ...]
    runs: int
    seconds: float
    #: why the search stopped before it was done (None: it was not cut short)
    cut_short: str | None = None
    #: the inputs (with the extra requirements) resolve as they are: nothing is to blame
    resolvable: bool = False

    def sentence(self) -> str | None:
        """``constraints.txt's a<2 conflicts with p.py's a>=2 (pep723)``; None if nothing found."""
        if not self.culprits:
            return None
        ordered = sorted(self.culprits, key=lambda c: _ORDER[c.suspects[0].kind])  # stable
        first, rest = ordered[0].describe(), [c.describe() for c in ordered[1:]]
        if not rest:
            return f"{first} cannot be met"
        return f"{first} conflicts with {' and '.join(rest)}"


#: resolve the inputs without ``dropped`` (plus ``extra`` requirements): the resolution
#: (canonical name -> version), or None when uv finds no solution
Probe = Callable[[frozenset[Suspect], tuple[str, ...]], "dict[str, str] | None"]


_YOU_REQUIRE: Final = re.compile(r"you require (.+?)(?:, we can conclude|, | we can| and we|$)")
_NAME: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


def required_names(explanation: str, constraints: Collection[str] = ()) -> set[str]:
    """The packages uv's derivation says "you require" of: the root requirements it used.

    :param constraints: uv words them the same way; a part that is exactly one of them is not
        a requirement.
    """
    exact = {c.replace(" ", "") for c in constraints}
    found: set[str] = set()
    for line in explanation.splitlines():
        for match in _YOU_REQUIRE.finditer(line):
            for part in match.group(1).split(" and "):
                name = _NAME.match(part.strip())
                if name and part.replace(" ", "") not in exact:
                    found.add(canonicalize_name(name.group(0)))
    return found


def suspects_of(inputs: DependencyInputs) -> list[Suspect]:
    """Every suspect of a resolution: the constraints, each requirement."""
    found = [Suspect("constraint", text) for text in inputs.constraints]
    for requester in inputs.requesters:
        found += [
            Suspect("requirement", text, requester.name, requester.declared_in)
            for text in requester.requirements
        ]
    return found


@dataclass
class _Budget:
    """Counts the runs against the bounds; caches answers (the same question is never re-run)."""

    probe: Probe
    extra: tuple[str, ...]
    max_runs: int
    deadline: float
    #: every requirement suspect: with all of them (and no extra) left out, nothing to resolve
    requirements: frozenset[Suspect] = frozenset()
    runs: int = 0
    cut_short: str | None = None
    answers: dict[frozenset[Suspect], dict[str, str] | None] = field(default_factory=dict)

    def ask(self, dropped: frozenset[Suspect]) -> dict[str, str] | bool | None:
        """The resolution without ``dropped``, None if there is none, False if out of budget."""
        if dropped in self.answers:
            return self.answers[dropped]
        if not self.extra and dropped >= self.requirements:
            return {}
        if self.cut_short is not None:
            return False
        if self.runs >= self.max_runs:
            self.cut_short = f"stopped after {self.runs} uv runs"
            return False
        if time.monotonic() >= self.deadline:
            self.cut_short = f"stopped after {self.runs} uv runs at the time limit"
            return False
        self.runs += 1
        try:
            answer = self.probe(dropped, self.extra)
        except InstallError as exc:  # a run that timed out or failed otherwise: stop here
            self.cut_short = f"a uv run failed: {exc.message}"
            return False
        self.answers[dropped] = answer
        return answer


def _relax(budget: _Budget, group: list[Suspect]) -> list[Culprit]:
    """Constraints: leave the whole group out once; the suspects uv's answer breaks are
    the culprits (the answer proves that leaving them out resolves); several are then tried
    one at a time, and named together when none does alone."""
    answer = budget.ask(frozenset(group))
    if not isinstance(answer, dict):
        return []  # None: none of them is needed (monotone); False: out of budget
    broken = [s for s in group if s.violated_by(answer)] or list(group)
    if len(broken) == 1:
        return [Culprit((broken[0],))]
    alone = [s for s in broken if isinstance(budget.ask(frozenset({s})), dict)]
    if alone:
        return [Culprit((s,)) for s in alone]
    return [Culprit(tuple(broken))] if budget.cut_short is None else []


def _halve(budget: _Budget, groups: list[list[Suspect]]) -> list[list[Suspect]]:
    """The groups (of requirements) whose removal alone resolves, found by halving."""
    found: list[list[Suspect]] = []
    stack: list[list[list[Suspect]]] = [groups]
    while stack:
        part = stack.pop()
        dropped = frozenset(s for g in part for s in g)
        answer = budget.ask(dropped)
        if answer is False:
            break
        if answer is None:
            continue
        if len(part) == 1:
            found.append(part[0])
            continue
        middle = len(part) // 2
        stack += [part[middle:], part[:middle]]  # the first half is tried first
    return found


def _tiers(
    groups: list[list[Suspect]], required: set[str], named: set[str]
) -> list[list[list[Suspect]]]:
    """The requesters in the order of suspicion: those with a requirement uv's derivation says
    "you require", then those on a package it names, then the rest. Each tier is searched on
    its own: a tier whose removal leaves the set unresolvable costs one run."""
    strong = [g for g in groups if any(s.package in required for s in g)]
    weak = [g for g in groups if g not in strong and any(s.package in named for s in g)]
    rest = [g for g in groups if g not in strong and g not in weak]
    return [tier for tier in (strong, weak, rest) if tier]


def _requirement_culprits(
    budget: _Budget, requirements: list[Suspect], required: set[str], named: set[str]
) -> list[Culprit]:
    by_requester: dict[str, list[Suspect]] = {}
    for suspect in requirements:
        by_requester.setdefault(suspect.requester, []).append(suspect)
    found: list[list[Suspect]] = []
    for tier in _tiers(list(by_requester.values()), required, named):
        found += _halve(budget, tier)
    culprits = []
    for group in found:
        if len(group) == 1:
            culprits.append(Culprit((group[0],)))
            continue
        ordered = sorted(group, key=lambda s: (s.package not in required, s.package not in named))
        singles = _halve(budget, [[s] for s in ordered])
        if singles:
            culprits += [Culprit((single[0],)) for single in singles]
        else:  # the requester's requirements only together, or the budget ran out
            culprits.append(Culprit(tuple(group), narrowed=budget.cut_short is None))
    return culprits


def find_culprits(
    suspects: Sequence[Suspect],
    probe: Probe,
    *,
    named: Iterable[str] = (),
    required: Iterable[str] = (),
    extra: tuple[str, ...] = (),
    max_runs: int = MAX_RUNS,
    max_seconds: float = MAX_SECONDS,
) -> CulpritReport:
    """The suspects whose removal makes the (unresolvable) set resolvable, bounded.

    :param probe: resolves without some suspects (see `Probe`).
    :param named: canonical package names uv's explanation mentions: tried first.
    :param required: the names it says "you require" of: tried before those.
    :param extra: requirements added to every run (e.g. ``pkg>=2`` to ask what holds it back);
        they are never suspects.
    """
    start = time.monotonic()
    requirements = [s for s in suspects if s.kind == "requirement"]
    budget = _Budget(probe, extra, max_runs, start + max_seconds, frozenset(requirements))
    names: set[str] = {canonicalize_name(n) for n in named}
    culprits: list[Culprit] = []
    if extra and isinstance(budget.ask(frozenset()), dict):  # the added requirement fits
        return CulpritReport((), budget.runs, time.monotonic() - start, None, resolvable=True)
    constraints = [s for s in suspects if s.kind == "constraint"]
    if constraints:
        culprits += _relax(budget, constraints)
    if requirements:
        roots: set[str] = {canonicalize_name(n) for n in required}
        culprits += _requirement_culprits(budget, requirements, roots, names)
    seconds = time.monotonic() - start
    _LOGGER.info("culprit search: %d uv runs, %.1fs", budget.runs, seconds)
    return CulpritReport(tuple(culprits), budget.runs, seconds, budget.cut_short)
