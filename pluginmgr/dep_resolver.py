"""`resolve`: the union of every requester's requirements, resolved by uv into one `PyLock`.

Two uv runs over the same inputs, one input file per requester (so uv's annotations name who
asked for what): ``--format pylock.toml --generate-hashes`` gives the files and hashes, and the
annotated requirements output (``# via -r <requester>.in`` / ``# via <package>``), constrained
to the first run's pins, gives the graph that `PyLock` records as ``required-by``. The previous
lock is handed to uv as its existing output, so unchanged inputs keep their pins unless
``upgrade`` or ``upgrade_packages`` say otherwise.

When the union cannot be resolved, `DependencyConflictError` names the requesters and the
declarations involved, in our words, with uv's derivation kept as ``explanation``.
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Final

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from .dep_inputs import CONSTRAINTS_NAME, DependencyInputs
from .errors import DependencyConflictError
from .installers.uv import source_args
from .process import check, relevant_lines, run
from .pylock import PYLOCK_NAME, RUNTIME, PyLock, dump_pylock, parse_pylock

if TYPE_CHECKING:
    from .installers import InstallOptions

__all__ = ["ResolveOptions", "explain_conflict", "resolve"]

_TIMEOUT: Final = 1800.0
_PIN: Final = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)==(?P<version>\S+)")
_VIA_FILE: Final = re.compile(r"-r\s+\S*?r(?P<index>\d+)\.in$")
_WORD: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
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


def _write_inputs(work: Path, inputs: DependencyInputs, runtime: Mapping[str, str]) -> list[str]:
    args: list[str] = []
    for index, requester in enumerate(inputs.requesters):
        path = work / f"r{index}.in"
        path.write_text("".join(f"{r}\n" for r in requester.requirements), encoding="utf-8")
        args.append(str(path))
    if inputs.constraints:
        (work / CONSTRAINTS_NAME).write_text("\n".join(inputs.constraints) + "\n")
        args += ["-c", str(work / CONSTRAINTS_NAME)]
    if runtime:
        pins = "".join(f"{name}=={version}\n" for name, version in sorted(runtime.items()))
        (work / "runtime.txt").write_text(pins, encoding="utf-8")
        args += ["-c", str(work / "runtime.txt")]
    return args


def _graph(annotated: str, inputs: DependencyInputs) -> dict[str, set[str]]:
    """canonical package name -> requester names and package names that need it."""
    graph: dict[str, set[str]] = {}
    current: set[str] | None = None
    for raw in annotated.splitlines():
        line = raw.strip()
        pin = _PIN.match(raw)
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


def _compile(
    args: Sequence[str], work: Path, options: ResolveOptions, *, pylock: bool, extra: Sequence[str]
) -> str:
    command: list[str | Path] = [options.uv, "pip", "compile", *args, "--python", options.python]
    command += ["--quiet", *source_args(options.sources), *extra]
    if pylock:
        command += ["--format", "pylock.toml", "--generate-hashes", "-o", work / PYLOCK_NAME]
        if options.upgrade:
            command.append("--upgrade")
        for package in options.upgrade_packages:
            command += ["--upgrade-package", package]
    else:
        command += ["--no-header", "--annotation-style", "split"]
    result = run(command, timeout=_TIMEOUT, cwd=work)
    if result.returncode != 0 and _NO_SOLUTION in result.output:
        explanation = "\n".join(relevant_lines(result.output)) or result.output.strip()
        message = "no set of packages satisfies every plugin"
        raise DependencyConflictError(message, explanation=explanation)
    check(result, what="resolving the plugins' requirements", log_dir=options.log_dir)
    return (work / PYLOCK_NAME).read_text(encoding="utf-8") if pylock else result.stdout


def explain_conflict(
    error: DependencyConflictError, inputs: DependencyInputs, runtime: Mapping[str, str]
) -> DependencyConflictError:
    """The same error, its message naming each declaration on a package uv's derivation names."""
    named = {canonicalize_name(w) for w in _WORD.findall(error.explanation)}
    parts = []
    for requester in inputs.requesters:
        for text in requester.requirements:
            if canonicalize_name(Requirement(text).name) in named:
                declared = requester.declared_in
                where = f" ({declared})" if declared and declared != requester.name else ""
                parts.append(f"{requester.name}{where} needs {text}")
    parts += [
        f"{CONSTRAINTS_NAME} constrains {text}"
        for text in inputs.constraints
        if canonicalize_name(Requirement(text).name) in named
    ]
    parts += [
        f"the runtime has {name}=={version}"
        for name, version in sorted(runtime.items())
        if name in named
    ]
    message = error.message
    if parts:
        message = f"{message}: {', '.join(parts)}"
    return DependencyConflictError(
        message, explanation=error.explanation, conflicts=tuple(parts), hint=error.hint
    )


def resolve(
    inputs: DependencyInputs,
    runtime: Mapping[str, str],
    options: ResolveOptions,
    *,
    previous: PyLock | None = None,
) -> PyLock:
    """Resolve ``inputs`` with ``runtime`` as == constraints; nothing on disk changes.

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
        return empty
    with tempfile.TemporaryDirectory(prefix="pluginmgr-resolve-") as tmp:
        work = Path(tmp)
        args = _write_inputs(work, inputs, runtime)
        if previous is not None and not options.upgrade:
            (work / PYLOCK_NAME).write_text(dump_pylock(previous), encoding="utf-8")
        try:
            resolved = parse_pylock(
                _compile(args, work, options, pylock=True, extra=()), source="uv's resolution"
            )
            pins = "".join(f"{p.name}=={p.version}\n" for p in resolved.packages)
            (work / "pins.txt").write_text(pins, encoding="utf-8")
            annotated = _compile(
                args, work, options, pylock=False, extra=("-c", str(work / "pins.txt"))
            )
        except DependencyConflictError as exc:
            raise explain_conflict(exc, inputs, runtime) from None
    graph = _graph(annotated, inputs)
    packages = tuple(
        replace(
            package,
            required_by=tuple(sorted(graph.get(package.key, ()))),
            provided_by=RUNTIME
            if _same_version(runtime.get(package.key), package.version)
            else None,
        )
        for package in resolved.packages
    )
    return replace(empty, packages=packages, requires_python=resolved.requires_python)


def _same_version(left: str | None, right: str) -> bool:
    return left is not None and Version(left) == Version(right)
