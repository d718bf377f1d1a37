"""pluginmgr: resolve, fetch, pin and verify InfluxDB 3 Processing Engine plugins.

The front door: other packages and the CLI import only the names listed here.
"""

from __future__ import annotations

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
from .lockfile import LockEntry, read_lock
from .manager import FetchedPlugin, FetchReport, PluginManager, VerifyReport
from .refs import GhRef, GitRef, LocalRef, PluginRef, RegistryRef, gh_url, parse_ref
from .settings import DEFAULT_PLUGIN_REPO, Settings
from .store import Store, Version

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
