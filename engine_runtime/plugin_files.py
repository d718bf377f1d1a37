"""Rows of ``system.plugin_files``: the files the node's triggers run, as upstream lists them.

One row per trigger whose plugin is a file under the plugin directory, and one per ``.py`` file
(``__pycache__`` skipped, links not followed) of a directory plugin, named relative to it.
Triggers of every database, whatever database the query names; sizes in bytes, modification
times in milliseconds since the epoch. Fetched (``gh:``) plugins live in the store, not the
plugin directory: they have no row, as upstream's re-fetched ones have none.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Iterable

    from .trigger_definition import TriggerDefinition

__all__ = ["plugin_file_rows"]


def _row(trigger: str, name: str, path: Path) -> dict[str, Any] | None:
    try:
        stat = path.stat()
    except OSError:
        return None
    return {
        "plugin_name": trigger,
        "file_name": name,
        "file_path": str(path),
        "size_bytes": stat.st_size,
        "last_modified": stat.st_mtime_ns // 1_000_000,
    }


def _directory_rows(trigger: str, root: Path) -> list[dict[str, Any]]:
    rows = []
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        for name in sorted(files):
            path = Path(folder) / name
            if name.endswith(".py") and not path.is_symlink():
                row = _row(trigger, path.relative_to(root).as_posix(), path)
                if row is not None:
                    rows.append(row)
    return rows


def plugin_file_rows(
    plugin_dir: Path | None, triggers: Iterable[TriggerDefinition]
) -> list[dict[str, Any]]:
    """The rows for ``triggers`` (all of the node's) under ``plugin_dir`` (None: no rows)."""
    if plugin_dir is None:
        return []
    rows: list[dict[str, Any]] = []
    for trigger in triggers:
        filename = trigger.plugin_filename.rstrip("/")
        path = plugin_dir / filename
        if ":" in filename or not path.exists():
            continue  # gh:/git+/registry: plugins, or a file that is gone
        if path.is_dir():
            rows.extend(_directory_rows(trigger.trigger_name, path))
        elif (row := _row(trigger.trigger_name, trigger.plugin_filename, path)) is not None:
            rows.append(row)
    return rows
