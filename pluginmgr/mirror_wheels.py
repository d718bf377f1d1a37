"""`download_wheels`: the wheels mirrored plugins need, for ``mirror sync --with-deps``.

``pip download --only-binary=:all:`` resolves the requirements (and everything they depend on)
into one flat directory of wheels, which air-gapped nodes install from with
``pluginmgr install deps REF --no-index --find-links DEST/wheels``. Wheels already in the
directory are reused by pip, not downloaded again. ``--python-version`` / ``--platform`` select
wheels for nodes whose interpreter differs from the one running the mirror.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from .process import check, run

__all__ = ["WHEELS_DIR", "WheelOptions", "WheelsReport", "download_wheels"]

#: the directory under DEST that holds the wheels
WHEELS_DIR: Final = "wheels"
_TIMEOUT: Final = 1800.0
# pip's "Saved ./dest/x.whl" and "File was already downloaded /dest/x.whl"
_NAMED: Final = re.compile(r"^\s*(?:Saved|File was already downloaded)\s+(?P<path>\S.*?)\s*$")


@dataclass(frozen=True, slots=True)
class WheelOptions:
    """Where wheels come from and which interpreter they are for."""

    find_links: tuple[str, ...] = ()
    no_index: bool = False
    index_url: str | None = None
    python_version: str | None = None
    platform: str | None = None


@dataclass(frozen=True, slots=True)
class WheelsReport:
    """What `download_wheels` left in ``dest``: the wheel file names the requirements need."""

    dest: Path
    requirements: tuple[str, ...] = ()
    wheels: tuple[str, ...] = ()  #: every wheel the requirements resolved to, sorted
    new: tuple[str, ...] = ()  #: the ones that were not in ``dest`` before


def _command(requirements: Sequence[str], dest: Path, options: WheelOptions) -> list[str | Path]:
    command: list[str | Path] = [sys.executable, "-m", "pip", "download"]
    command += ["--disable-pip-version-check", "--no-input", "--only-binary=:all:"]
    command += ["--dest", dest]
    if options.no_index:
        command.append("--no-index")
    elif options.index_url:
        command += ["--index-url", options.index_url]
    for link in options.find_links:
        command += ["--find-links", link]
    if options.python_version:
        command += ["--python-version", options.python_version]
    if options.platform:
        command += ["--platform", options.platform]
    return command + list(requirements)


def _named_wheels(output: str, dest: Path) -> set[str]:
    names = set()
    for line in output.splitlines():
        match = _NAMED.match(line)
        if match and match.group("path").endswith(".whl"):
            name = Path(match.group("path")).name
            if (dest / name).is_file():
                names.add(name)
    return names


def download_wheels(
    requirements: Sequence[str],
    dest: Path,
    *,
    find_links: Sequence[str] = (),
    no_index: bool = False,
    index_url: str | None = None,
    python_version: str | None = None,
    platform: str | None = None,
) -> WheelsReport:
    """Download wheels for ``requirements`` and their dependencies into ``dest``.

    Raises `InstallError` when pip cannot resolve or download them (the message carries pip's
    relevant lines). No requirements means no pip run and an empty report.
    """
    options = WheelOptions(tuple(find_links), no_index, index_url, python_version, platform)
    wanted = tuple(dict.fromkeys(requirements))
    dest.mkdir(parents=True, exist_ok=True)
    if not wanted:
        return WheelsReport(dest)
    before = {p.name for p in dest.glob("*.whl")}
    result = run(_command(wanted, dest, options), timeout=_TIMEOUT)
    check(result, what=f"downloading wheels for {', '.join(wanted)}")
    after = {p.name for p in dest.glob("*.whl")}
    # pip names every wheel it used; if its wording ever changes, keep everything in dest
    wheels = _named_wheels(result.output, dest) or after
    return WheelsReport(dest, wanted, tuple(sorted(wheels)), tuple(sorted(after - before)))
