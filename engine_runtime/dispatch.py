"""Per-trigger execution: a bounded queue and the threads that drain it.

A synchronous trigger runs one event at a time on its own thread; an asynchronous one runs
each event on the engine's shared pool, so runs overlap. The queue is bounded (upstream: 60):
a writer that outpaces a slow trigger waits (back-pressure) — except a plugin writing from the
trigger's own thread, which must never wait on itself, whose event is dropped and logged instead.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Executor, Future
from dataclasses import dataclass, field
from typing import Any, Final, final

__all__ = ["Event", "TriggerWorker"]

_LOGGER = logging.getLogger(__name__)
_STOP: Final = object()
_PUT_TIMEOUT: Final = 30.0  # seconds a writer waits for queue space before the event is dropped


@dataclass(slots=True)
class Event:
    """One thing for a trigger to do: its entry point's positional arguments after the API.

    ``reply`` (request triggers) receives the plugin's result or exception.
    ``scheduled`` marks schedule ticks, which are coalesced: one waiting tick is enough.
    """

    positional: tuple[Any, ...]
    reply: Future[Any] | None = None
    scheduled: bool = False
    attempt: int = field(default=0)
    timeout: float | None = None  # seconds this run may take, if shorter than the trigger's


@final
class TriggerWorker:
    """Drains one trigger's queue with ``run(event)``; ``run`` never raises."""

    __slots__ = (
        "_lock",
        "_pending_tick",
        "_pool",
        "_queue",
        "_run",
        "_stopping",
        "_threads",
        "name",
        "run_async",
    )

    def __init__(
        self,
        name: str,
        run: Callable[[Event], None],
        *,
        run_async: bool,
        pool: Executor,
        queue_size: int = 60,
    ) -> None:
        self.name = name
        self.run_async = run_async
        self._run = run
        self._pool = pool
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=queue_size)
        self._lock = threading.Lock()
        self._pending_tick = False
        self._stopping = False
        self._threads: list[threading.Thread] = []

    # -- lifecycle ----------------------------------------------------------------------------

    def start(self) -> None:
        if not self.run_async:
            self._spawn()

    def stop(self, *, wait: bool = True) -> None:
        """Finish the current run, drop what is queued, and end the thread."""
        with self._lock:
            self._stopping = True
        self._drain()
        if self.run_async:
            return
        try:
            self._queue.put_nowait(_STOP)
        except queue.Full:
            self._drain()
            self._queue.put_nowait(_STOP)
        if wait:
            for thread in list(self._threads):
                if thread is not threading.current_thread():
                    thread.join(timeout=10)

    def replace_thread(self, ident: int) -> bool:
        """Give up on thread ``ident``, stuck in a plugin (it cannot be killed): a fresh thread
        serves the queue; the stuck one exits when (if) its call ever returns.

        :returns: whether ``ident`` was one of this worker's threads.
        """
        if self.run_async or self._stopping:
            return False
        stuck = [t for t in self._threads if t.ident == ident]
        for thread in stuck:
            self._threads.remove(thread)
        if stuck:
            self._spawn()
        return bool(stuck)

    def on_own_thread(self) -> bool:
        return threading.current_thread() in self._threads

    # -- events -------------------------------------------------------------------------------

    def submit(self, event: Event) -> bool:
        """Queue ``event``; False when it was dropped (stopping, or no room from its own thread)."""
        if self._stopping:
            return False
        if event.scheduled:
            with self._lock:
                if self._pending_tick:
                    return False  # one tick is already waiting: no catch-up burst
                self._pending_tick = True
        if self.run_async:
            self._pool.submit(self._guarded, event)
            return True
        try:
            if self.on_own_thread():
                self._queue.put_nowait(event)
            else:
                self._queue.put(event, timeout=_PUT_TIMEOUT)
        except queue.Full:
            self._clear_tick(event)
            return False
        return True

    def _clear_tick(self, event: Event) -> None:
        if event.scheduled:
            with self._lock:
                self._pending_tick = False

    def _guarded(self, event: Event) -> None:
        self._clear_tick(event)
        if self._stopping:
            return
        try:
            self._run(event)
        except BaseException:  # a bug in the engine, not the plugin: keep the trigger serving
            _LOGGER.exception("trigger %s: unexpected error while running an event", self.name)
            if event.reply is not None and not event.reply.done():
                event.reply.set_exception(RuntimeError(f"trigger {self.name} failed"))

    def _spawn(self) -> None:
        thread = threading.Thread(target=self._loop, name=f"trigger-{self.name}", daemon=True)
        self._threads.append(thread)
        thread.start()

    def _loop(self) -> None:
        me = threading.current_thread()
        while me in self._threads:
            item = self._queue.get()
            if item is _STOP:
                break
            if me not in self._threads:  # replaced while blocked: hand the event on
                self._queue.put(item)
                break
            self._guarded(item)
        if me in self._threads:
            self._threads.remove(me)

    def _drain(self) -> None:
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return
            if isinstance(item, Event) and item.reply is not None and not item.reply.done():
                item.reply.set_exception(RuntimeError(f"trigger {self.name} was stopped"))
