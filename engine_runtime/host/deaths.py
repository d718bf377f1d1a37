"""How a plugin host's deaths are told and paced: the error a run gets when its host exits
(`exit_error`), and the back-off before the next host starts after deaths in a row
(`restart_delay`, `DeathCount`).

Apart from `host.host`, which starts and retires hosts, so the policy (how long to wait, what
the error says) reads on its own.
"""

from __future__ import annotations

import time
from typing import Final, final

from ..errors import HostExitedError
from .channel import HostProtocolError, PluginHostError
from .messages import mib
from .process import Ended, HostProcess, describe_exit

__all__ = ["RESTART_BACKOFF", "RESTART_BACKOFF_MAX", "DeathCount", "exit_error", "restart_delay"]

#: the first restart after a death waits this long; each further death in a row doubles it
RESTART_BACKOFF: Final = 0.1
RESTART_BACKOFF_MAX: Final = 5.0


def restart_delay(deaths_in_a_row: int) -> float:
    """Seconds to wait before starting a host after ``deaths_in_a_row`` deaths (0: none)."""
    if deaths_in_a_row <= 0:
        return 0.0
    return float(min(RESTART_BACKOFF * 2.0 ** (deaths_in_a_row - 1), RESTART_BACKOFF_MAX))


@final
class DeathCount:
    """The deaths in a row of one host's processes, which pace its restarts; a run that ends
    with a result sets ``in_a_row`` back to 0. The host's lock guards the changes."""

    __slots__ = ("in_a_row", "last")

    def __init__(self) -> None:
        self.in_a_row = 0
        #: ``time.monotonic()`` of the last death counted
        self.last = 0.0

    def back_off(self) -> None:
        """Wait out the restart delay of the deaths so far: a crash loop must not become a
        fork loop."""
        delay = restart_delay(self.in_a_row) - (time.monotonic() - self.last)
        if delay > 0:
            time.sleep(delay)

    def note(self, process: HostProcess) -> None:
        """Count ``process``'s death once; a retired process (killed on purpose) is no death."""
        if process.retired or process.death_counted:
            return
        process.death_counted = True
        self.in_a_row += 1
        self.last = time.monotonic()


def exit_error(
    ended: Ended, trigger: str, *, pid: int, memory_limit: int | None
) -> PluginHostError:
    """The error of a run whose host ``pid`` ended as ``ended``: `HostProtocolError` when it
    was killed for breaking the protocol, else `HostExitedError` naming the exit."""
    if ended.protocol_error is not None:
        return HostProtocolError(f"{ended.protocol_error} (trigger {trigger}); the host was killed")
    exit_text = "an unknown status" if ended.code is None else describe_exit(ended.code)
    text = f"plugin host exited with {exit_text} while running trigger {trigger}"
    if memory_limit is not None:
        text += f" (its memory limit is {mib(memory_limit)})"
    return HostExitedError(text, host_pid=pid)
