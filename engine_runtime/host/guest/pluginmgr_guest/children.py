"""The processes plugin runs start (``subprocess``, ``os.fork``), by trigger.

At the end of each run, the host's new children are put down to the run's trigger: those of the
run's own thread, and those of threads no other run is using (a thread the plugin started).
Linux lists a thread's children in ``/proc/self/task/<tid>/children``; elsewhere nothing is
tracked and children end with the host's process group only.

- **Reaped**: a recorded child (or adopted orphan) that has exited and that nobody waited for
  within `ZOMBIE_GRACE` seconds is reaped, so it does not linger as a zombie for the host's
  life. A plugin that waits for it later still finds it gone (``ECHILD``; ``subprocess`` then
  reports exit status 0).
- **Killed**: when the server stops a trigger (``end_children``), its children and their
  descendants (and the process group of a child that made its own) get SIGKILL and are reaped;
  when the host stops, every child does.
- **Adopted**: the host is a child subreaper (Linux ``PR_SET_CHILD_SUBREAPER``), so a process
  whose parent dies (a shell's child, a double fork) becomes the host's child rather than
  init's: it is killed and reaped with the rest, and never left a zombie for an init that may
  not reap. Such orphans hang off the host's main thread, which runs no plugin code, and are
  reaped as recorded children are.

A process is known by its pid and start time, so a reused pid is never taken for another.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import threading
import time
from pathlib import Path

__all__ = ["CHILDREN", "REAP_SECONDS", "ZOMBIE_GRACE", "Children"]

#: how often recorded children are checked for having exited
REAP_SECONDS = 0.5
#: how long a child may stay a zombie, for a plugin that waits for it, before it is reaped
ZOMBIE_GRACE = 2.0
#: how long a killed child is waited for before the reaper is left to take it
_KILL_WAIT = 1.0
_TASKS = Path("/proc/self/task")
_PR_SET_CHILD_SUBREAPER = 36

_Ident = tuple[int, int]  # (pid, start time in clock ticks)


def _stat(pid: int) -> tuple[str, int, int, int] | None:
    """``pid``'s (state, parent pid, process group, start time); None once it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace")
    except OSError:
        return None
    fields = text.rsplit(")", 1)[-1].split()
    try:
        return fields[0], int(fields[1]), int(fields[2]), int(fields[19])
    except (IndexError, ValueError):
        return None


def _task_children(tid: int) -> list[int]:
    """The children the thread ``tid`` of this process started (or adopted)."""
    try:
        return [int(p) for p in (_TASKS / str(tid) / "children").read_text().split()]
    except (OSError, ValueError):
        return []


def _children_by_task() -> dict[int, list[int]]:
    """The host's children, by the thread (native id) that started them."""
    found: dict[int, list[int]] = {}
    try:
        tasks = list(_TASKS.iterdir())
    except OSError:
        return found
    for task in tasks:
        if task.name.isdigit():
            found[int(task.name)] = _task_children(int(task.name))
    return found


def _descendants(roots: set[int]) -> set[int]:
    """Every process below ``roots`` now (one pass over ``/proc``)."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            info = _stat(int(entry.name))
            if info is not None:
                parents.setdefault(info[1], []).append(int(entry.name))
    found: set[int] = set()
    todo = list(roots)
    while todo:
        for child in parents.get(todo.pop(), []):
            if child not in found and child not in roots:
                found.add(child)
                todo.append(child)
    return found


class Children:
    """The children of plugin runs, by trigger label; see the module docstring."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._active: set[int] = set()  # native ids of the threads running a run now
        self._owner: dict[_Ident, str] = {}
        self._reaper: threading.Thread | None = None
        self._zombie_since: dict[_Ident, float] = {}  # the reaper's alone

    def adopt_orphans(self) -> None:
        """Make this process the reaper of its descendants' orphans (Linux; else nothing)."""
        with contextlib.suppress(OSError, AttributeError, TypeError):
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)

    def begin(self) -> None:
        """A run starts on this thread."""
        with self._lock:
            self._active.add(threading.get_native_id())

    def end(self, trigger: str) -> None:
        """The run on this thread ended: its new children are ``trigger``'s."""
        me = os.getpid()
        with self._lock:
            self._active.discard(threading.get_native_id())
            others = set(self._active)
            for task, pids in _children_by_task().items():
                if task in others:
                    continue  # that run records its own when it ends
                for pid in pids:
                    info = _stat(pid)
                    if info is not None and info[1] == me:
                        self._owner.setdefault((pid, info[3]), trigger)

    def end_trigger(self, trigger: str) -> int:
        """Kill and reap ``trigger``'s children and their descendants; how many children."""
        with self._lock:
            mine = [ident for ident, owner in self._owner.items() if owner == trigger]
            for ident in mine:
                del self._owner[ident]
        return _kill([pid for pid, start in mine if _is_child(pid, start)])

    def end_all(self) -> int:
        """Kill and reap every child of the host (it is stopping)."""
        with self._lock:
            self._owner.clear()
        return _kill(sorted({p for pids in _children_by_task().values() for p in pids}))

    def reap(self) -> None:
        """Reap recorded children and adopted orphans that have been zombies for
        `ZOMBIE_GRACE` seconds (time for a plugin that waits to do so); forget those gone."""
        me, now = os.getpid(), time.monotonic()
        with self._lock:
            candidates = set(self._owner)
        for pid in _task_children(me):  # the main thread's: orphans it adopted
            info = _stat(pid)
            if info is not None:
                candidates.add((pid, info[3]))
        for pid, start in candidates:
            info = _stat(pid)
            mine = info is not None and info[1] == me and info[3] == start
            zombie = mine and info is not None and info[0] == "Z"
            if mine and not zombie:
                self._zombie_since.pop((pid, start), None)
                continue  # running
            since = self._zombie_since.setdefault((pid, start), now)
            if zombie and now - since < ZOMBIE_GRACE:
                continue
            if zombie:
                with contextlib.suppress(ChildProcessError):
                    os.waitpid(pid, os.WNOHANG)
            self._zombie_since.pop((pid, start), None)
            with self._lock:
                self._owner.pop((pid, start), None)

    def start_reaper(self) -> None:
        """Reap in the background from now on (once)."""
        with self._lock:
            if self._reaper is None:
                self._reaper = threading.Thread(target=self._reap_loop, name="reaper", daemon=True)
                self._reaper.start()

    def _reap_loop(self) -> None:
        while True:
            time.sleep(REAP_SECONDS)
            self.reap()


def _is_child(pid: int, start: int) -> bool:
    info = _stat(pid)
    return info is not None and info[1] == os.getpid() and info[3] == start


def _kill(pids: list[int]) -> int:
    """SIGKILL ``pids`` (children of this process), everything below them and the process
    groups they lead; then reap them, waiting up to `_KILL_WAIT` (the reaper takes the rest)."""
    if not pids:
        return 0
    below = _descendants(set(pids))
    for pid in pids:
        info = _stat(pid)
        if info is not None and info[2] == pid:  # it made a group of its own
            with contextlib.suppress(OSError):
                os.killpg(pid, signal.SIGKILL)
    for pid in [*pids, *below]:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + _KILL_WAIT
    me = os.getpid()
    dying = {me, *pids, *below}
    for pid in [*pids, *below]:  # the descendants are adopted once their parents are gone
        while time.monotonic() < deadline:
            try:
                if os.waitpid(pid, os.WNOHANG)[0]:
                    break  # reaped
            except ChildProcessError:  # not this process's child (yet)
                info = _stat(pid)
                if info is None or info[1] not in dying:
                    break  # gone, or someone else's to reap (no subreaper on this system)
            time.sleep(0.01)
    return len(pids)


#: the host's one tracker
CHILDREN = Children()
