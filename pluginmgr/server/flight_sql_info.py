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
    "XDBC_TYPE_INFO_SCHEMA",
    "like",
    "matching",
    "sql_info_table",
    "xdbc_type_info_table",
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
XDBC_TYPE_INFO_SCHEMA: Final = pa.schema(
    [
        pa.field("type_name", pa.utf8(), nullable=False),
        pa.field("data_type", pa.int32(), nullable=False),
        pa.field("column_size", pa.int32()),
        pa.field("literal_prefix", pa.utf8()),
        pa.field("literal_suffix", pa.utf8()),
        pa.field("create_params", pa.list_(pa.field("item", pa.utf8(), nullable=False))),
        pa.field("nullable", pa.int32(), nullable=False),
        pa.field("case_sensitive", pa.bool_(), nullable=False),
        pa.field("searchable", pa.int32(), nullable=False),
        pa.field("unsigned_attribute", pa.bool_()),
        pa.field("fixed_prec_scale", pa.bool_(), nullable=False),
        pa.field("auto_increment", pa.bool_()),
        pa.field("local_type_name", pa.utf8()),
        pa.field("minimum_scale", pa.int32()),
        pa.field("maximum_scale", pa.int32()),
        pa.field("sql_data_type", pa.int32(), nullable=False),
        pa.field("datetime_subcode", pa.int32()),
        pa.field("num_prec_radix", pa.int32()),
        pa.field("interval_precision", pa.int32()),
    ]
)
# the column types of InfluxDB 3 tables (tags and strings, i64, u64, f64, bool, time):
# (name, XdbcDataType, column size, literal prefix, suffix, unsigned, radix, sql type, subcode)
_XDBC_TYPES: Final = (
    ("BOOLEAN", -7, 1, None, None, None, None, -7, None),
    ("BIGINT", -5, 19, None, None, False, 10, -5, None),
    ("BIGINT UNSIGNED", -5, 20, None, None, True, 10, -5, None),
    ("DOUBLE", 8, 53, None, None, False, 2, 8, None),
    ("VARCHAR", 12, None, "'", "'", None, None, 12, None),
    ("TIMESTAMP", 93, 29, "TIMESTAMP '", "'", None, None, 9, 3),
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


class _Int64(int):
    """A SqlInfo value sent as ``bigint_value`` (plain ints are ``int32_bitmask``)."""


_UNLIMITED: Final = _Int64(0)  # the spec's "no limit, or not known"
_FUNCTIONS: Final = {
    509: ["abs", "ceil", "exp", "floor", "ln", "log", "log10", "power", "round", "sqrt"],
    510: ["concat", "length", "lower", "ltrim", "replace", "rtrim", "substr", "trim", "upper"],
    511: ["arrow_typeof", "coalesce", "nullif"],
    512: ["date_bin", "date_trunc", "date_part", "now", "to_timestamp"],
}


def _info(version: str) -> dict[int, str | bool | int | list[str]]:
    """SqlInfo number (FlightSql.proto's ``SqlInfo``) -> value."""
    info: dict[int, str | bool | int | list[str]] = {
        0: "pluginmgr",  # FLIGHT_SQL_SERVER_NAME
        1: version,  # FLIGHT_SQL_SERVER_VERSION
        2: pa.__version__,  # FLIGHT_SQL_SERVER_ARROW_VERSION
        3: True,  # FLIGHT_SQL_SERVER_READ_ONLY
        4: True,  # FLIGHT_SQL_SERVER_SQL
        5: False,  # FLIGHT_SQL_SERVER_SUBSTRAIT
        8: _TRANSACTION_NONE,  # FLIGHT_SQL_SERVER_TRANSACTION
        9: False,  # FLIGHT_SQL_SERVER_CANCEL
        100: 0,  # FLIGHT_SQL_SERVER_STATEMENT_TIMEOUT: none
        101: 0,  # FLIGHT_SQL_SERVER_TRANSACTION_TIMEOUT: none
        500: False,  # SQL_DDL_CATALOG
        501: False,  # SQL_DDL_SCHEMA
        502: False,  # SQL_DDL_TABLE
        503: _CASE_LOWERCASE,  # SQL_IDENTIFIER_CASE: unquoted names fold to lower case
        504: '"',  # SQL_IDENTIFIER_QUOTE_CHAR
        505: _CASE_UNKNOWN,  # SQL_QUOTED_IDENTIFIER_CASE (quoted names keep their case)
        506: True,  # SQL_ALL_TABLES_ARE_SELECTABLE
        507: _NULLS_SORTED_HIGH,  # SQL_NULL_ORDERING
        508: [],  # SQL_KEYWORDS beyond SQL:2003's
        513: "\\",  # SQL_SEARCH_STRING_ESCAPE
        514: "",  # SQL_EXTRA_NAME_CHARACTERS
        515: True,  # SQL_SUPPORTS_COLUMN_ALIASING
        516: True,  # SQL_NULL_PLUS_NULL_IS_NULL
        518: True,  # SQL_SUPPORTS_TABLE_CORRELATION_NAMES
        519: True,  # SQL_SUPPORTS_DIFFERENT_TABLE_CORRELATION_NAMES
        520: True,  # SQL_SUPPORTS_EXPRESSIONS_IN_ORDER_BY
        521: True,  # SQL_SUPPORTS_ORDER_BY_UNRELATED
        522: 0b11,  # SQL_SUPPORTED_GROUP_BY: unrelated, beyond select
        523: False,  # SQL_SUPPORTS_LIKE_ESCAPE_CLAUSE
        524: False,  # SQL_SUPPORTS_NON_NULLABLE_COLUMNS (no DDL)
        525: 0b11,  # SQL_SUPPORTED_GRAMMAR: minimum, core
        526: 0b1,  # SQL_ANSI92_SUPPORTED_LEVEL: entry
        527: False,  # SQL_SUPPORTS_INTEGRITY_ENHANCEMENT_FACILITY
        528: 2,  # SQL_OUTER_JOINS_SUPPORT_LEVEL: full
        529: "schema",  # SQL_SCHEMA_TERM
        530: "procedure",  # SQL_PROCEDURE_TERM
        531: "catalog",  # SQL_CATALOG_TERM
        532: True,  # SQL_CATALOG_AT_START
        533: 0,  # SQL_SCHEMAS_SUPPORTED_ACTIONS
        534: 0,  # SQL_CATALOGS_SUPPORTED_ACTIONS
        535: 0,  # SQL_SUPPORTED_POSITIONED_COMMANDS
        536: False,  # SQL_SELECT_FOR_UPDATE_SUPPORTED
        537: False,  # SQL_STORED_PROCEDURES_SUPPORTED
        538: 0b111,  # SQL_SUPPORTED_SUBQUERIES: comparisons, EXISTS, IN
        539: True,  # SQL_CORRELATED_SUBQUERIES_SUPPORTED
        540: 0b11,  # SQL_SUPPORTED_UNIONS: UNION, UNION ALL
        563: False,  # SQL_TRANSACTIONS_SUPPORTED
        564: 0,  # SQL_SUPPORTED_TRANSACTIONS_ISOLATION_LEVELS
        565: False,  # SQL_DATA_DEFINITION_CAUSES_TRANSACTION_COMMIT
        566: False,  # SQL_DATA_DEFINITIONS_IN_TRANSACTIONS_IGNORED
        567: 0b10,  # SQL_SUPPORTED_RESULT_SET_TYPES: forward only
        568: 0,  # SQL_SUPPORTED_CONCURRENCIES_FOR_RESULT_SET_UNSPECIFIED
        569: 0b10,  # ..._FORWARD_ONLY: read only
        570: 0,  # ..._SCROLL_SENSITIVE
        571: 0,  # ..._SCROLL_INSENSITIVE
        572: False,  # SQL_BATCH_UPDATES_SUPPORTED
        573: False,  # SQL_SAVEPOINTS_SUPPORTED
        574: False,  # SQL_NAMED_PARAMETERS_SUPPORTED
        575: False,  # SQL_LOCATORS_UPDATE_COPY
        576: False,  # SQL_STORED_FUNCTIONS_USING_CALL_SYNTAX_SUPPORTED
    }
    info.update(_FUNCTIONS)  # SQL_NUMERIC/STRING/SYSTEM/DATETIME_FUNCTIONS (some of them)
    info.update(dict.fromkeys(range(541, 562), _UNLIMITED))  # SQL_MAX_*: int64 limits
    return info


def _code(value: object) -> int:
    """The dense union's type code for ``value``."""
    if isinstance(value, bool):
        return 1
    if isinstance(value, str):
        return 0
    if isinstance(value, _Int64):
        return 2
    if isinstance(value, list):
        return 4
    return 3


def sql_info_table(version: str, wanted: Sequence[int]) -> pa.Table:
    """The ``CommandGetSqlInfo`` answer: ``wanted`` numbers that are known (all if empty)."""
    info = _info(version)
    names = [n for n in (wanted or sorted(info)) if n in info]
    children: list[list[object]] = [[] for _ in _VALUE_FIELDS]
    type_ids: list[int] = []
    offsets: list[int] = []
    for name in names:
        value = info[name]
        code = _code(value)
        type_ids.append(code)
        offsets.append(len(children[code]))
        children[code].append(value)
    arrays = [
        pa.array([int(v) if isinstance(v, _Int64) else v for v in values], f.type)
        for values, f in zip(children, _VALUE_FIELDS, strict=True)
    ]
    union = pa.UnionArray.from_dense(
        pa.array(type_ids, pa.int8()),
        pa.array(offsets, pa.int32()),
        arrays,
        [f.name for f in _VALUE_FIELDS],
    )
    return pa.Table.from_arrays([pa.array(names, pa.uint32()), union], schema=SQL_INFO_SCHEMA)


def xdbc_type_info_table(data_type: int | None) -> pa.Table:
    """``CommandGetXdbcTypeInfo``: the column types tables have (``data_type``'s, if given)."""
    rows = [t for t in _XDBC_TYPES if data_type is None or t[1] == data_type]
    searchable_full, nullable = 3, 1
    data = {
        "type_name": [t[0] for t in rows],
        "data_type": [t[1] for t in rows],
        "column_size": [t[2] for t in rows],
        "literal_prefix": [t[3] for t in rows],
        "literal_suffix": [t[4] for t in rows],
        "create_params": [None] * len(rows),
        "nullable": [nullable] * len(rows),
        "case_sensitive": [t[0] == "VARCHAR" for t in rows],
        "searchable": [searchable_full] * len(rows),
        "unsigned_attribute": [t[5] for t in rows],
        "fixed_prec_scale": [False] * len(rows),
        "auto_increment": [None if t[5] is None else False for t in rows],
        "local_type_name": [t[0] for t in rows],
        "minimum_scale": [None] * len(rows),
        "maximum_scale": [None] * len(rows),
        "sql_data_type": [t[7] for t in rows],
        "datetime_subcode": [t[8] for t in rows],
        "num_prec_radix": [t[6] for t in rows],
        "interval_precision": [None] * len(rows),
    }
    return pa.table(data, schema=XDBC_TYPE_INFO_SCHEMA)


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
