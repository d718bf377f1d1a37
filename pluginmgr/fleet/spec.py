"""The fleet file: nodes with roles, databases and triggers, parsed into frozen values.

Every mistake is one `FleetFileError` naming the file, the entry (``nodes[2]``,
``triggers "downsample"``) and what to fix. Parsing reads the file and the environment (for
the nodes' tokens) and nothing else: no network, no plugin is fetched here.

A trigger runs on the nodes whose roles meet its own. Its roles come from its spec unless it
names them: ``table:``/``all_tables`` -> ingest, ``request:`` -> query, ``every:``/``cron:`` ->
process. A node without ``roles`` has all three.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from engine_runtime import EngineError, parse_trigger_spec

from ..errors import FleetFileError, PluginManagerError
from ..fetch.refs import parse_ref

__all__ = [
    "DEFAULT_TOKEN_ENV",
    "ROLES",
    "FleetFile",
    "FleetNode",
    "FleetTrigger",
    "read_fleet_file",
    "roles_of_spec",
]

ROLES: Final = ("ingest", "query", "process")
#: the token of a node that names no ``token-env``, as the influxdb3 CLI reads it
DEFAULT_TOKEN_ENV: Final = "INFLUXDB3_AUTH_TOKEN"  # noqa: S105 - a variable name
_ERROR_BEHAVIORS: Final = ("log", "retry", "disable")
_TOP_KEYS: Final = frozenset(
    {"plugin-repo", "python", "find-links", "index-url", "no-index", "databases", "nodes"}
    | {"triggers"}
)
_NODE_KEYS: Final = frozenset({"name", "url", "token-env", "roles"})
_TRIGGER_KEYS: Final = frozenset(
    {"name", "database", "spec", "plugin", "arguments", "roles", "error-behavior", "run-async"}
    | {"disabled"}
)


@dataclass(frozen=True, slots=True)
class FleetNode:
    """One InfluxDB 3 node; ``token`` is read from ``token_env`` (None: no token is sent)."""

    name: str
    url: str
    roles: frozenset[str]
    token_env: str
    token: str | None = field(default=None, repr=False)


@dataclass(frozen=True, slots=True)
class FleetTrigger:
    """One trigger as the file wants it on every node whose roles meet ``roles``."""

    name: str
    database: str
    spec: str
    plugin: str
    arguments: Mapping[str, str] | None
    roles: frozenset[str]
    error_behavior: str = "log"
    run_async: bool = False
    disabled: bool = False

    @property
    def key(self) -> str:
        """``database/name``: triggers are unique per database, as in InfluxDB 3."""
        return f"{self.database}/{self.name}"

    def runs_on(self, node: FleetNode) -> bool:
        return bool(self.roles & node.roles)


@dataclass(frozen=True, slots=True)
class FleetFile:
    """A parsed fleet file; ``path`` is absolute, locks and state live beside it."""

    path: Path
    nodes: tuple[FleetNode, ...]
    databases: tuple[str, ...]
    triggers: tuple[FleetTrigger, ...]
    plugin_repo: str | None = None
    python: str | None = None
    find_links: tuple[str, ...] = ()
    index_url: str | None = None
    no_index: bool = False

    @property
    def directory(self) -> Path:
        return self.path.parent

    def node(self, name: str) -> FleetNode:
        for node in self.nodes:
            if node.name == name:
                return node
        names = ", ".join(n.name for n in self.nodes)
        message = f"{self.path}: no node named {name!r}"
        raise FleetFileError(message, hint=f"--target takes one of: {names}")

    def triggers_for(self, node: FleetNode) -> tuple[FleetTrigger, ...]:
        return tuple(t for t in self.triggers if t.runs_on(node))


def roles_of_spec(spec: str) -> frozenset[str]:
    """The roles a trigger spec implies (see the module docstring)."""
    kind = parse_trigger_spec(spec).plugin_type
    return frozenset({"WalRows": {"ingest"}, "Request": {"query"}}.get(kind, {"process"}))


class _Reader:
    """Reads one file's values, raising errors that name the file and the entry."""

    def __init__(self, path: Path, env: Mapping[str, str]) -> None:
        self.path = path
        self.env = env

    def fail(self, where: str, what: str, hint: str) -> FleetFileError:
        return FleetFileError(f"{self.path}: {where}: {what}", hint=hint)

    def keys(self, where: str, table: Mapping[str, Any], allowed: frozenset[str]) -> None:
        unknown = sorted(set(table) - allowed)
        if unknown:
            raise self.fail(
                where, f"unknown key {unknown[0]!r}", f"use {', '.join(sorted(allowed))}"
            )

    def text(self, where: str, table: Mapping[str, Any], key: str, *, required: bool = True) -> Any:
        value = table.get(key)
        if value is None and not required:
            return None
        if not isinstance(value, str) or not value.strip():
            raise self.fail(where, f"{key!r} must be a non-empty string", f'set {key} = "..."')
        return value.strip()

    def flag(self, where: str, table: Mapping[str, Any], key: str) -> bool:
        value = table.get(key, False)
        if not isinstance(value, bool):
            raise self.fail(where, f"{key!r} must be true or false", f"set {key} = true")
        return value

    def roles(self, where: str, table: Mapping[str, Any]) -> frozenset[str] | None:
        value = table.get("roles")
        if value is None:
            return None
        if not isinstance(value, list) or not value:
            raise self.fail(where, "'roles' must be a non-empty list", 'e.g. roles = ["ingest"]')
        for role in value:
            if role not in ROLES:
                hint = f"a role is one of {', '.join(ROLES)}"
                raise self.fail(where, f"unknown role {role!r}", hint)
        return frozenset(value)

    def node(self, index: int, raw: Any) -> FleetNode:
        where = f"nodes[{index}]"
        if not isinstance(raw, dict):
            raise self.fail(where, "must be a table", "write it as [[nodes]] with name and url")
        self.keys(where, raw, _NODE_KEYS)
        name = self.text(where, raw, "name")
        where = f"node {name!r}"
        url = self.text(where, raw, "url").rstrip("/")
        if not url.startswith(("http://", "https://")):
            raise self.fail(where, f"url {url!r} is not http(s)", 'e.g. url = "https://host:8181"')
        roles = self.roles(where, raw) or frozenset(ROLES)
        token_env = self.text(where, raw, "token-env", required=False)
        token = self.env.get(token_env or DEFAULT_TOKEN_ENV) or None
        if token_env and token is None:
            hint = f"export {token_env}=<the node's token>, or remove token-env"
            raise self.fail(where, f"the environment variable {token_env} is not set", hint)
        return FleetNode(name, url, roles, token_env or DEFAULT_TOKEN_ENV, token)

    def arguments(self, where: str, raw: Any) -> dict[str, str] | None:
        if raw is None:
            return None
        if not isinstance(raw, dict):
            raise self.fail(where, "'arguments' must be a table", 'e.g. arguments = { k = "v" }')
        out: dict[str, str] = {}
        for key, value in raw.items():
            if not isinstance(value, str | int | float):  # bool is an int
                hint = "write each argument as a string, number or true/false"
                raise self.fail(where, f"argument {key!r} must be a scalar", hint)
            out[str(key)] = str(value).lower() if isinstance(value, bool) else str(value)
        return out

    def trigger(self, index: int, raw: Any, databases: tuple[str, ...]) -> FleetTrigger:
        where = f"triggers[{index}]"
        if not isinstance(raw, dict):
            raise self.fail(where, "must be a table", "write it as [[triggers]]")
        self.keys(where, raw, _TRIGGER_KEYS)
        name = self.text(where, raw, "name")
        where = f"trigger {name!r}"
        database = self.text(where, raw, "database")
        if database not in databases:
            hint = f"add {database!r} to databases = [...] at the top of the file"
            raise self.fail(where, f"database {database!r} is not in databases", hint)
        spec = self.text(where, raw, "spec")
        try:
            implied = roles_of_spec(spec)
        except EngineError as exc:
            hint = "e.g. table:cpu, all_tables, every:10m, cron:0 0 * * * *, request:path"
            raise self.fail(where, f"bad spec {spec!r}: {exc}", hint) from None
        plugin = self.text(where, raw, "plugin")
        try:
            parse_ref(plugin)
        except PluginManagerError as exc:
            raise self.fail(
                where, f"bad plugin {plugin!r}: {exc.message}", exc.hint or ""
            ) from None
        behavior = raw.get("error-behavior", "log")
        if behavior not in _ERROR_BEHAVIORS:
            hint = f"use one of {', '.join(_ERROR_BEHAVIORS)}"
            raise self.fail(where, f"unknown error-behavior {behavior!r}", hint)
        return FleetTrigger(
            name=name,
            database=database,
            spec=spec,
            plugin=plugin,
            arguments=self.arguments(where, raw.get("arguments")),
            roles=self.roles(where, raw) or implied,
            error_behavior=behavior,
            run_async=self.flag(where, raw, "run-async"),
            disabled=self.flag(where, raw, "disabled"),
        )


def _list_of_text(reader: _Reader, data: Mapping[str, Any], key: str) -> tuple[str, ...]:
    value = data.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise reader.fail(key, "must be a list of strings", f'e.g. {key} = ["a"]')
    return tuple(value)


def _unique(reader: _Reader, kind: str, names: list[str]) -> None:
    seen: set[str] = set()
    for name in names:
        if name in seen:
            message = f"{reader.path}: {kind} {name!r} is named twice"
            raise FleetFileError(message, hint=f"give each {kind} a distinct name")
        seen.add(name)


def read_fleet_file(path: Path, env: Mapping[str, str] | None = None) -> FleetFile:
    """Parse the fleet file at ``path`` (tokens from ``env``, default the process's)."""
    path = path.absolute()
    reader = _Reader(path, os.environ if env is None else env)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise FleetFileError(f"{path}: cannot read: {exc.strerror}", hint="check the path") from exc
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise FleetFileError(f"{path}: not valid TOML: {exc}", hint="fix the syntax") from exc
    reader.keys("top level", data, _TOP_KEYS)
    databases = _list_of_text(reader, data, "databases")
    raw_nodes = data.get("nodes")
    if not isinstance(raw_nodes, list) or not raw_nodes:
        raise reader.fail("nodes", "no node is listed", "add [[nodes]] with name and url")
    nodes = tuple(reader.node(i, raw) for i, raw in enumerate(raw_nodes))
    _unique(reader, "node", [n.name for n in nodes])
    raw_triggers = data.get("triggers", [])
    if not isinstance(raw_triggers, list):
        raise reader.fail("triggers", "must be an array of tables", "write [[triggers]]")
    triggers = tuple(reader.trigger(i, raw, databases) for i, raw in enumerate(raw_triggers))
    _unique(reader, "trigger", [t.key for t in triggers])
    for trigger in triggers:
        if not any(trigger.runs_on(node) for node in nodes):
            roles = ", ".join(sorted(trigger.roles))
            hint = "give a node that role, or set roles on the trigger"
            raise reader.fail(f"trigger {trigger.name!r}", f"no node has role {roles}", hint)
    return FleetFile(
        path=path,
        nodes=nodes,
        databases=databases,
        triggers=triggers,
        plugin_repo=reader.text("top level", data, "plugin-repo", required=False),
        python=reader.text("top level", data, "python", required=False),
        find_links=_list_of_text(reader, data, "find-links"),
        index_url=reader.text("top level", data, "index-url", required=False),
        no_index=reader.flag("top level", data, "no-index"),
    )
