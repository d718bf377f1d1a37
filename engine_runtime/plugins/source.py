"""Where plugin code comes from: `PluginCode`, the `PluginSource` seam and `LocalPluginSource`.

A local name is resolved as InfluxDB 3's ``read_plugin_code`` does (engine-behavior.md §2.2-§2.4):

* a name with ``..``, a root or a drive, or one whose canonical path leaves the plugin directory
  (a symlink escape), is refused with upstream's ``Path traversal detected`` message — except an
  absolute path into the plugin directory (``/plugins/a.py`` with ``--plugin-dir /plugins``),
  which upstream refuses too but which is accepted here as the relative name it points to
  (`relative_plugin_name`);
* a directory with ``__init__.py`` is a multi-file plugin; without it the load fails;
* anything else is a single file, read as UTF-8 and re-read only when its stat changes.

Like upstream, once a plugin has loaded, a failed re-read (the file deleted or half-written) keeps
the last good code, so a running trigger survives an editor's save.
"""

from __future__ import annotations

import hashlib
import logging
import os
import stat
import threading
from dataclasses import dataclass
from pathlib import Path, PurePath, PurePosixPath, PureWindowsPath
from typing import Final, Literal, Protocol, final

from ..errors import PluginLoadError

__all__ = [
    "MISSING_INIT_MESSAGE",
    "PATH_TRAVERSAL_MESSAGE",
    "PLUGIN_NOT_FOUND_MESSAGE",
    "LocalPluginSource",
    "PluginCode",
    "PluginSource",
    "directory_version",
    "relative_plugin_name",
    "resolve_plugin_path",
]

_LOGGER: Final = logging.getLogger(__name__)

#: upstream's words for a name that leaves the plugin directory (``{name}`` as given)
PATH_TRAVERSAL_MESSAGE: Final = (
    "Path traversal detected: plugin filename '{name}' attempts to access files outside the "
    "plugin directory"
)
#: upstream's words for a plugin that is not on disk (``{path}``: plugin dir joined with the name)
PLUGIN_NOT_FOUND_MESSAGE: Final = "reading plugin file: Plugin not found: {path}"
#: upstream's words for a plugin directory without ``__init__.py``
MISSING_INIT_MESSAGE: Final = (
    "reading plugin file: Multi-file plugin directory must contain __init__.py: {path}"
)


@dataclass(frozen=True, slots=True)
class PluginCode:
    """One version of a plugin's code, ready for `Loader.entry_point`.

    :param name: the plugin as the user referenced it.
    :param kind: ``"file"`` (one module, ``source`` set) or ``"directory"`` (a package).
    :param path: the file or package directory on disk; None for in-memory source.
    :param source: the single file's text; None for directories.
    :param version: a content token; equal tokens mean the loader may reuse what it built.
    """

    name: str
    kind: Literal["file", "directory"]
    path: Path | None
    source: str | None
    version: str

    @classmethod
    def from_source(cls, name: str, source: str, *, path: Path | None = None) -> PluginCode:
        """A single-file plugin whose version is the sha256 of ``source``."""
        version = hashlib.sha256(source.encode("utf-8", "surrogatepass")).hexdigest()
        return cls(name=name, kind="file", path=path, source=source, version=version)


class PluginSource(Protocol):
    """Anything that yields a plugin's current code (local file, fetched ``gh:`` file, test)."""

    def load(self) -> PluginCode:
        """The current code; called before every run, so it must be cheap when nothing changed."""
        ...


def _escapes_lexically(name: str) -> bool:
    """``..``, a root or a drive in any spelling (Windows forms are refused on every OS)."""
    for pure in (PurePath(name), PureWindowsPath(name)):
        if pure.anchor or pure.is_absolute() or ".." in pure.parts:
            return True
    return False


def relative_plugin_name(plugin_dir: Path, name: str) -> str | None:
    """``name`` as a path relative to ``plugin_dir``.

    A relative name is returned unchanged (checked later, as every relative name is). An
    absolute POSIX path becomes the part after the plugin directory — given as configured or in
    its canonical form, or found by resolving the path's parent directory (symlinks) — and is
    None when it points outside. The result can still escape (``/p/../x`` gives ``../x``,
    a symlink can lead out): callers check it like any relative name.
    """
    path = PurePosixPath(name)
    if not path.is_absolute():
        return name
    root = plugin_dir.resolve()
    for base in (plugin_dir.absolute(), root):
        if path.is_relative_to(base.as_posix()):
            return path.relative_to(base.as_posix()).as_posix()
    try:
        parent = Path(path.parent).resolve()
    except (OSError, RuntimeError):  # RuntimeError: a symlink loop
        return None
    if parent.is_relative_to(root):
        return (parent / path.name).relative_to(root).as_posix()
    return None


def resolve_plugin_path(plugin_dir: Path, name: str) -> Path:
    """``plugin_dir / name`` once it is known to stay inside ``plugin_dir`` (symlinks resolved).

    Returns the joined, non-canonical path, as upstream does; an absolute ``name`` into the
    plugin directory is joined as its relative form.

    :raises PluginLoadError: the name escapes the plugin directory, or the directory is unusable.
    """
    traversal = PATH_TRAVERSAL_MESSAGE.format(name=name)
    plugin_name = relative_plugin_name(plugin_dir, name.rstrip("/"))
    if plugin_name is None or _escapes_lexically(plugin_name):
        raise PluginLoadError(traversal)
    try:
        root = plugin_dir.resolve(strict=True)
    except (OSError, RuntimeError) as exc:
        message = f"reading plugin file: plugin directory {plugin_dir} is not usable: {exc}"
        raise PluginLoadError(message) from exc
    target = plugin_dir / plugin_name
    try:
        canonical = target.resolve()
    except (OSError, RuntimeError) as exc:  # RuntimeError: a symlink loop
        raise PluginLoadError(f"reading plugin file: {exc}") from exc
    if not canonical.is_relative_to(root):
        raise PluginLoadError(traversal)
    return target


def directory_version(path: Path) -> str:
    """A token over (relative path, mtime_ns, size) of each ``.py`` file but ``__pycache__``."""
    entries: list[str] = []
    for root, dirs, files in os.walk(path):
        dirs[:] = [d for d in dirs if d != "__pycache__"]
        for file in files:
            if not file.endswith(".py"):
                continue
            full = os.path.join(root, file)
            try:
                st = os.stat(full)
            except FileNotFoundError:  # removed while we walked
                continue
            entries.append(f"{os.path.relpath(full, path)}\0{st.st_mtime_ns}\0{st.st_size}")
    entries.sort()
    return hashlib.sha256("\n".join(entries).encode("utf-8", "surrogateescape")).hexdigest()[:32]


@final
class LocalPluginSource:
    """A plugin in the plugin directory, by its plugin-dir-relative name (thread-safe)."""

    __slots__ = ("_last", "_lock", "_stamp", "name", "plugin_dir")

    def __init__(self, plugin_dir: Path, name: str) -> None:
        self.plugin_dir = plugin_dir
        self.name = name
        self._lock = threading.Lock()
        self._last: PluginCode | None = None
        self._stamp: tuple[int, int, int] | None = None

    def __repr__(self) -> str:
        return f"LocalPluginSource({str(self.plugin_dir)!r}, {self.name!r})"

    def load(self) -> PluginCode:
        """Resolve the name and return its code, re-reading a file only when its stat changed.

        :raises PluginLoadError: traversal, a missing plugin, a directory without
            ``__init__.py``, or an unreadable file (the last two only before a first success).
        """
        with self._lock:
            last = self._last
            if last is not None and last.kind == "file" and last.path is not None:
                # the hot path, before every run: one stat; any change (edit, replace, a symlink
                # swapped in: new inode) takes the full path with its traversal checks again
                try:
                    st = os.stat(last.path)
                except OSError:
                    pass
                else:
                    if (st.st_mtime_ns, st.st_size, st.st_ino) == self._stamp:
                        return last
            target = resolve_plugin_path(self.plugin_dir, self.name)
            try:
                code = self._read(target)
            except PluginLoadError as exc:
                if self._last is None:
                    raise
                # upstream is silent when the file is gone and logs other read failures
                gone = isinstance(exc.__cause__, FileNotFoundError)
                level = logging.DEBUG if gone else logging.WARNING
                _LOGGER.log(level, "error reading plugin file %s, kept last code: %s", target, exc)
                return self._last
            self._last = code
            return code

    def _read(self, target: Path) -> PluginCode:
        try:
            st = target.stat()
        except FileNotFoundError as exc:
            raise PluginLoadError(PLUGIN_NOT_FOUND_MESSAGE.format(path=target)) from exc
        except OSError as exc:
            raise PluginLoadError(f"reading plugin file: {exc}") from exc
        if stat.S_ISDIR(st.st_mode):
            return self._read_directory(target)
        stamp = (st.st_mtime_ns, st.st_size, st.st_ino)
        last = self._last
        if (
            last is not None
            and last.kind == "file"
            and last.path == target
            and stamp == self._stamp
        ):
            return last
        try:
            source = target.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise PluginLoadError(f"reading plugin file: {exc}") from exc
        self._stamp = stamp
        return PluginCode.from_source(self.name, source, path=target)

    def _read_directory(self, target: Path) -> PluginCode:
        if not (target / "__init__.py").is_file():
            raise PluginLoadError(MISSING_INIT_MESSAGE.format(path=target))
        code = PluginCode(self.name, "directory", target, None, directory_version(target))
        last = self._last
        return last if last is not None and last == code else code
