"""The execution timeout's exception and its words.

Upstream InfluxDB 3 Core has no execution timeout (engine-behavior.md §7.3): a plugin stuck in a
loop holds its trigger forever. Here a run past its timeout is interrupted in its plugin host
(the guest raises its own ``PluginTimeout`` there, between two bytecodes), and a run that does
not stop within a grace gets its host replaced (`engine_runtime.host`). The server reports such
a run with `PluginTimeout`, whose message `timeout_message` words.
"""

from __future__ import annotations

from typing import Final

__all__ = ["PluginTimeout", "format_seconds", "timeout_message"]

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
    swallow it (the guest's own class, raised in the host, is one too).
    """

    def __init__(self, timeout: float | None = None) -> None:
        super().__init__(_UNKNOWN_TIMEOUT if timeout is None else timeout_message(timeout))
        #: the timeout in seconds, when known
        self.timeout = timeout
