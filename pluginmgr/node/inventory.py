"""What a node holds: its plugins (pinned and local), the triggers that use each, its packages.

Read-only, and no plugin is fetched: pinned plugins come from plugins.lock, local ones are hashed
in place, packages come from pylock.toml and the venv's metadata. A `TriggerQuery` reads the
triggers from the first of::

    host (-H/--host or INFLUXDB3_HOST_URL, given explicitly)   the running server's trigger list
    data_dir (INFLUXDB3_DB_DIR or PLUGINMGR_DATA_DIR)          the node's catalog.json, read only
    neither                                                    unknown (shown as ``?``)

A trigger names its plugin as a ``gh:``/``git+`` reference (matched to the pin of that text), a
path under the plugin dir (``./a.py`` is ``a.py``) or a ``registry:`` reference (its pin, else the
highest pinned version of that plugin its specifier allows). A trigger whose plugin is neither
pinned nor local gets a row of its own, origin ``missing``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any, Final, TypeAlias

from packaging.version import InvalidVersion, Version

from ..deps.inputs import is_plugin_ref, local_plugin_paths, local_selection
from ..errors import PluginManagerError
from ..fetch.lockfile import LockEntry, read_lock
from ..fetch.refs import LocalRef, RegistryRef, parse_ref
from ..fetch.registry_source import canonical_name
from .data_layout import node_data

if TYPE_CHECKING:
    from ..deps.pylock import LockedPackage, PyLock
    from ..deps.venv import PluginEnv
    from ..fetch.manager import PluginManager

__all__ = [
    "CATALOG_NAME",
    "PackageRow",
    "PluginRow",
    "ServerTriggerFetch",
    "TriggerQuery",
    "TriggerRow",
    "Triggers",
    "match_plugin",
    "package_rows",
    "plugin_rows",
    "require_plugin_dir",
]

#: ``(host, token)`` -> every trigger of the server at ``host``, as rows of its JSON answer
ServerTriggerFetch: TypeAlias = Callable[[str, str | None], Sequence[Mapping[str, Any]]]

CATALOG_NAME: Final = "catalog.json"
_UNKNOWN_HINT: Final = "pass --data-dir DIR (the server's) or -H URL to see them"


class _SourceError(PluginManagerError):
    """The plugin dir, the data dir or its catalog cannot be read."""


# -- triggers ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TriggerRow:
    """A trigger as the inventory sees it: where it lives and the plugin it runs."""

    database: str
    name: str
    plugin: str
    disabled: bool = False
    #: it has an environment of its own (`pluginmgr.deps.isolated`), not the shared venv
    isolated: bool = False

    @property
    def label(self) -> str:
        return f"{self.database}/{self.name}" + (" (disabled)" if self.disabled else "")


@dataclass(frozen=True, slots=True)
class Triggers:
    """The node's triggers and where they were read: ``server``, ``catalog`` or ``unknown``
    (then ``rows`` is None)."""

    rows: tuple[TriggerRow, ...] | None
    source: str
    location: str | None = None

    def describe(self) -> str:
        if self.rows is None:
            return f"triggers unknown: {_UNKNOWN_HINT}"
        return f"triggers from the {self.source} {self.location}"


@dataclass(frozen=True, slots=True)
class TriggerQuery:
    """Where to read triggers: ``host`` is set only when -H or INFLUXDB3_HOST_URL was given.

    ``fetch`` reads the server's triggers; it is needed only when ``host`` is set (the CLI
    passes its HTTP client's).
    """

    host: str | None
    token: str | None
    data_dir: Path | None
    fetch: ServerTriggerFetch | None = field(default=None, compare=False, repr=False)

    def read(self) -> Triggers:
        """The triggers from the server, else the data dir's catalog, else unknown.

        :raises PluginManagerError: the server or the catalog cannot be read, or the data dir
            does not exist.
        :raises ValueError: ``host`` is set but ``fetch`` is not.
        """
        if self.host is not None:
            if self.fetch is None:
                message = "TriggerQuery.fetch is required to read triggers from a server"
                raise ValueError(message)
            return _server_triggers(self.fetch, self.host, self.token)
        if self.data_dir is not None:
            return _catalog_triggers(self.data_dir)
        return Triggers(None, "unknown")


def _server_triggers(fetch: ServerTriggerFetch, host: str, token: str | None) -> Triggers:
    rows = tuple(
        TriggerRow(
            database=str(row.get("database_name") or row.get("database") or ""),
            name=str(row.get("trigger_name") or ""),
            plugin=str(row.get("plugin_filename") or ""),
            disabled=row.get("disabled") is True,
            isolated=row.get("isolated") is True,
        )
        for row in fetch(host, token)
    )
    return Triggers(rows, "server", host)


def _catalog_triggers(data_dir: Path) -> Triggers:
    from engine_runtime import Catalog, EngineError

    if not data_dir.is_dir():
        message = f"data directory {data_dir} does not exist"
        raise _SourceError(message, hint="pass the server's --data-dir (or PLUGINMGR_DATA_DIR)")
    node = node_data(data_dir)  # DATA_DIR/NODE_ID/catalog.json (DATA_DIR/ for an older one)
    path = node.catalog if node is not None else data_dir / CATALOG_NAME
    try:
        catalog = Catalog(path)  # reads the file; only changes would write it
    except EngineError as exc:
        raise _SourceError(exc.message, hint=exc.hint) from exc
    rows = tuple(
        TriggerRow(t.database, t.trigger_name, t.plugin_filename, t.disabled, t.settings.isolated)
        for t in catalog.triggers()
    )
    return Triggers(rows, "catalog", str(path))


# -- plugins -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PluginRow:
    """One plugin: ``pinned`` in plugins.lock, ``local`` in the plugin dir, or ``missing`` (a
    trigger names it, but it is neither). ``triggers`` is None when they are unknown.
    ``in_use``: why it is in the dependency set (``pinned``, ``trigger``, ``added``,
    ``all-plugins``), None for a file that merely lies in the plugin dir."""

    ref: str
    origin: str
    kind: str | None = None
    version: str | None = None
    rev: str | None = None
    commit: str | None = None
    sha256: str | None = None
    size: int | None = None
    triggers: tuple[TriggerRow, ...] | None = None
    problem: str | None = None
    in_use: str | None = None


def require_plugin_dir(manager: PluginManager) -> Path:
    """The configured plugin directory; `PluginManagerError` when it is unset or absent."""
    plugin_dir = manager.settings.plugin_dir
    hint = "pass --plugin-dir DIR or set INFLUXDB3_PLUGIN_DIR"
    if plugin_dir is None:
        raise _SourceError("no plugin directory: plugins.lock and the venv live in it", hint=hint)
    if not plugin_dir.is_dir():
        raise _SourceError(f"plugin directory {plugin_dir} does not exist", hint=hint)
    return plugin_dir


def _version(entry: LockEntry) -> str | None:
    """The registry version, the git revision and short commit, or the pinned revision."""
    if entry.ref.startswith("registry:"):
        return entry.rev  # its ``commit`` is the artifact's hash, not a git commit
    if entry.commit:
        short = entry.commit[:12]
        return f"{entry.rev} ({short})" if entry.rev and entry.rev != entry.commit else short
    return entry.rev


def _pinned_row(entry: LockEntry) -> PluginRow:
    return PluginRow(
        entry.ref,
        "pinned",
        entry.kind,
        _version(entry),
        entry.rev,
        entry.commit,
        entry.sha256,
        entry.size,
        in_use="pinned",
    )


def _local_rows(manager: PluginManager, plugin_dir: Path, venv: Path) -> dict[str, PluginRow]:
    names = [
        path.relative_to(plugin_dir).as_posix() for path in local_plugin_paths(plugin_dir, venv)
    ]
    report = manager.fetch_many(names)  # local: hashed in place, never pinned
    in_use = _local_reasons(plugin_dir, venv)
    rows = {
        p.ref: PluginRow(
            p.ref, "local", p.kind, sha256=p.sha256, size=p.size, in_use=in_use.get(p.ref)
        )
        for p in report.plugins
    }
    rows.update(
        {
            ref: PluginRow(ref, "local", problem=str(exc), in_use=in_use.get(ref))
            for ref, exc in report.errors
        }
    )
    return dict(sorted(rows.items()))


def _local_reasons(plugin_dir: Path, venv: Path) -> dict[str, str]:
    """The local plugins in the set and why, by the rule the set is resolved with."""
    from ..deps.pylock import PYLOCK_NAME, read_pylock

    lock = read_pylock(plugin_dir / PYLOCK_NAME)
    return local_selection(plugin_dir, venv, all_plugins=lock is not None and lock.all_plugins)


def _registry_match(ref: RegistryRef, rows: Mapping[str, PluginRow]) -> str | None:
    best: tuple[Version, str] | None = None
    for text, row in rows.items():
        if row.origin != "pinned" or not text.startswith("registry:") or row.rev is None:
            continue
        try:
            pinned, version = parse_ref(text), Version(row.rev)
        except (PluginManagerError, InvalidVersion):
            continue
        same = isinstance(pinned, RegistryRef) and canonical_name(pinned.name) == canonical_name(
            ref.name
        )
        if same and ref.specifier.contains(version, prereleases=True):
            if best is None or version > best[0]:
                best = (version, text)
    return best[1] if best else None


def match_plugin(plugin_filename: str, rows: Mapping[str, PluginRow]) -> str | None:
    """The key in ``rows`` of the plugin a trigger's ``plugin_filename`` names; None if none."""
    if plugin_filename in rows:
        return plugin_filename
    try:
        parsed = parse_ref(plugin_filename)
    except PluginManagerError:
        return None
    if isinstance(parsed, LocalRef):
        path = PurePosixPath(parsed.path).as_posix()  # ./a.py and a//b.py name a.py and a/b.py
        row = rows.get(path)
        return path if row is not None and row.origin == "local" else None
    if isinstance(parsed, RegistryRef):
        return _registry_match(parsed, rows)
    return None


def plugin_rows(manager: PluginManager, venv: Path, triggers: Triggers) -> list[PluginRow]:
    """Pinned plugins (siblings pinned with them left out), then local ones, then what triggers
    name but neither holds; each with its triggers when they are known."""
    plugin_dir = require_plugin_dir(manager)
    lock = read_lock(manager.settings.lock_path)
    rows = {
        ref: _pinned_row(entry)
        for ref, entry in sorted(lock.items())
        if is_plugin_ref(ref, entry.kind)
    }
    rows.update(_local_rows(manager, plugin_dir, venv))
    if triggers.rows is None:
        return list(rows.values())
    uses: dict[str, list[TriggerRow]] = {}
    for trigger in triggers.rows:
        key = match_plugin(trigger.plugin, rows) or trigger.plugin
        uses.setdefault(key, []).append(trigger)
    out = [replace(row, triggers=tuple(uses.pop(ref, ()))) for ref, row in rows.items()]
    out += [PluginRow(ref, "missing", triggers=tuple(found)) for ref, found in sorted(uses.items())]
    return out


# -- packages ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PackageRow:
    """One package of pylock.toml, or of the venv only (``version`` None, ``extraneous``).

    ``installed`` is the version the venv holds. ``status``: ``ok`` (that version),
    ``missing``, ``mismatch`` (another version), ``not-applicable`` (its marker is false for
    the venv's interpreter) or ``extraneous``.
    """

    name: str
    version: str | None
    required_by: tuple[str, ...] = ()
    installed: str | None = None
    status: str = "ok"


def _same_version(installed: str, locked: str) -> bool:
    try:
        return Version(installed) == Version(locked)
    except InvalidVersion:
        return installed == locked


def _status(package: LockedPackage, found: str | None, markers: Mapping[str, str]) -> str:
    if not package.applies(markers):
        return "not-applicable"
    if found is None:
        return "missing"
    return "ok" if _same_version(found, package.version) else "mismatch"


def package_rows(lock: PyLock | None, env: PluginEnv) -> list[PackageRow]:
    """The locked packages and whether each is there at its version, then what the venv holds
    that the lock does not list."""
    in_venv = env.installed()
    packages = sorted(lock.packages, key=lambda p: p.key) if lock else []
    markers = env.markers if packages else {}  # the venv's interpreter decides what applies
    rows = [
        PackageRow(p.name, p.version, p.required_by, found, _status(p, found, markers))
        for p in packages
        for found in [in_venv.get(p.key)]
    ]
    locked = {p.key for p in packages}
    rows += [
        PackageRow(name, None, installed=version, status="extraneous")
        for name, version in sorted(in_venv.items())
        if name not in locked
    ]
    return rows
