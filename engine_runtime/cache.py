"""The plugin cache (``influxdb3_local.cache``): defined in the guest package, which the plugin
host runs; the server's dry runs use it from here. `check_cache_files` checks the saved files
at start, before any host may unpickle one."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Final

from ._atomic import write_atomic
from .errors import DamagedFileError
from .host.guest.pluginmgr_guest.cache import (
    DEFAULT_SWEEP_INTERVAL,
    DEFAULT_TEST_CACHE_NAME,
    SAVE_FORMAT_VERSION,
    TEST_DEFAULT_TTL,
    TTL_NEGATIVE_MESSAGE,
    TTL_TOO_BIG_OR_NAN_MESSAGE,
    CacheEntry,
    CacheStore,
    GlobalNamespace,
    GlobalTest,
    LoadReport,
    Namespace,
    PluginCache,
    SaveReport,
    TriggerNamespace,
    TriggerTest,
    ttl_to_seconds,
)
from .host.guest.pluginmgr_guest.cache_file import CacheFileError, open_cache, seal_cache

__all__ = [
    "DEFAULT_SWEEP_INTERVAL",
    "DEFAULT_TEST_CACHE_NAME",
    "SAVE_FORMAT_VERSION",
    "TEST_DEFAULT_TTL",
    "TTL_NEGATIVE_MESSAGE",
    "TTL_TOO_BIG_OR_NAN_MESSAGE",
    "CacheEntry",
    "CacheFileError",
    "CacheStore",
    "GlobalNamespace",
    "GlobalTest",
    "LoadReport",
    "Namespace",
    "PluginCache",
    "SaveReport",
    "TriggerNamespace",
    "TriggerTest",
    "check_cache_files",
    "ttl_to_seconds",
]

_LOGGER = logging.getLogger(__name__)
#: the shared host's file and each isolated trigger's (`engine_runtime.host.pool`)
_PATTERNS: Final = ("cache.pickle", "cache-*.pickle")
_RESTORE_HINT: Final = (
    "restore it from a backup of the data dir, or move it aside to start with an empty plugin cache"
)


def check_cache_files(directory: Path) -> None:
    """Check every saved plugin cache file in ``directory`` against its checksum (nothing is
    unpickled here); rewrite one written before checksums with one (it is accepted once).

    :raises DamagedFileError: a file does not match its checksum: the start is refused.
    """
    for pattern in _PATTERNS:
        for path in sorted(directory.glob(pattern)):
            raw = path.read_bytes()
            _payload, checked = open_cache(raw)
            if checked is False:
                msg = (
                    f"the plugin cache file {path} does not match its checksum: it was "
                    "changed or damaged"
                )
                raise DamagedFileError(msg, hint=_RESTORE_HINT)
            if checked is None:
                _LOGGER.warning(
                    "%s has no checksum (written by an older version): accepted once and "
                    "rewritten with one",
                    path,
                )
                write_atomic(path, seal_cache(raw))
