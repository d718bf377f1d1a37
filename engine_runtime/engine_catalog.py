"""The catalog operations of `ProcessingEngine`: databases, tables and triggers, each change made
in the catalog first and then carried to the store and the running triggers (`TriggerSet`).

Apart from `engine_runtime.engine`, which keeps the lifecycle, the data path and the wiring:
`ProcessingEngine` inherits these methods, so callers still call them on the engine.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Final

from .catalog import DATABASE_NOT_FOUND_MESSAGE, INTERNAL_DATABASE
from .errors import DatabaseNotFoundError, EngineError, InvalidDatabaseNameError
from .store import validate_database_name
from .trigger_definition import TriggerDefinition, TriggerSettings

if TYPE_CHECKING:
    from .catalog import Catalog
    from .observability import LogRing
    from .stats import StatsRegistry
    from .store import Store
    from .trigger_set import TriggerSet
    from .triggers import TriggerSpec
    from .value_caches.registry import ValueCaches

__all__ = ["INTERNAL_WRITE_MESSAGE", "CatalogOperations"]

#: why a write to ``_internal`` is refused (upstream refuses it as a database name)
INTERNAL_WRITE_MESSAGE: Final = (
    f"invalid database name: {INTERNAL_DATABASE} is the server's internal database and cannot "
    "be written to"
)


class CatalogOperations:
    """Changes to the catalog and what they start or stop; the engine sets the attributes."""

    catalog: Catalog
    store: Store
    stats: StatsRegistry
    logs: LogRing
    _triggers: TriggerSet
    value_caches: ValueCaches

    def create_database(self, name: str, *, retention_seconds: int | None = None) -> bool:
        """Create ``name`` (with a retention period, in seconds); False when it exists (its
        period unchanged). Raises InvalidDatabaseNameError."""
        validate_database_name(name)
        self.store.create_database(name)
        return self.catalog.create_database(name, retention_seconds=retention_seconds)

    def set_retention_period(self, name: str, seconds: int | None) -> None:
        """Set (None: clear) the retention period of ``name``: queries follow at once, and the
        store drops what expired (`_retention`). Raises NotFoundError for an unknown one."""
        self.catalog.set_retention_period(name, seconds)

    def databases(self) -> list[str]:
        """Every database, ``_internal`` included, sorted (``SHOW DATABASES``, the listing)."""
        return sorted({INTERNAL_DATABASE, *self.catalog.databases()})

    def create_table(
        self,
        database: str,
        table: str,
        *,
        tags: Sequence[str] = (),
        fields: Sequence[tuple[str, str]] = (),
    ) -> None:
        """Declare an empty table with fixed column types; creates the database if needed.

        ``fields`` are ``(name, kind)``, kind ``i64``/``u64``/``f64``/``bool``/``string``. Raises
        as `Store.create_table`, or InvalidDatabaseNameError for ``_internal``.
        """
        if database == INTERNAL_DATABASE:
            raise InvalidDatabaseNameError(INTERNAL_WRITE_MESSAGE)
        validate_database_name(database)
        self.store.create_table(database, table, tags=tags, fields=fields)
        if not self.catalog.has_database(database):
            self.catalog.create_database(database)

    def delete_table(self, database: str, table: str) -> None:
        """Delete a table and its rows; raises DatabaseNotFoundError or NotFoundError."""
        if not self.catalog.has_database(database):
            raise DatabaseNotFoundError(DATABASE_NOT_FOUND_MESSAGE.format(db=database))
        self.store.delete_table(database, table)
        self.value_caches.drop_table(database, table)

    def delete_database(self, name: str) -> None:
        """Stop the database's triggers, drop their caches, remove it from the catalog, and
        delete its tables and rows from the store."""
        for definition in self.catalog.delete_database(name):
            self._triggers.stop_key((name, definition.trigger_name), drop_cache=True)
            self.stats.drop(name, definition.trigger_name)
        self.value_caches.drop_database(name)
        if name in self.store.databases():
            self.store.delete_database(name)

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
        """Add a trigger to the catalog and, unless disabled, start it."""
        definition = self.catalog.create_trigger(
            database,
            name,
            plugin_filename,
            spec,
            settings=settings or TriggerSettings(),
            arguments=arguments,
            disabled=disabled,
        )
        if not disabled:
            self._triggers.start(definition)
        return definition

    def check_trigger(
        self,
        database: str,
        name: str,
        plugin_filename: str,
        spec: TriggerSpec | str,
        *,
        arguments: Mapping[str, str] | None = None,
    ) -> TriggerSpec:
        """Raise what `create_trigger` would (database, name, path, spec), changing nothing."""
        return self.catalog.check_new_trigger(
            database, name, plugin_filename, spec, arguments=arguments
        )

    def enable_trigger(self, database: str, name: str) -> None:
        """Enable (persisted) and start it — also when it was enabled but not running."""
        self.catalog.enable_trigger(database, name)
        if not self._triggers.is_running((database, name)):
            self._triggers.start(self.catalog.get_trigger(database, name))

    def disable_trigger(self, database: str, name: str) -> None:
        """Disable (persisted), stop after the current run, and drop its cache."""
        self.catalog.disable_trigger(database, name)
        self._triggers.stop_key((database, name), drop_cache=True)

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
        """Change the trigger in the catalog (`Catalog.update_trigger`), then restart it: a
        running one is stopped after its current run and started again from the new definition
        (its plugin read afresh), so the next event sees the change. Its cache is dropped when
        its plugin or its arguments changed, as a disable drops it."""
        before = self.catalog.get_trigger(database, name)
        after = self.catalog.update_trigger(
            database,
            name,
            plugin_filename=plugin_filename,
            arguments=arguments,
            replace_arguments=replace_arguments,
            disabled=disabled,
            error_behavior=error_behavior,
        )
        fresh = after.plugin_filename != before.plugin_filename or replace_arguments
        self._triggers.stop_key((database, name), drop_cache=fresh or after.disabled)
        if not after.disabled:
            self._triggers.start(after)
        return after

    def delete_trigger(self, database: str, name: str, *, force: bool = False) -> None:
        self.catalog.delete_trigger(database, name, force=force)
        self._triggers.stop_key((database, name), drop_cache=True)
        self.stats.drop(database, name)
        self.logs.drop(database, name)

    def trigger_state(self, database: str, name: str) -> str:
        """``running``, ``disabled`` or ``failed: <why>`` (a plugin that could not be loaded, or
        one failed for its stuck runs, which stays failed until enabled)."""
        state = self._triggers.state((database, name))
        if state == "disabled":
            try:
                failure = self.catalog.get_trigger(database, name).failure
            except EngineError:  # deleted meanwhile
                failure = None
            if failure is not None:
                return f"failed: {failure}"
        return state
