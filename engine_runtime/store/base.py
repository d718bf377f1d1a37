"""The `Store` seam: what the runtime needs from a database, and the values it returns.

`MemoryStore` implements it in process on DataFusion, `DurableStore` adds a write-ahead log
and persisted Parquet files; a remote InfluxDB 3 backend could implement the same methods.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final, Protocol, TypeAlias

from engine_runtime.errors import InvalidDatabaseNameError
from engine_runtime.line_protocol.parse import LineBlock, LineError

if TYPE_CHECKING:
    import pyarrow as pa  # type: ignore[import-untyped]  # pyarrow ships no stubs

__all__ = [
    "DB_NAME_MESSAGES",
    "MAX_DATABASE_NAME_LENGTH",
    "Store",
    "SystemTable",
    "SystemTablesProvider",
    "TableFunctionsProvider",
    "WriteResult",
    "check_database_name",
    "validate_database_name",
]

#: InfluxDB 3's limit on database name length (255 for the name, ``/``, 255 for a v1 policy)
MAX_DATABASE_NAME_LENGTH: Final = 511
_INTERNAL: Final = "_internal"
#: upstream's words for a refused database name (``ValidateDbNameError``), pinned by a test
DB_NAME_MESSAGES: Final = {
    "char": (
        "invalid character in database or rp name: must be ASCII, containing only letters, "
        "numbers, underscores, or hyphens"
    ),
    "start": "db name did not start with a number or letter",
    "rp": (
        "db name with invalid retention policy, if providing a retention policy name, "
        "must be of form '<db_name>/<rp_name>'"
    ),
    "empty": "db name cannot be empty",
    "long": f"db name too long: max {MAX_DATABASE_NAME_LENGTH}",
}
_NAME_CHARS: Final = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-/")


class WriteResult:
    """Outcome of `Store.write_lp`.

    ``table_batches`` is upstream's WAL-trigger format (engine-behavior.md §5.2): one
    ``{"table_name": str, "rows": [dict]}`` per table in first-seen order; each row holds only
    the columns present in its line, tags first, then fields, then ``"time"`` (int ns). It is
    built from ``source`` when first read: a write that no trigger reads never builds its
    row dicts (about 0.5 µs a row).
    """

    __slots__ = ("_batches", "_source", "blocks", "errors", "lines_written")

    def __init__(
        self,
        lines_written: int,
        errors: tuple[LineError, ...] = (),
        table_batches: list[dict[str, Any]] | None = None,
        *,
        source: Callable[[], list[dict[str, Any]]] | None = None,
        blocks: Mapping[str, list[LineBlock]] | None = None,
    ) -> None:
        self.lines_written = lines_written
        #: the accepted rows as parsed, table -> its line blocks (the value caches read them)
        self.blocks = blocks
        self.errors = errors
        self._batches = table_batches
        self._source = source

    @property
    def table_batches(self) -> list[dict[str, Any]]:
        if self._batches is None:
            self._batches = [] if self._source is None else self._source()
            self._source = None
        return self._batches

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, WriteResult):
            return NotImplemented
        mine = (self.lines_written, self.errors, self.table_batches)
        return mine == (other.lines_written, other.errors, other.table_batches)

    __hash__ = None  # type: ignore[assignment]  # mutable (its batches are built lazily)

    def __repr__(self) -> str:
        return f"WriteResult({self.lines_written}, {self.errors!r}, {self.table_batches!r})"


#: One system table: a ``pyarrow.Table``, or a ``(pyarrow.Schema, rows)`` pair whose rows are
#: dicts keyed by column name (the schema fixes the columns even when there are no rows).
SystemTable: TypeAlias = "pa.Table | tuple[pa.Schema, Sequence[Mapping[str, Any]]]"


class SystemTablesProvider(Protocol):
    """The engine's read-only ``system.<name>`` tables of one database, built on demand.

    An optional capability: `MemoryStore.set_system_tables` accepts one; `Store` does not
    require it.
    """

    def __call__(self, database: str) -> Mapping[str, SystemTable]:
        """Table name (without ``system.``) -> its current contents, for ``database``."""
        ...


#: ``provider(database)`` -> the table functions (DataFusion ``TableFunction``s) its SQL can call;
#: an optional capability, as `SystemTablesProvider` (`MemoryStore.set_table_functions`)
TableFunctionsProvider: TypeAlias = Callable[[str], Sequence[Any]]


class Store(Protocol):
    """A set of databases that accepts line protocol and answers SQL."""

    def write_lp(
        self,
        database: str,
        text: str,
        *,
        precision: str = "ns",
        accept_partial: bool = True,
        default_time_ns: int | None = None,
        no_sync: bool = False,
    ) -> WriteResult:
        """Write line protocol; raises WriteError when nothing (or, strict, not all) is valid.

        A durable store returns once the write is on disk; ``no_sync`` returns before (the
        write may be lost in a crash). Stores that keep nothing on disk ignore it.
        """
        ...

    def query(
        self, database: str, sql: str, params: Mapping[str, str] | None = None
    ) -> list[dict[str, Any]]:
        """Run SQL with ``$name`` parameters; rows as dicts in result column order."""
        ...

    def validate_lp(self, database: str, text: str, *, precision: str = "ns") -> list[LineError]:
        """Every problem ``write_lp`` would report for ``text`` (syntax, and types against the
        current schema), without writing; raises InvalidDatabaseNameError."""
        ...

    def databases(self) -> list[str]:
        """Names of existing databases, sorted."""
        ...

    def create_database(self, name: str, *, no_sync: bool = False) -> None:
        """Create ``name`` (no-op when it exists); raises InvalidDatabaseNameError.

        ``no_sync`` returns before a durable store's flush, as for `write_lp`.
        """
        ...

    def tables(self, database: str) -> list[str]:
        """Table names of ``database``, sorted; raises DatabaseNotFoundError."""
        ...

    def create_table(
        self,
        database: str,
        table: str,
        *,
        tags: Sequence[str] = (),
        fields: Sequence[tuple[str, str]] = (),
    ) -> None:
        """Create an empty table (and the database, if needed) with fixed column types.

        ``tags`` are the tag columns; ``fields`` are ``(name, kind)`` with kind ``i64``, ``u64``,
        ``f64``, ``bool`` or ``string``. A durable store returns once it is on disk. Raises
        InvalidDatabaseNameError, SchemaError, or AlreadyExistsError when the table exists.
        """
        ...

    def delete_table(self, database: str, table: str) -> None:
        """Remove ``table`` and its rows (durably, where the store keeps anything on disk).

        Raises DatabaseNotFoundError, or NotFoundError when there is no such table.
        """
        ...

    def delete_database(self, database: str) -> None:
        """Remove ``database``, its tables and rows (durably, where the store keeps anything
        on disk). Raises DatabaseNotFoundError."""
        ...

    def copy(self) -> Store:
        """An independent snapshot: writes to either side are invisible to the other (dry runs)."""
        ...


def validate_database_name(name: str) -> None:
    """Raise InvalidDatabaseNameError unless InfluxDB 3 Core creates (or writes to) ``name``.

    Core's rules (its HTTP API's ``validate_db_name``): 1 to 511 ASCII characters, letters,
    digits, ``_`` and ``-``, the first a letter or digit, and at most one ``/`` that is not the
    last (``db/rp``, a v1 database and retention policy). ``_internal``, the server's own,
    passes. Each message holds Core's words (`DB_NAME_MESSAGES`) after the name.
    """
    if name == _INTERNAL:
        return
    check_database_name(name)
    if not name[0].isalnum():
        raise InvalidDatabaseNameError(_named(name, DB_NAME_MESSAGES["start"]))
    if name.count("/") > 1 or name.endswith("/"):
        raise InvalidDatabaseNameError(_named(name, DB_NAME_MESSAGES["rp"]))


def check_database_name(name: str) -> None:
    """Raise InvalidDatabaseNameError unless the store can hold ``name``: 1 to 511 ASCII
    letters, digits, ``_``, ``-`` or ``/``. Looser than `validate_database_name`, so that a
    database an older version created keeps loading and answering."""
    if not name:
        raise InvalidDatabaseNameError(f"invalid database name: {DB_NAME_MESSAGES['empty']}")
    if len(name) > MAX_DATABASE_NAME_LENGTH:
        raise InvalidDatabaseNameError(_named(name, DB_NAME_MESSAGES["long"]))
    for position, char in enumerate(name):
        if char not in _NAME_CHARS:
            msg = (
                f"invalid database name '{name}' contains invalid character {char!r} at "
                f"position {position}: {DB_NAME_MESSAGES['char']}"
            )
            raise InvalidDatabaseNameError(msg)


def _named(name: str, problem: str) -> str:
    shown = name if len(name) <= 64 else f"{name[:64]}..."
    return f"invalid database name '{shown}': {problem}"
