"""``DELETE /api/v3/plugins/files``: remove a plugin file or directory that no trigger uses.

InfluxDB 3 (3.10) can create and replace plugin files over HTTP but not remove them, so a fleet
manager that stops using a plugin can only leave it behind. A pluginmgr node removes it: the
same field as the other file endpoints (``plugin_name``, a path relative to the plugin
directory, in the query string or a JSON body), 404 when there is no such file, 409 naming the
trigger while one still runs it (a fetched ``gh:`` plugin lives in the store and is not a file
here). ``--plugin-dir-only`` refuses it with the uploads (the plugin directory is then the
operator's).
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Final

from starlette.responses import Response
from starlette.routing import Route

from ..fetch.hashes import has_control_chars
from ..fetch.plugin_dir import validate_path_within_plugin_dir
from .routes_common import (
    ENGINE_OFF_MESSAGE,
    ApiError,
    blocking,
    endpoint,
    get_str,
    merged_params,
    server_state,
)

if TYPE_CHECKING:
    from starlette.requests import Request

    from .app import ServerState

__all__ = ["FILES_PATH", "routes"]

FILES_PATH: Final = "/api/v3/plugins/files"
#: the plugin directory's environments, never plugins
_ENVIRONMENTS: Final = frozenset({"venv", "envs"})


def _user(state: ServerState, target: Path, plugin_dir: Path) -> str | None:
    """``database/trigger`` of a trigger whose plugin is ``target`` or lies inside it."""
    for trigger in state.engine.catalog.triggers():
        filename = trigger.plugin_filename.rstrip("/")
        try:
            used = (plugin_dir / filename).resolve()
        except (OSError, ValueError):
            continue
        if used == target or target in used.parents:
            return f"{trigger.database}/{trigger.trigger_name}"
    return None


def _plugin_path(plugin_dir: Path, name: str) -> Path:
    """``plugin_dir / name`` when it names a plugin: a ``.py`` file or a directory with
    ``__init__.py``, outside the environments (``venv``, ``envs``); 400 or 404 otherwise, so
    the package manager's own files (``pylock.toml``, ``plugins.lock``, ...) are never hit."""
    if has_control_chars(name):
        raise ApiError(400, f"invalid plugin file name {name!r}: control characters")
    path = validate_path_within_plugin_dir(plugin_dir, name)
    parts = path.relative_to(plugin_dir).parts
    if not parts or parts[0] in _ENVIRONMENTS:
        raise ApiError(400, f"{name} is not a plugin file or directory")
    if not (path.exists() or path.is_symlink()):
        raise ApiError(404, f"Plugin not found: {name}")
    is_plugin_dir = path.is_dir() and (path / "__init__.py").is_file()
    if not is_plugin_dir and not (path.suffix == ".py" and not path.is_dir()):
        message = f"{name} is not a plugin file (.py) or directory (with __init__.py)"
        raise ApiError(400, message)
    return path


def _delete(state: ServerState, name: str) -> None:
    plugin_dir = state.plugin_dir
    if plugin_dir is None:
        raise ApiError(500, ENGINE_OFF_MESSAGE)
    path = _plugin_path(plugin_dir, name)
    user = _user(state, path.resolve(), plugin_dir.resolve())
    if user is not None:
        message = f"plugin {name} is used by trigger {user}: delete or update that trigger first"
        raise ApiError(409, message)
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink()  # a symbolic link goes, not what it points to


@endpoint
async def delete_plugin_file(request: Request) -> Response:
    """``DELETE /api/v3/plugins/files?plugin_name=<relative path>``: 200 once it is gone."""
    params = await merged_params(request)
    name = get_str(params, "plugin_name")
    await blocking(_delete, server_state(request), name)
    return Response(status_code=200)


routes: Final = [Route(FILES_PATH, delete_plugin_file, methods=["DELETE"])]
