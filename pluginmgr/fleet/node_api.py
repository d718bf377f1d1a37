"""`NodeClient`: the part of InfluxDB 3's HTTP API a fleet needs, typed.

Only requests InfluxDB 3 Core itself answers are sent (paths, methods and fields as upstream's
``influxdb3_server/src/http.rs`` and ``influxdb3_types/src/http.rs`` read them); what a node
holds is read through its ``system.processing_engine_triggers``,
``system.processing_engine_trigger_arguments`` and ``system.plugin_files`` tables. Enable and
disable take their fields from the query string only (upstream ignores a body there); create
takes a JSON body, since ``trigger_settings`` is nested.

Every failure is a `NodeError` naming the node: unreachable (status None) or the status and
the node's own message.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

import httpx

from ..errors import NodeError

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence

    from .spec import FleetNode

__all__ = ["NodeClient", "PluginFileRow", "TriggerRow"]

DATABASE_PATH: Final = "/api/v3/configure/database"
TRIGGER_PATH: Final = "/api/v3/configure/processing_engine_trigger"
FILES_PATH: Final = "/api/v3/plugins/files"
DIRECTORY_PATH: Final = "/api/v3/plugins/directory"
INSTALL_PACKAGES_PATH: Final = "/api/v3/configure/plugin_environment/install_packages"
QUERY_PATH: Final = "/api/v3/query_sql"
#: the database system queries not about one database name (upstream's ``show plugins`` too)
INTERNAL_DB: Final = "_internal"
_TIMEOUT: Final = httpx.Timeout(30.0, connect=5.0)
#: installs resolve and download: a node may take minutes
_INSTALL_TIMEOUT: Final = httpx.Timeout(600.0, connect=5.0)


@dataclass(frozen=True, slots=True)
class TriggerRow:
    """A trigger as the node's system tables show it (``run_async`` is not among them)."""

    database: str
    name: str
    plugin_filename: str
    specification: Any  # upstream's serde JSON of the spec, parsed
    disabled: bool
    error_behavior: str
    arguments: Mapping[str, str] | None


@dataclass(frozen=True, slots=True)
class PluginFileRow:
    """A row of ``system.plugin_files``: a file a trigger of the node runs."""

    trigger: str
    file_name: str
    size: int
    last_modified: int


class NodeClient:
    """Requests to one node. ``on_request`` sees every request before it is sent (tests)."""

    def __init__(
        self,
        node: FleetNode,
        *,
        on_request: Callable[[httpx.Request], None] | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.node = node
        headers = {"Authorization": f"Bearer {node.token}"} if node.token else {}
        hooks = {"request": [on_request]} if on_request else {}
        self._http = httpx.Client(
            base_url=node.url,
            headers=headers,
            timeout=_TIMEOUT,
            event_hooks=hooks,
            transport=transport,
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> NodeClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- the one place requests are sent ---------------------------------------------------------

    def _send(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        body: Any = None,
        timeout: httpx.Timeout = _TIMEOUT,
    ) -> httpx.Response:
        what = f"{method} {path}"
        try:
            response = self._http.request(method, path, params=params, json=body, timeout=timeout)
        except httpx.HTTPError as exc:
            message = f"node {self.node.name} ({self.node.url}) cannot be reached: {exc}"
            unreachable = "check that it runs and that the url in the fleet file is right"
            raise NodeError(message, node=self.node.name, hint=unreachable) from exc
        if response.status_code >= 400:
            said = _error_text(response)
            message = f"node {self.node.name}: {what} answered {response.status_code}: {said}"
            hint: str | None = None
            if response.status_code in (401, 403):
                hint = f"set {self.node.token_env} to an admin token of {self.node.name}"
            raise NodeError(message, node=self.node.name, status=response.status_code, hint=hint)
        return response

    # -- reading -------------------------------------------------------------------------------

    def databases(self) -> set[str]:
        """The node's databases (``GET …/configure/database?format=json``)."""
        response = self._send("GET", DATABASE_PATH, params={"format": "json"})
        return {str(row["iox::database"]) for row in _json_rows(response)}

    def query(self, database: str, sql: str) -> list[dict[str, Any]]:
        response = self._send(
            "GET", QUERY_PATH, params={"db": database, "q": sql, "format": "json"}
        )
        return _json_rows(response)

    def triggers(self, database: str) -> list[TriggerRow]:
        """The triggers of ``database``, with their arguments, from the system tables."""
        rows = self.query(database, "SELECT * FROM system.processing_engine_triggers")
        argument_rows = self.query(
            database, "SELECT * FROM system.processing_engine_trigger_arguments"
        )
        arguments: dict[str, dict[str, str]] = {}
        for row in argument_rows:
            arguments.setdefault(row["trigger_name"], {})[row["argument_key"]] = str(
                row["argument_value"]
            )
        return [
            TriggerRow(
                database=database,
                name=row["trigger_name"],
                plugin_filename=row["plugin_filename"],
                specification=_spec_json(row["trigger_specification"]),
                disabled=bool(row["disabled"]),
                error_behavior=str(row["error_behavior"]).lower(),
                arguments=arguments.get(row["trigger_name"]),
            )
            for row in rows
        ]

    def trigger_names(self, database: str) -> list[str]:
        rows = self.query(database, "SELECT trigger_name FROM system.processing_engine_triggers")
        return [str(row["trigger_name"]) for row in rows]

    def plugin_files(self) -> list[PluginFileRow]:
        """``system.plugin_files``: the files the node's triggers run, sizes and times."""
        rows = self.query(INTERNAL_DB, "SELECT * FROM system.plugin_files")
        return [
            PluginFileRow(
                trigger=row["plugin_name"],
                file_name=row["file_name"],
                size=int(row["size_bytes"]),
                last_modified=int(row["last_modified"]),
            )
            for row in rows
        ]

    # -- changing --------------------------------------------------------------------------------

    def create_database(self, name: str) -> None:
        self._send("POST", DATABASE_PATH, body={"db": name})

    def install_packages(self, packages: Sequence[str]) -> None:
        body = {"packages": list(packages)}
        self._send("POST", INSTALL_PACKAGES_PATH, body=body, timeout=_INSTALL_TIMEOUT)

    def write_file(self, name: str, content: str) -> None:
        """Create or overwrite ``name`` (a path under the plugin dir; parents are made)."""
        self._send("POST", FILES_PATH, body={"plugin_name": name, "content": content})

    def delete_file(self, name: str) -> None:
        """Remove the plugin file or directory ``name`` (a ``pluginmgr serve`` node's
        ``DELETE``; InfluxDB 3 3.10 has no such request and answers 404 or 405)."""
        self._send("DELETE", FILES_PATH, params={"plugin_name": name})

    def replace_directory(self, trigger: str, files: Mapping[str, str]) -> None:
        """Replace the directory plugin ``trigger`` runs with ``files``, atomically."""
        entries = [{"relative_path": p, "content": c} for p, c in sorted(files.items())]
        self._send("PUT", DIRECTORY_PATH, body={"plugin_name": trigger, "files": entries})

    def create_trigger(
        self,
        *,
        database: str,
        name: str,
        plugin_filename: str,
        spec: str,
        arguments: Mapping[str, str] | None,
        error_behavior: str,
        run_async: bool,
        disabled: bool,
    ) -> None:
        body = {
            "db": database,
            "plugin_filename": plugin_filename,
            "trigger_name": name,
            "trigger_settings": {"run_async": run_async, "error_behavior": error_behavior},
            "trigger_specification": spec,
            "trigger_arguments": dict(arguments) if arguments is not None else None,
            "disabled": disabled,
        }
        self._send("POST", TRIGGER_PATH, body=body)

    def update_trigger(
        self,
        *,
        database: str,
        name: str,
        plugin_filename: str,
        arguments: Mapping[str, str] | None,
        error_behavior: str,
        disabled: bool,
    ) -> None:
        """Change a trigger in place (InfluxDB 3.11's ``update trigger``); a node without the
        operation answers 404 or 405."""
        body = {
            "db": database,
            "trigger_name": name,
            "plugin_filename": plugin_filename,
            "trigger_arguments": dict(arguments) if arguments is not None else None,
            "trigger_settings": {"error_behavior": error_behavior},
            "disabled": disabled,
        }
        self._send("PUT", TRIGGER_PATH, body=body)

    def delete_trigger(self, database: str, name: str) -> None:
        params = {"db": database, "trigger_name": name, "force": "true"}
        self._send("DELETE", TRIGGER_PATH, params=params)

    def enable_trigger(self, database: str, name: str) -> None:
        self._send("POST", f"{TRIGGER_PATH}/enable", params={"db": database, "trigger_name": name})

    def disable_trigger(self, database: str, name: str) -> None:
        params = {"db": database, "trigger_name": name}
        self._send("POST", f"{TRIGGER_PATH}/disable", params=params)


def _json_rows(response: httpx.Response) -> list[dict[str, Any]]:
    """A JSON array of objects; an empty body is no rows (a query with none, upstream)."""
    if not response.content.strip():
        return []
    try:
        rows = response.json()
    except ValueError:
        rows = None
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        message = f"{response.request.url.path} answered {response.text[:80]!r}, not JSON rows"
        raise NodeError(message, node=response.request.url.host, status=response.status_code)
    return rows


def _spec_json(text: Any) -> Any:
    try:
        return json.loads(text) if isinstance(text, str) else text
    except ValueError:
        return text


def _error_text(response: httpx.Response) -> str:
    """The node's message: ``{"error": ...}`` as upstream answers, else the body's start."""
    try:
        body = response.json()
    except ValueError:
        return response.text.strip()[:200] or response.reason_phrase
    if isinstance(body, dict) and isinstance(body.get("error"), str):
        return str(body["error"])
    return json.dumps(body)[:200]
