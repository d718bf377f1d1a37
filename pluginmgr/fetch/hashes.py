"""Content hashes and the names they are stored under: SHA-256 of bytes and files, the manifest
of a tree of files (one ``sha256  path`` line each, sorted), and the checks every stored name
passes (no control characters, no absolute or ``..`` paths)."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Final

from ..errors import IntegrityError

if TYPE_CHECKING:
    pass

__all__ = [
    "has_control_chars",
    "parse_tree_manifest",
    "sha256_file",
    "sha256_hex",
    "tree_manifest",
]


_CONTROL_CHARS: Final = re.compile(r"[\x00-\x1f\x7f]")


_MANIFEST_LINE: Final = re.compile(r"([0-9a-f]{64})  (.+)", re.DOTALL)


_MANIFEST_HINT: Final = "the stored tree is damaged or forged; fetch the plugin again"


def sha256_hex(data: bytes) -> str:
    """Hex sha256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path) -> str:
    """The SHA-256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def has_control_chars(name: str) -> bool:
    """Whether ``name`` holds a C0 control character (NUL, newline, CR, ...) or DEL.

    Such names are refused wherever file names enter (archives, git trees, uploads): a newline
    would split one tree manifest line into two.
    """
    return _CONTROL_CHARS.search(name) is not None


def _path_problem(name: str) -> str | None:
    """Why ``name`` cannot be a tree manifest path, or ``None`` when it is a clean relative path."""
    if has_control_chars(name):
        return "contains a control character"
    if not name or name.startswith("/"):
        return "is empty or absolute"
    if any(part in ("", ".", "..") for part in name.split("/")):
        return "has an empty, '.' or '..' component"
    return None


def tree_manifest(files: Mapping[str, bytes]) -> bytes:
    """The manifest blob for a directory: ``<sha256>  <path>`` lines sorted by path.

    :raises IntegrityError: a path is not a clean relative path (control characters included),
        so every manifest parses back to exactly the files it was made from.
    """
    for name in files:
        problem = _path_problem(name)
        if problem is not None:
            message = f"cannot store file {name!r} in a tree: its name {problem}"
            raise IntegrityError(message, hint="rename the file; control characters are refused")
    lines = [f"{sha256_hex(files[name])}  {name}\n" for name in sorted(files)]
    return "".join(lines).encode()


def parse_tree_manifest(manifest: bytes) -> dict[str, str]:
    """Inverse of `tree_manifest`: relative path -> sha256.

    :raises IntegrityError: any line that `tree_manifest` could not have written (bad digest,
        unsafe or duplicate path, not UTF-8).
    """
    try:
        text = manifest.decode("utf-8")
    except UnicodeDecodeError:
        raise IntegrityError("corrupt tree manifest: not UTF-8", hint=_MANIFEST_HINT) from None
    # split("\n") rather than splitlines(): the latter also splits on \x1c, \x85, U+2028, ...
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()
    entries: dict[str, str] = {}
    for line in lines:
        match = _MANIFEST_LINE.fullmatch(line)
        name = match.group(2) if match else ""
        if match is None or _path_problem(name) is not None or name in entries:
            raise IntegrityError(f"corrupt tree manifest line {line!r}", hint=_MANIFEST_HINT)
        entries[name] = match.group(1)
    return entries
