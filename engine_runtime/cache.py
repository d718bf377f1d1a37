"""The plugin cache (``influxdb3_local.cache``): defined in the guest package, which the plugin
host runs; the server's dry runs use it from here."""

from __future__ import annotations

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
from .host.guest.pluginmgr_guest.cache_file import CacheFileError

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
    "ttl_to_seconds",
]
