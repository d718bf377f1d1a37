"""`TakeTurns`: the host's threads, one at a time reading the channel.

The thread that reads a run hands the reading on, to a thread waiting for its turn or to a new
one when none waits, then runs the job itself. So a run starts on the thread that woke for its
frame, and no second thread has to be woken and scheduled before the plugin's first line. A
thread per run, or a hand-off to a pooled thread, cost that on every run, and milliseconds on a
busy machine. While runs come one at a time, two threads take turns.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from functools import partial
from typing import Generic, TypeVar

__all__ = ["IDLE_THREAD_SECONDS", "TakeTurns"]

#: seconds a thread waits for its turn to read before it ends (if another one waits)
IDLE_THREAD_SECONDS = 60.0

Job = TypeVar("Job")


class TakeTurns(Generic[Job]):
    """Threads that take turns at ``read`` and run what it returns with ``run``.

    :param read: reads up to the next job; None at the end (the channel closed, or stop).
    :param run: runs a job, calling its second argument just before it reports the job's end
        (the other side may send the next job as soon as it has that report).
    """

    def __init__(
        self,
        read: Callable[[], Job | None],
        run: Callable[[Job, Callable[[], None]], None],
    ) -> None:
        self.read, self.run = read, run
        self.reading = threading.Lock()  # held by the thread that reads
        self.lock = threading.Lock()  # `waiting`
        self.waiting = 0  # threads started or back from a job, not reading yet
        self.done = threading.Event()
        self.error: BaseException | None = None

    def serve(self) -> None:
        """Read and run until ``read`` returns None; re-raises what ``read`` raised."""
        self._spawn()
        self.done.wait()
        if self.error is not None:
            raise self.error

    def _spawn(self) -> None:
        with self.lock:
            self.waiting += 1
        threading.Thread(target=self._work, name="host-reader", daemon=True).start()

    def _work(self) -> None:
        while True:
            if not self.reading.acquire(timeout=IDLE_THREAD_SECONDS):
                with self.lock:
                    if self.waiting > 1:  # another thread waits for its turn: this one ends
                        self.waiting -= 1
                        return
                continue
            with self.lock:
                self.waiting -= 1
            try:
                job = self.read()
            except BaseException as exc:  # re-raised by `serve`
                self.error = exc
                job = None
            if job is None:  # the end: the reading lock stays taken, nobody reads again
                self.done.set()
                return
            with self.lock:
                nobody = self.waiting == 0
            if nobody:
                self._spawn()  # someone must read the replies this job may wait for
            self.reading.release()
            back: list[bool] = []
            try:
                self.run(job, partial(self._back, back))
            except BaseException:  # noqa: S110 - counted as waiting, it must come back to read
                pass
            self._back(back)

    def _back(self, back: list[bool]) -> None:
        """Count this thread as waiting for its turn to read again (once per job)."""
        if not back:
            back.append(True)
            with self.lock:
                self.waiting += 1
