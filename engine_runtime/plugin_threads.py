"""Which trigger started which thread: threads made by plugins, counted per trigger.

A plugin may start threads (``threading.Thread(...).start()``, an ``Executor``, a client library
with a background flusher); nothing stops them when the run ends, and a spinning one slows every
other plugin. `install` wraps ``threading.Thread.start`` once per process: while a run has
`attribute`d its thread to a trigger's `ThreadTally`, every thread started on it (and, through
the wrapped ``run``, every thread those start) is counted there. The cost outside a plugin run is
one thread-local read per started thread.
"""

from __future__ import annotations

import threading
import weakref
from typing import Final, final

__all__ = ["ThreadTally", "attribute", "install"]

_LOCAL: Final = threading.local()
_ORIGINAL_START: Final = threading.Thread.start


@final
class ThreadTally:
    """The threads one trigger's plugin started: how many ever, and which are still alive."""

    __slots__ = ("_lock", "_threads", "started")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        #: threads started, ever
        self.started = 0
        # weak: a finished thread's object is not kept for the count
        self._threads: weakref.WeakSet[threading.Thread] = weakref.WeakSet()

    def note(self, thread: threading.Thread) -> None:
        """Count ``thread``, which a run of this trigger is starting."""
        with self._lock:
            self.started += 1
            self._threads.add(thread)

    def live(self) -> int:
        """How many of the started threads are still running."""
        with self._lock:
            threads = list(self._threads)
        return sum(1 for thread in threads if thread.is_alive())


def attribute(tally: ThreadTally | None) -> ThreadTally | None:
    """Count threads started on this thread in ``tally`` (None: nowhere) from now on.

    :returns: the previous tally, to hand back to `attribute` when the run ends.
    """
    previous: ThreadTally | None = getattr(_LOCAL, "tally", None)
    _LOCAL.tally = tally
    return previous


def _counted_start(self: threading.Thread) -> None:
    tally: ThreadTally | None = getattr(_LOCAL, "tally", None)
    if tally is not None:
        tally.note(self)
        run = self.run

        def run_attributed() -> None:  # threads this one starts belong to the same trigger
            _LOCAL.tally = tally
            run()

        self.run = run_attributed  # type: ignore[method-assign]  # per instance, on purpose
    _ORIGINAL_START(self)


def install() -> None:
    """Wrap ``threading.Thread.start`` (once; later calls do nothing)."""
    if threading.Thread.start is not _counted_start:
        threading.Thread.start = _counted_start  # type: ignore[method-assign]  # process-wide hook
