"""The directory put on the plugin host's ``sys.path``: it holds `pluginmgr_guest` and nothing
else, so that one entry exposes only that package to plugins."""

from __future__ import annotations

__all__: list[str] = []
