"""The checks every reader of a dependency declaration shares: UTF-8 text, TOML, PEP 508
requirements. Each failure is a `DependencyDeclarationError` that names the file (and line) and
what to write instead.

Apart from `declared` so that the requirements-file reader (`requirements_file`), which
`declared` uses, can share them without importing it back.
"""

from __future__ import annotations

import tomllib
from typing import Any, NoReturn

from packaging.requirements import InvalidRequirement, Requirement

from ..errors import DependencyDeclarationError

__all__ = [
    "decode_utf8",
    "loads_toml",
    "normalise_requirement",
    "reject",
    "requirement_list",
]


def reject(where: str, problem: str, *, path: str, hint: str | None = None) -> NoReturn:
    """Raise `DependencyDeclarationError` with ``where: problem`` as its message."""
    message = f"{where}: {problem}"
    raise DependencyDeclarationError(message, path=path, hint=hint)


def decode_utf8(data: bytes, *, where: str, path: str) -> str:
    """``data`` as UTF-8 text (a BOM dropped)."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        message = f"{where}: not valid UTF-8 ({exc.reason} at byte {exc.start})"
        raise DependencyDeclarationError(message, path=path, hint="save it as UTF-8") from exc


def loads_toml(text: str, *, where: str, path: str) -> dict[str, Any]:
    """``text`` parsed as TOML."""
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        message = f"{where}: invalid TOML: {exc}"
        raise DependencyDeclarationError(message, path=path, hint="fix the TOML syntax") from exc


def normalise_requirement(spec: str, *, where: str, path: str) -> str:
    """``spec`` as ``str(Requirement(spec))``."""
    try:
        return str(Requirement(spec))
    except InvalidRequirement as exc:
        reason = str(exc).splitlines()[0] if str(exc) else "does not parse"
        message = f"{where}: invalid requirement {spec!r}: {reason}"
        hint = "write a PEP 508 requirement such as 'requests>=2.31'"
        raise DependencyDeclarationError(message, path=path, hint=hint) from exc


def requirement_list(value: object, *, where: str, path: str) -> list[str]:
    """``value``, which must be a list of strings, as normalised requirements."""
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        kind = type(value).__name__
        hint = 'write it as a list of strings, e.g. ["requests>=2.31", "pint"]'
        reject(where, f"must be a list of requirement strings, got {kind}", path=path, hint=hint)
    return [normalise_requirement(item, where=where, path=path) for item in value]
