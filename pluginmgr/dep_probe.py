"""`UvProbe`: the culprit search's `Probe` by uv, one ``uv pip compile`` per question."""

from __future__ import annotations

import re
import tempfile
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Final

from packaging.utils import canonicalize_name

from .dep_culprit import MAX_SECONDS, Suspect
from .dep_inputs import CONSTRAINTS_NAME, DependencyInputs
from .installers.uv import source_args
from .process import check, run

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
        self.command: list[str | Path] = [uv, "pip", "compile", "--python", python, "--quiet"]
        self.command += ["--no-header", "--no-annotate", *source_args(sources)]
        self.deadline = time.monotonic() + seconds
        self.runs = 0

    def __call__(
        self, dropped: frozenset[Suspect], extra: tuple[str, ...]
    ) -> dict[str, str] | None:
        with tempfile.TemporaryDirectory(prefix="pluginmgr-culprit-") as tmp:
            work = Path(tmp)
            args = self._write(work, dropped, extra)
            (work / "out.txt").write_text(self._pins(()), encoding="utf-8")  # the preferences
            timeout = max(1.0, self.deadline - time.monotonic())
            # no cwd: a relative --find-links is the caller's, as in the resolution itself
            result = run([*self.command, *args, "-o", work / "out.txt"], timeout=timeout)
            self.runs += 1
            if result.returncode != 0 and _NO_SOLUTION in result.output:
                return None
            check(result, what="resolving the plugins' requirements without some of them")
            text = (work / "out.txt").read_text(encoding="utf-8")
        pins = (_PIN.match(line) for line in text.splitlines())
        return {canonicalize_name(m["name"]): m["version"] for m in pins if m}

    def _pins(self, dropped: Iterable[Suspect]) -> str:
        left_out = {s.text for s in dropped if s.kind == "runtime"}
        pins = (f"{n}=={v}" for n, v in sorted(self.runtime.items()))
        return "".join(f"{pin}\n" for pin in pins if pin not in left_out)

    def _write(self, work: Path, dropped: frozenset[Suspect], extra: tuple[str, ...]) -> list[str]:
        args: list[str] = []
        gone = {(s.requester, s.text) for s in dropped if s.kind == "requirement"}
        for index, requester in enumerate(self.inputs.requesters):
            left = [r for r in requester.requirements if (requester.name, r) not in gone]
            if left:
                (work / f"r{index}.in").write_text("".join(f"{r}\n" for r in left))
                args.append(str(work / f"r{index}.in"))
        if extra:
            (work / "extra.in").write_text("".join(f"{r}\n" for r in extra))
            args.append(str(work / "extra.in"))
        left_out = {s.text for s in dropped if s.kind == "constraint"}
        constraints = [c for c in self.inputs.constraints if c not in left_out]
        if constraints:
            (work / CONSTRAINTS_NAME).write_text("".join(f"{c}\n" for c in constraints))
            args += ["-c", str(work / CONSTRAINTS_NAME)]
        (work / "runtime.txt").write_text(self._pins(dropped))
        return [*args, "-c", str(work / "runtime.txt")]
