"""Loading plugin code in the host, as the server's ``engine_runtime.loader`` does in-process.

* A single file is compiled once per version (its mtime and size) and exec'd in a brand-new
  ``{}`` globals dict on every call, so ``__name__`` resolves to ``'builtins'`` and nothing
  persists between calls.
* A directory is imported as a package under a unique name and re-imported when any of its
  ``.py`` files changes.
"""

from __future__ import annotations

import hashlib
import importlib.util
import linecache
import os
import sys
import threading
import types
from collections.abc import Callable
from typing import Any

from .line_builder import install_builtins

__all__ = ["Loader", "MissingEntryPointError", "PluginLoadError"]


class PluginLoadError(Exception):
    """The plugin's code could not be loaded."""


class MissingEntryPointError(PluginLoadError):
    """The plugin has no callable of that name (the server words it as upstream does)."""


def _file_version(path: str) -> tuple[int, int]:
    stat = os.stat(path)
    return stat.st_mtime_ns, stat.st_size


def _package_version(path: str) -> tuple[tuple[str, int, int], ...]:
    found: list[tuple[str, int, int]] = []
    for root, _dirs, files in os.walk(path):
        for name in files:
            if name.endswith(".py"):
                full = os.path.join(root, name)
                stat = os.stat(full)
                found.append((full, stat.st_mtime_ns, stat.st_size))
    return tuple(sorted(found))


def _purge(module_name: str) -> None:
    for key in list(sys.modules):
        if key == module_name or key.startswith(module_name + "."):
            sys.modules.pop(key, None)


class Loader:
    """Entry points by plugin path; shared by the host's run threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._files: dict[str, tuple[object, types.CodeType]] = {}
        self._packages: dict[str, tuple[object, types.ModuleType]] = {}

    def entry_point(self, run: dict[str, Any]) -> Callable[..., Any]:
        """The callable ``run["entry"]`` of the plugin at ``run["path"]`` (a .py file or a
        package dir); ``run`` may carry the file's ``source`` and a ``version`` token."""
        install_builtins()
        path, function = str(run["path"]), str(run["entry"])
        version = run.get("version")
        if os.path.isdir(path) and run.get("source") is None:
            namespace: Any = self._package(path, version)
            func = getattr(namespace, function, None)
        else:
            globals_: dict[str, Any] = {}
            exec(self._code(path, run.get("source"), version), globals_)  # noqa: S102
            func = globals_.get(function)
        if not callable(func):
            message = f"the {function} function is not present in the plugin"
            raise MissingEntryPointError(message)
        return func  # type: ignore[no-any-return]

    def _code(self, path: str, source: str | None, version: object) -> types.CodeType:
        if version is None:  # the server's content token, else the file's mtime and size
            version = _file_version(path)
        with self._lock:
            cached = self._files.get(path)
        if cached is not None and cached[0] == version:
            return cached[1]
        if source is None:
            with open(path, encoding="utf-8") as handle:
                source = handle.read()
        try:
            # dont_inherit: the plugin must not get this module's `from __future__` flags
            code = compile(source, path, "exec", dont_inherit=True)
        except SyntaxError as exc:
            # upstream compiles from a string, so its message names <string>, not the file
            exc.upstream_message = (  # type: ignore[attr-defined]
                f"{type(exc).__name__}: {exc.msg} (<string>, line {exc.lineno})"
            )
            raise
        # tracebacks show the source that runs, even when the file changes later
        linecache.cache[path] = (len(source), None, source.splitlines(keepends=True), path)
        with self._lock:
            self._files[path] = (version, code)
        return code

    def _package(self, path: str, version: object) -> types.ModuleType:
        if version is None:
            version = _package_version(path)
        with self._lock:
            cached = self._packages.get(path)
            if cached is not None and cached[0] == version:
                return cached[1]
            digest = hashlib.sha256(path.encode()).hexdigest()[:12]
            name = f"_pluginmgr_plugins.{os.path.basename(path)}_{digest}"
            _purge(name)
            sys.modules.setdefault("_pluginmgr_plugins", types.ModuleType("_pluginmgr_plugins"))
            init = os.path.join(path, "__init__.py")
            spec = importlib.util.spec_from_file_location(
                name, init, submodule_search_locations=[path]
            )
            if spec is None or spec.loader is None:
                raise PluginLoadError(f"plugin package {path} has no __init__.py")
            module = importlib.util.module_from_spec(spec)
            sys.modules[name] = module
            try:
                spec.loader.exec_module(module)
            except BaseException:
                _purge(name)
                raise
            self._packages[path] = (version, module)
            return sys.modules.get(name, module)
