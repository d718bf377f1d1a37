"""Per-call execution timeouts for plugins running in worker threads.

Upstream InfluxDB 3 Core has no execution timeout (engine-behavior.md §7.3): a plugin stuck in a
loop holds its trigger forever. Here the caller wraps each call in `Watchdog.watch`::

    with watchdog.watch(2.5):
        entry(api, batches, args)

When the block is still running ``timeout`` seconds after it was entered, a monitor thread
raises `PluginTimeout` *in the watched thread*, with CPython's ``PyThreadState_SetAsyncExc``,
and raises it again every ``reraise_interval`` seconds while the thread is still inside the block
(a plugin that catches ``BaseException`` and keeps looping is stopped all the same).

Limits, all from how CPython delivers an asynchronous exception:

* it is raised only between bytecodes, so a thread blocked in a C call (``time.sleep(1000)``, a
  socket read without timeout, a long regex or C-extension loop) sees it only when the call
  returns. Such a watch becomes `Watch.abandoned` ``grace`` seconds after it expired;
  ``on_abandon`` and `Watchdog.stuck` let the caller give up on that thread and start a new
  worker. A thread cannot be killed: the abandoned one exits when (if) its call returns;
* a plugin can still swallow each raise (``except BaseException: pass`` in a loop body that
  itself loops forever catches every re-raise), it just cannot make progress outside a handler;
* ``finally`` blocks and ``__exit__`` methods of the plugin run, as with any exception.

Leaving the block closes the watch under the watchdog's lock and clears an exception that was
set but not yet delivered, so no `PluginTimeout` escapes *after* the block: a call that returns
in time is never interrupted later. A timeout that is delivered while `Watch.__exit__` runs
(after the body returned) is swallowed: the call did finish.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import sys
import threading
import time
from collections.abc import Callable
from types import CodeType, FrameType, TracebackType
from typing import Final, final

__all__ = [
    "DEFAULT_GRACE",
    "DEFAULT_RERAISE_INTERVAL",
    "PluginTimeout",
    "Watch",
    "Watchdog",
    "format_seconds",
    "timeout_message",
]

_LOGGER = logging.getLogger(__name__)

#: seconds after expiry before a watch that has not left its block is abandoned
DEFAULT_GRACE: Final = 2.0
#: seconds between two raises into a thread that is still inside an expired block
DEFAULT_RERAISE_INTERVAL: Final = 0.1
# the monitor thread exits after this many idle seconds (and restarts on the next watch)
_IDLE_EXIT: Final = 5.0

_SET_ASYNC_EXC: Final = ctypes.pythonapi.PyThreadState_SetAsyncExc
_UNKNOWN_TIMEOUT: Final = "plugin execution exceeded its timeout"


def format_seconds(seconds: float) -> str:
    """``2.5`` -> ``"2.5s"``, ``2.0`` -> ``"2s"``, ``0.25`` -> ``"0.25s"``."""
    return f"{seconds:g}s"


def timeout_message(seconds: float) -> str:
    """What a timed-out run logs: ``plugin execution exceeded the 2.5s timeout``."""
    return f"plugin execution exceeded the {format_seconds(seconds)} timeout"


class PluginTimeout(BaseException):
    """A plugin call ran past its execution timeout.

    A `BaseException`, not an `Exception`, so that a plugin's ``except Exception:`` does not
    swallow it. It is raised asynchronously without arguments; `Watch.__exit__` fills in
    ``timeout`` and the message before it leaves the block.
    """

    def __init__(self, timeout: float | None = None) -> None:
        super().__init__(_UNKNOWN_TIMEOUT if timeout is None else timeout_message(timeout))
        #: the timeout in seconds, once known
        self.timeout = timeout

    def _annotate(self, timeout: float) -> None:
        self.timeout = timeout
        self.args = (timeout_message(timeout),)


_TIMEOUT_TYPE: Final = ctypes.py_object(PluginTimeout)


@final
class Watch:
    """One watched block; created by `Watchdog.watch`, used as a context manager.

    Its state changes under the watchdog's lock; reading the flags needs no lock.
    """

    __slots__ = (
        "_c_tid",
        "_watchdog",
        "abandoned",
        "closed",
        "deadline",
        "expired",
        "last_raise",
        "raises",
        "started",
        "thread_id",
        "timeout",
    )

    def __init__(self, watchdog: Watchdog, timeout: float, thread_id: int) -> None:
        self._watchdog = watchdog
        #: the seconds the block may run
        self.timeout = timeout
        #: ``threading.get_ident()`` of the watched thread
        self.thread_id = thread_id
        # built once: the exit path must not call anything that could deliver the exception
        self._c_tid = ctypes.c_ulong(thread_id)
        #: when the block was entered / must be left, on the watchdog's clock
        self.started = 0.0
        self.deadline = 0.0
        #: the timeout fired (at least one `PluginTimeout` was raised into the thread)
        self.expired = False
        #: the thread was still inside ``grace`` seconds after expiry (stuck in a C call?)
        self.abandoned = False
        #: the block was left
        self.closed = False
        #: how many times `PluginTimeout` was raised, and when last
        self.raises = 0
        self.last_raise = 0.0

    def __repr__(self) -> str:
        state = "abandoned" if self.abandoned else "expired" if self.expired else "running"
        if self.closed:
            state += ", closed"
        return f"<Watch thread={self.thread_id} timeout={format_seconds(self.timeout)} {state}>"

    def __enter__(self) -> Watch:
        try:
            self._watchdog._open(self)
        except BaseException:  # an outer watch's PluginTimeout: never leave this one open
            self._watchdog._close(self)
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool:
        # Nothing before `_close` may call a Python function: a pending PluginTimeout would be
        # delivered there. The monitor does not raise into a thread whose top frame is this one.
        try:
            self._watchdog._close(self)
        except PluginTimeout:
            # delivered while leaving, after the body had returned: the call did finish
            self._watchdog._close(self)
            return exc_type is None
        if isinstance(exc, PluginTimeout) and self.expired and exc.timeout is None:
            exc._annotate(self.timeout)
        return False


@final
class Watchdog:
    """Interrupts watched blocks that run past their timeout; one per engine, thread-safe.

    :param clock: a monotonic clock in seconds (injectable for tests).
    :param grace: seconds after expiry before a watch still running is abandoned.
    :param reraise_interval: seconds between raises into a thread that keeps running.
    :param on_abandon: called (on the monitor thread, without the lock) with the thread id of
        each watch when it becomes abandoned; it must not block.
    """

    __slots__ = (
        "_clock",
        "_cond",
        "_grace",
        "_idle_exit",
        "_lock",
        "_monitor",
        "_on_abandon",
        "_reraise",
        "_watches",
    )

    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.monotonic,
        grace: float = DEFAULT_GRACE,
        reraise_interval: float = DEFAULT_RERAISE_INTERVAL,
        on_abandon: Callable[[int], None] | None = None,
        idle_exit: float = _IDLE_EXIT,
    ) -> None:
        self._clock = clock
        self._grace = grace
        self._reraise = reraise_interval
        self._on_abandon = on_abandon
        self._idle_exit = idle_exit
        # Threads that may receive PluginTimeout take the bare lock: its __enter__/__exit__ are C
        # code, so the exception cannot arrive between acquiring and entering the `with` (as it
        # can in Condition.__enter__, a Python method) and leave the lock held.
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._watches: list[Watch] = []
        self._monitor: threading.Thread | None = None

    def watch(self, timeout: float, *, thread_id: int | None = None) -> Watch:
        """A context manager that raises `PluginTimeout` in ``thread_id`` (default: this
        thread) if its block is still running after ``timeout`` seconds."""
        if not timeout > 0:
            message = f"timeout must be a positive number of seconds, not {timeout!r}"
            raise ValueError(message)
        ident = threading.get_ident() if thread_id is None else thread_id
        return Watch(self, float(timeout), ident)

    def stuck(self) -> list[Watch]:
        """The abandoned watches whose thread has not left its block yet."""
        with self._lock:
            return [w for w in self._watches if w.abandoned]

    def active(self) -> list[Watch]:
        """Every open watch."""
        with self._lock:
            return list(self._watches)

    def monitor_alive(self) -> bool:
        """Whether the monitor thread is running (it stops when idle)."""
        monitor = self._monitor
        return monitor is not None and monitor.is_alive()

    def _open(self, watch: Watch) -> None:
        with self._lock:
            watch.started = self._clock()
            watch.deadline = watch.started + watch.timeout
            self._watches.append(watch)
            if self._monitor is None:
                self._monitor = threading.Thread(
                    target=self._run, name="plugin-watchdog", daemon=True
                )
                self._monitor.start()
            self._cond.notify()

    def _close(self, watch: Watch) -> None:
        with self._lock:
            if watch.expired and not watch.closed:
                # Drop a PluginTimeout set but not yet delivered. This also clears one meant
                # for an outer watch on the same thread; that one is raised again shortly.
                _SET_ASYNC_EXC(watch._c_tid, None)
            if not watch.closed:
                watch.closed = True
                if watch in self._watches:  # not yet there if `_open` was interrupted
                    self._watches.remove(watch)

    def _run(self) -> None:
        try:
            self._loop()
        except BaseException:  # never die silently: watched threads would run unchecked
            _LOGGER.exception("the plugin watchdog failed; timeouts are not enforced")
            with self._cond:
                self._monitor = None
            raise

    def _loop(self) -> None:
        idle_since: float | None = None
        while True:
            abandoned: list[Watch] = []
            with self._cond:
                now = self._clock()
                if not self._watches:
                    idle_since = now if idle_since is None else idle_since
                    if now - idle_since >= self._idle_exit:
                        self._monitor = None
                        return
                    self._cond.wait(self._idle_exit)
                    continue
                idle_since = None
                due = [watch for watch in self._watches if now >= watch.deadline]
                if due:  # every thread's frame is only worth taking when a deadline passed
                    frames = sys._current_frames()
                    abandoned = [watch for watch in due if self._check(watch, now, frames)]
                    del frames
                self._cond.wait(self._next_wake(now))
            self._notify(abandoned)

    def _check(self, watch: Watch, now: float, frames: dict[int, FrameType]) -> bool:
        """Raise into an expired watch's thread when due; True when it just became abandoned."""
        if now < watch.deadline or (watch.raises and now - watch.last_raise < self._reraise):
            return False
        frame = frames.get(watch.thread_id)
        if (frame is None or frame.f_code not in _LEAVING) and not self._raise(watch, now):
            # no such thread: it died, and can never leave the block
            watch.closed = True
            self._watches.remove(watch)
            return False
        if not watch.abandoned and now >= watch.deadline + self._grace:
            watch.abandoned = True
            return True
        return False

    def _raise(self, watch: Watch, now: float) -> bool:
        """Raise `PluginTimeout` in the watch's thread; False when there is no such thread."""
        watch.expired = True
        watch.raises += 1
        watch.last_raise = now
        count = int(_SET_ASYNC_EXC(watch._c_tid, _TIMEOUT_TYPE))
        if count > 1:  # cannot happen with a valid id; CPython's docs say to undo it
            _SET_ASYNC_EXC(watch._c_tid, None)
            _LOGGER.error("PyThreadState_SetAsyncExc hit %d threads for %r", count, watch)
        return count > 0

    def _next_wake(self, now: float) -> float:
        wakes = []
        for watch in self._watches:
            if now < watch.deadline:
                wakes.append(watch.deadline - now)
                continue
            wakes.append(self._reraise)  # past its deadline: raise again until it leaves
            if not watch.abandoned:
                wakes.append(watch.deadline + self._grace - now)
        return max(0.001, min(wakes, default=self._reraise))

    def _notify(self, abandoned: list[Watch]) -> None:
        for watch in abandoned:
            _LOGGER.warning(
                "thread %d did not stop %s after its %s timeout; abandoning it",
                watch.thread_id,
                format_seconds(self._grace),
                format_seconds(watch.timeout),
            )
            if self._on_abandon is not None:
                try:
                    self._on_abandon(watch.thread_id)
                except Exception:
                    _LOGGER.exception("on_abandon callback failed for %r", watch)


# Code a thread runs while leaving a watched block. The monitor does not raise into a thread
# whose innermost frame is one of these: the exception could be delivered before the watch is
# closed and escape the block, and the thread is about to close the watch anyway. (The
# contextlib entry covers a watch entered inside a @contextmanager generator.)
_LEAVING: Final[frozenset[CodeType]] = frozenset(
    {
        Watch.__exit__.__code__,
        Watchdog._close.__code__,
        contextlib._GeneratorContextManager.__exit__.__code__,
    }
)
