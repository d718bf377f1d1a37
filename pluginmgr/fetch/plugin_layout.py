"""Which file of a directory plugin holds its code.

A multi-file plugin in the plugin dir is a package (``__init__.py``, upstream's rule). A registry
artifact is the plugin's directory as the SDK packs it: ``manifest.toml`` next to either an
``__init__.py`` or the plugin's module, named after the plugin (``downsampler.py``) or, as in
the official library, the only top-level module (``notifier/notifier_plugin.py``).
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Final

from ..errors import PluginNotFoundError

__all__ = ["entry_file"]

_MANIFEST: Final = "manifest.toml"


def _manifest_name(directory: Path) -> str | None:
    try:
        data = tomllib.loads((directory / _MANIFEST).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return None  # the manifest's own errors are reported by whoever reads it for metadata
    plugin = data.get("plugin")
    name = plugin.get("name") if isinstance(plugin, dict) else None
    return name if isinstance(name, str) else None


def entry_file(directory: Path) -> Path:
    """``__init__.py``, else ``<manifest name>.py``, else the only top-level ``*.py`` file.

    Raises `PluginNotFoundError` naming the directory's modules when none of them is the entry.
    """
    init = directory / "__init__.py"
    if init.is_file():
        return init
    name = _manifest_name(directory)
    if name is not None and (directory / f"{name}.py").is_file():
        return directory / f"{name}.py"
    modules = sorted(p for p in directory.glob("*.py") if p.is_file())
    if len(modules) == 1:
        return modules[0]
    found = ", ".join(p.name for p in modules) or "none"
    message = f"plugin directory {str(directory)!r} has no entry point (top-level modules: {found})"
    hint = "add __init__.py, or name the module after the plugin in manifest.toml"
    raise PluginNotFoundError(message, ref=str(directory), hint=hint)
