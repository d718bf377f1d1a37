"""pluginmgr: resolve, fetch, pin and verify InfluxDB 3 Processing Engine plugins.

The front door: other packages and the CLI import only the names listed here. They load on
first use (PEP 562), so `import pluginmgr.errors` does not pay for httpx and the store.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from .errors import (
        FetchError,
        GitError,
        HTTPStatusError,
        IntegrityError,
        InvalidReferenceError,
        LockfileError,
        NetworkError,
        OfflineError,
        PathTraversalError,
        PluginManagerError,
        PluginNotFoundError,
        ResolveError,
        StoreError,
        TooLargeError,
    )
    from .fetch.fetched import FetchedPlugin, FetchReport, VerifyReport
    from .fetch.lockfile import LockEntry, read_lock
    from .fetch.manager import PluginManager
    from .fetch.refs import GhRef, GitRef, LocalRef, PluginRef, RegistryRef, gh_url, parse_ref
    from .fetch.store import Store, Version
    from .settings import DEFAULT_PLUGIN_REPO, Settings

_LAZY: Final = {
    "DEFAULT_PLUGIN_REPO": ".settings",
    "FetchError": ".errors",
    "FetchReport": ".fetch.fetched",
    "FetchedPlugin": ".fetch.fetched",
    "GhRef": ".fetch.refs",
    "GitError": ".errors",
    "GitRef": ".fetch.refs",
    "HTTPStatusError": ".errors",
    "IntegrityError": ".errors",
    "InvalidReferenceError": ".errors",
    "LocalRef": ".fetch.refs",
    "LockEntry": ".fetch.lockfile",
    "LockfileError": ".errors",
    "NetworkError": ".errors",
    "OfflineError": ".errors",
    "PathTraversalError": ".errors",
    "PluginManager": ".fetch.manager",
    "PluginManagerError": ".errors",
    "PluginNotFoundError": ".errors",
    "PluginRef": ".fetch.refs",
    "RegistryRef": ".fetch.refs",
    "ResolveError": ".errors",
    "Settings": ".settings",
    "Store": ".fetch.store",
    "StoreError": ".errors",
    "TooLargeError": ".errors",
    "VerifyReport": ".fetch.fetched",
    "Version": ".fetch.store",
    "gh_url": ".fetch.refs",
    "parse_ref": ".fetch.refs",
    "read_lock": ".fetch.lockfile",
}

__all__ = [
    "DEFAULT_PLUGIN_REPO",
    "FetchError",
    "FetchReport",
    "FetchedPlugin",
    "GhRef",
    "GitError",
    "GitRef",
    "HTTPStatusError",
    "IntegrityError",
    "InvalidReferenceError",
    "LocalRef",
    "LockEntry",
    "LockfileError",
    "NetworkError",
    "OfflineError",
    "PathTraversalError",
    "PluginManager",
    "PluginManagerError",
    "PluginNotFoundError",
    "PluginRef",
    "RegistryRef",
    "ResolveError",
    "Settings",
    "Store",
    "StoreError",
    "TooLargeError",
    "VerifyReport",
    "Version",
    "gh_url",
    "parse_ref",
    "read_lock",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'pluginmgr' has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value
