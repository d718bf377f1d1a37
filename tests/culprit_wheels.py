"""Wheels for the culprit tests: a conflict buried under a chain, as a real one is.

Every release of ``pm-iceberg`` (like pyiceberg) reaches ``pm-dateutil<3`` through a chain of
up to four packages; the newer ones also want ``pm-noise-1>=2`` or ``pm-rich<15``. uv's
derivation over pins of all three names all three, but leaving out the ``pm-rich`` or
``pm-noise-1`` pin lets in a release that still fails: only a ``pm-dateutil==4.0`` pin is a
culprit.

``pm-boto`` has an old major (0.1, uploaded in 2014) beside the newest (2.0, 2025), which
needs ``pm-core>=2``: a ``pm-core==1.0`` pin holds it back.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Final

from tests.wheels import build_project_wheels

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
#: version -> when its wheels were uploaded; every other version at `_NEWER`
_UPLOADED: Final = {
    "0.1": datetime(2014, 5, 2, 10, tzinfo=UTC),
    "1.0": datetime(2016, 1, 1, tzinfo=UTC),
}
_NEWER: Final = datetime(2025, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)


def build_culprit_wheels(projects: Path, out: Path) -> Path:
    """Build every wheel of `CULPRIT_PROJECTS` into ``out``, with its upload time (`_UPLOADED`)
    as its modification time, which `tests.pypi_index.PackageIndex` serves."""
    build_project_wheels(CULPRIT_PROJECTS, projects, out)
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    for wheel in out.glob("*.whl"):
        when = _UPLOADED.get(wheel.name.split("-")[1], _NEWER)
        ns = (when - epoch) // timedelta(microseconds=1) * 1000
        os.utime(wheel, ns=(ns, ns))
    return out
