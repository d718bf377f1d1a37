"""Local plugins under ``--plugin-dir``, with upstream's traversal rules (engine-behavior.md §2.2).

A name is rejected when any component is ``..``, a root or a Windows drive/UNC prefix; otherwise
the target (or, if it does not exist, its deepest existing ancestor) is canonicalized with symlinks
resolved and must stay inside the canonical plugin directory. Error strings match upstream.

A trigger's plugin may also be named by an absolute path into the plugin directory
(``/plugins/a.py`` with ``--plugin-dir /plugins``), which upstream refuses: `find_local_plugin`
checks it as the relative name it points to (``a.py``), so a path outside the directory, or one
that leaves it through ``..`` or a symlink, is still refused with upstream's message.
`validate_path_within_plugin_dir` (uploads) keeps upstream's rule and refuses every absolute path.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Final

from engine_runtime import relative_plugin_name

from ..errors import (
    NO_PLUGIN_DIR_MESSAGE,
    PATH_TRAVERSAL_MESSAGE,
    PathTraversalError,
    PluginManagerError,
    PluginNotFoundError,
)

__all__ = [
    "LocalPlugin",
    "find_local_plugin",
    "validate_path_within_plugin_dir",
]

NOT_FOUND_MESSAGE: Final = "reading plugin file: Plugin not found: {path}"
MISSING_INIT_MESSAGE: Final = (
    "reading plugin file: Multi-file plugin directory must contain __init__.py: {path}"
)
_WINDOWS_PREFIX: Final = re.compile(r"^([A-Za-z]:|\\\\|//)")


@dataclass(frozen=True, slots=True)
class LocalPlugin:
    """A plugin found under the plugin directory: a single file or a package directory."""

    path: Path
    is_directory: bool


def _traversal(name: str) -> PathTraversalError:
    return PathTraversalError(PATH_TRAVERSAL_MESSAGE.format(name=name), ref=name)


def _canonical_target(target: Path) -> Path:
    """Canonicalize ``target``, or its deepest existing ancestor plus the missing components."""
    missing: list[str] = []
    probe = target
    while not probe.exists() and not probe.is_symlink():
        missing.append(probe.name)
        if probe.parent == probe:
            break
        probe = probe.parent
    resolved = probe.resolve(strict=False)
    for part in reversed(missing):
        resolved = resolved / part
    return resolved


def validate_path_within_plugin_dir(
    plugin_dir: Path, name: str, *, shown: str | None = None
) -> Path:
    """Return ``plugin_dir / name`` (not canonicalized) if it stays inside ``plugin_dir``.

    :param shown: the name the error message quotes (default ``name``).
    :raises PathTraversalError: with upstream's exact message.
    :raises PluginManagerError: when the plugin directory itself cannot be canonicalized.
    """
    shown = name if shown is None else shown
    if _WINDOWS_PREFIX.match(name) or PureWindowsPath(name).drive:
        raise _traversal(shown)
    user_path = PurePosixPath(name)
    if user_path.is_absolute() or any(part == ".." for part in user_path.parts):
        raise _traversal(shown)
    try:
        base = plugin_dir.resolve(strict=True)
    except OSError as exc:
        message = f"cannot use plugin directory {str(plugin_dir)!r}: {exc.strerror or exc}"
        raise PluginManagerError(
            message, hint="create it or pass an existing --plugin-dir"
        ) from exc
    target = plugin_dir / user_path
    canonical = _canonical_target(target)
    if canonical != base and base not in canonical.parents:
        raise _traversal(shown)
    return target


def find_local_plugin(plugin_dir: Path | None, name: str) -> LocalPlugin:
    """Resolve a local reference the way upstream's ``read_plugin_code`` does; an absolute path
    into the plugin directory is also accepted (module docstring)."""
    if plugin_dir is None:
        raise PluginManagerError(NO_PLUGIN_DIR_MESSAGE, ref=name, hint="pass --plugin-dir DIR")
    name = name.rstrip("/")
    relative = relative_plugin_name(plugin_dir, name)
    if relative is None:
        raise _traversal(name)
    path = validate_path_within_plugin_dir(plugin_dir, relative, shown=name)
    if path.is_dir():
        if not (path / "__init__.py").is_file():
            raise PluginNotFoundError(MISSING_INIT_MESSAGE.format(path=path), ref=name)
        return LocalPlugin(path=path, is_directory=True)
    if not path.is_file():
        raise PluginNotFoundError(NOT_FOUND_MESSAGE.format(path=path), ref=name)
    return LocalPlugin(path=path, is_directory=False)
