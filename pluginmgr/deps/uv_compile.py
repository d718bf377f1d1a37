"""What pluginmgr hands ``uv pip compile`` and reads back, for every resolution it runs: the
set's own (`dep_resolver`), the culprit search's (`dep_probe`) and the newest-release check's
(`newest_cached`).

uv reads one ``r<i>.in`` per requester (``i`` its index in the inputs: uv's annotations name
the file, which names the requester) and ``-c constraints.txt``, and writes ``name==version``
lines.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Final

from packaging.utils import canonicalize_name

from .inputs import CONSTRAINTS_NAME
from .installers.uv import source_args

if TYPE_CHECKING:
    from .installers import InstallOptions

__all__ = ["PIN", "compile_command", "read_pins", "write_inputs"]

#: a ``name==version`` line of uv's requirements output
PIN: Final = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)==(?P<version>\S+)")


def compile_command(uv: Path, python: Path, sources: InstallOptions) -> list[str | Path]:
    """``uv pip compile`` for ``python`` over ``sources``, quiet; inputs and output follow."""
    return [uv, "pip", "compile", "--python", python, "--quiet", *source_args(sources)]


def write_inputs(
    work: Path, requirements: Sequence[Sequence[str]], constraints: Sequence[str]
) -> list[str]:
    """Write uv's input files into ``work``; the arguments naming them. ``requirements`` holds
    one list per requester, in the inputs' order (an empty one writes no file)."""
    args: list[str] = []
    for index, listed in enumerate(requirements):
        if listed:
            path = work / f"r{index}.in"
            path.write_text("".join(f"{r}\n" for r in listed), encoding="utf-8")
            args.append(str(path))
    if constraints:
        (work / CONSTRAINTS_NAME).write_text("".join(f"{c}\n" for c in constraints))
        args += ["-c", str(work / CONSTRAINTS_NAME)]
    return args


def read_pins(text: str) -> dict[str, str]:
    """Canonical name -> version of each ``name==version`` line of uv's output."""
    pins = (PIN.match(line) for line in text.splitlines())
    return {canonicalize_name(m["name"]): m["version"] for m in pins if m}
