"""Turning `PluginCode` into the entry-point callable, as InfluxDB 3 does (engine-behavior §5.1).

* ``LineBuilder`` is put into ``builtins`` before any plugin code runs.
* A single file is compiled once per version and exec'd in a brand-new ``{}`` globals dict on
  every call: ``__name__`` resolves to ``'builtins'``, ``if __name__ == '__main__'`` never runs,
  and nothing persists between calls or leaks between plugins.
* A directory is imported as a package under a unique name (`loader_package`) and re-imported
  when any of its ``.py`` files changes; upstream never reloads.

Errors keep upstream's words: a syntax error reads ``IndentationError: unexpected indent
(<string>, line 2)``, a failing import ``Failed to import plugin module '<name>': <Exc>: <msg>``,
and a missing function the generic ``the <fn> function is not present in the plugin...``.
"""

from __future__ import annotations

import builtins
import linecache
import os
import threading
import traceback
import types
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final, final

from ..errors import (
    ENTRY_POINT_SIGNATURES,
    MissingEntryPointError,
    PluginError,
    PluginLoadError,
    missing_entry_point_message,
)
from .package import import_package, package_module_name, purge_modules
from .source import (
    MISSING_INIT_MESSAGE,
    PATH_TRAVERSAL_MESSAGE,
    PLUGIN_NOT_FOUND_MESSAGE,
    LocalPluginSource,
    PluginCode,
    PluginSource,
    directory_version,
    relative_plugin_name,
    resolve_plugin_path,
)

__all__ = [
    "IMPORT_FAILURE_MESSAGE",
    "MISSING_INIT_MESSAGE",
    "PATH_TRAVERSAL_MESSAGE",
    "PLUGIN_NOT_FOUND_MESSAGE",
    "Loader",
    "LocalPluginSource",
    "PluginCode",
    "PluginFailure",
    "PluginSource",
    "describe_failure",
    "directory_version",
    "format_plugin_exception",
    "plugin_traceback",
    "relative_plugin_name",
    "resolve_plugin_path",
]

#: upstream's words when a directory plugin fails to import (``{name}``, ``{error}``)
IMPORT_FAILURE_MESSAGE: Final = (
    "Failed to import plugin module '{name}': {error}\n"
    "Hint: Check for syntax errors or missing dependencies in Python files."
)

_RUNTIME_DIR: Final = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
#: frames in these packages are the engine's, never the plugin's: this runtime and the plugin
#: manager installed beside it (named by path: this package must not import it)
_INTERNAL_ROOTS: Final = (_RUNTIME_DIR, os.path.join(os.path.dirname(_RUNTIME_DIR), "pluginmgr"))
_DEFAULT_CODE_CACHE: Final = 64


def format_plugin_exception(exc: BaseException) -> str:
    """``"<ExcType>: <msg>"`` as Python prints it, or just ``"<ExcType>"`` for an empty message."""
    message = str(exc)
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__


def _is_internal(filename: str) -> bool:
    if filename.startswith("<frozen importlib"):  # the import machinery
        return True
    path = os.path.abspath(filename)
    return any(path == root or path.startswith(root + os.sep) for root in _INTERNAL_ROOTS)


def plugin_traceback(exc: BaseException) -> str:
    """The formatted traceback of ``exc`` with the plugin's frames only.

    Left out, anywhere in the stack and in every chained exception: the frames of this runtime
    and of `pluginmgr` (the engine calling into the plugin, the plugin API it called) and of
    the import machinery.
    """
    summary = traceback.TracebackException.from_exception(exc)
    _strip_internal(summary, set())
    return "".join(summary.format())


def _strip_internal(summary: traceback.TracebackException, seen: set[int]) -> None:
    if id(summary) in seen:  # chains can loop (an exception that is its own context)
        return
    seen.add(id(summary))
    kept = [frame for frame in summary.stack if not _is_internal(frame.filename)]
    summary.stack = traceback.StackSummary.from_list(kept)
    nested = [summary.__cause__, summary.__context__, *(summary.exceptions or ())]
    for inner in nested:
        if inner is not None:
            _strip_internal(inner, seen)


@dataclass(frozen=True, slots=True)
class PluginFailure:
    """How a failed plugin call is reported, by the engine and by dry runs alike."""

    message: str  #: one line: the engine's own message, or ``"<ExcType>: <msg>"``
    traceback: str | None  #: the plugin's frames; None when the engine itself refused the call
    http_body: str  #: a request trigger's 500 body


def describe_failure(exc: BaseException) -> PluginFailure:
    """Describe what a plugin call raised (a `PluginError` from the engine, or the plugin's own)."""
    if isinstance(exc, PluginError):
        return PluginFailure(exc.message, exc.traceback, exc.message)
    message = format_plugin_exception(exc)
    return PluginFailure(message, plugin_traceback(exc), f"Python function call failed: {message}")


def _missing(function: str) -> MissingEntryPointError:
    if function in ENTRY_POINT_SIGNATURES:
        return MissingEntryPointError(missing_entry_point_message(function))
    return MissingEntryPointError(f"the {function} function is not present in the plugin")


def _syntax_message(exc: SyntaxError) -> str:
    # upstream compiles from a string, so its message names <string> rather than the file
    return f"{type(exc).__name__}: {exc.msg} (<string>, line {exc.lineno})"


def _install_builtins() -> None:
    if "LineBuilder" in builtins.__dict__:  # the hot path: once installed, one dict lookup
        return
    from .line_builder import install_builtins  # plugin-facing: loaded on use

    install_builtins()


@final
class Loader:
    """Builds entry points from `PluginCode`; one per runtime, safe to share between threads.

    :param code_cache_size: how many compiled single-file versions to keep (least recently used
        are dropped first).
    """

    __slots__ = ("_code_cache", "_code_cache_size", "_lock", "_package_locks", "_packages")

    def __init__(self, *, code_cache_size: int = _DEFAULT_CODE_CACHE) -> None:
        self._lock = threading.Lock()
        self._code_cache: OrderedDict[tuple[str, str, str], types.CodeType] = OrderedDict()
        self._code_cache_size = max(1, code_cache_size)
        self._package_locks: dict[str, threading.Lock] = {}
        self._packages: dict[str, tuple[str, types.ModuleType]] = {}

    def entry_point(self, code: PluginCode, function: str) -> Callable[..., Any]:
        """The plugin's ``function``, with its module code freshly run (files) or imported once
        per version (directories).

        :raises PluginLoadError: the code does not compile, or raises while it loads.
        :raises MissingEntryPointError: ``function`` is not defined, or is not callable.
        """
        _install_builtins()
        if code.kind == "directory":
            return self._package_entry_point(code, function)
        namespace = self._run_file(code)
        func: object = namespace.get(function)
        if not callable(func):
            raise _missing(function)
        return func

    def code_object(self, code: PluginCode) -> types.CodeType:
        """The compiled module code of a single-file plugin, compiled once per version.

        :raises PluginLoadError: a syntax error, with upstream's ``(<string>, line N)`` wording.
        """
        filename = str(code.path) if code.path is not None else f"<plugin {code.name}>"
        key = (code.name, filename, code.version)
        with self._lock:
            cached = self._code_cache.get(key)
            if cached is not None:
                self._code_cache.move_to_end(key)
                return cached
        source = code.source
        if source is None:
            message = f"plugin {code.name!r} is a {code.kind} plugin without source"
            raise PluginLoadError(message)
        compiled = self._compile(source, filename)
        # tracebacks show the exact source that runs, even when the file changes later
        lines = source.splitlines(keepends=True)
        linecache.cache[filename] = (len(source), None, lines, filename)
        with self._lock:
            self._code_cache[key] = compiled
            while len(self._code_cache) > self._code_cache_size:
                self._code_cache.popitem(last=False)
        return compiled

    def clear(self) -> None:
        """Forget compiled code and drop every imported directory plugin from ``sys.modules``."""
        with self._lock:
            self._code_cache.clear()
            names = list(self._packages)
            self._packages.clear()
        for name in names:
            purge_modules(name)

    @staticmethod
    def _compile(source: str, filename: str) -> types.CodeType:
        try:
            # dont_inherit: the plugin must not get this module's `from __future__` flags
            return compile(source, filename, "exec", dont_inherit=True)
        except SyntaxError as exc:
            error = PluginLoadError(_syntax_message(exc), traceback=plugin_traceback(exc))
            raise error from exc
        except ValueError as exc:  # e.g. null bytes in the source
            error = PluginLoadError(format_plugin_exception(exc), traceback=plugin_traceback(exc))
            raise error from exc

    def _run_file(self, code: PluginCode) -> dict[str, Any]:
        compiled = self.code_object(code)
        namespace: dict[str, Any] = {}  # no __name__: it resolves to builtins, as upstream
        try:
            exec(compiled, namespace)  # noqa: S102 - running plugin code is the loader's job
        except (Exception, SystemExit) as exc:
            error = PluginLoadError(format_plugin_exception(exc), traceback=plugin_traceback(exc))
            raise error from exc
        return namespace

    def _package_entry_point(self, code: PluginCode, function: str) -> Callable[..., Any]:
        module = self._package(code)
        try:
            func: object = getattr(module, function)
        except AttributeError:
            raise _missing(function) from None
        except Exception as exc:
            name = module.__name__.rpartition(".")[2]
            message = (
                f"Failed to load function '{function}' from plugin module '{name}': "
                f"{format_plugin_exception(exc)}"
            )
            raise PluginLoadError(message, traceback=plugin_traceback(exc)) from exc
        if not callable(func):
            raise _missing(function)
        return func

    def _package(self, code: PluginCode) -> types.ModuleType:
        if code.path is None:
            message = f"directory plugin {code.name!r} has no path"
            raise PluginLoadError(message)
        module_name = package_module_name(code.path)
        with self._lock:
            lock = self._package_locks.setdefault(module_name, threading.Lock())
        with lock:
            cached = self._packages.get(module_name)
            if cached is not None and cached[0] == code.version:
                return cached[1]
            self._packages.pop(module_name, None)
            purge_modules(module_name)
            try:
                module = import_package(code.path, module_name)
            except (Exception, SystemExit) as exc:
                message = IMPORT_FAILURE_MESSAGE.format(
                    name=code.path.name, error=format_plugin_exception(exc)
                )
                raise PluginLoadError(message, traceback=plugin_traceback(exc)) from exc
            self._packages[module_name] = (code.version, module)
            return module
