"""The result tables of Flight SQL's metadata commands, with the schemas the spec defines.

``CommandGetSqlInfo`` answers a small, fixed set (server name and version, read-only, the SQL
dialect facts ADBC and JDBC ask for); ``CommandGetCatalogs``, ``CommandGetDbSchemas``,
``CommandGetTables`` and ``CommandGetTableTypes`` describe one database as InfluxDB 3 does:
the catalog ``public``, the schemas ``iox`` (tables, ``BASE TABLE``) and
``information_schema`` (``VIEW``). Tables have no primary or foreign keys, so those commands
answer no rows. Filter patterns are SQL ``LIKE`` patterns (``%``, ``_``,
``\\`` escapes), as the spec says.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Final

import pyarrow as pa  # type: ignore[import-untyped]  # pyarrow ships no stubs

__all__ = [
    "CATALOG",
    "CATALOGS_SCHEMA",
    "DB_SCHEMAS_SCHEMA",
    "EMPTY_ANSWERS",
    "FOREIGN_KEYS_SCHEMA",
    "PRIMARY_KEYS_SCHEMA",
    "SQL_INFO_SCHEMA",
    "TABLES_SCHEMA",
    "TABLES_WITH_SCHEMA",
    "TABLE_TYPES",
    "TABLE_TYPES_SCHEMA",
    "like",
    "matching",
    "sql_info_table",
]

#: the one catalog, as InfluxDB 3 names it (DataFusion's default catalog)
CATALOG: Final = "public"
#: the table types this server lists
TABLE_TYPES: Final = ("BASE TABLE", "VIEW")

CATALOGS_SCHEMA: Final = pa.schema([pa.field("catalog_name", pa.utf8(), nullable=False)])
DB_SCHEMAS_SCHEMA: Final = pa.schema(
    [pa.field("catalog_name", pa.utf8()), pa.field("db_schema_name", pa.utf8(), nullable=False)]
)
TABLES_SCHEMA: Final = pa.schema(
    [
        pa.field("catalog_name", pa.utf8()),
        pa.field("db_schema_name", pa.utf8()),
        pa.field("table_name", pa.utf8(), nullable=False),
        pa.field("table_type", pa.utf8(), nullable=False),
    ]
)
TABLES_WITH_SCHEMA: Final = TABLES_SCHEMA.append(
    pa.field("table_schema", pa.binary(), nullable=False)
)
TABLE_TYPES_SCHEMA: Final = pa.schema([pa.field("table_type", pa.utf8(), nullable=False)])
PRIMARY_KEYS_SCHEMA: Final = pa.schema(
    [
        pa.field("catalog_name", pa.utf8()),
        pa.field("db_schema_name", pa.utf8()),
        pa.field("table_name", pa.utf8(), nullable=False),
        pa.field("column_name", pa.utf8(), nullable=False),
        pa.field("key_name", pa.utf8()),
        pa.field("key_sequence", pa.int32(), nullable=False),
    ]
)
FOREIGN_KEYS_SCHEMA: Final = pa.schema(
    [
        pa.field("pk_catalog_name", pa.utf8()),
        pa.field("pk_db_schema_name", pa.utf8()),
        pa.field("pk_table_name", pa.utf8(), nullable=False),
        pa.field("pk_column_name", pa.utf8(), nullable=False),
        pa.field("fk_catalog_name", pa.utf8()),
        pa.field("fk_db_schema_name", pa.utf8()),
        pa.field("fk_table_name", pa.utf8(), nullable=False),
        pa.field("fk_column_name", pa.utf8(), nullable=False),
        pa.field("key_sequence", pa.int32(), nullable=False),
        pa.field("fk_key_name", pa.utf8()),
        pa.field("pk_key_name", pa.utf8()),
        pa.field("update_rule", pa.uint8(), nullable=False),
        pa.field("delete_rule", pa.uint8(), nullable=False),
    ]
)
#: commands whose answer is always empty here (tables have no keys), with their schemas
EMPTY_ANSWERS: Final = {
    "CommandGetPrimaryKeys": PRIMARY_KEYS_SCHEMA,
    "CommandGetExportedKeys": FOREIGN_KEYS_SCHEMA,
    "CommandGetImportedKeys": FOREIGN_KEYS_SCHEMA,
    "CommandGetCrossReference": FOREIGN_KEYS_SCHEMA,
}

_VALUE_FIELDS: Final = [
    pa.field("string_value", pa.utf8()),
    pa.field("bool_value", pa.bool_()),
    pa.field("bigint_value", pa.int64()),
    pa.field("int32_bitmask", pa.int32()),
    pa.field("string_list", pa.list_(pa.utf8())),
    pa.field("int32_to_int32_list_map", pa.map_(pa.int32(), pa.list_(pa.int32()))),
]
_VALUE_TYPE: Final = pa.dense_union(_VALUE_FIELDS)
SQL_INFO_SCHEMA: Final = pa.schema(
    [
        pa.field("info_name", pa.uint32(), nullable=False),
        pa.field("value", _VALUE_TYPE, nullable=False),
    ]
)

# SqlInfo numbers (FlightSql.proto) and SqlSupportedCaseSensitivity / SqlNullOrdering values
_CASE_LOWERCASE: Final = 3
_CASE_UNKNOWN: Final = 0
_NULLS_SORTED_HIGH: Final = 0
_TRANSACTION_NONE: Final = 0


def _info(version: str) -> dict[int, str | bool | int]:
    """SqlInfo number -> value; ints are int32 bitmasks/enums except where noted."""
    return {
        0: "pluginmgr",  # FLIGHT_SQL_SERVER_NAME
        1: version,  # FLIGHT_SQL_SERVER_VERSION
        2: pa.__version__,  # FLIGHT_SQL_SERVER_ARROW_VERSION
        3: True,  # FLIGHT_SQL_SERVER_READ_ONLY
        4: True,  # FLIGHT_SQL_SERVER_SQL
        5: False,  # FLIGHT_SQL_SERVER_SUBSTRAIT
        8: _TRANSACTION_NONE,  # FLIGHT_SQL_SERVER_TRANSACTION
        9: False,  # FLIGHT_SQL_SERVER_CANCEL
        500: False,  # SQL_DDL_CATALOG
        501: False,  # SQL_DDL_SCHEMA
        502: False,  # SQL_DDL_TABLE
        503: _CASE_LOWERCASE,  # SQL_IDENTIFIER_CASE: unquoted names fold to lower case
        504: '"',  # SQL_IDENTIFIER_QUOTE_CHAR
        505: _CASE_UNKNOWN,  # SQL_QUOTED_IDENTIFIER_CASE (quoted names keep their case)
        506: True,  # SQL_ALL_TABLES_ARE_SELECTABLE
        507: _NULLS_SORTED_HIGH,  # SQL_NULL_ORDERING
        513: "\\",  # SQL_SEARCH_STRING_ESCAPE
        514: "",  # SQL_EXTRA_NAME_CHARACTERS
        515: True,  # SQL_SUPPORTS_COLUMN_ALIASING
        516: True,  # SQL_NULL_PLUS_NULL_IS_NULL
    }


def sql_info_table(version: str, wanted: Sequence[int]) -> pa.Table:
    """The ``CommandGetSqlInfo`` answer: ``wanted`` numbers that are known (all if empty)."""
    info = _info(version)
    names = [n for n in (wanted or sorted(info)) if n in info]
    children: list[list[object]] = [[] for _ in _VALUE_FIELDS]
    type_ids: list[int] = []
    offsets: list[int] = []
    for name in names:
        value = info[name]
        code = 1 if isinstance(value, bool) else 0 if isinstance(value, str) else 3
        type_ids.append(code)
        offsets.append(len(children[code]))
        children[code].append(value)
    arrays = [pa.array(values, f.type) for values, f in zip(children, _VALUE_FIELDS, strict=True)]
    union = pa.UnionArray.from_dense(
        pa.array(type_ids, pa.int8()),
        pa.array(offsets, pa.int32()),
        arrays,
        [f.name for f in _VALUE_FIELDS],
    )
    return pa.Table.from_arrays([pa.array(names, pa.uint32()), union], schema=SQL_INFO_SCHEMA)


def like(pattern: str | None) -> re.Pattern[str] | None:
    """A SQL ``LIKE`` pattern as a regex (None: matches everything)."""
    if pattern is None:
        return None
    out: list[str] = []
    chars = iter(pattern)
    for char in chars:
        if char == "\\":
            out.append(re.escape(next(chars, "\\")))
        elif char == "%":
            out.append(".*")
        elif char == "_":
            out.append(".")
        else:
            out.append(re.escape(char))
    return re.compile("".join(out), re.DOTALL)


def matching(names: Iterable[str], pattern: re.Pattern[str] | None) -> list[str]:
    """``names`` that ``pattern`` (from `like`) matches whole."""
    return [n for n in names if pattern is None or pattern.fullmatch(n)]
