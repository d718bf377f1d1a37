"""Internal: what of one table is on disk, or on its way there, beside its write buffer.

A `DurableStore` table is its buffer (`TableData`'s rows) plus `OnDisk`: the table's persisted
files, the rows a running persist is writing (``persisting``, still queried from memory), and
the time chunks where rows in memory may repeat a (series, time) of those. Only those chunks
are deduplicated, at query time and at the next persist; a chunk nobody wrote late to never is.

A write may repeat a row on disk only where one of its series' times is at or before the
latest time on disk in that chunk (`mark`). Agents write forward in time, so their writes
pass the first check (every time after everything on disk) without a loop over series.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa  # type: ignore[import-untyped]  # pyarrow ships no stubs

from engine_runtime.line_protocol.parse import SeriesKey
from engine_runtime.store._dataset import conform
from engine_runtime.store._files import PersistedFile, chunk_starts
from engine_runtime.store._location import FileLocation

if TYPE_CHECKING:
    from engine_runtime.store._table import TableData

__all__ = ["OnDisk"]


class OnDisk:
    """A table's files, the rows being persisted, and the chunks that need a dedup."""

    __slots__ = (
        "_chunk_max",
        "_rows_lock",
        "_top",
        "dirty",
        "files",
        "gen1_ns",
        "location",
        "persisting",
        "persisting_dirty",
    )

    def __init__(
        self, location: FileLocation, gen1_ns: int, files: tuple[PersistedFile, ...] = ()
    ) -> None:
        self.location = location
        self.gen1_ns = gen1_ns
        self.files: tuple[PersistedFile, ...] = ()
        #: rows a persist is writing now (or failed to write: the next one takes them along),
        #: as the buffers it took, converted to Arrow once, outside the store's locks
        self.persisting: list[TableData] = []
        self._rows_lock = threading.Lock()
        #: chunks where the buffer may repeat rows of the files or of ``persisting``
        self.dirty: set[int] = set()
        #: the chunks that were dirty when ``persisting`` was taken: its persist merges them
        self.persisting_dirty: set[int] = set()
        #: chunk start -> the latest time on disk (or being persisted) in it
        self._chunk_max: dict[int, int] = {}
        self._top = -(2**63)
        self.add_files(files)

    def add_files(self, files: tuple[PersistedFile, ...]) -> None:
        """Files a recovery found for the table."""
        self.files = (*self.files, *files)
        for persisted in files:
            self._note(persisted.chunk, persisted.max_time)

    def copy(self) -> OnDisk:
        """An independent clone sharing the immutable files and rows."""
        clone = OnDisk(self.location, self.gen1_ns)
        clone.files = self.files
        clone.persisting = list(self.persisting)
        clone._rows_lock = self._rows_lock  # the parts are shared: so is what guards them
        clone.dirty = set(self.dirty)
        clone.persisting_dirty = set(self.persisting_dirty)
        clone._chunk_max = dict(self._chunk_max)
        clone._top = self._top
        return clone

    @property
    def empty(self) -> bool:
        """Whether nothing of the table is on disk or being persisted."""
        return not self.files and not self.persisting

    def chunk_of(self, time_ns: int) -> int:
        return time_ns - time_ns % self.gen1_ns

    def _note(self, chunk: int, latest: int) -> None:
        if latest > self._chunk_max.get(chunk, -(2**63)):
            self._chunk_max[chunk] = latest
        self._top = max(self._top, latest)

    def mark(self, written: Mapping[SeriesKey, tuple[int, int]]) -> None:
        """Mark the chunks where series written at these (earliest, latest) times may repeat
        rows on disk."""
        if not self._chunk_max:
            return
        top = self._top
        if min(low for low, _ in written.values()) > top:
            return  # the usual case: everything written is later than anything on disk
        chunk_max = self._chunk_max
        for low, high in written.values():
            if low > top:
                continue
            first, last = self.chunk_of(low), self.chunk_of(high)
            if first == last:
                latest = chunk_max.get(first)
                if latest is not None and low <= latest:
                    self.dirty.add(first)
                continue
            for chunk, latest in chunk_max.items():
                if first <= chunk <= last and max(low, chunk) <= latest:
                    self.dirty.add(chunk)

    def freeze(self, part: TableData) -> None:
        """Take ``part`` (the buffer, detached) to be persisted, after any rows a failed
        persist left. Only its times are read now, for the chunks' latest times."""
        self.persisting.append(part)
        self.persisting_dirty |= self.dirty
        self.dirty = set()
        for times in part.times():
            if len(times):
                chunks = chunk_starts(times, self.gen1_ns)
                for chunk in np.unique(chunks):
                    self._note(int(chunk), int(times[chunks == chunk].max()))

    def persisting_rows(self, schema: pa.Schema) -> pa.Table | None:
        """The rows being persisted, with ``schema``'s columns; None when there are none.
        Converted to Arrow by whoever asks first (a query or the persist), once."""
        if not self.persisting:
            return None
        with self._rows_lock:
            parts = [conform(part.arrow(), schema) for part in self.persisting]
        return parts[0] if len(parts) == 1 else pa.concat_tables(parts).unify_dictionaries()

    def commit(self, files: tuple[PersistedFile, ...]) -> None:
        """The persist of ``persisting`` is durable: ``files`` are the table's files now."""
        self.files = files
        self.persisting = []
        self.persisting_dirty = set()

    def dirty_chunks(self) -> set[int]:
        """Every chunk a query must deduplicate now."""
        return self.dirty | self.persisting_dirty
