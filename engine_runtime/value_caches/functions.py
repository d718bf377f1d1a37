"""The SQL side of the caches: the ``last_cache()`` and ``distinct_cache()`` table functions
registered in every database's query contexts (`table_functions`), and the schemas of
``system.last_caches`` and ``system.distinct_caches`` (`system_tables`).

``last_cache('table'[, 'name'])`` and ``distinct_cache('table'[, 'name'])`` take the table and,
when it has more than one cache of that kind, the cache's name; other arguments are ignored,
as upstream. Wrong arguments are planning errors with upstream's words (``Error during
planning: provided table name is invalid``). Filters, projections and limits apply to the
cache's rows as to any table's.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final

from .registry import CacheLookupError

if TYPE_CHECKING:
    from .registry import ValueCaches

__all__ = ["DISTINCT_CACHE_FUNCTION", "LAST_CACHE_FUNCTION", "system_tables", "table_functions"]

LAST_CACHE_FUNCTION: Final = "last_cache"
DISTINCT_CACHE_FUNCTION: Final = "distinct_cache"
_PLANNING: Final = "Error during planning: "


class CacheFunctionError(Exception):
    """A planning error of a cache function; its message is what the query's error shows."""


def _literal(expr: Any) -> Any:
    if expr.variant_name() != "Literal":
        return None
    return expr.python_value().as_py()


def _arguments(args: Sequence[Any]) -> tuple[str, str | None]:
    table = _literal(args[0]) if args else None
    if not isinstance(table, str):
        raise CacheFunctionError(f"{_PLANNING}first argument must be the table name as a string")
    name = None
    if len(args) > 1:
        name = _literal(args[1])
        if not isinstance(name, str):
            message = "second argument, if passed, must be the cache name as a string"
            raise CacheFunctionError(f"{_PLANNING}{message}")
    return table, name


def table_functions(caches: ValueCaches, database: str) -> list[Any]:
    """``last_cache`` and ``distinct_cache`` for the query contexts of ``database``."""
    import pyarrow.dataset as ds  # type: ignore[import-untyped]  # pyarrow ships no stubs
    from datafusion import udtf
    from datafusion.catalog import Table

    def reader(kind: str) -> Any:
        def read(*args: Any) -> Any:
            table, name = _arguments(args)
            try:
                rows = caches.read(database, kind, table, name)
            except CacheLookupError as exc:
                raise CacheFunctionError(f"{_PLANNING}{exc}") from None
            # a dataset, not a MemTable: making a MemTable here would re-enter DataFusion's
            # runtime from inside its planner
            return Table(ds.dataset(rows))

        return read

    return [
        udtf(reader("last"), LAST_CACHE_FUNCTION),
        udtf(reader("distinct"), DISTINCT_CACHE_FUNCTION),
    ]


def system_tables(caches: ValueCaches, database: str) -> Mapping[str, Any]:
    """``system.last_caches`` and ``system.distinct_caches`` of ``database`` as
    ``(schema, rows)`` pairs (upstream's columns; strings as Utf8, not Utf8View)."""
    import pyarrow as pa

    ids, names = pa.list_(pa.uint16()), pa.list_(pa.string())
    last = pa.schema(
        [
            pa.field("table", pa.string(), False),
            pa.field("name", pa.string(), False),
            pa.field("key_column_ids", ids, False),
            pa.field("key_column_names", names, False),
            pa.field("value_column_ids", ids),
            pa.field("value_column_names", names),
            pa.field("count", pa.uint64(), False),
            pa.field("ttl", pa.uint64(), False),
        ]
    )
    distinct = pa.schema(
        [
            pa.field("table", pa.string(), False),
            pa.field("name", pa.string(), False),
            pa.field("column_ids", ids, False),
            pa.field("column_names", names, False),
            pa.field("max_cardinality", pa.uint64(), False),
            pa.field("max_age_seconds", pa.uint64(), False),
        ]
    )
    return {
        "last_caches": (last, caches.system_rows(database, "last")),
        "distinct_caches": (distinct, caches.system_rows(database, "distinct")),
    }
