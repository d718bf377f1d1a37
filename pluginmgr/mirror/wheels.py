"""`download_wheels`: the wheels mirrored plugins need, for ``mirror sync --with-deps``.

``pip download --only-binary=:all:`` resolves the requirements (and everything they depend on)
into one flat directory of wheels, which air-gapped nodes install from with
``pluginmgr install deps REF --no-index --find-links DEST/wheels``. Wheels already in the
directory are reused by pip, not downloaded again. ``--python-version`` / ``--platform`` select
wheels for nodes whose interpreter differs from the one running the mirror. This is what pip
resolves on the day of the sync; ``--pylock`` (`mirror.pylock`) mirrors what nodes locked instead.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from ..deps.declared import declared_deps_for_path
from ..errors import PluginManagerError
from ..fetch.hashes import sha256_file
from ..process import check, run
from .fetch import Outcome
from .plan import Job
from .state import FileState, dest_path

__all__ = ["WHEELS_DIR", "WheelOptions", "WheelsReport", "download_wheels", "wheel_outcomes"]

#: the directory under DEST that holds the wheels
WHEELS_DIR: Final = "wheels"
_TIMEOUT: Final = 1800.0
# pip's "Saved ./dest/x.whl" and "File was already downloaded /dest/x.whl"
_NAMED: Final = re.compile(r"^\s*(?:Saved|File was already downloaded)\s+(?P<path>\S.*?)\s*$")


@dataclass(frozen=True, slots=True)
class WheelOptions:
    """Where wheels come from and which interpreter they are for.

    With ``pylocks`` (pylock.toml files, or directories holding one) DEST/wheels gets exactly
    the files those locks name (`mirror.pylock`); without, pip resolves the plugins' declared
    requirements.
    """

    find_links: tuple[str, ...] = ()
    no_index: bool = False
    index_url: str | None = None
    python_version: str | None = None
    platform: str | None = None
    pylocks: tuple[Path, ...] = ()


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


def _plugin_requirements(
    dest: Path, paths: Iterable[str], settled: Mapping[str, Outcome]
) -> tuple[list[str], list[Outcome]]:
    """The requirements the mirrored plugin files declare (read from DEST), and the failures."""
    requirements: list[str] = []
    failed: list[Outcome] = []
    for path in paths:
        outcome = settled.get(path)
        target = dest_path(dest, path)
        if outcome is None or outcome.status in ("failed", "absent") or not target.is_file():
            continue  # already reported as a failure (or never planned)
        try:
            requirements += declared_deps_for_path(target).requirements
        except PluginManagerError as exc:
            job = Job(path, outcome.job.url)
            failed.append(Outcome(job, "failed", error=f"cannot read its dependencies: {exc}"))
    return requirements, failed


def wheel_outcomes(
    dest: Path,
    plugin_paths: Iterable[str],
    index_requirements: Iterable[str],
    outcomes: Iterable[Outcome],
    known: Mapping[str, FileState],
    options: WheelOptions,
) -> tuple[list[Outcome], tuple[str, ...]]:
    """Download the plugins' wheels into DEST/wheels; one outcome per wheel (or the failure).

    Requirements come from the mirrored plugin files (`declared_deps_for_path`) and from the
    index entries (``index_requirements``); pip resolves them together.
    """
    settled = {o.job.path: o for o in outcomes}
    requirements, failed = _plugin_requirements(dest, plugin_paths, settled)
    requirements = list(dict.fromkeys([*requirements, *index_requirements]))
    wheels_dir = dest / WHEELS_DIR
    try:
        report = download_wheels(
            requirements,
            wheels_dir,
            find_links=options.find_links,
            no_index=options.no_index,
            index_url=options.index_url,
            python_version=options.python_version,
            platform=options.platform,
        )
    except PluginManagerError as exc:
        job = Job(WHEELS_DIR, "pip download")
        return [*failed, Outcome(job, "failed", error=str(exc))], ()
    result = failed
    paths = []
    for name in report.wheels:
        path = f"{WHEELS_DIR}/{name}"
        target = wheels_dir / name
        state = FileState(sha256=sha256_file(target), size=target.stat().st_size)
        prev = known.get(path)
        if prev is None:  # first recorded (pip may have found it already in DEST/wheels)
            status = "new"
        else:
            status = "unchanged" if prev.sha256 == state.sha256 else "updated"
        result.append(Outcome(Job(path, target.as_uri()), status, state=state))
        paths.append(path)
    return result, tuple(paths)
