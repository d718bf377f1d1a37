"""Where a node keeps the plugin environments: the shared venv and the isolated triggers' own.
Stdlib only: the plugin manager and the runtime both use it."""

from __future__ import annotations

from pathlib import Path

__all__ = ["isolated_env_dir"]


def isolated_env_dir(plugin_dir: Path, trigger_name: str) -> Path:
    """``<plugin_dir>/envs/<trigger_name>``: an isolated trigger's venv and lock."""
    return plugin_dir / "envs" / trigger_name
