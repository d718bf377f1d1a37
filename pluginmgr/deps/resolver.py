"""`resolve`: the union of every requester's requirements, resolved by uv into one `PyLock`.

One uv run over the union, one input file per requester: ``--format pylock.toml
--generate-hashes`` gives the versions, files and hashes. The previous lock is handed to uv as
its existing output (uv's preferences), so unchanged inputs keep their pins unless ``upgrade``
or ``upgrade_packages`` say otherwise.

Who needs what (``required-by`` in the lock) comes from the locked packages' own
``Requires-Dist``, markers and extras evaluated for the target interpreter, when every package's
metadata is local (a wheel in a ``--find-links`` directory or mirror: the air-gapped case, and no
second run). Otherwise a second uv run, constrained to the first
one's pins and reading only uv's cache (``--offline``: the first run just filled it), prints its
annotations (``# via -r <requester>.in`` / ``# via <package>``), which say the same; a test
checks that both ways give the same graph.

The server's own distributions are not inputs: plugins run on the venv's interpreter, in a host
process that imports nothing of the server's environment.

When the union cannot be resolved, `DependencyConflictError` names the culprit first: the
constraint or declaration whose removal alone makes the set resolvable, found by
asking uv again without some of them (`pluginmgr.deps.culprit`, bounded in runs and time). The
declarations uv's derivation names follow, and the derivation is kept whole as ``explanation``
(and in a log file under ``log_dir`` when it is long).
"""

from __future__ import annotations

import re
import tempfile
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Final

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from ..errors import DependencyConflictError, InstallError
from ..fetch.transports import local_path
from ..process import check, relevant_lines, run
from .build_lock import build_constraints_file, lock_build_backends
from .conflict import (
    explain_conflict,
    log_derivation,
    search_culprits,
    with_yanked_releases,
)
from .inputs import DependencyInputs
from .missing_packages import package_not_found
from .pylock import PYLOCK_NAME, LockedPackage, PyLock, parse_pylock
from .pylock_local import absolute_files, python_floor, relative_files
from .pylock_writer import dump_pylock
from .sync import no_wheel_refusal
from .uv_compile import PIN, compile_command, write_inputs

if TYPE_CHECKING:
    from .installers import InstallOptions

__all__ = ["ResolveOptions", "explain_conflict", "metadata_graph", "resolve", "search_culprits"]

_TIMEOUT: Final = 1800.0
_VIA_FILE: Final = re.compile(r"-r\s+\S*?r(?P<index>\d+)\.in$")
_NO_SOLUTION: Final = "No solution found"


@dataclass(frozen=True, slots=True)
class ResolveOptions:
    """How to resolve: which interpreter, which package sources, what may move."""

    uv: Path
    python: Path
    sources: InstallOptions
    upgrade: bool = False
    upgrade_packages: tuple[str, ...] = ()
    log_dir: Path | None = None
    #: take the graph from uv's annotations even when every package's metadata is local
    graph_from_uv: bool = False
    #: look for the culprit of a conflict (bounded uv runs); False: name what uv names only
    find_culprit: bool = True
    #: the lock's directory: local files are written relative to it (None: as uv wrote them)
    lock_dir: Path | None = None


def _graph(annotated: str, inputs: DependencyInputs) -> dict[str, set[str]]:
    """canonical package name -> requester names and package names that need it."""
    graph: dict[str, set[str]] = {}
    current: set[str] | None = None
    for raw in annotated.splitlines():
        line = raw.strip()
        pin = PIN.match(raw)
        if pin:
            current = graph.setdefault(canonicalize_name(pin["name"]), set())
            continue
        if current is None or not line.startswith("#"):
            continue
        text = line.lstrip("#").strip()
        text = text.removeprefix("via").strip()
        if not text:
            continue
        via_file = _VIA_FILE.search(text)
        if via_file:
            current.add(inputs.requesters[int(via_file["index"])].name)
        elif not text.startswith("-"):
            current.add(canonicalize_name(text.split()[0]))
    return graph


_ANNOTATED: Final = "annotated.txt"


def _compile(args: Sequence[str], work: Path, options: ResolveOptions, *, pylock: bool) -> str:
    """One uv run; both kinds read their previous output as preferences and take the same
    upgrade flags, so over the same inputs they pick the same versions."""
    command = [*compile_command(options.uv, options.python, options.sources), *args]
    if options.upgrade:
        command.append("--upgrade")
    for package in options.upgrade_packages:
        command += ["--upgrade-package", package]
    if pylock:
        command += ["--format", "pylock.toml", "--generate-hashes", "-o", work / PYLOCK_NAME]
    else:
        command += ["--no-header", "--annotation-style", "split", "-o", work / _ANNOTATED]
    result = run(command, timeout=_TIMEOUT, cwd=work)
    refused = no_wheel_refusal(result.output, what="nothing was locked")
    if result.returncode != 0 and refused is not None:
        raise refused
    if result.returncode != 0 and _NO_SOLUTION in result.output:
        explanation = _derivation(result.output)
        message = "no set of packages satisfies every plugin"
        raise DependencyConflictError(message, explanation=explanation)
    check(result, what="resolving the plugins' requirements", log_dir=options.log_dir)
    return (work / (PYLOCK_NAME if pylock else _ANNOTATED)).read_text(encoding="utf-8")


def _metadata(package: LockedPackage) -> list[str] | None:
    """``Requires-Dist`` of a locked package, from a local wheel file; None when there is
    none at hand (a wheel on a remote index)."""
    for wheel in package.wheels:
        path = local_path(wheel.url) if wheel.url and wheel.url.startswith("file:") else None
        if path is None or not path.is_file():
            continue
        try:
            with zipfile.ZipFile(path) as archive:
                name = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
                text = archive.read(name).decode("utf-8", errors="replace")
        except (OSError, zipfile.BadZipFile, StopIteration):
            return None
        return _requires_dist(text)
    return None


def _requires_dist(text: str) -> list[str]:
    """The ``Requires-Dist`` values of a METADATA file's header (continuation lines joined)."""
    values: list[str] = []
    current: list[str] | None = None
    for line in text.splitlines():
        if not line.strip():
            break  # the body (the description) follows the first blank line
        if line[0] in " \t" and current is not None:
            current.append(line.strip())
            continue
        if current is not None:
            values.append(" ".join(current))
            current = None
        key, _, value = line.partition(":")
        if key.strip().lower() == "requires-dist":
            current = [value.strip()]
    if current is not None:
        values.append(" ".join(current))
    return values


def _applies(requirement: Requirement, extras: set[str]) -> bool:
    if requirement.marker is None:
        return True
    return any(requirement.marker.evaluate({"extra": extra}) for extra in ("", *extras))


def metadata_graph(resolved: PyLock, inputs: DependencyInputs) -> dict[str, set[str]] | None:
    """Who needs what, from the locked packages' own ``Requires-Dist`` (markers and extras
    evaluated for this interpreter); None when some package's metadata is not local."""
    locked = resolved.by_name()
    requires: dict[str, list[Requirement]] = {}
    for key, package in locked.items():
        texts = _metadata(package)
        if texts is None:
            return None
        requires[key] = [Requirement(text) for text in texts]
    graph: dict[str, set[str]] = {key: set() for key in locked}
    extras: dict[str, set[str]] = {key: set() for key in locked}
    for requester in inputs.requesters:
        for text in requester.requirements:
            requirement = Requirement(text)
            key = canonicalize_name(requirement.name)
            if key in locked and _applies(requirement, set()):
                graph[key].add(requester.name)
                extras[key] |= set(requirement.extras)
    pending = list(locked)
    while pending:
        parent = pending.pop()
        for requirement in requires[parent]:
            child = canonicalize_name(requirement.name)
            if child not in locked or not _applies(requirement, extras[parent]):
                continue
            if child != parent:  # an extra that pulls another extra of its own package
                graph[child].add(locked[parent].key)
            if not set(requirement.extras) <= extras[child]:
                extras[child] |= set(requirement.extras)
                pending.append(child)
    return graph


def _derivation(output: str) -> str:
    """uv's explanation of a failed resolution, whole (its "And because …" lines carry the
    argument, and the one that matters may be thousands of lines down), without its
    "error: " prefix and uv's own progress lines."""
    lines = [line.rstrip() for line in output.splitlines() if line.strip()]
    start = next((i for i, line in enumerate(lines) if _NO_SOLUTION in line), 0)
    kept = [line.removeprefix("error: ") for line in lines[start:]]
    return "\n".join(kept) or "\n".join(relevant_lines(output))


def _pinned_graph(args: list[str], work: Path, options: ResolveOptions, resolved: PyLock) -> str:
    """uv's annotations for the first run's pins. The first run left every page and metadata
    file it read in uv's cache, so this one runs ``--offline``: no request, not even to
    revalidate a page (against a loopback index this beat fetching each wheel's PEP 658
    metadata file: bench/deps.py); online again only if the cache cannot answer."""
    pins = "".join(f"{p.name}=={p.version}\n" for p in resolved.packages)
    (work / "pins.txt").write_text(pins, encoding="utf-8")
    pinned = [*args, "-c", str(work / "pins.txt")]
    if not options.sources.offline:
        cached = replace(options, sources=replace(options.sources, offline=True), log_dir=None)
        try:
            return _compile(pinned, work, cached, pylock=False)
        except InstallError:
            pass
    return _compile(pinned, work, options, pylock=False)


def resolve(
    inputs: DependencyInputs, options: ResolveOptions, *, previous: PyLock | None = None
) -> PyLock:
    """Resolve ``inputs`` for ``options.python``; nothing on disk changes.

    :raises DependencyConflictError: the union has no solution (names who needs what).
    :raises InstallError: uv failed otherwise (a package missing offline, a bad index).
    """
    empty = PyLock(
        packages=(),
        requesters=inputs.requesters,
        constraints=inputs.constraints,
        inputs_sha256=inputs.sha256,
        python=inputs.python,
        implementation=inputs.implementation,
        platform=inputs.platform,
    )
    if not inputs.requirement_count:
        return empty if options.lock_dir is None else relative_files(empty, options.lock_dir)
    conflict: DependencyConflictError | None = None
    with tempfile.TemporaryDirectory(prefix="pluginmgr-resolve-") as tmp:
        work = Path(tmp)
        args = write_inputs(work, [r.requirements for r in inputs.requesters], inputs.constraints)
        uv_options = options
        if previous is not None and not options.upgrade:
            if options.lock_dir is not None:  # its relative paths, as uv reads them from work
                previous = absolute_files(previous, options.lock_dir)
            (work / PYLOCK_NAME).write_text(dump_pylock(previous), encoding="utf-8")
            uv_options = _locked_backends(previous, work, options)
        try:
            text = _compile(args, work, uv_options, pylock=True)
            resolved = parse_pylock(text, source="uv's resolution")
            local = None if options.graph_from_uv else metadata_graph(resolved, inputs)
            # not every wheel is local: ask uv (pinned) for its annotations
            graph = (
                local
                if local is not None
                else _graph(_pinned_graph(args, work, uv_options, resolved), inputs)
            )
        except DependencyConflictError as exc:
            conflict = exc
    if conflict is not None:
        missing = package_not_found(conflict.explanation, _direct_names(inputs), options.sources)
        if missing is not None:  # a typo or a package the index lacks: not a conflict
            raise missing from None
        log_derivation(conflict, options.log_dir)
        culprits = None
        if options.find_culprit:
            culprits = search_culprits(inputs, options, conflict.explanation)
        explained = explain_conflict(conflict, inputs, culprits=culprits)
        raise with_yanked_releases(explained, options.sources) from None
    packages = tuple(
        replace(package, required_by=tuple(sorted(graph.get(package.key, ()))))
        for package in resolved.packages
    )
    lock = replace(
        empty,
        packages=packages,
        requires_python=python_floor(resolved.requires_python),
        resolved_by=resolved.resolved_by,
        extra=resolved.extra,  # whatever else uv writes (environments, …) is kept as written
        tool=resolved.tool,
    )
    lock = lock_build_backends(lock, options)
    return lock if options.lock_dir is None else relative_files(lock, options.lock_dir)


def _locked_backends(previous: PyLock, work: Path, options: ResolveOptions) -> ResolveOptions:
    """``options`` whose uv runs build sdists (to read their metadata) with the build backends
    the previous lock pins, when building is allowed."""
    pins = build_constraints_file(previous, work) if options.sources.allow_build else None
    if pins is None:
        return options
    built = (*options.sources.build_constraints, str(pins))
    return replace(options, sources=replace(options.sources, build_constraints=built))


def _direct_names(inputs: DependencyInputs) -> list[str]:
    return [Requirement(text).name for r in inputs.requesters for text in r.requirements]
