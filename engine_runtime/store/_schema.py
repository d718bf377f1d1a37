"""Internal: check parsed blocks against table schemas, and build upstream's table_batches."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from operator import itemgetter
from typing import Any, Final

from engine_runtime.errors import SchemaError
from engine_runtime.line_protocol.parse import LineBlock
from engine_runtime.store._limits import CatalogLimits, table_limit_message, too_many_columns
from engine_runtime.store._table import TableData

__all__ = ["FIELD_KINDS", "check_blocks", "declared_kinds", "table_batches"]

#: the kinds a declared field column may have (`create_table`)
FIELD_KINDS: Final = ("i64", "u64", "f64", "bool", "string")

_KIND_NAMES: Final[dict[str, str]] = {
    "tag": "tag",
    "i64": "Int64 field",
    "u64": "UInt64 field",
    "f64": "Float64 field",
    "bool": "Boolean field",
    "string": "Utf8 field",
}

BlocksByTable = dict[str, list[LineBlock]]
NewKinds = dict[str, dict[str, str]]


def check_blocks(
    blocks: list[LineBlock],
    tables: dict[str, TableData],
    *,
    limits: CatalogLimits | None = None,
    table_count: int = 0,
) -> tuple[BlocksByTable, NewKinds, list[tuple[int, str]]]:
    """Split ``blocks`` into accepted (by table, first-seen order) and refused lines.

    A block holds lines of one shape, so its verdict is its first line's: checking blocks in
    order of their first line gives the same result as checking line by line (a schema only
    grows, and a column's kind never changes).

    :param limits: the node's catalog limits (None: none, as when a log is replayed): a line
        that would create a table past ``limits.tables`` (``table_count`` tables exist on
        the node) or give its table more than ``limits.columns_per_table`` columns is refused.
    :returns: accepted blocks per table, the columns they add per table (name -> kind), and
        ``(line number, message)`` for each line whose column types conflict with the schema
        or with an earlier accepted line of the same write, or that passes a limit.
    """
    accepted: BlocksByTable = {}
    new_kinds: NewKinds = {}
    schemas: dict[str, dict[str, str]] = {}
    errors: list[tuple[int, str]] = []
    created: set[str] = set()
    for block in blocks:
        table = block.measurement
        schema = schemas.get(table)
        if schema is None:
            existing = tables.get(table)
            count = table_count + len(created)
            if existing is None and limits is not None and count >= limits.tables:
                refusal = table_limit_message(count, limits.tables)
                errors.extend((number, refusal) for number in block.line_numbers)
                continue
            schema = schemas[table] = dict(existing.kinds) if existing else {}
        added = _new_columns(block, schema)
        if added and not isinstance(added, str):
            added = too_many_columns(limits, len(schema) + len(added)) or added
        if isinstance(added, str):
            errors.extend((number, added) for number in block.line_numbers)
            continue
        if added:
            schema.update(added)
            new_kinds.setdefault(table, {}).update(added)
        accepted.setdefault(table, []).append(block)
        if table not in tables:
            created.add(table)
    return accepted, new_kinds, errors


def declared_kinds(
    table: str, tags: Sequence[str], fields: Sequence[tuple[str, str]]
) -> dict[str, str]:
    """The column kinds of a declared table: ``tags`` are tag columns, ``fields`` (name, kind).

    :raises SchemaError: for an empty table or column name, a column named twice (or ``time``),
        or a field kind outside `FIELD_KINDS`.
    """
    if not table.strip():
        raise SchemaError("the table name is empty")
    kinds: dict[str, str] = {}
    declared = [(name, "tag") for name in tags] + list(fields)
    for name, kind in declared:
        if not name.strip():
            raise SchemaError(f"table {table}: a column name is empty")
        if name == "time" or name in kinds:
            reason = "is the time column" if name == "time" else "is declared twice"
            raise SchemaError(f"table {table}: column {name!r} {reason}")
        if kind != "tag" and kind not in FIELD_KINDS:
            message = f"table {table}: field {name!r} has unknown kind {kind!r}"
            raise SchemaError(message, hint=f"use one of {', '.join(FIELD_KINDS)}")
        kinds[name] = kind
    return kinds


def _new_columns(block: LineBlock, schema: dict[str, str]) -> dict[str, str] | str:
    """Columns ``block`` adds to ``schema``, or the message for its first conflict."""
    added: dict[str, str] = {}
    for key in block.tag_keys:
        kind = schema.get(key)
        if kind is None:
            added[key] = "tag"
        elif kind != "tag":
            return _conflict(block.measurement, key, kind, "tag")
    for key, kind_written in zip(block.field_keys, block.field_kinds, strict=True):
        kind = schema.get(key)
        if kind is None:
            added[key] = kind_written
        elif kind != kind_written:
            return _conflict(block.measurement, key, kind, kind_written)
    return added


def _conflict(table: str, column: str, have: str, got: str) -> str:
    return (
        f"invalid column type for column '{column}' in table '{table}': "
        f"expected {_KIND_NAMES[have]}, got {_KIND_NAMES[got]}"
    )


def _rows(block: LineBlock) -> list[dict[str, Any]]:
    keys = (*block.tag_keys, *block.field_keys, "time")
    builder = _builders.get(keys)
    if builder is None:
        builder = _row_builder(keys)
    return builder(block.tag_columns, block.field_columns, block.times)


_RowBuilder = Callable[[list[list[str]], list[list[Any]], list[int]], list[dict[str, Any]]]
_builders: dict[tuple[str, ...], _RowBuilder] = {}
_BUILDER_CACHE_SIZE: Final = 256


def _row_builder(keys: tuple[str, ...]) -> _RowBuilder:
    """A function turning columns into row dicts with a dict display for ``keys``.

    A display (``{"a": v0, "b": v1}``) builds a dict about 2.5x faster than
    ``dict(zip(keys, values))``; keys enter the source only through ``repr``.
    """
    names = [f"v{index}" for index in range(len(keys))]
    items = ", ".join(f"{key!r}: {name}" for key, name in zip(keys, names, strict=True))
    source = (
        f"lambda tags, fields, times: [{{{items}}} for {', '.join(names)}, in "
        "zip(*tags, *fields, times)]"
    )
    builder: _RowBuilder = eval(source, {"__builtins__": {"zip": zip}})  # noqa: S307
    if len(_builders) >= _BUILDER_CACHE_SIZE:
        _builders.clear()
    _builders[keys] = builder
    return builder


def table_batches(accepted: BlocksByTable) -> list[dict[str, Any]]:
    """Upstream's WAL-trigger format: ``[{"table_name", "rows": [tags, fields, time]}]``.

    Rows are in line order; each holds the columns of its line only.
    """
    result: list[dict[str, Any]] = []
    for table, blocks in accepted.items():
        if len(blocks) == 1:
            rows = _rows(blocks[0])
        else:
            numbers: list[int] = []
            rows = []
            for block in blocks:
                numbers += block.line_numbers
                rows += _rows(block)
            order = sorted(range(len(numbers)), key=numbers.__getitem__)
            rows = list(itemgetter(*order)(rows))
        result.append({"table_name": table, "rows": rows})
    return result
