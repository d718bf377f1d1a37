"""Which Python requirements a plugin declares, and where the declaration came from.

Sources, in order of precedence (the first one found wins; the others that exist are listed in
`DeclaredDeps.shadowed` so the caller can warn about disagreement)::

    1. manifest.toml     [dependencies] python = ["pkg>=1", ...]   (python = [] declares "none")
    2. pep723            a "# /// script" block in the plugin file: dependencies, requires-python
    3. requirements.txt  a requirement a line; -r includes; --hash kept aside; options refused

Siblings are read through a `SiblingReader` (name relative to the plugin's directory -> bytes or
None), so plugins fetched from a repository work exactly like local ones. Only
`declared_deps_for_path` touches the filesystem.
"""

from __future__ import annotations

import posixpath
import re
import tomllib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path, PureWindowsPath
from types import MappingProxyType
from typing import Any, Final, NoReturn, TypeAlias

from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import canonicalize_name

from ..errors import DependencyDeclarationError, PluginNotFoundError
from ..fetch.plugin_layout import entry_file

__all__ = [
    "DeclaredDeps",
    "SiblingReader",
    "declared_deps",
    "declared_deps_for_path",
    "parse_pep723",
    "parse_requirements",
]

#: reads a file next to the plugin by name ("manifest.toml", "requirements.txt", or a -r include
#: path relative to the plugin's directory); returns None if absent
SiblingReader: TypeAlias = Callable[[str], bytes | None]

_MANIFEST: Final = "manifest.toml"
_PEP723: Final = "pep723"
_REQUIREMENTS: Final = "requirements.txt"
_NONE: Final = "none"
_MAX_INCLUDE_DEPTH: Final = 5
#: the reference regex from PEP 723 ("Reference Implementation")
_PEP723_BLOCK: Final = re.compile(
    r"(?m)^# /// (?P<type>[a-zA-Z0-9-]+)$\s(?P<content>(^#(| .*)$\s)+)^# ///$"
)
#: pip's rule: "#" starts a comment at the start of a line or after whitespace
_COMMENT: Final = re.compile(r"(^|\s+)#.*$")
_HASH: Final = re.compile(r"^(sha256:[0-9a-f]{64}|sha384:[0-9a-f]{96}|sha512:[0-9a-f]{128})$")
_INCLUDE_OPTIONS: Final = frozenset({"-r", "--requirement"})
_OPTION_HINT: Final = (
    "remove the line; pass indexes, find-links and constraints as flags to "
    "`pluginmgr install package` instead (e.g. --index-url, --find-links)"
)


@dataclass(frozen=True, slots=True)
class DeclaredDeps:
    """Requirements a plugin declares, and where they came from."""

    #: "manifest.toml" | "pep723" | "requirements.txt" | "none"
    source: str
    #: the file (or sibling name) they came from, for messages
    location: str | None
    #: PEP 508 strings, normalised with str(Requirement(s)), order kept, duplicates removed
    requirements: tuple[str, ...]
    #: PEP 723 requires-python if given
    requires_python: str | None = None
    #: lower-precedence sources that also exist (e.g. ("requirements.txt",))
    shadowed: tuple[str, ...] = ()
    #: canonical name -> ("sha256:…",), from --hash options in requirements files
    hashes: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


# -- shared helpers -------------------------------------------------------------------------------


def _error(where: str, problem: str, *, path: str, hint: str | None = None) -> NoReturn:
    message = f"{where}: {problem}"
    raise DependencyDeclarationError(message, path=path, hint=hint)


def _decode(data: bytes, *, where: str, path: str) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        message = f"{where}: not valid UTF-8 ({exc.reason} at byte {exc.start})"
        raise DependencyDeclarationError(message, path=path, hint="save it as UTF-8") from exc


def _loads_toml(text: str, *, where: str, path: str) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        message = f"{where}: invalid TOML: {exc}"
        raise DependencyDeclarationError(message, path=path, hint="fix the TOML syntax") from exc


def _normalise(spec: str, *, where: str, path: str) -> str:
    try:
        return str(Requirement(spec))
    except InvalidRequirement as exc:
        reason = str(exc).splitlines()[0] if str(exc) else "does not parse"
        message = f"{where}: invalid requirement {spec!r}: {reason}"
        hint = "write a PEP 508 requirement such as 'requests>=2.31'"
        raise DependencyDeclarationError(message, path=path, hint=hint) from exc


def _requirement_list(value: object, *, where: str, path: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        kind = type(value).__name__
        hint = 'write it as a list of strings, e.g. ["requests>=2.31", "pint"]'
        _error(where, f"must be a list of requirement strings, got {kind}", path=path, hint=hint)
    return [_normalise(item, where=where, path=path) for item in value]


# -- manifest.toml --------------------------------------------------------------------------------


def _manifest_requirements(text: str, *, where: str, path: str) -> list[str] | None:
    """``[dependencies] python`` of a manifest, or None when it has no python list."""
    document = _loads_toml(text, where=where, path=path)
    dependencies = document.get("dependencies")
    if dependencies is None:
        return None
    if not isinstance(dependencies, dict):
        hint = "make it a table: [dependencies]"
        _error(where, "[dependencies] must be a table", path=path, hint=hint)
    if "python" not in dependencies:
        return None
    return _requirement_list(
        dependencies["python"], where=f"{where}: [dependencies] python", path=path
    )


# -- PEP 723 --------------------------------------------------------------------------------------


def _script_blocks(text: str) -> list[re.Match[str]]:
    return [m for m in _PEP723_BLOCK.finditer(text) if m.group("type") == "script"]


def _line_of(text: str, offset: int) -> int:
    return text.count("\n", 0, offset) + 1


def _requires_python(value: object, *, where: str, path: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        kind = type(value).__name__
        _error(where, f"requires-python must be a string, got {kind}", path=path)
    try:
        SpecifierSet(value)
    except InvalidSpecifier as exc:
        hint = "write a version specifier such as '>=3.11'"
        _error(where, f"invalid requires-python {value!r}: {exc}", path=path, hint=hint)
    return value


def parse_pep723(text: str, *, location: str = "<plugin>") -> tuple[list[str], str | None] | None:
    """Return ``(dependencies, requires-python)`` from a PEP 723 ``script`` block, or None.

    A missing ``dependencies`` key reads as an empty list (as uv does); more than one ``script``
    block, invalid TOML and wrong types raise `DependencyDeclarationError`.
    """
    text = text.replace("\r\n", "\n")
    blocks = _script_blocks(text)
    if not blocks:
        return None
    if len(blocks) > 1:
        lines = ", ".join(str(_line_of(text, block.start())) for block in blocks)
        problem = (
            f"{len(blocks)} PEP 723 `# /// script` blocks (at lines {lines}); only one is allowed"
        )
        _error(location, problem, path=location, hint="merge them into a single block")
    block = blocks[0]
    where = f"{location}: PEP 723 `# /// script` block at line {_line_of(text, block.start())}"
    content = "".join(
        line[2:] if line.startswith("# ") else line[1:]
        for line in block.group("content").splitlines(keepends=True)
    )
    metadata = _loads_toml(content, where=where, path=location)
    dependencies = _requirement_list(
        metadata.get("dependencies", []), where=f"{where}: dependencies", path=location
    )
    requires = _requires_python(metadata.get("requires-python"), where=where, path=location)
    return dependencies, requires


# -- requirements.txt -----------------------------------------------------------------------------


@dataclass(slots=True)
class _RequirementsWalk:
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


def _requirement_line(line: str, *, where: str, path: str, walk: _RequirementsWalk) -> None:
    tokens = line.split()
    split = next((i for i, token in enumerate(tokens) if token.startswith("-")), len(tokens))
    requirement = _normalise(" ".join(tokens[:split]), where=where, path=path)
    found: list[str] = []
    index = split
    while index < len(tokens):
        name, value, index = _option(tokens, index)
        if name != "--hash":
            problem = f"option {name!r} on a requirement line is not supported"
            _error(where, problem, path=path, hint="only --hash=sha256:<hex> is allowed here")
        if value is None or not _HASH.match(value.lower()):
            hint = "write --hash=sha256:<64 hex digits>"
            _error(where, f"invalid --hash value {value!r}", path=path, hint=hint)
        found.append(value.lower())
    walk.requirements.append(requirement)
    if found:
        known = walk.hashes.setdefault(canonicalize_name(Requirement(requirement).name), [])
        known.extend(digest for digest in found if digest not in known)


def _include_path(including: str, target: str, *, where: str, path: str) -> str:
    """``target`` joined to ``including``'s directory; refuses URLs, absolute paths and escapes."""
    if "://" in target or target.startswith(("/", "\\")) or PureWindowsPath(target).drive:
        hint = "use a path relative to the requirements file, inside the plugin's directory"
        _error(where, f"include {target!r} must be a relative path", path=path, hint=hint)
    joined = posixpath.normpath(posixpath.join(posixpath.dirname(including), target))
    if joined == ".." or joined.startswith("../"):
        hint = "keep included files inside the plugin's directory"
        problem = f"include {target!r} escapes the plugin's directory"
        _error(where, problem, path=path, hint=hint)
    return joined


def _include(
    target: str, *, rel: str, lineno: int, walk: _RequirementsWalk, stack: tuple[str, ...]
) -> None:
    where, path = walk.where(rel, lineno), walk.path(rel)
    if walk.read_include is None:
        hint = "list the requirements in this file directly"
        _error(where, f"cannot follow include {target!r} here", path=path, hint=hint)
    joined = _include_path(rel, target, where=where, path=path)
    if joined in stack:
        chain = " -> ".join([*stack, joined])
        _error(where, f"include cycle: {chain}", path=path, hint="remove one of the -r lines")
    if len(stack) > _MAX_INCLUDE_DEPTH:
        problem = f"includes nested deeper than {_MAX_INCLUDE_DEPTH} levels at {joined!r}"
        _error(where, problem, path=path, hint="flatten the requirements files")
    data = walk.read_include(joined)
    if data is None:
        hint = "add the file next to the plugin or remove the -r line"
        _error(where, f"included file {walk.path(joined)!r} not found", path=path, hint=hint)
    text = _decode(data, where=walk.where(joined), path=walk.path(joined))
    _walk_file(text, rel=joined, walk=walk, stack=(*stack, joined))


def _walk_file(text: str, *, rel: str, walk: _RequirementsWalk, stack: tuple[str, ...]) -> None:
    for lineno, line in _logical_lines(text):
        where, path = walk.where(rel, lineno), walk.path(rel)
        if not line.startswith("-"):
            _requirement_line(line, where=where, path=path, walk=walk)
            continue
        name, value, _next = _option(line.split(), 0)
        if name not in _INCLUDE_OPTIONS:
            problem = f"option {name!r} is not supported in a plugin's requirements file"
            _error(where, problem, path=path, hint=_OPTION_HINT)
        if value is None:
            _error(where, f"{name} needs a file name", path=path, hint=f"write '{name} other.txt'")
        _include(value, rel=rel, lineno=lineno, walk=walk, stack=stack)


def _read_requirements(
    text: str, walk: _RequirementsWalk, *, rel: str
) -> tuple[list[str], dict[str, tuple[str, ...]]]:
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
    walk = _RequirementsWalk(read_include=read_include, prefix=directory)
    return _read_requirements(text, walk, rel=name or location)


# -- precedence -----------------------------------------------------------------------------------


def _from_manifest(plugin_name: str, data: bytes | None) -> tuple[str, ...] | None:
    if data is None:
        return None
    where = f"{_MANIFEST} (plugin {plugin_name!r})"
    text = _decode(data, where=where, path=_MANIFEST)
    found = _manifest_requirements(text, where=where, path=_MANIFEST)
    return None if found is None else tuple(found)


def _from_requirements(plugin_name: str, data: bytes, read_sibling: SiblingReader) -> DeclaredDeps:
    walk = _RequirementsWalk(read_include=read_sibling, suffix=f" (plugin {plugin_name!r})")
    text = _decode(data, where=walk.where(_REQUIREMENTS), path=_REQUIREMENTS)
    found, hashes = _read_requirements(text, walk, rel=_REQUIREMENTS)
    return DeclaredDeps(
        source=_REQUIREMENTS,
        location=_REQUIREMENTS,
        requirements=tuple(dict.fromkeys(found)),
        hashes=MappingProxyType(hashes),
    )


def declared_deps(plugin_name: str, plugin_text: str, read_sibling: SiblingReader) -> DeclaredDeps:
    """Find the plugin's declared requirements: manifest.toml, then PEP 723, then requirements.txt.

    :param plugin_name: names the plugin in messages (a file name, ``gh:`` path or local path).
    :param plugin_text: the plugin's source (``__init__.py`` for a package directory).
    :param read_sibling: reads files next to the plugin; never the filesystem or network here.
    """
    manifest = _from_manifest(plugin_name, read_sibling(_MANIFEST))
    has_script = bool(_script_blocks(plugin_text.replace("\r\n", "\n")))
    requirements_data = read_sibling(_REQUIREMENTS)
    lower = [(_PEP723, has_script), (_REQUIREMENTS, requirements_data is not None)]
    present = tuple(source for source, exists in lower if exists)
    if manifest is not None:
        return DeclaredDeps(_MANIFEST, _MANIFEST, tuple(dict.fromkeys(manifest)), shadowed=present)
    parsed = parse_pep723(plugin_text, location=plugin_name) if has_script else None
    if parsed is not None:
        found, requires = parsed
        shadowed = present[1:]
        return DeclaredDeps(_PEP723, plugin_name, tuple(dict.fromkeys(found)), requires, shadowed)
    if requirements_data is not None:
        return _from_requirements(plugin_name, requirements_data, read_sibling)
    return DeclaredDeps(_NONE, None, ())


# -- local plugins --------------------------------------------------------------------------------


class _FsSiblings:
    """A `SiblingReader` over directories tried in order; includes follow requirements.txt."""

    __slots__ = ("_bases", "served")

    def __init__(self, bases: tuple[Path, ...]) -> None:
        self._bases = bases
        #: name asked for -> the file that answered, to name real paths in results and errors
        self.served: dict[str, Path] = {}

    def __call__(self, name: str) -> bytes | None:
        bases = self._bases
        if name not in (_MANIFEST, _REQUIREMENTS) and _REQUIREMENTS in self.served:
            bases = (self.served[_REQUIREMENTS].parent,)
        for base in bases:
            candidate = base / name
            if candidate.is_file():
                self.served[name] = candidate
                return _read_bytes(candidate)
        return None


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        message = f"cannot read {path}: {exc.strerror or exc}"
        hint = "check that the file is readable"
        raise DependencyDeclarationError(message, path=str(path), hint=hint) from exc


def declared_deps_for_path(path: Path) -> DeclaredDeps:
    """`declared_deps` for a local plugin file or package directory.

    A directory is read from its `entry_file` (``__init__.py`` for a package); its siblings
    are looked for inside the directory first, then next to it. ``location`` and error ``path``
    name the real file.
    """
    is_package = path.is_dir()
    plugin_file = entry_file(path) if is_package else path
    if not plugin_file.is_file():
        message = f"plugin {str(plugin_file)!r} not found"
        hint = "a package directory needs __init__.py" if is_package else "check the path"
        raise PluginNotFoundError(message, ref=str(path), hint=hint)
    reader = _FsSiblings((path, path.parent) if is_package else (path.parent,))
    name = str(path)
    reader.served[name] = plugin_file
    text = _decode(_read_bytes(plugin_file), where=str(plugin_file), path=str(plugin_file))
    try:
        deps = declared_deps(name, text, reader)
    except DependencyDeclarationError as exc:
        if exc.path in reader.served:
            exc.path = str(reader.served[exc.path])
        raise
    if deps.location is None:
        return deps
    return replace(deps, location=str(reader.served.get(deps.location, deps.location)))
