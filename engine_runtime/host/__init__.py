"""The plugin host: plugins run in a child process on the plugins' venv interpreter.

Groundwork only: the engine still runs triggers in its own process; nothing here is wired into
the runner yet. `PluginHost` is the server side; ``guest/pluginmgr_guest`` is the only code of
pluginmgr importable in the host.
"""

from __future__ import annotations

from .channel import HostProtocolError, PluginHostError
from .host import HostCallbacks, PluginCacheLike, PluginHost, RunResult, TriggerKind
from .process import GUEST_PATH

__all__ = [
    "GUEST_PATH",
    "HostCallbacks",
    "HostProtocolError",
    "PluginCacheLike",
    "PluginHost",
    "PluginHostError",
    "RunResult",
    "TriggerKind",
]
