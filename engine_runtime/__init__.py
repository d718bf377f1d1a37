"""engine_runtime: the slim runtime that runs plugins (more lands with issues 4-6).

It imports neither `pluginmgr` nor `registry_index`: it receives paths and loaded code.
"""

from __future__ import annotations

from .environment import activate, refresh_imports

__all__ = ["activate", "refresh_imports"]
