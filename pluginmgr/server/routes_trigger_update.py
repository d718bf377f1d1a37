"""``PUT /api/v3/configure/processing_engine_trigger``: change a trigger in place (InfluxDB
3.11's ``update trigger``), and what ``serve --plugin-dir-only`` takes off the API.

The body (or query string) names the trigger, ``{"db", "trigger_name"}``, and what changes;
every field left out is kept:

* ``plugin_filename``: another plugin, checked as at creation (pinned, entry point, the
  ``database_version`` gate unless ``ignore_database_version``, requirements installed);
* ``trigger_arguments``: an object of strings that replaces the arguments (``null`` clears them);
* ``disabled``: true or false;
* ``trigger_settings.error_behavior``: ``log``, ``retry`` or ``disable`` (the other settings
  cannot change: delete and create the trigger).

Everything is checked before anything changes; then the trigger is restarted, so its next run
uses the new definition and re-reads its plugin (a body with no change restarts it alone, e.g.
after its file was replaced with ``PUT /api/v3/plugins/files``). Answers ``{"warnings": [...]}``.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Final

from starlette.responses import Response
from starlette.routing import Route

from ..node.plugin_policy import refuse_outside_plugin_dir, refuse_upload
from ..node.trigger_update import TriggerChange, update_trigger
from .routes_common import ApiError, endpoint, get_bool, get_str, merged_params, server_state
from .routes_engine import error_behavior, trigger_arguments
from .streaming import answer_with_progress

if TYPE_CHECKING:
    from collections.abc import Callable

    from starlette.requests import Request

__all__ = ["UPLOAD_PATHS", "plugin_dir_only", "routes"]

_LOGGER: Final = logging.getLogger(__name__)
_TRIGGER_PATH: Final = "/api/v3/configure/processing_engine_trigger"
#: the endpoints that write plugin files; ``--plugin-dir-only`` refuses them
UPLOAD_PATHS: Final = frozenset({"/api/v3/plugins/files", "/api/v3/plugins/directory"})
_FIXED_SETTINGS: Final = ("run_async", "isolated", "execution_timeout")


def _error_behavior(raw: Any) -> str | None:
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise ApiError(400, "field 'trigger_settings' must be {\"error_behavior\": str}")
    fixed = [key for key in _FIXED_SETTINGS if key in raw]
    if fixed:
        message = (
            f"field 'trigger_settings.{fixed[0]}' cannot be changed by an update: delete the "
            "trigger and create it again"
        )
        raise ApiError(400, message)
    behavior = raw.get("error_behavior")
    return None if behavior is None else error_behavior(behavior)


def _change(body: dict[str, Any]) -> TriggerChange:
    plugin = get_str(body, "plugin_filename", required=False) or None
    replace_arguments = "trigger_arguments" in body
    arguments = trigger_arguments(body.get("trigger_arguments"))
    disabled = None if body.get("disabled") is None else get_bool(body, "disabled", default=False)
    return TriggerChange(
        plugin_filename=plugin,
        arguments=arguments,
        replace_arguments=replace_arguments,
        disabled=disabled,
        error_behavior=_error_behavior(body.get("trigger_settings")),
    )


@endpoint
async def update(request: Request) -> Response:
    """``PUT …/processing_engine_trigger``: change the trigger, restart it."""
    body = await merged_params(request)
    database, name = get_str(body, "db"), get_str(body, "trigger_name")
    change = _change(body)
    ignore = get_bool(body, "ignore_database_version", default=False)
    state = server_state(request)
    if state.plugin_dir_only and change.plugin_filename is not None:
        refuse_outside_plugin_dir(change.plugin_filename)

    def apply(progress: Callable[[str], None] | None) -> dict[str, Any]:
        updated = update_trigger(
            state.engine,
            state.manager,
            database,
            name,
            change,
            env=state.env,
            install_options=state.install_options,
            ignore_database_version=ignore,
            progress=progress,
        )
        for warning in updated.warnings:
            _LOGGER.warning("trigger %s/%s: %s", database, name, warning)
        return {"warnings": list(updated.warnings)}

    return await answer_with_progress(request, apply)


@endpoint
async def _refuse_upload(request: Request) -> Response:
    refuse_upload()
    raise AssertionError  # pragma: no cover - refuse_upload always raises


def plugin_dir_only(routes: list[Route]) -> list[Route]:
    """``routes`` with the plugin file uploads answering upstream's refusal (403)."""
    return [
        Route(r.path, _refuse_upload, methods=sorted(r.methods or ()))
        if r.path in UPLOAD_PATHS
        else r
        for r in routes
    ]


routes: Final = [Route(_TRIGGER_PATH, update, methods=["PUT"])]
