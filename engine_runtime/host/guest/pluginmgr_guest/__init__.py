"""pluginmgr's side inside the plugin host: the plugin API as plugins see it.

Standard library only, and only relative imports between its modules: the host imports it as
``pluginmgr_guest`` (its directory alone on ``sys.path``), the server as
``engine_runtime.host.guest.pluginmgr_guest`` (for `LineBuilder`, the response conversion and
the wire format, which both sides share).
"""

from __future__ import annotations

__all__: list[str] = []
