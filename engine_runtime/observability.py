"""What the engine remembers of its triggers' logs: the log ring (`engine_runtime.stats` counts
their runs).

`LogRing` is upstream's ``SysEventStore`` for plugin log lines (engine-behavior.md §4.7, §7.1):
bounded, thread-safe rings of `LogRecord`, one per trigger (10 000 each by default, oldest
dropped first, so one chatty plugin cannot push out the others' lines; upstream shares one),
each record also mirrored to the ``engine_runtime.plugins`` logger as ``{db}/{trigger}: {text}``
next to the system-table row (upstream's tracing line, ``processing engine: {text}``, does not
say whose).

`log_rows` shapes the records for the system table ``system.processing_engine_logs``;
`LOGS_SCHEMA` is its Arrow schema, so the store can publish an empty table with the right
columns and types.

**Scope of the logs table.** Upstream's ring is global: every database's
``system.processing_engine_logs`` shows every trigger's rows. Ours shows only the rows of the
database's own triggers (`log_rows` filters on the database), so a plugin cannot read another
database's log lines; a trigger name is unique only within its database anyway.
"""

from __future__ import annotations

import heapq
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final, final

import pyarrow as pa  # type: ignore[import-untyped]  # pyarrow ships no stubs

__all__ = [
    "DEFAULT_LOG_CAPACITY",
    "LOGS_SCHEMA",
    "LOG_LEVELS",
    "LogRecord",
    "LogRing",
    "log_rows",
]

#: upstream's ``SysEventStore`` capacity per event type
DEFAULT_LOG_CAPACITY: Final = 10_000
#: the ``log_level`` values of ``system.processing_engine_logs``
LOG_LEVELS: Final = ("INFO", "WARN", "ERROR")

_LOGGER: Final = logging.getLogger("engine_runtime.plugins")
_PY_LEVELS: Final = {"INFO": logging.INFO, "WARN": logging.WARNING, "ERROR": logging.ERROR}

#: ``system.processing_engine_logs`` (engine-behavior.md §4.7)
LOGS_SCHEMA: Final = pa.schema(
    [
        pa.field("event_time", pa.timestamp("ns"), nullable=False),
        pa.field("trigger_name", pa.utf8(), nullable=False),
        pa.field("log_level", pa.utf8(), nullable=False),
        pa.field("log_text", pa.utf8(), nullable=False),
    ]
)


@dataclass(frozen=True, slots=True)
class LogRecord:
    """One plugin log line: a row of ``system.processing_engine_logs``."""

    #: wall-clock time of the event, ns since the epoch
    time_ns: int
    database: str
    trigger_name: str
    #: ``INFO``, ``WARN`` or ``ERROR``
    level: str
    text: str


@final
class LogRing:
    """Thread-safe bounded rings of `LogRecord`, one per trigger, read oldest first.

    Each (database, trigger) keeps its own ring of ``maxlen`` records (engine lines, whose
    trigger is ``""``, one of their own), so a chatty plugin drops only its own oldest lines,
    never another trigger's. `records` merges the rings back into the order they were added.

    :param maxlen: how many records each trigger's ring keeps (upstream keeps 10 000 in all).
    :param clock: the time source for `LogRecord.time_ns` (tests inject a fake one).
    """

    __slots__ = ("_clock", "_lock", "_maxlen", "_rings", "_seq")

    def __init__(
        self, maxlen: int = DEFAULT_LOG_CAPACITY, *, clock: Callable[[], int] = time.time_ns
    ) -> None:
        if maxlen < 1:
            msg = f"LogRing maxlen must be at least 1, got {maxlen}"
            raise ValueError(msg)
        self._clock = clock
        self._maxlen = maxlen
        self._lock = threading.Lock()
        # (database, trigger) -> (sequence number, record): the number orders the merge
        self._rings: dict[tuple[str, str], deque[tuple[int, LogRecord]]] = {}
        self._seq = 0

    @property
    def maxlen(self) -> int:
        """How many records each trigger's ring keeps."""
        return self._maxlen

    def __len__(self) -> int:
        with self._lock:
            return sum(len(ring) for ring in self._rings.values())

    def add(self, database: str, trigger_name: str, level: str, text: str) -> LogRecord:
        """Append a record stamped with the clock, mirror it to logging, and return it.

        Raises ValueError when ``level`` is not one of `LOG_LEVELS`.
        """
        py_level = _PY_LEVELS.get(level)
        if py_level is None:
            msg = f"unknown log level {level!r}; use one of {', '.join(LOG_LEVELS)}"
            raise ValueError(msg)
        key = (database, trigger_name)
        with self._lock:
            # Stamped under the lock so the records stay ordered by time.
            record = LogRecord(self._clock(), database, trigger_name, level, text)
            ring = self._rings.get(key)
            if ring is None:
                ring = self._rings[key] = deque(maxlen=self._maxlen)
            self._seq += 1
            ring.append((self._seq, record))
        if _LOGGER.isEnabledFor(py_level):
            extra = {"database": database, "trigger_name": trigger_name}
            owner = "/".join(part for part in (database, trigger_name) if part) or "engine"
            _LOGGER.log(py_level, "%s: %s", owner, text, extra=extra)
        return record

    def records(self, database: str | None = None, trigger: str | None = None) -> list[LogRecord]:
        """The kept records, oldest first, optionally only one database's and/or trigger's."""
        with self._lock:
            rings = [
                list(ring)
                for (db, name), ring in self._rings.items()
                if database in (None, db) and trigger in (None, name)
            ]
        if len(rings) == 1:
            return [record for _, record in rings[0]]
        return [record for _, record in heapq.merge(*rings, key=_sequence)]

    def drop(self, database: str, trigger_name: str) -> None:
        """Forget a trigger's records (it was deleted); a no-op when it has none."""
        with self._lock:
            self._rings.pop((database, trigger_name), None)


def _sequence(item: tuple[int, LogRecord]) -> int:
    return item[0]


def log_rows(ring: LogRing, database: str) -> list[dict[str, Any]]:
    """Rows of ``system.processing_engine_logs`` for ``database`` (see `LOGS_SCHEMA`).

    Only the database's own triggers' records; upstream shows every database's (module doc).
    """
    return [
        {
            "event_time": record.time_ns,
            "trigger_name": record.trigger_name,
            "log_level": record.level,
            "log_text": record.text,
        }
        for record in ring.records(database)
    ]
