"""Durable file replacement for the engine's own files: `write_atomic`, `fsync_dir` (defined
in the guest package, where the plugin host's cache saving uses them too)."""

from __future__ import annotations

from .host.guest.pluginmgr_guest.atomic import fsync_dir, write_atomic

__all__ = ["fsync_dir", "write_atomic"]
