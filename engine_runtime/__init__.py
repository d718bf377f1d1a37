"""engine_runtime: placeholder front door; the package lands with its issue."""

from __future__ import annotations

__all__: list[str] = []
