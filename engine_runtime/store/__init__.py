"""Storage for the runtime: the `Store` seam, its in-memory DataFusion implementation, and the
durable one (a WAL, a write buffer and persisted Parquet files)."""

from __future__ import annotations

from engine_runtime.store._convert import batches_to_rows
from engine_runtime.store._limits import CatalogLimits
from engine_runtime.store._location import FileLocation, s3_location
from engine_runtime.store.base import (
    DB_NAME_MESSAGES,
    MAX_DATABASE_NAME_LENGTH,
    Store,
    WriteResult,
    check_database_name,
    validate_database_name,
)
from engine_runtime.store.durable import (
    BufferFullError,
    DurabilityError,
    DurableStore,
    StoreCorruptionError,
    StoreOpenError,
)
from engine_runtime.store.memory import MemoryStore

__all__ = [
    "DB_NAME_MESSAGES",
    "MAX_DATABASE_NAME_LENGTH",
    "BufferFullError",
    "CatalogLimits",
    "DurabilityError",
    "DurableStore",
    "FileLocation",
    "MemoryStore",
    "Store",
    "StoreCorruptionError",
    "StoreOpenError",
    "WriteResult",
    "batches_to_rows",
    "check_database_name",
    "s3_location",
    "validate_database_name",
]
