"""Importing multi-file (package) plugins under unique, disposable module names.

Upstream imports a plugin directory under its bare basename with the parent dir on ``sys.path``
and never evicts it, so two same-named folders collide and edits need a restart (engine-behavior
§2.3). Here each package is registered as ``_pluginmgr_plugins.p<hash of its absolute path>.<name>``
through ``spec_from_file_location``, so relative imports work, same-named folders never collide,
and a new version is imported after `purge_modules` drops every entry under the old name. As
upstream, the parent directory is on ``sys.path`` while the package's top-level code runs (under
one lock, so concurrent loads cannot race), so helper modules next to the folder import.

Modules under that root are compiled from source on each import, never from ``__pycache__``: a
``.pyc`` is validated by whole-second mtime and size, so a quick same-size edit would otherwise
reload stale bytecode.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import os
import sys
import threading
import types
from collections.abc import Sequence
from pathlib import Path
from typing import Final

__all__ = ["PACKAGE_ROOT", "import_package", "package_module_name", "purge_modules"]

#: the synthetic top-level package every directory plugin is imported under
PACKAGE_ROOT: Final = "_pluginmgr_plugins"

_FINDER_LOCK: Final = threading.Lock()
# held while a package's top-level code runs with its parent directory on sys.path
_SYS_PATH_LOCK: Final = threading.RLock()


class _FreshSourceLoader(importlib.machinery.SourceFileLoader):
    """Compiles from source every time and writes no bytecode."""

    def get_code(self, fullname: str) -> types.CodeType:
        # self.path, not get_filename(fullname): a package's __name__ is its folder name
        return self.source_to_code(self.get_data(self.path), self.path)


class _PluginFinder(importlib.abc.MetaPathFinder):
    """Finds plugin submodules with the normal path finder, then swaps in `_FreshSourceLoader`."""

    def find_spec(
        self,
        fullname: str,
        path: Sequence[str] | None,
        target: types.ModuleType | None = None,
    ) -> importlib.machinery.ModuleSpec | None:
        if path is None or not fullname.startswith(PACKAGE_ROOT + "."):
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path, target)
        if spec is not None and type(spec.loader) is importlib.machinery.SourceFileLoader:
            spec.loader = _FreshSourceLoader(fullname, spec.loader.path)
        return spec


_FINDER: Final = _PluginFinder()


def _install_finder() -> None:
    with _FINDER_LOCK:
        if _FINDER not in sys.meta_path:
            sys.meta_path.insert(0, _FINDER)


def package_module_name(path: Path) -> str:
    """The unique dotted name a package directory is imported under; its last part is the name."""
    absolute = os.path.abspath(path)
    digest = hashlib.sha256(absolute.encode("utf-8", "surrogateescape")).hexdigest()[:12]
    leaf = os.path.basename(absolute).replace(".", "_") or "plugin"
    return f"{PACKAGE_ROOT}.p{digest}.{leaf}"


def purge_modules(module_name: str) -> None:
    """Drop ``module_name`` and every submodule of it from ``sys.modules``."""
    prefix = module_name + "."
    for key in list(sys.modules):
        if key == module_name or key.startswith(prefix):
            sys.modules.pop(key, None)


def _ensure_parents(module_name: str) -> types.ModuleType:
    """Create the synthetic namespace packages above ``module_name``; return its parent."""
    parts = module_name.split(".")
    parent: types.ModuleType | None = None
    for depth in range(1, len(parts)):
        name = ".".join(parts[:depth])
        module = sys.modules.get(name)
        if module is None:
            fresh = types.ModuleType(name, "Synthetic parent of directory plugins.")
            fresh.__path__ = []
            fresh.__package__ = name
            module = sys.modules.setdefault(name, fresh)
        if parent is not None:
            setattr(parent, parts[depth - 1], module)
        parent = module
    assert parent is not None  # noqa: S101 - module names always have a parent here
    return parent


def _exec_with_parent_on_path(
    loader: importlib.machinery.SourceFileLoader, module: types.ModuleType, parent: str
) -> None:
    """Run the package's top-level code with its parent directory importable, as upstream does
    (plugins import helper modules that sit next to their folder)."""
    with _SYS_PATH_LOCK:
        added = parent not in sys.path
        if added:
            sys.path.insert(0, parent)
        try:
            loader.exec_module(module)
        finally:
            if added:
                try:
                    sys.path.remove(parent)
                except ValueError:  # the plugin removed it itself
                    pass


def import_package(path: Path, module_name: str) -> types.ModuleType:
    """Import the package at ``path`` as ``module_name``, running its ``__init__.py`` once.

    On any failure every ``sys.modules`` entry under ``module_name`` is removed before the
    exception propagates unchanged. The caller serialises imports of the same ``module_name``.
    """
    _install_finder()
    parent = _ensure_parents(module_name)
    importlib.invalidate_caches()  # a package or module created after startup must be found
    init = str(path / "__init__.py")
    loader = _FreshSourceLoader(module_name, init)
    spec = importlib.util.spec_from_file_location(
        module_name, init, loader=loader, submodule_search_locations=[str(path)]
    )
    if spec is None:  # pragma: no cover - only for paths without a known suffix
        message = f"cannot build an import spec for {init}"
        raise ImportError(message)
    module = importlib.util.module_from_spec(spec)
    leaf = module_name.rpartition(".")[2]
    # __name__ stays the unique name (upstream: the folder's name): `from . import x` resolves
    # submodules through __name__, so the bare name would import the folder a second time
    sys.modules[module_name] = module
    try:
        _exec_with_parent_on_path(loader, module, str(path.parent))
    except BaseException:
        purge_modules(module_name)
        vars(parent).pop(leaf, None)
        raise
    module = sys.modules.get(module_name, module)  # the package may have replaced itself
    setattr(parent, leaf, module)
    return module
