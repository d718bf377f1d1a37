"""What InfluxQL needs to know about a database's tables: `MeasurementSchema`.

The store's tables have a ``time`` column (``Timestamp(ns)``), tags (``Dictionary(Int32, Utf8)``)
and fields; `schemas_from_columns` reads them from ``information_schema.columns`` (the rows of
`COLUMNS_SQL`), so any store that answers SQL can be described.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

__all__ = [
    "COLUMNS_SQL",
    "FIELD_TYPES",
    "MeasurementSchema",
    "database_for",
    "quote_ident",
    "quote_string",
    "schemas_from_columns",
]

#: the catalog query `schemas_from_columns` reads
COLUMNS_SQL: Final = (
    "SELECT table_name, column_name, data_type FROM information_schema.columns "
    "WHERE table_schema = 'iox'"
)
#: Arrow/DataFusion type name -> InfluxQL field type
FIELD_TYPES: Final[dict[str, str]] = {
    "Float64": "float",
    "Int64": "integer",
    "UInt64": "unsigned",
    "Utf8": "string",
    "LargeUtf8": "string",
    "Utf8View": "string",
    "Boolean": "boolean",
}
_TAG_TYPE: Final = "Dictionary(Int32, Utf8)"
#: retention policies that name a database itself (InfluxDB 3's v1 mapping)
_DEFAULT_POLICIES: Final = frozenset({"", "''", "autogen", "default"})


@dataclass(frozen=True, slots=True)
class MeasurementSchema:
    """One table: its tag keys and its fields with their InfluxQL types, both sorted."""

    name: str
    tags: tuple[str, ...] = ()
    fields: tuple[tuple[str, str], ...] = ()

    def is_tag(self, name: str) -> bool:
        """Whether ``name`` is one of the tag keys."""
        return name in self.tags

    def field_type(self, name: str) -> str | None:
        """The InfluxQL type of field ``name``; None when it is not a field."""
        for field, kind in self.fields:
            if field == name:
                return kind
        return None

    def field_names(self) -> tuple[str, ...]:
        """The field names, sorted."""
        return tuple(name for name, _ in self.fields)


def schemas_from_columns(rows: Iterable[Mapping[str, Any]]) -> dict[str, MeasurementSchema]:
    """Table name -> schema, from ``(table_name, column_name, data_type)`` rows.

    Columns of other types (and ``time``) are left out: InfluxQL cannot name them.
    """
    tags: dict[str, list[str]] = {}
    fields: dict[str, list[tuple[str, str]]] = {}
    for row in rows:
        table, column, kind = str(row["table_name"]), str(row["column_name"]), row["data_type"]
        tags.setdefault(table, [])
        fields.setdefault(table, [])
        if column == "time":
            continue
        if kind == _TAG_TYPE:
            tags[table].append(column)
        elif kind in FIELD_TYPES:
            fields[table].append((column, FIELD_TYPES[kind]))
    return {
        table: MeasurementSchema(table, tuple(sorted(tags[table])), tuple(sorted(fields[table])))
        for table in sorted(tags)
    }


def database_for(database: str, retention_policy: str | None) -> str:
    """InfluxDB 3's database for a v1 ``db`` and ``rp``: ``db``, or ``db/rp`` for a named rp.

    An empty rp, ``autogen`` and ``default`` (any case) mean the database itself.
    """
    if retention_policy is None or retention_policy.lower() in _DEFAULT_POLICIES:
        return database
    return f"{database}/{retention_policy.lower()}"


def quote_ident(name: str) -> str:
    """``name`` as a SQL identifier: ``"name"``, inner quotes doubled."""
    return '"' + name.replace('"', '""') + '"'


def quote_string(text: str) -> str:
    """``text`` as a SQL string literal: ``'text'``, inner quotes doubled."""
    return "'" + text.replace("'", "''") + "'"
