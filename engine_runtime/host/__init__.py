"""The plugin host: plugins run in a child process on the plugins' venv interpreter.

`PluginHost` is the server side of one host, `pool.HostPool` the engine's set of them;
``guest/pluginmgr_guest`` is the only code of pluginmgr importable in the host. Names load on
first use: ``engine_runtime.plugins.responses`` and ``engine_runtime.plugins.line_builder``
import the guest package through this package, and `PluginHost` imports them back.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .channel import HostProtocolError, PluginHostError
    from .frames import TriggerKind
    from .host import PluginHost
    from .messages import HostCallbacks, RunResult
    from .process import GUEST_PATH

_WHERE = {
    "GUEST_PATH": ".process",
    "HostCallbacks": ".messages",
    "HostProtocolError": ".channel",
    "PluginHost": ".host",
    "PluginHostError": ".channel",
    "RunResult": ".messages",
    "TriggerKind": ".frames",
}

__all__ = [
    "GUEST_PATH",
    "HostCallbacks",
    "HostProtocolError",
    "PluginHost",
    "PluginHostError",
    "RunResult",
    "TriggerKind",
]


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module, __name__), name)
