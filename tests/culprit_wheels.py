"""Wheels for the culprit tests: a conflict buried under a chain, as a real one is.

Every release of ``pm-iceberg`` (like pyiceberg) reaches ``pm-dateutil<3`` through a chain of
up to four packages; the newer ones also want ``pm-noise-1>=2`` or ``pm-rich<15``. uv's
derivation over pins of all three names all three, but leaving out the ``pm-rich`` or
``pm-noise-1`` pin lets in a release that still fails: only a ``pm-dateutil==4.0`` pin is a
culprit.

``pm-boto`` has an old major (0.1) beside the newest (2.0), which needs ``pm-core>=2``: a
``pm-core==1.0`` pin holds it back.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Final

from tests.wheels import build_wheel

__all__ = ["CULPRIT_PROJECTS", "build_culprit_wheels"]

_CHAIN: Final = ["pm-chain-a", "pm-chain-b", "pm-chain-c", "pm-chain-d"]

#: (name, version, dependencies)
CULPRIT_PROJECTS: Final = [
    ("pm-dateutil", "2.9", ()),
    ("pm-dateutil", "4.0", ()),
    ("pm-rich", "13.0", ()),
    ("pm-rich", "15.0", ()),
    *[
        (name, "1.0", (f"{_CHAIN[i + 1]}>=1",) if i + 1 < len(_CHAIN) else ("pm-dateutil<3",))
        for i, name in enumerate(_CHAIN)
    ],
    # each newer release is ruled out by another pin first: uv's derivation names them all
    ("pm-iceberg", "1.0", ("pm-rich>=13", f"{_CHAIN[0]}>=1")),
    ("pm-iceberg", "2.0", ("pm-noise-1>=2", f"{_CHAIN[1]}>=1")),
    ("pm-iceberg", "3.0", ("pm-rich<15", "pm-noise-2", f"{_CHAIN[2]}>=1")),
    *[(f"pm-noise-{n}", "1.0", ()) for n in range(1, 5)],
    ("pm-core", "1.0", ()),
    ("pm-core", "2.0", ()),
    ("pm-boto", "0.1", ()),
    ("pm-boto", "2.0", ("pm-core>=2",)),
]


def _project(root: Path, name: str, version: str, deps: Iterable[str]) -> Path:
    folder = root / f"{name}-{version}"
    package = folder / name.replace("-", "_")
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(f'VERSION = "{version}"\n')
    listed = ", ".join(json.dumps(d) for d in deps)
    (folder / "pyproject.toml").write_text(
        f'[project]\nname = "{name}"\nversion = "{version}"\ndependencies = [{listed}]\n'
    )
    return folder


def build_culprit_wheels(projects: Path, out: Path) -> Path:
    """Build every wheel of `CULPRIT_PROJECTS` into ``out``."""
    for name, version, deps in CULPRIT_PROJECTS:
        build_wheel(_project(projects, name, version, deps), out)
    return out
