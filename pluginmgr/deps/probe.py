"""`UvProbe`: the culprit search's `Probe` by uv, one ``uv pip compile`` per question."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Final

from packaging.requirements import Requirement

from ..process import check, run
from .culprit import MAX_SECONDS, Suspect
from .inputs import DependencyInputs
from .uv_compile import compile_command, read_pins, write_inputs

if TYPE_CHECKING:
    from .installers import InstallOptions

__all__ = ["UvProbe"]

_NO_SOLUTION: Final = "No solution found"


class UvProbe:
    """`Probe` by uv: ``uv pip compile`` of the inputs without the dropped suspects, with the
    constraints that pin a version (``x==1``) as uv's preferences (so an answer moves only what
    it must). Every run shares one deadline: a run never outlives the search."""

    def __init__(
        self,
        inputs: DependencyInputs,
        *,
        uv: Path,
        python: Path,
        sources: InstallOptions,
        seconds: float = MAX_SECONDS,
    ) -> None:
        self.inputs = inputs
        self.command = [*compile_command(uv, python, sources), "--no-header", "--no-annotate"]
        self.deadline = time.monotonic() + seconds
        self.runs = 0

    def __call__(
        self, dropped: frozenset[Suspect], extra: tuple[str, ...]
    ) -> dict[str, str] | None:
        with tempfile.TemporaryDirectory(prefix="pluginmgr-culprit-") as tmp:
            work = Path(tmp)
            args = self._write(work, dropped, extra)
            (work / "out.txt").write_text(self._preferences(), encoding="utf-8")
            timeout = max(1.0, self.deadline - time.monotonic())
            # no cwd: a relative --find-links is the caller's, as in the resolution itself
            result = run([*self.command, *args, "-o", work / "out.txt"], timeout=timeout)
            self.runs += 1
            if result.returncode != 0 and _NO_SOLUTION in result.output:
                return None
            check(result, what="resolving the plugins' requirements without some of them")
            text = (work / "out.txt").read_text(encoding="utf-8")
        return read_pins(text)

    def _preferences(self) -> str:
        """Every ``==`` constraint, as uv's previous output: what a dropped pin moves away from."""
        lines = []
        for text in self.inputs.constraints:
            constraint = Requirement(text)  # normalised when the inputs were read
            specs = list(constraint.specifier)
            if constraint.marker is None and len(specs) == 1 and specs[0].operator == "==":
                lines.append(f"{constraint.name}=={specs[0].version}\n")
        return "".join(sorted(lines))

    def _write(self, work: Path, dropped: frozenset[Suspect], extra: tuple[str, ...]) -> list[str]:
        gone = {(s.requester, s.text) for s in dropped if s.kind == "requirement"}
        lists = [
            [r for r in requester.requirements if (requester.name, r) not in gone]
            for requester in self.inputs.requesters
        ]
        constraints_out = {s.text for s in dropped if s.kind == "constraint"}
        constraints = [c for c in self.inputs.constraints if c not in constraints_out]
        return write_inputs(work, [*lists, list(extra)], constraints)
