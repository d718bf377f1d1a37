"""Bounding a plugin host's memory: a cgroup of its own where this process may make one, else
``RLIMIT_AS``.

A memory cgroup counts what the host really uses (resident pages), and the kernel kills the
host (SIGKILL) when it goes past the limit; the server then reports the death and names the
limit. ``RLIMIT_AS`` bounds address space instead, so a plugin gets ``MemoryError`` first (or
the host dies in C code); it also counts reservations never touched, so set it generously.
cgroup v2 (a child of the server's own group) and v1 (the ``memory`` controller) are both
tried; a machine or container where neither can be written gets the rlimit.
"""

from __future__ import annotations

import contextlib
import os
import resource
from pathlib import Path
from typing import Final

__all__ = ["MemoryLimit", "limit_memory"]

_ROOT: Final = Path("/sys/fs/cgroup")


class MemoryLimit:
    """How a host's memory is bounded: ``kind`` is ``"cgroup"`` or ``"rlimit"``."""

    def __init__(self, kind: str, group: Path | None = None) -> None:
        self.kind = kind
        self.group = group

    def release(self) -> None:
        """Remove the host's cgroup once the host has exited (an rlimit needs nothing)."""
        if self.group is not None:
            with contextlib.suppress(OSError):
                self.group.rmdir()


def _own_group(controller: str | None) -> Path | None:
    """This process's cgroup directory: v2 (``controller`` None) or v1's ``controller``."""
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        _id, controllers, path = line.split(":", 2)
        if controller is None and controllers == "" and (_ROOT / "cgroup.controllers").exists():
            return _ROOT / path.lstrip("/")
        if controller is not None and controller in controllers.split(","):
            return _ROOT / controller / path.lstrip("/")
    return None


def _try_group(parent: Path | None, pid: int, limit: int, limit_file: str) -> Path | None:
    if parent is None or not parent.is_dir():
        return None
    group = parent / f"pluginmgr-host-{pid}"
    try:
        group.mkdir()
    except OSError:
        return None
    try:
        (group / limit_file).write_text(str(limit))
        (group / "cgroup.procs").write_text(str(pid))
    except OSError:
        with contextlib.suppress(OSError):
            group.rmdir()
        return None
    return group


def limit_memory(pid: int, limit: int) -> MemoryLimit:
    """Bound ``pid``'s memory to ``limit`` bytes; raises OSError when even the rlimit fails."""
    if os.environ.get("PLUGINMGR_NO_CGROUP") != "1":
        group = _try_group(_own_group(None), pid, limit, "memory.max") or _try_group(
            _own_group("memory"), pid, limit, "memory.limit_in_bytes"
        )
        if group is not None:
            return MemoryLimit("cgroup", group)
    resource.prlimit(pid, resource.RLIMIT_AS, (limit, limit))
    return MemoryLimit("rlimit")
