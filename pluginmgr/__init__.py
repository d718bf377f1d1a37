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
    from .fetched import FetchedPlugin, FetchReport, VerifyReport
    from .lockfile import LockEntry, read_lock
    from .manager import PluginManager
    from .refs import GhRef, GitRef, LocalRef, PluginRef, RegistryRef, gh_url, parse_ref
    from .settings import DEFAULT_PLUGIN_REPO, Settings
    from .store import Store, Version

_LAZY: Final = {
    "DEFAULT_PLUGIN_REPO": ".settings",
    "FetchError": ".errors",
    "FetchReport": ".fetched",
    "FetchedPlugin": ".fetched",
    "GhRef": ".refs",
    "GitError": ".errors",
    "GitRef": ".refs",
    "HTTPStatusError": ".errors",
    "IntegrityError": ".errors",
    "InvalidReferenceError": ".errors",
    "LocalRef": ".refs",
    "LockEntry": ".lockfile",
    "LockfileError": ".errors",
    "NetworkError": ".errors",
    "OfflineError": ".errors",
    "PathTraversalError": ".errors",
    "PluginManager": ".manager",
    "PluginManagerError": ".errors",
    "PluginNotFoundError": ".errors",
    "PluginRef": ".refs",
    "RegistryRef": ".refs",
    "ResolveError": ".errors",
    "Settings": ".settings",
    "Store": ".store",
    "StoreError": ".errors",
    "TooLargeError": ".errors",
    "VerifyReport": ".fetched",
    "Version": ".store",
    "gh_url": ".refs",
    "parse_ref": ".refs",
    "read_lock": ".lockfile",
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
