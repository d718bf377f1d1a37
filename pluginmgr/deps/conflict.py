"""A conflict in our words: the culprits first (`pluginmgr.deps.culprit`), then the declarations
uv's derivation names, the derivation itself kept whole (and logged when it is long).
"""

from __future__ import annotations

import re
from collections.abc import Collection
from pathlib import Path
from typing import TYPE_CHECKING, Final

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from ..errors import DependencyConflictError
from ..process import keep_log
from .culprit import (
    CulpritReport,
    Suspect,
    find_culprits,
    required_names,
    suspects_of,
)
from .inputs import CONSTRAINTS_NAME, OPERATOR, DependencyInputs
from .probe import UvProbe

if TYPE_CHECKING:
    from .installers import InstallOptions
    from .resolver import ResolveOptions

__all__ = [
    "explain_conflict",
    "isolated_hint",
    "log_derivation",
    "search_culprits",
    "with_yanked_releases",
]

_WORD: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
#: a derivation longer than this is also written to a log file (the CLI shows its head)
_LOGGED_DERIVATION: Final = DependencyConflictError.SHOWN_LINES
#: at most this many of the other declarations uv's derivation names, in the message
_MAX_INVOLVED: Final = 8


def _involved(
    explanation: str, inputs: DependencyInputs, skip: Collection[Suspect] = ()
) -> list[str]:
    """Each declaration and constraint on a package uv's derivation names (but those in
    ``skip``, the culprits already named)."""
    named = {canonicalize_name(w) for w in _WORD.findall(explanation)}
    named_culprits = {(s.requester, s.text) for s in skip}
    parts = []
    for requester in inputs.requesters:
        for text in requester.requirements:
            if (requester.name, text) in named_culprits:
                continue
            if canonicalize_name(Requirement(text).name) in named:
                declared = requester.declared_in
                where = f" ({declared})" if declared and declared != requester.name else ""
                parts.append(f"{requester.name}{where} needs {text}")
    parts += [
        f"{CONSTRAINTS_NAME} constrains {text}"
        for text in inputs.constraints
        if canonicalize_name(Requirement(text).name) in named
        and Suspect("constraint", text) not in skip
    ]
    return parts


def isolated_hint(plugins: Collection[str]) -> str:
    """The way out of a conflict: change a declaration, constrain, or give a conflicting
    plugin's trigger an environment of its own (``create trigger --isolated``), whose
    requirements are resolved apart from the shared set."""
    named = sorted(p for p in plugins if p != OPERATOR)
    whose = f"{named[0]}'s trigger" if len(named) == 1 else "the conflicting plugin's trigger"
    return (
        "change a plugin's declaration, add a constraint with `pluginmgr deps constrain`, or "
        f"give {whose} its own environment: `pluginmgr create trigger NAME --isolated ...`"
    )


def explain_conflict(
    error: DependencyConflictError,
    inputs: DependencyInputs,
    *,
    culprits: CulpritReport | None = None,
) -> DependencyConflictError:
    """The same error, its message naming the culprits first (when a search found them), then
    each declaration on a package uv's derivation names (at most `_MAX_INVOLVED`); its hint
    names ``--isolated`` for the plugins among the culprits."""
    skip = [s for c in culprits.culprits for s in c.suspects] if culprits is not None else []
    parts = _involved(error.explanation, inputs, skip)
    sentence = culprits.sentence() if culprits is not None else None
    found = tuple(c.describe() for c in culprits.culprits) if culprits is not None else ()
    shown = parts[:_MAX_INVOLVED]
    more = f" and {len(parts) - len(shown)} more" if len(parts) > len(shown) else ""
    message = error.message
    if sentence:
        message = f"{message}: {sentence}"
        if shown:
            message += f"; uv's explanation also names: {', '.join(shown)}{more}"
    elif shown:
        message = f"{message}: {', '.join(shown)}{more}"
    if culprits is not None and culprits.cut_short:
        message += f" (the search for the culprit was cut short: {culprits.cut_short})"
    plugins = {s.requester for s in skip if s.kind == "requirement"}
    conflict = DependencyConflictError(
        message,
        explanation=error.explanation,
        conflicts=(*found, *parts),
        culprits=found,
        hint=isolated_hint(plugins),
    )
    conflict.log_path = error.log_path
    return conflict


def search_culprits(
    inputs: DependencyInputs, options: ResolveOptions, explanation: str
) -> CulpritReport:
    """The culprits of a conflict uv reported over ``inputs`` (bounded; see `dep_culprit`)."""
    probe = UvProbe(inputs, uv=options.uv, python=options.python, sources=options.sources)
    named = {canonicalize_name(w) for w in _WORD.findall(explanation)}
    required = required_names(explanation, inputs.constraints)
    return find_culprits(suspects_of(inputs), probe, named=named, required=required)


def log_derivation(error: DependencyConflictError, log_dir: Path | None) -> None:
    """Keep a long derivation whole in a log file (the CLI shows its head and names the file)."""
    if log_dir is None or error.explanation.count("\n") < _LOGGED_DERIVATION:
        return
    log = keep_log(log_dir, "pluginmgr-conflict-", error.explanation + "\n")
    if log is not None:
        error.log_path = log


_NO_USABLE_WHEELS: Final = re.compile(
    r"\b(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)==(?P<version>[^\s,]+) has no usable wheels"
)


def with_yanked_releases(
    error: DependencyConflictError, sources: InstallOptions, *, seconds: float = 5.0
) -> DependencyConflictError:
    """``error``, its message naming the yanked releases uv's derivation calls "has no usable
    wheels" (resolving for wheels only, uv says that of a yanked release's files and drops the
    index's reason); the index is asked once, bounded, and an unanswered question adds nothing."""
    found = {(m["name"], m["version"]) for m in _NO_USABLE_WHEELS.finditer(error.explanation)}
    if not found:
        return error
    from packaging.version import InvalidVersion, Version

    from .index_versions import releases

    known = releases({name for name, _ in found}, sources, seconds=seconds)
    notes = []
    for name, text in sorted(found):
        try:
            version = Version(text)
        except InvalidVersion:
            continue
        for release in known.get(canonicalize_name(name), ()):
            if release.version == version and release.yanked:
                why = f" (reason: {release.yank_reason})" if release.yank_reason else ""
                notes.append(f"{name} {text} is yanked{why}")
    if not notes:
        return error
    error.message = f"{error.message}; {'; '.join(notes)}"
    return error
