"""`UvProbe`: the culprit search's `Probe` by uv, one ``uv pip compile`` per question."""

from __future__ import annotations

import re
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Final

from .dep_culprit import MAX_SECONDS, Suspect
from .dep_inputs import DependencyInputs
from .process import check, run
from .uv_compile import compile_command, read_pins, write_inputs

if TYPE_CHECKING:
    from .installers import InstallOptions

__all__ = ["UvProbe"]

_NO_SOLUTION: Final = "No solution found"
_PIN: Final = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)==(?P<version>\S+)")


class UvProbe:
    """`Probe` by uv: ``uv pip compile`` of the inputs without the dropped suspects, with the
    runtime's versions as preferences (so an answer moves only what it must). Every run shares
    one deadline: a run never outlives the search."""

    def __init__(
        self,
        inputs: DependencyInputs,
        runtime: Mapping[str, str],
        *,
        uv: Path,
        python: Path,
        sources: InstallOptions,
        seconds: float = MAX_SECONDS,
    ) -> None:
        self.inputs = inputs
        self.runtime = dict(runtime)
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
        """Every runtime pin, as uv's previous output: what a dropped pin moves away from."""
        return "".join(f"{n}=={v}\n" for n, v in sorted(self.runtime.items()))

    def _write(self, work: Path, dropped: frozenset[Suspect], extra: tuple[str, ...]) -> list[str]:
        gone = {(s.requester, s.text) for s in dropped if s.kind == "requirement"}
        lists = [
            [r for r in requester.requirements if (requester.name, r) not in gone]
            for requester in self.inputs.requesters
        ]
        constraints_out = {s.text for s in dropped if s.kind == "constraint"}
        constraints = [c for c in self.inputs.constraints if c not in constraints_out]
        pins_out = {s.text for s in dropped if s.kind == "runtime"}
        pins = {n: v for n, v in self.runtime.items() if f"{n}=={v}" not in pins_out}
        return write_inputs(work, [*lists, list(extra)], constraints, pins)
