"""The persistent catalog of databases and processing-engine triggers (engine-behavior.md §4.5).

One JSON file (``<data_dir>/catalog.json``: ``format_version``, ``next_trigger_id``,
``databases``, ``triggers`` with the spec in its canonical string form), loaded at construction and
rewritten atomically after every change. Upstream's error strings are kept; where upstream silently
misbehaves we refuse instead: a ``request:`` path used by another trigger (in any database) is an
`AlreadyExistsError`, and retries are bounded (`TriggerSettings.retry_attempts`).
"""

from __future__ import annotations

import json
import math
import threading
from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final, Literal, TypedDict, TypeVar, cast, get_args

from ._atomic import write_atomic
from .errors import (
    AlreadyExistsError,
    CatalogError,
    CatalogFileError,
    DatabaseNotFoundError,
    InvalidTriggerError,
    NotFoundError,
    TriggerRunningError,
)
from .store import validate_database_name
from .triggers import TriggerSpec, TriggerSpecError, parse_trigger_spec

__all__ = [
    "ALREADY_EXISTS_MESSAGE",
    "DATABASE_NOT_FOUND_MESSAGE",
    "FORMAT_VERSION",
    "INTERNAL_DATABASE",
    "INTERNAL_DB_MESSAGE",
    "NOT_FOUND_MESSAGE",
    "TRIGGER_RUNNING_MESSAGE",
    "Catalog",
    "ErrorBehavior",
    "TriggerDefinition",
    "TriggerSettings",
    "trigger_specification_json",
]

#: version of the catalog file written by this code; newer files are refused
FORMAT_VERSION: Final = 1
INTERNAL_DATABASE: Final = "_internal"
#: upstream's strings (``influxdb3_catalog`` ``CatalogError`` Display), asserted by its tests
DATABASE_NOT_FOUND_MESSAGE: Final = "Database not found {db}"
INTERNAL_DB_MESSAGE: Final = "cannot modify internal db"
ALREADY_EXISTS_MESSAGE: Final = "attempted to create a resource that already exists"
NOT_FOUND_MESSAGE: Final = "the requested resource was not found: {name}"
TRIGGER_RUNNING_MESSAGE: Final = (
    "Cannot delete running plugin {name}. Disable it first or use --force."
)

ErrorBehavior = Literal["log", "retry", "disable"]
_T = TypeVar("_T")
_ERROR_BEHAVIORS: Final = get_args(ErrorBehavior)


def _check_seconds(name: str, value: object, *, allow_zero: bool) -> None:
    number = float(value) if isinstance(value, int | float) and not isinstance(value, bool) else -1
    if not math.isfinite(number) or number < 0 or (number == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        raise InvalidTriggerError(
            f"{name} must be a finite number of seconds {bound}, got {value!r}"
        )


@dataclass(frozen=True, slots=True)
class TriggerSettings:
    """How a trigger runs. ``retry_attempts`` bounds ``"retry"`` (upstream retries forever),
    ``retry_backoff`` is the first wait (s), doubled each time; ``execution_timeout`` (s) None is
    the engine's default; ``isolated``: the plugin runs in an environment and host of its own
    (`engine_runtime.environments.isolated_env_dir`), not the shared venv."""

    run_async: bool = False
    error_behavior: ErrorBehavior = "log"
    retry_attempts: int = 3
    retry_backoff: float = 0.5
    execution_timeout: float | None = None
    #: runs in a plugin host of its own, on its own environment (``envs/<trigger>``)
    isolated: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.run_async, bool):
            raise InvalidTriggerError(f"run_async must be true or false, got {self.run_async!r}")
        if not isinstance(self.isolated, bool):
            raise InvalidTriggerError(f"isolated must be true or false, got {self.isolated!r}")
        if self.error_behavior not in _ERROR_BEHAVIORS:
            msg = f"error_behavior must be one of {', '.join(_ERROR_BEHAVIORS)}, got "
            raise InvalidTriggerError(msg + repr(self.error_behavior))
        attempts = self.retry_attempts
        if isinstance(attempts, bool) or not isinstance(attempts, int) or attempts < 0:
            raise InvalidTriggerError(f"retry_attempts must be an integer >= 0, got {attempts!r}")
        _check_seconds("retry_backoff", self.retry_backoff, allow_zero=True)
        if self.execution_timeout is not None:
            _check_seconds("execution_timeout", self.execution_timeout, allow_zero=False)


@dataclass(frozen=True, slots=True)
class TriggerDefinition:
    """One stored trigger; ``arguments`` is None when none were given (plugins see ``None``)."""

    trigger_id: int
    trigger_name: str
    plugin_filename: str
    database: str
    spec: TriggerSpec
    settings: TriggerSettings = TriggerSettings()
    arguments: Mapping[str, str] | None = None
    disabled: bool = False
    #: why the engine failed it (disabled too) until it is enabled again; None: not failed
    failure: str | None = None


#: spec kind -> (serde variant, its one field), for the kinds holding ``spec.value``
_SPEC_JSON_KEYS: Final = {
    "table": ("single_table_wal_write", "table_name"),
    "cron": ("schedule", "schedule"),
    "request": ("request_path", "path"),
}


def trigger_specification_json(spec: TriggerSpec) -> str:
    """The spec as upstream's serde JSON, compact (``system.processing_engine_triggers``)."""
    value: object = "all_tables_wal_write"
    if spec.kind == "every":
        secs, nanos = divmod(spec.every_ns, 1_000_000_000)
        value = {"every": {"duration": {"secs": secs, "nanos": nanos}}}
    elif spec.kind in _SPEC_JSON_KEYS:
        variant, field_name = _SPEC_JSON_KEYS[spec.kind]
        value = {variant: {field_name: spec.value}}
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _freeze_arguments(arguments: Mapping[str, str] | None) -> Mapping[str, str] | None:
    if arguments is None:
        return None
    for key, value in arguments.items():
        if not isinstance(key, str) or not isinstance(value, str):
            msg = f"trigger arguments must map strings to strings, got {key!r}: {value!r}"
            raise InvalidTriggerError(msg)
    return MappingProxyType(dict(arguments))


class _RawTriggerOptional(TypedDict, total=False):
    failure: str  # only written for a failed trigger


@dataclass(frozen=True, slots=True)
class _State:
    """Everything the catalog holds; replaced as a whole on every change."""

    next_id: int = 1
    databases: tuple[str, ...] = ()
    triggers: tuple[TriggerDefinition, ...] = ()


class _RawTrigger(_RawTriggerOptional):
    trigger_id: int
    trigger_name: str
    plugin_filename: str
    database: str
    trigger_specification: str
    settings: dict[str, Any]  # TriggerSettings' fields
    arguments: dict[str, str] | None
    disabled: bool


class _RawCatalog(TypedDict):
    format_version: int
    next_trigger_id: int
    databases: list[str]
    triggers: list[_RawTrigger]


def _dump_trigger(trigger: TriggerDefinition) -> _RawTrigger:
    raw = _RawTrigger(
        trigger_id=trigger.trigger_id,
        trigger_name=trigger.trigger_name,
        plugin_filename=trigger.plugin_filename,
        database=trigger.database,
        trigger_specification=str(trigger.spec),
        settings=asdict(trigger.settings),
        arguments=None if trigger.arguments is None else dict(trigger.arguments),
        disabled=trigger.disabled,
    )
    if trigger.failure is not None:
        raw["failure"] = trigger.failure
    return raw


def _load_trigger(raw: _RawTrigger) -> TriggerDefinition:
    return TriggerDefinition(
        _typed(raw["trigger_id"], int),
        _typed(raw["trigger_name"], str),
        _typed(raw["plugin_filename"], str),
        _typed(raw["database"], str),
        parse_trigger_spec(_typed(raw["trigger_specification"], str)),
        TriggerSettings(**raw["settings"]),
        _freeze_arguments(raw["arguments"]),
        _typed(raw["disabled"], bool),
        None if raw.get("failure") is None else _typed(raw.get("failure"), str),
    )


def _typed(value: object, kind: type[_T]) -> _T:
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise TypeError(f"expected {kind.__name__}, got {value!r}")
    return value


def _read_file(path: Path) -> _State:
    try:
        raw: Any = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        msg = f"cannot read the catalog file {path}: {exc}"
        raise CatalogFileError(msg, hint=_RESTORE_HINT) from exc
    version = raw.get("format_version") if isinstance(raw, dict) else None
    if isinstance(version, int) and version > FORMAT_VERSION:
        msg = f"the catalog file {path} was written by a newer version (format_version {version})"
        raise CatalogFileError(msg, hint="upgrade pluginmgr to open it")
    if version != FORMAT_VERSION:
        msg = f"the catalog file {path} has an unsupported format_version {version!r}"
        raise CatalogFileError(msg, hint=_RESTORE_HINT)
    try:
        catalog = cast(_RawCatalog, raw)
        databases = tuple(_typed(name, str) for name in catalog["databases"])
        triggers = tuple(_load_trigger(item) for item in catalog["triggers"])
        next_id = max(
            [_typed(catalog["next_trigger_id"], int)] + [t.trigger_id + 1 for t in triggers]
        )
        return _State(next_id, databases, triggers)
    except (KeyError, TypeError, AttributeError, ValueError, CatalogError, TriggerSpecError) as exc:
        msg = f"the catalog file {path} is malformed: {exc!r}"
        raise CatalogFileError(msg, hint=_RESTORE_HINT) from exc


_RESTORE_HINT: Final = "restore it from a backup, or move it aside to start with an empty catalog"


class Catalog:
    """Databases and triggers, persisted to ``path`` (None: in memory only). Thread-safe; every
    change writes a new immutable state before swapping it in, so a failed write changes nothing."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path
        self._lock = threading.RLock()
        self._state = _read_file(path) if path is not None and path.exists() else _State()

    def _commit(self, state: _State) -> None:
        """Write ``state`` (if persisted), then swap it in; a failed write changes nothing."""
        if self.path is not None:
            try:
                document = _RawCatalog(
                    format_version=FORMAT_VERSION,
                    next_trigger_id=state.next_id,
                    databases=list(state.databases),
                    triggers=[_dump_trigger(trigger) for trigger in state.triggers],
                )
                self.path.parent.mkdir(parents=True, exist_ok=True)
                text = json.dumps(document, indent=2, ensure_ascii=False)
                write_atomic(self.path, text.encode("utf-8"))
            except OSError as exc:
                msg = f"cannot write the catalog file {self.path}: {exc}"
                raise CatalogFileError(msg, hint="check the data directory's permissions") from exc
        self._state = state

    def databases(self) -> list[str]:
        """Names of the databases, sorted (``_internal`` is not listed)."""
        with self._lock:
            return sorted(self._state.databases)

    def has_database(self, name: str) -> bool:
        """Whether ``name`` exists."""
        with self._lock:
            return name in self._state.databases

    def create_database(self, name: str) -> bool:
        """Create ``name``; False when it already exists. Raises InvalidDatabaseNameError."""
        validate_database_name(name)
        _refuse_internal(name)
        with self._lock:
            if name in self._state.databases:
                return False
            self._commit(replace(self._state, databases=(*self._state.databases, name)))
            return True

    def delete_database(self, name: str) -> list[TriggerDefinition]:
        """Remove ``name`` and its triggers; returns those triggers so the engine can stop them."""
        _refuse_internal(name)
        with self._lock:
            self._require_database(name)
            state = self._state
            removed = [t for t in state.triggers if t.database == name]
            databases = tuple(db for db in state.databases if db != name)
            kept = tuple(t for t in state.triggers if t.database != name)
            self._commit(replace(state, databases=databases, triggers=kept))
            return removed

    def _require_database(self, name: str) -> None:
        if name not in self._state.databases:
            raise DatabaseNotFoundError(DATABASE_NOT_FOUND_MESSAGE.format(db=name))

    def triggers(self, database: str | None = None) -> list[TriggerDefinition]:
        """Triggers in creation order, all of them or those of ``database``."""
        with self._lock:
            return [t for t in self._state.triggers if database in (None, t.database)]

    def get_trigger(self, database: str, name: str) -> TriggerDefinition:
        """The trigger ``name`` of ``database``; raises DatabaseNotFoundError or NotFoundError."""
        with self._lock:
            self._require_database(database)
            for trigger in self._state.triggers:
                if trigger.database == database and trigger.trigger_name == name:
                    return trigger
            raise NotFoundError(NOT_FOUND_MESSAGE.format(name=name))

    def create_trigger(
        self,
        database: str,
        name: str,
        plugin_filename: str,
        spec: TriggerSpec | str,
        *,
        settings: TriggerSettings | None = None,
        arguments: Mapping[str, str] | None = None,
        disabled: bool = False,
    ) -> TriggerDefinition:
        """Store a new trigger and return it, with upstream's errors (engine-behavior.md §4.5).

        A bad spec string raises TriggerSpecError; ``settings`` None means `TriggerSettings()`.
        """
        parsed, frozen = self._checked(database, name, plugin_filename, spec, arguments)
        with self._lock:
            self._require_database(database)
            self._refuse_duplicates(database, name, parsed)
            state, settings = self._state, settings or TriggerSettings()
            trigger = TriggerDefinition(
                state.next_id, name, plugin_filename, database, parsed, settings, frozen, disabled
            )
            self._commit(_State(state.next_id + 1, state.databases, (*state.triggers, trigger)))
            return trigger

    def check_new_trigger(
        self,
        database: str,
        name: str,
        plugin_filename: str,
        spec: TriggerSpec | str,
        *,
        arguments: Mapping[str, str] | None = None,
    ) -> TriggerSpec:
        """Raise what `create_trigger` would raise for these values, changing nothing.

        Callers check before doing slow or lasting work for a trigger (installing its plugin's
        packages), so a duplicate name or path, a missing database or a bad spec costs nothing.
        :returns: the parsed spec.
        """
        parsed, _ = self._checked(database, name, plugin_filename, spec, arguments)
        with self._lock:
            self._require_database(database)
            self._refuse_duplicates(database, name, parsed)
        return parsed

    @staticmethod
    def _checked(
        database: str,
        name: str,
        plugin_filename: str,
        spec: TriggerSpec | str,
        arguments: Mapping[str, str] | None,
    ) -> tuple[TriggerSpec, Mapping[str, str] | None]:
        parsed = parse_trigger_spec(spec) if isinstance(spec, str) else spec
        if not name.strip():
            raise InvalidTriggerError("the trigger name is empty")
        if not plugin_filename.strip():
            raise InvalidTriggerError(f"the plugin filename of trigger {name} is empty")
        frozen = _freeze_arguments(arguments)
        _refuse_internal(database)
        return parsed, frozen

    def _refuse_duplicates(self, database: str, name: str, spec: TriggerSpec) -> None:
        for other in self._state.triggers:
            if other.database == database and other.trigger_name == name:
                msg = f"{ALREADY_EXISTS_MESSAGE}: trigger {name} in database {database}"
                raise AlreadyExistsError(msg)
            if spec.kind == "request" and other.spec == spec:
                msg = (
                    f"{ALREADY_EXISTS_MESSAGE}: request path {spec.value} is already used by "
                    f"trigger {other.trigger_name} in database {other.database}"
                )
                raise AlreadyExistsError(msg, hint="choose another path or delete that trigger")

    def enable_trigger(self, database: str, name: str) -> bool:
        """Mark the trigger enabled (no longer failed); False (not an error) when it already was."""
        return self._set_disabled(database, name, disabled=False)

    def fail_trigger(self, database: str, name: str, reason: str) -> None:
        """Mark the trigger failed for ``reason``: disabled until it is enabled again."""
        with self._lock:
            current = self.get_trigger(database, name)
            updated = replace(current, disabled=True, failure=reason)
            triggers = tuple(updated if t is current else t for t in self._state.triggers)
            self._commit(replace(self._state, triggers=triggers))

    def disable_trigger(self, database: str, name: str) -> bool:
        """Mark the trigger disabled; False (not an error) when it already was."""
        return self._set_disabled(database, name, disabled=True)

    def _set_disabled(self, database: str, name: str, *, disabled: bool) -> bool:
        with self._lock:
            current = self.get_trigger(database, name)
            if current.disabled == disabled:
                return False
            updated = replace(
                current, disabled=disabled, failure=current.failure if disabled else None
            )
            triggers = tuple(updated if t is current else t for t in self._state.triggers)
            self._commit(replace(self._state, triggers=triggers))
            return True

    def delete_trigger(self, database: str, name: str, *, force: bool = False) -> TriggerDefinition:
        """Remove the trigger and return it; an enabled one needs ``force``."""
        with self._lock:
            current = self.get_trigger(database, name)
            if not current.disabled and not force:
                raise TriggerRunningError(TRIGGER_RUNNING_MESSAGE.format(name=name))
            triggers = tuple(t for t in self._state.triggers if t is not current)
            self._commit(replace(self._state, triggers=triggers))
            return current

    def trigger_rows(self, database: str) -> list[dict[str, Any]]:
        """Rows of ``system.processing_engine_triggers`` for ``database`` (upstream's columns)."""
        return [
            {
                "trigger_name": t.trigger_name,
                "plugin_filename": t.plugin_filename,
                "trigger_specification": trigger_specification_json(t.spec),
                "disabled": t.disabled,
                "error_behavior": t.settings.error_behavior,
            }
            for t in self.triggers(database)
        ]

    def argument_rows(self, database: str) -> list[dict[str, Any]]:
        """Rows of ``system.processing_engine_trigger_arguments``: one per argument."""
        return [
            {"trigger_name": t.trigger_name, "argument_key": key, "argument_value": value}
            for t in self.triggers(database)
            for key, value in (t.arguments or {}).items()
        ]


def _refuse_internal(database: str) -> None:
    if database == INTERNAL_DATABASE:
        raise CatalogError(INTERNAL_DB_MESSAGE)
