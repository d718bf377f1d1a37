"""Starting, stopping and killing one plugin host child process.

The child is ``<python> -I -S -c BOOT GUEST CONFIG``: isolated (no user site, no
``PYTHON*`` variables, no current directory on ``sys.path``) and without ``site``, so nothing
of the server's environment is importable; the guest's `main` then adds the venv's
site-packages, the plugin dir and the guest directory. The channel is one end of a
``socketpair`` inherited as an fd (its number is in CONFIG); stdin and stdout are /dev/null,
stderr is the server's (what Python writes there is sent to the trigger's log instead, so only
the interpreter's own last words, such as a fatal error, reach it). The child runs in a session
of its own, so signals for the server's process group do not reach it.
"""

from __future__ import annotations

import json
import signal
import socket
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Final

from .channel import Channel

__all__ = ["BOOT", "GUEST_PATH", "HostProcess", "describe_exit"]

#: the directory whose only package is `pluginmgr_guest`
GUEST_PATH: Final = Path(__file__).resolve().parent / "guest"
#: what ``-c`` runs: the guest's directory first, only until `main` rebuilds ``sys.path``
BOOT: Final = (
    "import sys; sys.path.insert(0, sys.argv[1]); "
    "from pluginmgr_guest.main import main; main(sys.argv[2:])"
)
#: how long `HostProcess.stop` waits for a clean exit before killing
STOP_GRACE: Final = 2.0


def describe_exit(returncode: int) -> str:
    """``signal SIGABRT`` or ``exit status 3``, as the run's error names it."""
    if returncode < 0:
        try:
            return f"signal {signal.Signals(-returncode).name}"
        except ValueError:
            return f"signal {-returncode}"
    return f"exit status {returncode}"


class HostProcess:
    """One running host: its process and the server's end of the channel."""

    def __init__(
        self,
        python: Path,
        plugin_dir: Path,
        site_packages: Sequence[Path] | None,
        *,
        max_frame: int,
    ) -> None:
        parent, child = socket.socketpair()
        config = {
            "fd": child.fileno(),
            "guest": str(GUEST_PATH),
            "plugin_dir": str(plugin_dir),
            "site_packages": None if site_packages is None else [str(p) for p in site_packages],
        }
        try:
            self.popen = subprocess.Popen(
                [str(python), "-I", "-S", "-c", BOOT, str(GUEST_PATH), json.dumps(config)],
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
        self.channel = Channel(parent, max_frame=max_frame)

    @property
    def pid(self) -> int:
        return self.popen.pid

    def wait_exit(self, timeout: float = 5.0) -> int:
        """The exit code once the child has exited (after EOF on the channel)."""
        try:
            return self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            return self.popen.wait()

    def kill(self) -> None:
        """SIGKILL and reap the child; close the channel."""
        if self.popen.poll() is None:
            self.popen.kill()
        self.popen.wait()
        self.channel.close()

    def stop(self) -> None:
        """Ask the host to exit, kill it if it does not within `STOP_GRACE`, reap it."""
        try:
            self.channel.send({"op": "stop"})
        except OSError:
            pass  # already gone
        try:
            self.popen.wait(STOP_GRACE)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait()
        self.channel.close()
