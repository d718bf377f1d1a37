"""One owner per node's data: an exclusive ``flock`` on ``DATA_DIR/NODE_ID/owner.lock``.

Two processes writing one node's WAL, files and catalog lose each other's rows, and a repair
that cuts a segment a server is appending to cuts acknowledged writes. So ``serve`` holds the
lock of its node for its whole life, and ``store repair`` and ``create token --data-dir`` hold
it while they change anything; whoever comes second is refused in one line that names the
holder's pid (written into the file by the holder). ``flock`` belongs to the open file, which
the kernel closes on any exit, ``kill -9`` included, so a lock is never left behind; a pid left
in the file by a dead holder means nothing (the next holder overwrites it). The descriptor is
not inherited by the plugin hosts and other programs the server starts (PEP 446).

A node directory is the unit (nodes of one data dir keep separate data and may run side by
side); ``create token --data-dir`` writes ``DATA_DIR/tokens.json``, which every node of the
data dir reads, so it holds the lock of every node there (`hold_data_dir`).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from pathlib import Path
from typing import Final, final

from ..atomic import private_dir
from ..errors import PluginManagerError
from .data_layout import check_node_id

__all__ = [
    "LOCK_NAME",
    "DataDirBusyError",
    "OwnerLock",
    "hold_data_dir",
    "hold_for_serve",
    "hold_node",
]

#: the lock file inside a node's directory
LOCK_NAME: Final = "owner.lock"
#: how long a refused process waits for the holder to write its pid (it does at once)
_PID_WAIT: Final = 0.5


class DataDirBusyError(PluginManagerError):
    """Another process owns the node's data (a server, or a repair or token change)."""


@final
class OwnerLock:
    """A held lock; `release` (or the process's exit) frees it."""

    __slots__ = ("_fd", "path")

    def __init__(self, fd: int, path: Path) -> None:
        self._fd: int | None = fd
        self.path = path

    def release(self) -> None:
        """Free the lock (closing the file frees it; the pid stays, meaning nothing)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> OwnerLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def hold_node(root: Path, *, refused: str, hint: str) -> OwnerLock:
    """Take the lock of the node whose data is ``root`` (made 0700 if missing), without waiting.

    :param refused: what the caller cannot do while another holds it, for the message.
    :param hint: what to do instead.
    :raises DataDirBusyError: another process holds it; the message names its pid.
    """
    path = root / LOCK_NAME
    try:
        private_dir(root)  # the data dir above it too: 0700 when made here, whatever the umask
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as exc:
        message = f"cannot open the lock file {path}: {exc.strerror or exc}"
        raise PluginManagerError(message, hint="check the data dir's owner and modes") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = _holder(fd)
        os.close(fd)
        message = (
            f"{root} is in use by another pluginmgr process (pid {holder}, holding {path}): "
            f"{refused}"
        )
        raise DataDirBusyError(message, hint=hint.format(pid=holder)) from None
    except OSError as exc:  # a file system without flock (some network ones)
        os.close(fd)
        message = f"cannot lock {path}: {exc.strerror or exc}"
        local = "keep the data dir on a local file system"
        raise PluginManagerError(message, hint=local) from None
    except BaseException:
        os.close(fd)
        raise
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    return OwnerLock(fd, path)


def hold_for_serve(data_dir: Path, node_id: str) -> OwnerLock:
    """`hold_node` for ``serve`` on ``DATA_DIR/NODE_ID``, held until the process exits.

    :raises DataDirBusyError: another server (or a repair) holds it.
    """
    check_node_id(node_id)
    refused = "a second server on the same data would lose writes"
    hint = "stop that process (pid {pid}) first, or pass another --data-dir or --node-id"
    return hold_node(data_dir / node_id, refused=refused, hint=hint)


def hold_data_dir(data_dir: Path, *, refused: str, hint: str) -> contextlib.ExitStack:
    """Take the lock of every node in ``data_dir`` (each directory with a lock file, and the
    data dir itself if it has one: a layout from before the node directories); released when
    the returned stack closes.

    :raises DataDirBusyError: another process holds one of them; none is held then.
    """
    roots = [data_dir] if (data_dir / LOCK_NAME).is_file() else []
    if data_dir.is_dir():
        roots += sorted(p for p in data_dir.iterdir() if (p / LOCK_NAME).is_file())
    stack = contextlib.ExitStack()
    try:
        for root in roots:
            stack.enter_context(hold_node(root, refused=refused, hint=hint))
    except BaseException:
        stack.close()
        raise
    return stack


def _holder(fd: int) -> str:
    """The holder's pid as it wrote it (it does right after locking: wait briefly for it)."""
    deadline = time.monotonic() + _PID_WAIT
    while True:
        text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
        if text.isdigit():
            return text
        if time.monotonic() >= deadline:
            return "unknown"
        time.sleep(0.01)
