"""The plugin cache's namespaces (a trigger's, the global one, and the test runs' two) and the
version of the file the cache is saved to: what both `cache` and `cache_file` need."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

__all__ = [
    "SAVE_FORMAT_VERSION",
    "GlobalNamespace",
    "GlobalTest",
    "Namespace",
    "TriggerNamespace",
    "TriggerTest",
]

#: the ``format_version`` `CacheStore.save` writes; `CacheStore.load` refuses newer ones
SAVE_FORMAT_VERSION: Final = 1


@dataclass(frozen=True, slots=True)
class TriggerNamespace:
    """A trigger's local cache, keyed by database and trigger name."""

    database: str
    trigger: str


@dataclass(frozen=True, slots=True)
class GlobalNamespace:
    """The single process-wide global cache."""


@dataclass(frozen=True, slots=True)
class TriggerTest:
    """The local cache of test runs with this ``--cache-name``."""

    cache_name: str


@dataclass(frozen=True, slots=True)
class GlobalTest:
    """The global cache of test runs with this ``--cache-name``."""

    cache_name: str


Namespace = TriggerNamespace | GlobalNamespace | TriggerTest | GlobalTest
