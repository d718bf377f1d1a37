"""Starting, stopping and killing one plugin host child process.

The child is ``<python> -I -S -c BOOT GUEST CONFIG``: isolated (no user site, no
``PYTHON*`` variables, no current directory on ``sys.path``) and without ``site``, so nothing
of the server's environment is importable; the guest's `main` then adds the venv's
site-packages, the plugin dir and the guest directory. The channel is one end of a
``socketpair`` inherited as an fd (its number is in CONFIG); stdin and stdout are /dev/null,
stderr is the server's (what Python writes there is sent to the trigger's log instead, so only
the interpreter's own last words, such as a fatal error, reach it). The child runs in a session
of its own, so signals for the server's process group do not reach it.

A reader thread takes every message the host sends and hands it to the queue of the run it
names (``id``); a call for a run nobody waits for any more is answered with an error, so the
plugin's thread does not wait forever. When the host exits, or breaks the protocol, each open
run's queue gets an `Ended` saying how, and the processes its plugins started in its process
group (``os.fork``, ``subprocess`` without a session of their own) are killed with it.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from .channel import Channel, HostProtocolError
from .memory import MemoryLimit, limit_memory

__all__ = ["BOOT", "GUEST_PATH", "Ended", "HostProcess", "RunSlot", "describe_exit"]

#: the directory whose only package is `pluginmgr_guest`
GUEST_PATH: Final = Path(__file__).resolve().parent / "guest"
#: what ``-c`` runs: the guest's directory first, only until `main` rebuilds ``sys.path``
BOOT: Final = (
    "import sys; sys.path.insert(0, sys.argv[1]); "
    "from pluginmgr_guest.main import main; main(sys.argv[2:])"
)
#: how long `HostProcess.stop` waits for a clean exit before killing
STOP_GRACE: Final = 2.0


def _environment(python: Path) -> dict[str, str]:
    """The server's environment, with the venv activated as InfluxDB 3 activates it for its
    interpreter (``VIRTUAL_ENV``, its ``bin`` first on ``PATH``) when ``python`` is a venv's."""
    env = dict(os.environ)
    venv = python.parent.parent
    if (venv / "pyvenv.cfg").is_file():
        env["VIRTUAL_ENV"] = str(venv)
        env["PATH"] = os.pathsep.join([str(venv / "bin"), env.get("PATH", "")])
    else:
        env.pop("VIRTUAL_ENV", None)  # the server's own venv is not the plugins'
    return env


def _end_group(pid: int) -> None:
    """SIGKILL the process group a host leads (the host, unless it has exited, and what its
    plugins started without a session of their own)."""
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass  # nothing of the group is left


def describe_exit(returncode: int) -> str:
    """``signal SIGABRT`` or ``exit status 3``, as the run's error names it."""
    if returncode < 0:
        try:
            return f"signal {signal.Signals(-returncode).name}"
        except ValueError:
            return f"signal {-returncode}"
    return f"exit status {returncode}"


@dataclass(frozen=True, slots=True)
class Ended:
    """What an open run's queue gets when its host is gone: exited (``code``) or killed for
    breaking the protocol (``protocol_error``)."""

    code: int | None
    protocol_error: str | None = None


class RunSlot:
    """A run the server waits for: its trigger, its messages, and how it was interrupted."""

    __slots__ = ("deadline", "id", "interrupted", "messages", "trigger")

    def __init__(self, run_id: int, trigger: str, deadline: float | None) -> None:
        self.id = run_id
        self.trigger = trigger
        self.messages: queue.SimpleQueue[dict[str, Any] | Ended | None] = queue.SimpleQueue()
        #: a ``time.monotonic()`` value; an interrupt moves it to the end of its grace
        self.deadline = deadline
        #: None, ``"timeout"`` or ``"cancel"`` once the run was told to stop
        self.interrupted: str | None = None


class HostProcess:
    """One running host: its process, the server's end of the channel and the open runs."""

    def __init__(
        self,
        python: Path,
        plugin_dir: Path | None,
        site_packages: Sequence[Path] | None,
        *,
        max_frame: int,
        memory_limit: int | None = None,
    ) -> None:
        parent, child = socket.socketpair()
        config = {
            "fd": child.fileno(),
            "guest": str(GUEST_PATH),
            "plugin_dir": None if plugin_dir is None else str(plugin_dir),
            "site_packages": None if site_packages is None else [str(p) for p in site_packages],
        }
        try:
            self.popen = subprocess.Popen(
                [str(python), "-I", "-S", "-c", BOOT, str(GUEST_PATH), json.dumps(config)],
                env=_environment(python),
                pass_fds=(child.fileno(),),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                start_new_session=True,
            )
        except BaseException:
            parent.close()
            raise
        finally:
            child.close()
        self.memory: MemoryLimit | None = None
        if memory_limit is not None:  # before its first run: only the guest has run so far
            try:
                self.memory = limit_memory(self.popen.pid, memory_limit)
            except (OSError, ValueError):
                self.popen.kill()
                self.popen.wait()
                parent.close()
                raise
        self.channel = Channel(parent, max_frame=max_frame)
        self.memory_limit = memory_limit
        self.python = python
        #: ``(path, version)`` of file plugins whose source this host was sent
        self.sent_code: set[tuple[str, str]] = set()
        #: no new runs: replaced after a run that would not stop; killed when its last run ends
        self.retired = False
        #: its death was counted for the restart back-off (by whichever run saw it first)
        self.death_counted = False
        self.ended: Ended | None = None
        self._runs: dict[int, RunSlot] = {}
        self._lock = threading.Lock()
        self._send_lock = threading.Lock()
        self._reader = threading.Thread(
            target=self._read, name=f"plugin-host-{self.popen.pid}", daemon=True
        )
        self._reader.start()
        threading.Thread(
            target=self._wake_reader, name=f"plugin-host-exit-{self.popen.pid}", daemon=True
        ).start()

    # -- runs ---------------------------------------------------------------------------------

    def open_run(self, slot: RunSlot) -> bool:
        """Register ``slot`` for the host's messages; False when the host is already gone."""
        with self._lock:
            if self.ended is not None:
                return False
            self._runs[slot.id] = slot
            return True

    def close_run(self, slot: RunSlot) -> None:
        """Forget ``slot``; a retired host whose last run this was is killed."""
        with self._lock:
            self._runs.pop(slot.id, None)
            idle = not self._runs
        if idle and self.retired:
            self.kill()

    def open_runs(self) -> list[RunSlot]:
        with self._lock:
            return list(self._runs.values())

    def send(self, message: dict[str, Any]) -> None:
        """Send one message; raises OSError when the host is gone."""
        with self._send_lock:
            self.channel.send(message)

    def send_frame(self, frame: bytes) -> None:
        with self._send_lock:
            self.channel.send_frame(frame)

    def _read(self) -> None:
        protocol_error = None
        while True:
            try:
                message = self.channel.receive(None)
            except (EOFError, OSError):
                break
            except HostProtocolError as exc:
                protocol_error = str(exc)
                break
            with self._lock:
                slot = self._runs.get(message["id"])
            if slot is not None:
                slot.messages.put(message)
            elif message["op"] in ("query", "write_sync"):
                reply = {
                    "op": "reply",
                    "id": message["id"],
                    "n": message.get("n"),
                    "error": "the run this call belongs to has ended",
                }
                try:
                    self.send(reply)
                except OSError:
                    break
        if protocol_error is not None and self.popen.poll() is None:
            self.popen.kill()
        code = self.popen.wait()
        if self.memory is not None:
            self.memory.release()
        with self._lock:
            self.ended = Ended(code, protocol_error)
            slots = list(self._runs.values())
        for slot in slots:
            slot.messages.put(self.ended)
        self.channel.close()

    def _wake_reader(self) -> None:
        """Once the host has exited, end what its plugins started in its process group (the
        group's id is still the host's: it is not reaped yet), then shut the channel's reading
        side: a process the plugin forked may hold the host's end open, and the reader would
        never see the end."""
        pid = self.popen.pid
        try:
            os.waitid(os.P_PID, pid, os.WEXITED | os.WNOWAIT)
        except ChildProcessError:
            pass  # reaped by `stop` or `kill`, which ended the group first
        _end_group(pid)
        self.popen.wait()
        with self._lock:  # the reader closes the channel only after it set `ended`
            if self.ended is None:
                try:
                    self.channel.sock.shutdown(socket.SHUT_RD)
                except OSError:
                    pass  # not connected any more: the reader is ending anyway

    @property
    def pid(self) -> int:
        return self.popen.pid

    @property
    def alive(self) -> bool:
        return self.ended is None and self.popen.poll() is None

    def kill(self) -> None:
        """SIGKILL the child and its process group (what its plugins started) before it is
        reaped, so the group's id cannot be another's yet; the reader thread closes the
        channel."""
        if self.popen.returncode is None:
            _end_group(self.popen.pid)
        self.popen.wait()

    def stop(self) -> None:
        """Ask the host to exit (it ends its children), kill it and its process group if it
        does not within `STOP_GRACE`, and reap it."""
        try:
            self.send({"op": "stop"})
        except OSError:
            pass  # already gone
        deadline = time.monotonic() + STOP_GRACE
        while self._running() and time.monotonic() < deadline:
            time.sleep(0.01)
        if self.popen.returncode is None:
            _end_group(self.popen.pid)  # the host exited or not: the group goes, then reaped
        self.popen.wait()
        self._reader.join(STOP_GRACE)

    def _running(self) -> bool:
        """Whether the host has not exited yet (it is not reaped here: see `kill`)."""
        if self.popen.returncode is not None:
            return False
        try:
            return os.waitid(os.P_PID, self.popen.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is None
        except ChildProcessError:
            return False  # reaped by another thread
