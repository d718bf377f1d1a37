"""The persistent catalog of databases and processing-engine triggers (engine-behavior.md §4.5).

One JSON file (``<data_dir>/catalog.json``, its format in `engine_runtime.catalog_file`), loaded
at construction and rewritten atomically after every change. Upstream's error strings are kept;
where upstream silently misbehaves we refuse instead: a ``request:`` path used by another trigger
(in any database) is an `AlreadyExistsError`, and retries are bounded
(`TriggerSettings.retry_attempts`).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any, Final

from .catalog_file import CatalogState, read_catalog_file, write_catalog_file
from .errors import (
    AlreadyExistsError,
    CatalogError,
    DatabaseNotFoundError,
    InvalidTriggerError,
    NotFoundError,
    TriggerRunningError,
)
from .store import check_database_name
from .trigger_definition import (
    TriggerDefinition,
    TriggerSettings,
    freeze_arguments,
    trigger_specification_json,
)
from .triggers import TriggerSpec, parse_trigger_spec
from .value_caches.catalog_ops import CacheCatalog

__all__ = [
    "ALREADY_EXISTS_MESSAGE",
    "DATABASE_NOT_FOUND_MESSAGE",
    "INTERNAL_DATABASE",
    "INTERNAL_DB_MESSAGE",
    "NOT_FOUND_MESSAGE",
    "TRIGGER_RUNNING_MESSAGE",
    "Catalog",
]

INTERNAL_DATABASE: Final = "_internal"
#: upstream's strings (``influxdb3_catalog`` ``CatalogError`` Display), asserted by its tests
DATABASE_NOT_FOUND_MESSAGE: Final = "Database not found {db}"
INTERNAL_DB_MESSAGE: Final = "cannot modify internal db"
ALREADY_EXISTS_MESSAGE: Final = "attempted to create a resource that already exists"
NOT_FOUND_MESSAGE: Final = "the requested resource was not found: {name}"
TRIGGER_RUNNING_MESSAGE: Final = (
    "Cannot delete running plugin {name}. Disable it first or use --force."
)


class Catalog(CacheCatalog):
    """Databases, triggers and caches (`CacheCatalog`), persisted to ``path`` (None: in memory
    only). Thread-safe; every change writes a new immutable state before swapping it in, so a
    failed write changes nothing. ``reseal``: this process owns the file (the server), and
    rewrites one written before checksums with one."""

    def __init__(self, path: Path | None = None, *, reseal: bool = False) -> None:
        self.path = path
        self._lock = threading.RLock()
        self._state = (
            read_catalog_file(path, reseal=reseal)
            if path is not None and path.exists()
            else CatalogState()
        )

    def _commit(self, state: CatalogState) -> None:
        """Write ``state`` (if persisted), then swap it in; a failed write changes nothing."""
        if self.path is not None:
            write_catalog_file(self.path, state)
        self._state = state

    def databases(self) -> list[str]:
        """Names of the databases, sorted (``_internal`` is not listed)."""
        with self._lock:
            return sorted(self._state.databases)

    def has_database(self, name: str) -> bool:
        """Whether ``name`` exists."""
        with self._lock:
            return name in self._state.databases

    def create_database(self, name: str, *, retention_seconds: int | None = None) -> bool:
        """Create ``name`` (with a retention period, in seconds); False when it already
        exists. Raises InvalidDatabaseNameError for a name no store holds (the engine checks
        Core's stricter rules where Core does)."""
        check_database_name(name)
        _refuse_internal(name)
        with self._lock:
            if name in self._state.databases:
                return False
            retention = dict(self._state.retention)
            if retention_seconds is not None:
                retention[name] = retention_seconds
            databases = (*self._state.databases, name)
            self._commit(replace(self._state, databases=databases, retention=retention))
            return True

    def set_retention_period(self, name: str, seconds: int | None) -> None:
        """Set (None: clear) the retention period of ``name``; raises NotFoundError (upstream's
        ``the requested resource was not found``) or CatalogError for ``_internal``."""
        _refuse_internal(name)
        with self._lock:
            if name not in self._state.databases:
                raise NotFoundError(NOT_FOUND_MESSAGE.format(name=name))
            retention = dict(self._state.retention)
            if seconds is None:
                retention.pop(name, None)
            else:
                retention[name] = seconds
            self._commit(replace(self._state, retention=retention))

    def retention_seconds(self, name: str) -> int | None:
        """The retention period of ``name`` in seconds; None: rows are kept forever."""
        return self._state.retention.get(name)  # one read of an immutable state: no lock

    def retention_ns(self, name: str) -> int | None:
        """`retention_seconds` in nanoseconds (what the store asks on every query)."""
        seconds = self._state.retention.get(name)
        return None if seconds is None else seconds * 1_000_000_000

    def delete_database(self, name: str) -> list[TriggerDefinition]:
        """Remove ``name`` and its triggers; returns those triggers so the engine can stop them."""
        _refuse_internal(name)
        with self._lock:
            self._require_database(name)
            state = self._state
            removed = [t for t in state.triggers if t.database == name]
            databases = tuple(db for db in state.databases if db != name)
            kept = tuple(t for t in state.triggers if t.database != name)
            retention = {db: s for db, s in state.retention.items() if db != name}
            caches = tuple(c for c in state.caches if c.database != name)
            self._commit(
                replace(
                    state, databases=databases, triggers=kept, retention=retention, caches=caches
                )
            )
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
            self._commit(
                replace(state, next_id=state.next_id + 1, triggers=(*state.triggers, trigger))
            )
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
        frozen = freeze_arguments(arguments)
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

    def update_trigger(
        self,
        database: str,
        name: str,
        *,
        plugin_filename: str | None = None,
        arguments: Mapping[str, str] | None = None,
        replace_arguments: bool = False,
        disabled: bool | None = None,
        error_behavior: str | None = None,
    ) -> TriggerDefinition:
        """Change what is given (None: kept; ``replace_arguments``: ``arguments`` replace the
        trigger's, None clears them) and return the stored trigger. Everything is checked
        before the one write, so a bad value changes nothing. Enabling clears a failure."""
        with self._lock:
            current = self.get_trigger(database, name)
            if plugin_filename is not None and not plugin_filename.strip():
                raise InvalidTriggerError(f"the plugin filename of trigger {name} is empty")
            settings = current.settings
            if error_behavior is not None:
                # TriggerSettings checks the value (InvalidTriggerError)
                settings = replace(settings, error_behavior=error_behavior)  # type: ignore[arg-type]
            now_disabled = current.disabled if disabled is None else disabled
            updated = replace(
                current,
                plugin_filename=plugin_filename or current.plugin_filename,
                arguments=freeze_arguments(arguments) if replace_arguments else current.arguments,
                settings=settings,
                disabled=now_disabled,
                failure=current.failure if now_disabled else None,
            )
            triggers = tuple(updated if t is current else t for t in self._state.triggers)
            self._commit(replace(self._state, triggers=triggers))
            return updated

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
