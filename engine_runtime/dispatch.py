"""Per-trigger execution: a bounded queue and the threads that drain it.

A synchronous trigger runs one event at a time on its own thread; an asynchronous one runs
each event on the engine's shared `WorkerPool`, so runs overlap. Request triggers run there too,
never on the HTTP server's threads: a caller waits for the reply at most the execution timeout,
so a plugin stuck in a C call cannot hold a server thread. The queue is bounded (upstream: 60):
a writer that outpaces a slow trigger waits (back-pressure) — except a plugin writing from the
trigger's own thread, which must never wait on itself, whose event is dropped and logged instead.

The plugins themselves run in plugin host processes; a thread here waits for its run there,
which ends at the latest a grace after the run's timeout (the host is replaced then). Every
thread is a daemon thread all the same.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, Final, final

__all__ = ["Event", "TriggerWorker", "WorkerPool"]

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
        pool: WorkerPool,
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

    def on_own_thread(self) -> bool:
        return threading.current_thread() in self._threads

    # -- events -------------------------------------------------------------------------------

    def submit(self, event: Event, *, wait: float | None = None) -> bool:
        """Queue ``event``; False when it was dropped (stopping, or no room from its own thread,
        or none within ``wait`` seconds; default: 30)."""
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
                self._queue.put(event, timeout=_PUT_TIMEOUT if wait is None else wait)
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
        if self._stopping or (event.reply is not None and event.reply.done()):
            return  # stopping, or a request whose caller stopped waiting
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
        while True:
            item = self._queue.get()
            if item is _STOP:
                break
            self._guarded(item)
        self._threads.remove(me)

    def _drain(self) -> None:
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return
            if isinstance(item, Event) and item.reply is not None and not item.reply.done():
                item.reply.set_exception(RuntimeError(f"trigger {self.name} was stopped"))


@final
class WorkerPool:
    """At most ``max_workers`` daemon threads running submitted calls in order of submission.

    Not a ``ThreadPoolExecutor``: its threads are joined when the interpreter exits; these are
    daemon threads, and `shutdown` waits for running calls only up to a timeout.
    """

    __slots__ = ("_idle", "_lock", "_max", "_name", "_queue", "_shut", "_threads")

    def __init__(self, max_workers: int, *, name: str = "trigger-async") -> None:
        self._max = max_workers
        self._name = name
        self._lock = threading.Lock()
        self._idle = threading.Semaphore(0)
        self._queue: queue.SimpleQueue[Callable[[], None] | None] = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []
        self._shut = False

    def submit(self, func: Callable[..., None], *args: Any) -> None:
        """Run ``func(*args)`` on a pool thread; it must not raise (it is not reported)."""
        with self._lock:
            if self._shut:
                message = f"the {self._name} pool is shut down"
                raise RuntimeError(message)
            self._queue.put(lambda: func(*args))
            if not self._idle.acquire(blocking=False) and len(self._threads) < self._max:
                self._spawn()

    def shutdown(self, *, timeout: float = 10.0) -> None:
        """Drop what is queued, let running calls finish for up to ``timeout`` seconds in all,
        then return; threads still running are left behind (daemon threads do not hold the exit).
        """
        with self._lock:
            self._shut = True
            threads = list(self._threads)
            while not self._queue.empty():
                self._queue.get_nowait()
            for _ in threads:
                self._queue.put(None)
        deadline = time.monotonic() + timeout
        for thread in threads:
            thread.join(timeout=max(0.0, deadline - time.monotonic()))

    def _spawn(self) -> None:
        thread = threading.Thread(
            target=self._loop, name=f"{self._name}-{len(self._threads)}", daemon=True
        )
        self._threads.append(thread)
        thread.start()

    def _loop(self) -> None:
        me = threading.current_thread()
        while True:
            item = self._queue.get()
            if item is None:
                break
            item()
            self._idle.release()
        with self._lock:
            self._threads.remove(me)
