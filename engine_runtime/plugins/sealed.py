"""`SealedType`, re-exported: the one implementation lives in the plugin host's guest package
(standard library only), whose plugin API seals its classes the same way."""

from __future__ import annotations

from ..host.guest.pluginmgr_guest.sealed import SealedType

__all__ = ["SealedType"]
