"""Which Python requirements a plugin declares, and where the declaration came from.

Sources, in order of precedence (the first one found wins; the others that exist are listed in
`DeclaredDeps.shadowed` so the caller can warn about disagreement)::

    1. manifest.toml     [dependencies] python = ["pkg>=1", ...]   (python = [] declares "none")
    2. pep723            a "# /// script" block in the plugin file: dependencies, requires-python
    3. requirements.txt  a requirement a line; -r includes; --hash kept aside; options refused
                         (read by `pluginmgr.deps.requirements_file`)

Siblings are read through a `SiblingReader` (name relative to the plugin's directory -> bytes or
None), so plugins fetched from a repository work exactly like local ones. Only
`declared_deps_for_path` touches the filesystem.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType
from typing import Final, TypeAlias

from packaging.specifiers import InvalidSpecifier, SpecifierSet

from ..errors import DependencyDeclarationError, PluginNotFoundError
from ..fetch.plugin_layout import entry_file
from .declaration_syntax import decode_utf8, loads_toml, reject, requirement_list
from .requirements_file import RequirementsWalk, read_requirements

__all__ = [
    "DeclaredDeps",
    "SiblingReader",
    "declared_deps",
    "declared_deps_for_path",
    "parse_pep723",
]

#: reads a file next to the plugin by name ("manifest.toml", "requirements.txt", or a -r include
#: path relative to the plugin's directory); returns None if absent
SiblingReader: TypeAlias = Callable[[str], bytes | None]

_MANIFEST: Final = "manifest.toml"
_PEP723: Final = "pep723"
_REQUIREMENTS: Final = "requirements.txt"
_NONE: Final = "none"
#: the reference regex from PEP 723 ("Reference Implementation")
_PEP723_BLOCK: Final = re.compile(
    r"(?m)^# /// (?P<type>[a-zA-Z0-9-]+)$\s(?P<content>(^#(| .*)$\s)+)^# ///$"
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


# -- manifest.toml --------------------------------------------------------------------------------


def _manifest_requirements(text: str, *, where: str, path: str) -> list[str] | None:
    """``[dependencies] python`` of a manifest, or None when it has no python list."""
    document = loads_toml(text, where=where, path=path)
    dependencies = document.get("dependencies")
    if dependencies is None:
        return None
    if not isinstance(dependencies, dict):
        hint = "make it a table: [dependencies]"
        reject(where, "[dependencies] must be a table", path=path, hint=hint)
    if "python" not in dependencies:
        return None
    return requirement_list(
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
        reject(where, f"requires-python must be a string, got {kind}", path=path)
    try:
        SpecifierSet(value)
    except InvalidSpecifier as exc:
        hint = "write a version specifier such as '>=3.11'"
        reject(where, f"invalid requires-python {value!r}: {exc}", path=path, hint=hint)
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
        reject(location, problem, path=location, hint="merge them into a single block")
    block = blocks[0]
    where = f"{location}: PEP 723 `# /// script` block at line {_line_of(text, block.start())}"
    content = "".join(
        line[2:] if line.startswith("# ") else line[1:]
        for line in block.group("content").splitlines(keepends=True)
    )
    metadata = loads_toml(content, where=where, path=location)
    dependencies = requirement_list(
        metadata.get("dependencies", []), where=f"{where}: dependencies", path=location
    )
    requires = _requires_python(metadata.get("requires-python"), where=where, path=location)
    return dependencies, requires


# -- precedence -----------------------------------------------------------------------------------


def _from_manifest(plugin_name: str, data: bytes | None) -> tuple[str, ...] | None:
    if data is None:
        return None
    where = f"{_MANIFEST} (plugin {plugin_name!r})"
    text = decode_utf8(data, where=where, path=_MANIFEST)
    found = _manifest_requirements(text, where=where, path=_MANIFEST)
    return None if found is None else tuple(found)


def _from_requirements(plugin_name: str, data: bytes, read_sibling: SiblingReader) -> DeclaredDeps:
    walk = RequirementsWalk(read_include=read_sibling, suffix=f" (plugin {plugin_name!r})")
    text = decode_utf8(data, where=walk.where(_REQUIREMENTS), path=_REQUIREMENTS)
    found, hashes = read_requirements(text, walk, rel=_REQUIREMENTS)
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
    text = decode_utf8(_read_bytes(plugin_file), where=str(plugin_file), path=str(plugin_file))
    try:
        deps = declared_deps(name, text, reader)
    except DependencyDeclarationError as exc:
        if exc.path in reader.served:
            exc.path = str(reader.served[exc.path])
        raise
    if deps.location is None:
        return deps
    return replace(deps, location=str(reader.served.get(deps.location, deps.location)))
