"""When schedule triggers fire: ``every:`` on multiples of the period since the epoch, ``cron:`` in
UTC, and never a burst of catch-up runs after a stall.

`Schedule` is the pure part: `due(now)` returns what fires at ``now`` and moves each trigger to
its next fire time *after* ``now`` (upstream instead runs every missed tick back to back).
`SchedulerThread` drives it with a real clock; tests drive `due` with an injected one.
"""

from __future__ import annotations

import heapq
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Final, final

from .triggers import TriggerSpec, next_fire_time

__all__ = ["Fire", "Schedule", "SchedulerThread"]

_IDLE_WAIT: Final = 3600.0  # seconds to sleep with nothing scheduled (woken by `add`)


@dataclass(frozen=True, slots=True)
class Fire:
    """One scheduled run: which trigger, and the scheduled (not actual) time, aware UTC."""

    key: tuple[str, str]
    at: datetime


@dataclass(order=True, slots=True)
class _Entry:
    at: datetime
    seq: int
    key: tuple[str, str] = field(compare=False)
    spec: TriggerSpec = field(compare=False)
    live: bool = field(default=True, compare=False)


def _aware(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, tz=UTC)


@final
class Schedule:
    """The next fire time of every schedule trigger, keyed by ``(database, trigger)``.

    Not thread-safe by itself; `SchedulerThread` holds the lock.
    """

    __slots__ = ("_entries", "_heap", "_seq")

    def __init__(self) -> None:
        self._heap: list[_Entry] = []
        self._entries: dict[tuple[str, str], _Entry] = {}
        self._seq = 0

    def add(self, key: tuple[str, str], spec: TriggerSpec, now: float) -> datetime | None:
        """Schedule ``key`` from ``now`` (seconds since the epoch); its first fire time, if any."""
        self.remove(key)
        at = next_fire_time(spec, _aware(now))
        if at is None:
            return None
        self._seq += 1
        entry = _Entry(at, self._seq, key, spec)
        self._entries[key] = entry
        heapq.heappush(self._heap, entry)
        return at

    def remove(self, key: tuple[str, str]) -> None:
        entry = self._entries.pop(key, None)
        if entry is not None:
            entry.live = False  # dropped lazily from the heap

    def next_time(self) -> datetime | None:
        while self._heap and not self._heap[0].live:
            heapq.heappop(self._heap)
        return self._heap[0].at if self._heap else None

    def due(self, now: float) -> list[Fire]:
        """Everything due at ``now``: one fire per trigger however long the stall was."""
        current = _aware(now)
        fires: list[Fire] = []
        while (head := self.next_time()) is not None and head <= current:
            entry = heapq.heappop(self._heap)
            fires.append(Fire(entry.key, entry.at))
            following = next_fire_time(entry.spec, max(entry.at, current))
            if following is None:  # a cron expression that never fires again
                del self._entries[entry.key]
                continue
            self._seq += 1
            nxt = _Entry(following, self._seq, entry.key, entry.spec)
            self._entries[entry.key] = nxt
            heapq.heappush(self._heap, nxt)
        return fires


@final
class SchedulerThread:
    """Sleeps until the next fire time and hands each `Fire` to ``on_fire``.

    :param on_fire: called on this thread; must not block (it enqueues).
    :param clock: wall clock in seconds.
    :param on_idle: called at most every ``idle_interval`` seconds (periodic cache saves).
    """

    __slots__ = (
        "_clock",
        "_idle_interval",
        "_last_idle",
        "_lock",
        "_on_fire",
        "_on_idle",
        "_schedule",
        "_stopped",
        "_thread",
        "_wake",
    )

    def __init__(
        self,
        on_fire: Callable[[Fire], None],
        *,
        clock: Callable[[], float],
        on_idle: Callable[[], None] | None = None,
        idle_interval: float = 60.0,
    ) -> None:
        self._on_fire = on_fire
        self._clock = clock
        self._on_idle = on_idle
        self._idle_interval = idle_interval
        self._schedule = Schedule()
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._stopped = False
        self._last_idle = clock()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="pluginmgr-scheduler", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        with self._wake:
            self._stopped = True
            self._wake.notify()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def add(self, key: tuple[str, str], spec: TriggerSpec) -> datetime | None:
        with self._wake:
            at = self._schedule.add(key, spec, self._clock())
            self._wake.notify()
        return at

    def remove(self, key: tuple[str, str]) -> None:
        with self._wake:
            self._schedule.remove(key)

    def _run(self) -> None:
        while True:
            with self._wake:
                if self._stopped:
                    return
                now = self._clock()
                fires = self._schedule.due(now)
                if not fires:
                    head = self._schedule.next_time()
                    wait = _IDLE_WAIT if head is None else head.timestamp() - now
                    wait = min(wait, max(0.0, self._last_idle + self._idle_interval - now))
                    self._wake.wait(timeout=max(wait, 0.0))
            for fire in fires:
                self._on_fire(fire)
            self._maybe_idle()

    def _maybe_idle(self) -> None:
        now = self._clock()
        if self._on_idle is not None and now - self._last_idle >= self._idle_interval:
            self._last_idle = now
            self._on_idle()
