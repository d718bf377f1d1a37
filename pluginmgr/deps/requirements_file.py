"""A plugin's ``requirements.txt``: a requirement a line, ``-r`` includes (relative, inside the
plugin's directory, no cycles), ``--hash`` values kept aside by package; every other option is
refused with the line that has it.

Apart from `declared` (which picks among a plugin's declarations) because the format has its
own grammar, and because ``install package -r FILE`` and the server read such files too.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import PureWindowsPath
from typing import Final

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from .declaration_syntax import decode_utf8, normalise_requirement, reject

__all__ = ["RequirementsWalk", "parse_requirements", "read_requirements"]


_MAX_INCLUDE_DEPTH: Final = 5
#: pip's rule: "#" starts a comment at the start of a line or after whitespace
_COMMENT: Final = re.compile(r"(^|\s+)#.*$")
_HASH: Final = re.compile(r"^(sha256:[0-9a-f]{64}|sha384:[0-9a-f]{96}|sha512:[0-9a-f]{128})$")
_INCLUDE_OPTIONS: Final = frozenset({"-r", "--requirement"})
_OPTION_HINT: Final = (
    "remove the line; pass indexes, find-links and constraints as flags to "
    "`pluginmgr install package` instead (e.g. --index-url, --find-links)"
)


@dataclass(slots=True)
class RequirementsWalk:
    """Mutable state while reading one requirements file and its includes.

    Files are known by their path relative to the root file's directory (``rel``); ``prefix`` turns
    that into the path errors carry, ``suffix`` adds the plugin's name to messages.
    """

    read_include: Callable[[str], bytes | None] | None
    prefix: str = ""
    suffix: str = ""
    requirements: list[str] = field(default_factory=list)
    hashes: dict[str, list[str]] = field(default_factory=dict)

    def path(self, rel: str) -> str:
        return posixpath.join(self.prefix, rel)

    def where(self, rel: str, lineno: int | None = None) -> str:
        line = "" if lineno is None else f" line {lineno}"
        return f"{self.path(rel)}{self.suffix}{line}"


def _logical_lines(text: str) -> Iterator[tuple[int, str]]:
    """Yield ``(first physical line number, line)`` with continuations joined, comments removed."""
    pending: list[str] = []
    start = 0
    for number, raw in enumerate(text.splitlines(), start=1):
        is_comment = bool(_COMMENT.match(raw))
        if raw.endswith("\\") and not is_comment:
            start = start if pending else number
            pending.append(raw[:-1])
            continue
        # like pip: a comment line inside a continuation ends the joined line there
        line = " " + raw if is_comment else raw
        joined, first = ("".join([*pending, line]), start) if pending else (line, number)
        pending = []
        yield from _cleaned(first, joined)
    if pending:
        yield from _cleaned(start, "".join(pending))


def _cleaned(number: int, line: str) -> Iterator[tuple[int, str]]:
    stripped = _COMMENT.sub("", line).strip()
    if stripped:
        yield number, stripped


def _option(tokens: list[str], index: int) -> tuple[str, str | None, int]:
    """Split the option at ``tokens[index]`` into ``(name, value, next index)``."""
    token = tokens[index]
    if token.startswith("--"):
        name, sep, value = token.partition("=")
        if sep:
            return name, value, index + 1
    else:
        name, value = token[:2], token[2:]
        if value:
            return name, value, index + 1
    if index + 1 < len(tokens) and not tokens[index + 1].startswith("-"):
        return name, tokens[index + 1], index + 2
    return name, None, index + 1


def _requirement_line(line: str, *, where: str, path: str, walk: RequirementsWalk) -> None:
    tokens = line.split()
    split = next((i for i, token in enumerate(tokens) if token.startswith("-")), len(tokens))
    requirement = normalise_requirement(" ".join(tokens[:split]), where=where, path=path)
    found: list[str] = []
    index = split
    while index < len(tokens):
        name, value, index = _option(tokens, index)
        if name != "--hash":
            problem = f"option {name!r} on a requirement line is not supported"
            reject(where, problem, path=path, hint="only --hash=sha256:<hex> is allowed here")
        if value is None or not _HASH.match(value.lower()):
            hint = "write --hash=sha256:<64 hex digits>"
            reject(where, f"invalid --hash value {value!r}", path=path, hint=hint)
        found.append(value.lower())
    walk.requirements.append(requirement)
    if found:
        known = walk.hashes.setdefault(canonicalize_name(Requirement(requirement).name), [])
        known.extend(digest for digest in found if digest not in known)


def _include_path(including: str, target: str, *, where: str, path: str) -> str:
    """``target`` joined to ``including``'s directory; refuses URLs, absolute paths and escapes."""
    if "://" in target or target.startswith(("/", "\\")) or PureWindowsPath(target).drive:
        hint = "use a path relative to the requirements file, inside the plugin's directory"
        reject(where, f"include {target!r} must be a relative path", path=path, hint=hint)
    joined = posixpath.normpath(posixpath.join(posixpath.dirname(including), target))
    if joined == ".." or joined.startswith("../"):
        hint = "keep included files inside the plugin's directory"
        problem = f"include {target!r} escapes the plugin's directory"
        reject(where, problem, path=path, hint=hint)
    return joined


def _include(
    target: str, *, rel: str, lineno: int, walk: RequirementsWalk, stack: tuple[str, ...]
) -> None:
    where, path = walk.where(rel, lineno), walk.path(rel)
    if walk.read_include is None:
        hint = "list the requirements in this file directly"
        reject(where, f"cannot follow include {target!r} here", path=path, hint=hint)
    joined = _include_path(rel, target, where=where, path=path)
    if joined in stack:
        chain = " -> ".join([*stack, joined])
        reject(where, f"include cycle: {chain}", path=path, hint="remove one of the -r lines")
    if len(stack) > _MAX_INCLUDE_DEPTH:
        problem = f"includes nested deeper than {_MAX_INCLUDE_DEPTH} levels at {joined!r}"
        reject(where, problem, path=path, hint="flatten the requirements files")
    data = walk.read_include(joined)
    if data is None:
        hint = "add the file next to the plugin or remove the -r line"
        reject(where, f"included file {walk.path(joined)!r} not found", path=path, hint=hint)
    text = decode_utf8(data, where=walk.where(joined), path=walk.path(joined))
    _walk_file(text, rel=joined, walk=walk, stack=(*stack, joined))


def _walk_file(text: str, *, rel: str, walk: RequirementsWalk, stack: tuple[str, ...]) -> None:
    for lineno, line in _logical_lines(text):
        where, path = walk.where(rel, lineno), walk.path(rel)
        if not line.startswith("-"):
            _requirement_line(line, where=where, path=path, walk=walk)
            continue
        name, value, _next = _option(line.split(), 0)
        if name not in _INCLUDE_OPTIONS:
            problem = f"option {name!r} is not supported in a plugin's requirements file"
            reject(where, problem, path=path, hint=_OPTION_HINT)
        if value is None:
            reject(where, f"{name} needs a file name", path=path, hint=f"write '{name} other.txt'")
        _include(value, rel=rel, lineno=lineno, walk=walk, stack=stack)


def read_requirements(
    text: str, walk: RequirementsWalk, *, rel: str
) -> tuple[list[str], dict[str, tuple[str, ...]]]:
    """Read ``text`` (the file ``rel``) and its includes into ``walk``; return what it found."""
    _walk_file(text, rel=rel, walk=walk, stack=(rel,))
    return walk.requirements, {name: tuple(found) for name, found in walk.hashes.items()}


def parse_requirements(
    text: str,
    *,
    location: str,
    read_include: Callable[[str], bytes | None] | None = None,
) -> tuple[list[str], dict[str, tuple[str, ...]]]:
    """Parse a requirements file into ``(requirements, hashes by canonical name)``.

    :param location: the file's path, for messages and the errors' ``path``.
    :param read_include: reads ``-r`` includes by posix path relative to this file's directory
        (which includes may not climb out of); None refuses includes.
    :raises DependencyDeclarationError: for option lines other than ``-r`` (with the line number),
        invalid requirements, bad ``--hash`` values, escaping, missing or cyclic includes.
    """
    directory, name = posixpath.split(location)
    walk = RequirementsWalk(read_include=read_include, prefix=directory)
    return read_requirements(text, walk, rel=name or location)
