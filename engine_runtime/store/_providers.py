"""Internal: the DataFusion table providers a `MemoryStore` registers for its tables.

Apart from `memory` because it is how rows are handed to DataFusion, not what the store
holds: rows in memory become a MemTable split into one partition per core; a table with
files on disk becomes a dataset of its files and its rows in memory (`_dataset`).
"""

from __future__ import annotations

import threading
from typing import Any, Final

import pyarrow as pa  # type: ignore[import-untyped]  # pyarrow ships no stubs
from datafusion import SessionContext
from datafusion.catalog import Table

from engine_runtime.store._dataset import table_dataset
from engine_runtime.store._execution import PARTITIONS
from engine_runtime.store._table import TableData

__all__ = ["TableProviders"]

_BATCH_ROWS: Final = 65_536
_STAGING: Final = "staging"


class TableProviders:
    """Makes providers; thread-safe (one staging context, used under a lock)."""

    def __init__(self) -> None:
        self._staging = SessionContext()
        self._staging_lock = threading.Lock()

    def of_table(self, data: TableData) -> Any:
        """A table's provider: its rows in memory, plus its files when it has some on disk."""
        dataset = _with_files(data)
        return self.of_arrow(data.arrow()) if dataset is None else Table(dataset)

    @staticmethod
    def rows(data: TableData) -> pa.Table:
        """All of a table's rows, files included, as one deduplicated Arrow table."""
        dataset = _with_files(data)
        return data.arrow() if dataset is None else dataset.to_table()

    def of_arrow(self, table: pa.Table) -> Any:
        """A DataFusion MemTable over ``table``, split into one partition per core."""
        batches = table.to_batches(max_chunksize=_BATCH_ROWS)
        partitions: list[list[pa.RecordBatch]] = [[] for _ in range(PARTITIONS)]
        for index, batch in enumerate(batches):
            partitions[index % PARTITIONS].append(batch)
        partitions = [part for part in partitions if part] or [[]]
        if not partitions[0]:
            partitions = [[pa.RecordBatch.from_pylist([], schema=table.schema)]]
        with self._staging_lock:  # one staging context for all databases
            self._staging.register_record_batches(_STAGING, partitions)
            provider = self._staging.table_provider(_STAGING)
            self._staging.deregister_table(_STAGING)
        return provider


def _with_files(data: TableData) -> Any:
    """The table's files and rows in memory as one dataset; None when it has no files."""
    if data.disk is None or data.disk.empty:
        return None
    return table_dataset(data.disk, data.arrow(), data.schema(), data.deduplicated)
