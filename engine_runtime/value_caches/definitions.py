"""Last-value and distinct-value cache definitions: what the catalog stores, checked against a
table's columns, with InfluxDB 3 Core's defaults, generated names and error strings.

A definition names its columns (this store has no column ids). Checks follow upstream's
``CreateLastCacheOp``/``CreateDistinctCacheOp``: key columns must be tags or string, int,
uint or bool fields; distinct columns tags or string fields; a name is unique per table
and cache kind. Where upstream accepts a definition that cannot work we refuse it: a value
column that is also a key column, a repeated column.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from engine_runtime.errors import CatalogError

__all__ = [
    "DEFAULT_COUNT",
    "DEFAULT_MAX_AGE",
    "DEFAULT_MAX_CARDINALITY",
    "DEFAULT_TTL",
    "DISTINCT_TYPE_MESSAGE",
    "LAST_KEY_TYPE_MESSAGE",
    "CacheDefinition",
    "DistinctCacheDefinition",
    "InvalidCacheError",
    "LastCacheDefinition",
    "check_distinct_cache",
    "check_last_cache",
    "dump_cache",
    "load_cache",
]

#: upstream's defaults (``influxdb3_catalog`` ``LastCacheSize``, ``LastCacheTtl``,
#: ``MaxCardinality``, ``MaxAge``)
DEFAULT_COUNT: Final = 1
DEFAULT_TTL: Final = 4 * 60 * 60
DEFAULT_MAX_CARDINALITY: Final = 100_000
DEFAULT_MAX_AGE: Final = 24 * 60 * 60
#: upstream's ``CatalogError`` strings
LAST_KEY_TYPE_MESSAGE: Final = (
    "only uint64, int64, bool, tag, and string columns are supported in the last cache"
)
DISTINCT_TYPE_MESSAGE: Final = "only tag and string columns are supported in the distinct cache"
_INVALID: Final = "invalid configuration provided: {}"
_LAST_KEY_KINDS: Final = frozenset({"tag", "string", "i64", "u64", "bool"})
_DISTINCT_KINDS: Final = frozenset({"tag", "string"})


class InvalidCacheError(CatalogError):
    """A cache definition that cannot be made: an unknown column, a column of the wrong type,
    a count or cardinality of 0."""


@dataclass(frozen=True, slots=True)
class LastCacheDefinition:
    """A last-N-values cache of ``table``: the newest ``count`` rows per key column values.

    ``value_columns`` None caches every non-key column, new ones included (upstream's
    ``AllNonKeyColumns``); ``ttl`` is in seconds, counted from when a row entered the cache.
    """

    database: str
    table: str
    name: str
    key_columns: tuple[str, ...]
    value_columns: tuple[str, ...] | None
    count: int = DEFAULT_COUNT
    ttl: int = DEFAULT_TTL

    @property
    def kind(self) -> str:
        return "last"


@dataclass(frozen=True, slots=True)
class DistinctCacheDefinition:
    """A distinct-values cache of ``table``: each combination of ``columns`` seen within
    ``max_age`` seconds (of the rows' own times), at most ``max_cardinality`` of them."""

    database: str
    table: str
    name: str
    columns: tuple[str, ...]
    max_cardinality: int = DEFAULT_MAX_CARDINALITY
    max_age: int = DEFAULT_MAX_AGE

    @property
    def kind(self) -> str:
        return "distinct"


CacheDefinition = LastCacheDefinition | DistinctCacheDefinition


def _invalid(message: str) -> InvalidCacheError:
    return InvalidCacheError(_INVALID.format(message))


def _no_repeats(columns: tuple[str, ...], what: str) -> None:
    for index, name in enumerate(columns):
        if name in columns[:index]:
            raise _invalid(f"{what} column {name} is given twice")


def check_last_cache(
    database: str,
    table: str,
    kinds: dict[str, str],
    *,
    name: str | None,
    key_columns: tuple[str, ...] | None,
    value_columns: tuple[str, ...] | None,
    count: int,
    ttl: int,
) -> LastCacheDefinition:
    """The definition upstream would make, or InvalidCacheError.

    :param kinds: the table's columns (``time`` aside): name -> ``tag``, ``i64``, ``u64``,
        ``f64``, ``bool`` or ``string``.
    :param key_columns: None: the table's tags, sorted (upstream: its series key).
    """
    if count < 1:
        raise InvalidCacheError("last cache size must be greater than 0")
    if ttl < 0:
        raise _invalid(f"the ttl must be 0 or more seconds, got {ttl}")
    if key_columns is None:
        keys = tuple(sorted(column for column, kind in kinds.items() if kind == "tag"))
    else:
        keys = key_columns
        for column in keys:
            kind = kinds.get(column)
            if kind is None:
                raise _invalid(f"invalid key column provided: {column}")
            if kind not in _LAST_KEY_KINDS:
                raise InvalidCacheError(LAST_KEY_TYPE_MESSAGE)
        _no_repeats(keys, "key")
    if value_columns is not None:
        for column in value_columns:
            if column != "time" and column not in kinds:
                raise _invalid(f"invalid value column provided: {column}")
            if column in keys:
                raise _invalid(f"value column {column} is also a key column")
        _no_repeats(value_columns, "value")
        # upstream keeps the time column last, added when not named
        value_columns = (*(c for c in value_columns if c != "time"), "time")
    cache_name = name or f"{table}_{'_'.join(keys)}_last_cache"
    return LastCacheDefinition(database, table, cache_name, keys, value_columns, count, ttl)


def check_distinct_cache(
    database: str,
    table: str,
    kinds: dict[str, str],
    *,
    name: str | None,
    columns: tuple[str, ...],
    max_cardinality: int,
    max_age: int,
) -> DistinctCacheDefinition:
    """The definition upstream would make, or InvalidCacheError (``kinds`` as for
    `check_last_cache`)."""
    if not columns:
        raise _invalid("no columns provided when creating distinct cache")
    for column in columns:
        kind = kinds.get(column)
        if kind is None:
            raise _invalid(f"invalid column provided: {column}")
        if kind not in _DISTINCT_KINDS:
            raise InvalidCacheError(DISTINCT_TYPE_MESSAGE)
    _no_repeats(columns, "distinct cache")
    if max_cardinality < 1:
        raise _invalid("max_cardinality must be greater than 0")
    if max_age < 0:
        raise _invalid(f"max_age must be 0 or more seconds, got {max_age}")
    cache_name = name or f"{table}_{'_'.join(columns)}_distinct_cache"
    return DistinctCacheDefinition(database, table, cache_name, columns, max_cardinality, max_age)


def dump_cache(definition: CacheDefinition) -> dict[str, Any]:
    """``definition`` as the catalog file stores it."""
    raw: dict[str, Any] = {
        "kind": definition.kind,
        "database": definition.database,
        "table": definition.table,
        "name": definition.name,
    }
    if isinstance(definition, LastCacheDefinition):
        raw["key_columns"] = list(definition.key_columns)
        values = definition.value_columns
        raw["value_columns"] = None if values is None else list(values)
        raw["count"] = definition.count
        raw["ttl"] = definition.ttl
    else:
        raw["columns"] = list(definition.columns)
        raw["max_cardinality"] = definition.max_cardinality
        raw["max_age"] = definition.max_age
    return raw


def _strings(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise TypeError(f"expected a list of strings, got {value!r}")
    return tuple(value)


def _int(value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"expected an integer, got {value!r}")
    return value


def load_cache(raw: Any) -> CacheDefinition:
    """A definition from the catalog file; TypeError or KeyError when it is malformed."""
    kind = raw["kind"]
    where = (str(raw["database"]), str(raw["table"]), str(raw["name"]))
    if kind == "last":
        values = raw["value_columns"]
        return LastCacheDefinition(
            *where,
            _strings(raw["key_columns"]),
            None if values is None else _strings(values),
            _int(raw["count"]),
            _int(raw["ttl"]),
        )
    if kind == "distinct":
        return DistinctCacheDefinition(
            *where, _strings(raw["columns"]), _int(raw["max_cardinality"]), _int(raw["max_age"])
        )
    raise TypeError(f"unknown cache kind {kind!r}")
