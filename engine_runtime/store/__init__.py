"""Storage for the runtime: the `Store` seam and its in-memory DataFusion implementation."""

from __future__ import annotations

from engine_runtime.store._convert import batches_to_rows
from engine_runtime.store.base import (
    MAX_DATABASE_NAME_LENGTH,
    Store,
    WriteResult,
    validate_database_name,
)
from engine_runtime.store.durable import (
    DurabilityError,
    DurableStore,
    StoreCorruptionError,
    StoreOpenError,
)
from engine_runtime.store.memory import MemoryStore

__all__ = [
    "MAX_DATABASE_NAME_LENGTH",
    "DurabilityError",
    "DurableStore",
    "MemoryStore",
    "Store",
    "StoreCorruptionError",
    "StoreOpenError",
    "WriteResult",
    "batches_to_rows",
    "validate_database_name",
]
