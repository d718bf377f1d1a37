"""The bridge from the resolver to the runtime: any reference becomes `engine_runtime` code.

`FetchedPluginSource` implements the runtime's ``PluginSource`` protocol over
`PluginManager.fetch`, so ``gh:``, ``git+`` and local references load the same way: fetched (or
answered from the lock and store), verified, then handed over as a ``PluginCode`` whose version
is the content hash. Loading again when nothing changed costs a lock-file read and no network.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, final

from engine_runtime import PluginCode

from ..fetch.plugin_layout import entry_file

if TYPE_CHECKING:
    from ..fetch.fetched import FetchedPlugin
    from ..fetch.manager import PluginManager

__all__ = ["FetchedPluginSource", "plugin_code"]


def plugin_code(plugin: FetchedPlugin) -> PluginCode:
    """The runtime's view of fetched content: a single file's text, or a package directory."""
    if plugin.kind == "directory":
        entry = entry_file(plugin.path)
        if entry.name == "__init__.py":
            return PluginCode(
                name=plugin.ref,
                kind="directory",
                path=plugin.path,
                source=None,
                version=plugin.sha256,
            )
        # a registry plugin whose code is one module: loaded as a file, its folder on sys.path
        text = entry.read_text(encoding="utf-8")
        return PluginCode(
            name=plugin.ref, kind="file", path=entry, source=text, version=plugin.sha256
        )
    text = plugin.path.read_text(encoding="utf-8")
    # a local file keeps its path (tracebacks name it); fetched ones are named by reference
    path = plugin.path if plugin.origin == "local" else None
    return PluginCode(name=plugin.ref, kind="file", path=path, source=text, version=plugin.sha256)


@final
class FetchedPluginSource:
    """Loads ``ref`` through ``manager``.

    :param recheck: go through the lock file on every `load` (a dry run: cheap, and a changed
        local file is seen); False: resolve once and serve from memory (a trigger running
        pinned ``gh:``/``git+`` content on every event).
    :param fetched: ``ref`` already fetched by the caller; the first `load` uses it.
    """

    __slots__ = ("_code", "_fetched", "manager", "recheck", "ref")

    def __init__(
        self,
        manager: PluginManager,
        ref: str,
        *,
        recheck: bool = True,
        fetched: FetchedPlugin | None = None,
    ) -> None:
        self.manager = manager
        self.ref = ref
        self.recheck = recheck
        self._code: PluginCode | None = None
        self._fetched = fetched

    def load(self) -> PluginCode:
        if self._code is not None and not self.recheck:
            return self._code
        plugin, self._fetched = self._fetched or self.manager.fetch(self.ref), None
        if self._code is None or self._code.version != plugin.sha256:
            self._code = plugin_code(plugin)
        return self._code
