"""Internal: check parsed lines against table schemas, and build upstream's table_batches."""

from __future__ import annotations

from typing import Any, Final

from engine_runtime.line_protocol import ParsedLine
from engine_runtime.store._table import TableData

__all__ = ["check_lines", "table_batches"]

_KIND_NAMES: Final[dict[str, str]] = {
    "tag": "tag",
    "i64": "Int64 field",
    "u64": "UInt64 field",
    "f64": "Float64 field",
    "bool": "Boolean field",
    "string": "Utf8 field",
}

LinesByTable = dict[str, list[ParsedLine]]
NewKinds = dict[str, dict[str, str]]


def check_lines(
    lines: list[ParsedLine], tables: dict[str, TableData]
) -> tuple[LinesByTable, NewKinds, list[tuple[ParsedLine, str]]]:
    """Split ``lines`` into accepted (by table, first-seen order) and type conflicts.

    :returns: accepted lines per table, the columns they add per table (name -> kind), and
        ``(line, message)`` for each line whose column types conflict with the schema or
        with an earlier accepted line of the same write.
    """
    accepted: LinesByTable = {}
    new_kinds: NewKinds = {}
    schemas: dict[str, dict[str, str]] = {}
    errors: list[tuple[ParsedLine, str]] = []
    for line in lines:
        table = line.measurement
        schema = schemas.get(table)
        if schema is None:
            existing = tables.get(table)
            schema = schemas[table] = dict(existing.kinds) if existing else {}
        added = _new_columns(line, schema)
        if isinstance(added, str):
            errors.append((line, added))
            continue
        if added:
            schema.update(added)
            new_kinds.setdefault(table, {}).update(added)
        group = accepted.get(table)
        if group is None:
            accepted[table] = [line]
        else:
            group.append(line)
    return accepted, new_kinds, errors


def _new_columns(line: ParsedLine, schema: dict[str, str]) -> dict[str, str] | str:
    """Columns ``line`` adds to ``schema``, or the message for its first conflict."""
    added: dict[str, str] = {}
    for key, _ in line.tags:
        kind = schema.get(key)
        if kind is None:
            added[key] = "tag"
        elif kind != "tag":
            return _conflict(line.measurement, key, kind, "tag")
    for key, (kind_written, _) in line.fields.items():
        kind = schema.get(key)
        if kind is None:
            added[key] = kind_written
        elif kind != kind_written:
            return _conflict(line.measurement, key, kind, kind_written)
    return added


def _conflict(table: str, column: str, have: str, got: str) -> str:
    return (
        f"invalid column type for column '{column}' in table '{table}': "
        f"expected {_KIND_NAMES[have]}, got {_KIND_NAMES[got]}"
    )


def table_batches(accepted: LinesByTable) -> list[dict[str, Any]]:
    """Upstream's WAL-trigger format: ``[{"table_name", "rows": [tags, fields, time]}]``."""
    result: list[dict[str, Any]] = []
    for table, lines in accepted.items():
        rows: list[dict[str, Any]] = []
        for line in lines:
            row: dict[str, Any] = dict(line.tags)
            for key, (_, value) in line.fields.items():
                row[key] = value
            row["time"] = line.time_ns
            rows.append(row)
        result.append({"table_name": table, "rows": rows})
    return result
