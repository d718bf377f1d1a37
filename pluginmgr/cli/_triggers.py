"""Reading a node's triggers for the commands that list or check them: from a running server
(``-H``) or from the data dir's catalog (`TriggerQuery`), with their options."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, Final, TypeVar

import click
from click.core import ParameterSource

from ..errors import ServerError
from ..node import inventory as node_inventory
from .client import TRIGGER_PATH, ServerClient, server_options

__all__ = ["PLUGINS_PATH", "TriggerQuery", "fetch_triggers", "trigger_options"]

F = TypeVar("F", bound=Callable[..., Any])
_EXPLICIT: Final = (ParameterSource.COMMANDLINE, ParameterSource.ENVIRONMENT)


#: the server's plugin inventory (a pluginmgr extension; see routes_engine.list_plugins)
PLUGINS_PATH: Final = "/api/v3/pluginmgr/plugins"


def fetch_triggers(database: str | None, host: str, token: str | None) -> list[dict[str, Any]]:
    """Every trigger of the server (of ``database`` when given), as rows of its JSON answer."""
    params = {"db": database, "format": "json"} if database else {"format": "json"}
    with ServerClient(host, token) as client:
        data = client.get_json(TRIGGER_PATH, params=params)
    if isinstance(data, dict) and isinstance(data.get("triggers"), list):
        data = data["triggers"]
    if not isinstance(data, list) or not all(isinstance(row, dict) for row in data):
        message = f"the server at {host} answered {TRIGGER_PATH} with an unexpected shape"
        raise ServerError(message)
    return data


_DATA_DIR_OPTION: Final = click.option(
    "--data-dir",
    envvar=["INFLUXDB3_DB_DIR", "PLUGINMGR_DATA_DIR"],
    default=None,
    help="The server's data directory; triggers are read from DATA_DIR/catalog.json. "
    "[env: INFLUXDB3_DB_DIR, PLUGINMGR_DATA_DIR]",
)


def trigger_options(func: F) -> F:
    """``--data-dir``, ``-H/--host`` and ``--token``: where `TriggerQuery` reads triggers."""
    return _DATA_DIR_OPTION(server_options(func))


def _fetch_server_triggers(host: str, token: str | None) -> list[dict[str, Any]]:

    return fetch_triggers(None, host, token)


class TriggerQuery(node_inventory.TriggerQuery):
    """A `pluginmgr.node.inventory.TriggerQuery` built from the command line."""

    __slots__ = ()

    @classmethod
    def from_options(cls, options: dict[str, Any]) -> TriggerQuery:
        """From the command's `trigger_options` (pops them; needs the click context)."""
        host, token, data_dir = options.pop("host"), options.pop("token"), options.pop("data_dir")
        explicit = click.get_current_context().get_parameter_source("host") in _EXPLICIT
        return cls(
            host if explicit else None,
            token,
            Path(data_dir).expanduser() if data_dir else None,
            fetch=_fetch_server_triggers,
        )
