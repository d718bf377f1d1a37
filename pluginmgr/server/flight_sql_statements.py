"""Flight SQL statements: `Statement`, the database header, bound parameters, ``?`` placeholders.

Parameters bound with ``DoPut`` are one row; each column binds ``$1``, ``$2``, ... by position
and ``$<column name>`` by name, as strings (what ``params`` does on ``/api/v3/query_sql``:
DataFusion coerces them where they are compared or computed with). A ``?`` outside quotes and
comments is read as the next ``$n`` (JDBC writes ``?``). Values are bound, never pasted into
the SQL text.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Final

import pyarrow as pa  # type: ignore[import-untyped]  # pyarrow ships no stubs

from ..errors import PluginManagerError

__all__ = [
    "DATABASE_HEADERS",
    "FlightSqlError",
    "Statement",
    "database_of",
    "hydrated_schema",
    "parameter_schema",
    "parameters",
    "placeholders",
    "positional",
]

_PLACEHOLDER: Final = re.compile(r"\$([0-9]+|[A-Za-z_][A-Za-z0-9_]*)")
#: the call headers that name the database, in order of preference
DATABASE_HEADERS: Final = ("database", "bucket", "bucket-name", "iox-namespace-name")


class FlightSqlError(PluginManagerError):
    """A Flight SQL request this server cannot answer (bad command, database, handle)."""


@dataclass(frozen=True, slots=True)
class Statement:
    """A query on a database, with its bound ``$name`` parameters."""

    database: str
    query: str
    params: Mapping[str, str] | None = None

    def handle(self) -> bytes:
        """This statement as a ticket's statement handle."""
        data = {"database": self.database, "sql_query": self.query, "params": self.params}
        return json.dumps(data).encode()

    @classmethod
    def from_handle(cls, handle: bytes) -> Statement:
        try:
            data = json.loads(handle)
            return cls(data["database"], data["sql_query"], data.get("params"))
        except (ValueError, KeyError, TypeError):
            raise FlightSqlError("the Flight SQL ticket is not one this server made") from None


def _pieces(query: str) -> Iterator[tuple[str, bool]]:
    """``query`` cut into (text, is_code): quoted strings, quoted names and comments are not
    code (a doubled quote inside a literal reads as two adjacent literals, which is the same)."""
    pos = 0
    while pos < len(query):
        char = query[pos]
        if char in "'\"":
            end = query.find(char, pos + 1)
            end = len(query) if end < 0 else end + 1
        elif query.startswith("--", pos):
            end = query.find("\n", pos)
            end = len(query) if end < 0 else end
        elif query.startswith("/*", pos):
            end = query.find("*/", pos)
            end = len(query) if end < 0 else end + 2
        else:
            end = min((i for i in map(query.find, "'\"-/", [pos] * 4) if i > pos), default=-1)
            end = len(query) if end < 0 else end
            yield query[pos:end], True
            pos = end
            continue
        yield query[pos:end], False
        pos = end


def positional(query: str) -> str:
    """``query`` with each ``?`` placeholder outside quotes and comments as ``$1``, ``$2``..."""
    out: list[str] = []
    count = 0
    for piece, code in _pieces(query):
        if not code:
            out.append(piece)
            continue
        parts = piece.split("?")
        out.append(parts[0])
        for part in parts[1:]:
            count += 1
            out.append(f"${count}{part}")
    return "".join(out)


def placeholders(query: str) -> list[str]:
    """The ``$`` placeholders of ``query`` outside quotes and comments: ``1``, ``2``... in
    numeric order, then names in order of appearance (a prepared statement's parameters)."""
    found: list[str] = []
    for piece, code in _pieces(query):
        if code:
            found.extend(m for m in _PLACEHOLDER.findall(piece) if m not in found)
    numbers = sorted((m for m in found if m.isdigit()), key=int)
    return numbers + [m for m in found if not m.isdigit()]


def parameter_schema(query: str) -> pa.Schema:
    """What a prepared statement binds: one string column per placeholder (values are bound
    as strings, see the module's docstring)."""
    return pa.schema([pa.field(name, pa.utf8()) for name in placeholders(query)])


def database_of(headers: Mapping[str, list[str]]) -> str | None:
    """The database a call's headers name (`DATABASE_HEADERS`), or None."""
    for name in DATABASE_HEADERS:
        values = headers.get(name)
        if values and values[-1].strip():
            return values[-1].strip()
    return None


def _param_text(value: Any, name: str) -> str:
    if value is None:
        raise FlightSqlError(f"parameter {name} is null: bind a value")
    if isinstance(value, str):
        return value
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, bool | int | float):
        return json.dumps(value)
    if isinstance(value, bytes):
        raise FlightSqlError(f"parameter {name} is binary: bind a string or a number")
    return str(value)


def parameters(table: pa.Table) -> dict[str, str] | None:
    """One row of bound parameters: ``$1``... by position and ``$<name>`` by column name."""
    if table.num_columns == 0:
        return None
    if table.num_rows != 1:
        message = f"bind one row of parameters per query, got {table.num_rows}"
        raise FlightSqlError(message)
    row = table.to_pylist()[0]
    params: dict[str, str] = {}
    for index, (name, value) in enumerate(row.items(), start=1):
        textual = _param_text(value, f"${index}")
        params[str(index)] = textual
        if name and not name.isdigit():
            params[name.lstrip("$")] = textual
    return params


def hydrated_schema(schema: pa.Schema) -> pa.Schema:
    """``schema`` with dictionary columns (tags) as their value type, as InfluxDB 3 sends them."""
    for index, field in enumerate(schema):
        if pa.types.is_dictionary(field.type):
            schema = schema.set(index, field.with_type(field.type.value_type))
    return schema
