"""Keeping a plugin from breaking the server it runs in, as far as one Python process allows.

A plugin runs inside the server's process (as upstream), so this is damage control, not a
sandbox. `install_guards`, called once when the server starts, adds two guards:

* **fork**: a child forked by a plugin gets, in place of every descriptor registered with
  `close_in_children` (the listening socket) or open on a file under a directory registered
  with `close_paths_in_children` (the store's write-ahead log), ``/dev/null``. The child then
  no longer holds the port (a restart would fail with "address already in use") and cannot
  write into the WAL. The descriptor numbers stay taken, so nothing the child opens later
  gets a number the server's objects still think is theirs. When the child comes back from
  the plugin, `engine_runtime.plugin_api.plugin_call` ends it.
* **os._exit**: in the server's own process, on a thread running a plugin
  (`engine_runtime.plugin_api.in_plugin_call`), ``os._exit(n)`` raises `PluginExitRefused`
  and logs an error instead of ending the server. In a forked child, or outside plugin calls,
  it is the real ``os._exit``.

What cannot be stopped from Python: ``posix._exit``, ``os.abort()``, ``os.kill(os.getpid(),
...)`` and other signals, ``ctypes``/C extensions (``libc._exit``, writes to any memory),
closing or writing to the server's descriptors, and exhausting memory or CPU.
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path
from typing import Final, NoReturn, Protocol

from engine_runtime.errors import PluginError
from engine_runtime.plugin_api import in_plugin_call

__all__ = [
    "PluginExitRefused",
    "close_in_children",
    "close_paths_in_children",
    "install_guards",
]

_LOGGER: Final = logging.getLogger(__name__)
#: where a process's open descriptors are listed (Linux); elsewhere only registered fds are shut
_FD_DIR: Final = Path("/proc/self/fd")


class _HasFileno(Protocol):
    def fileno(self) -> int: ...


class PluginExitRefused(PluginError):
    """A plugin called ``os._exit`` in the server's process; the server keeps running."""


class _Guards:
    """What the installed guards know: the server's pid and what a child must not keep."""

    __slots__ = ("directories", "fds", "lock", "real_exit", "server_pid")

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.server_pid: int | None = None
        self.fds: set[int] = set()
        self.directories: set[str] = set()
        self.real_exit = os._exit


# one per process by nature: os.register_at_fork handlers cannot be removed
_GUARDS: Final = _Guards()


def close_in_children(target: int | _HasFileno) -> None:
    """Shut ``target`` (a descriptor or a socket) in every child a plugin forks."""
    fd = target if isinstance(target, int) else target.fileno()
    with _GUARDS.lock:
        _GUARDS.fds.add(fd)


def close_paths_in_children(directory: Path) -> None:
    """Shut, in every child a plugin forks, each descriptor open on a file under ``directory``.

    For descriptors that come and go, such as the WAL segment being written.
    """
    with _GUARDS.lock:
        _GUARDS.directories.add(os.path.realpath(directory))


def install_guards() -> None:
    """Install the fork and ``os._exit`` guards for this process (once; later calls do nothing)."""
    with _GUARDS.lock:
        if _GUARDS.server_pid is not None:
            return
        _GUARDS.server_pid = os.getpid()
        _GUARDS.real_exit = os._exit
    os.register_at_fork(after_in_child=_after_fork_in_child)
    os._exit = _guarded_exit


def _guarded_exit(status: int) -> NoReturn:
    if os.getpid() == _GUARDS.server_pid and in_plugin_call():
        message = f"plugin called os._exit({status}); a plugin cannot stop the server"
        _LOGGER.error("%s (refused)", message)
        hint = "return from the plugin or raise an exception to end the call"
        raise PluginExitRefused(message, hint=hint)
    _GUARDS.real_exit(status)


def _after_fork_in_child() -> None:
    if _GUARDS.server_pid is None:
        return
    # the lock may have been held by another thread at fork time: never wait for it here
    fds = set(_GUARDS.fds) | _fds_under(tuple(_GUARDS.directories))
    if not fds:
        return
    null = os.open(os.devnull, os.O_RDWR)
    try:
        for fd in fds:
            if fd == null:
                continue
            try:
                os.dup2(null, fd)  # closes the server's description, keeps the number taken
            except OSError:  # already closed: nothing to release
                pass
    finally:
        os.close(null)


def _fds_under(directories: tuple[str, ...]) -> set[int]:
    if not directories:
        return set()
    found: set[int] = set()
    try:
        names = os.listdir(_FD_DIR)
    except OSError:  # no /proc: only the registered descriptors are shut
        return found
    for name in names:
        try:
            target = os.readlink(_FD_DIR / name)
        except OSError:
            continue
        if any(target.startswith(directory + os.sep) for directory in directories):
            found.add(int(name))
    return found
