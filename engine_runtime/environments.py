"""Where a node keeps the plugin environments: the shared venv and the isolated triggers' own.
One rule shared by the package manager, which resolves and installs them, and the runtime,
which runs a trigger's plugin on its interpreter.

::

    <PLUGIN_DIR>/venv/                      the shared venv of every other trigger
    <PLUGIN_DIR>/envs/<trigger_name>/       an isolated trigger's (`isolated_env_dir`)
        venv/                               its venv; the plugin runs on venv/bin/python
        pylock.toml                         its lock, resolved from its plugin alone

Trigger names are unique per database only, so two databases could each have an isolated
trigger of one name; the package manager refuses the second (the directory is taken).
Standard library only.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

from .errors import InvalidTriggerError

__all__ = ["ENVS_DIR_NAME", "isolated_env_dir", "isolated_python"]

#: the directory under the plugin dir that holds the isolated triggers' environments
ENVS_DIR_NAME: Final = "envs"


def isolated_env_dir(plugin_dir: Path, trigger_name: str) -> Path:
    """``<plugin_dir>/envs/<trigger_name>``: the environment of the isolated trigger of that
    name. :raises InvalidTriggerError: the name cannot be one directory's name (empty, ``.``,
    ``..``, a ``/``, a NUL byte or a leading dot)."""
    if (
        not trigger_name
        or trigger_name.startswith(".")
        or "/" in trigger_name
        or "\\" in trigger_name
        or "\0" in trigger_name
    ):
        message = (
            f"trigger name {trigger_name!r} cannot name the directory of an isolated "
            f"environment ({ENVS_DIR_NAME}/<trigger name>)"
        )
        hint = "choose a name without a slash, a backslash or a leading dot"
        raise InvalidTriggerError(message, hint=hint)
    return plugin_dir / ENVS_DIR_NAME / trigger_name


def isolated_python(plugin_dir: Path, trigger_name: str) -> Path:
    """The interpreter an isolated trigger's plugin runs on: its venv's ``bin/python``."""
    return isolated_env_dir(plugin_dir, trigger_name) / "venv" / "bin" / "python"
