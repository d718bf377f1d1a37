"""Running InfluxQL: `run_query` (text -> one result per statement) and `query_table`.

A statement that fails (an unknown database, an unsupported function, SQL the store refuses)
gets its own error and the others still run, as in InfluxDB; only text that does not parse
fails the whole query (InfluxQLSyntaxError).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from engine_runtime.errors import EngineError, InfluxQLError, InfluxQLUnsupportedError
from engine_runtime.influxql.backend import InfluxQLBackend, Schemas
from engine_runtime.influxql.nodes import (
    CreateDatabase,
    SelectStatement,
    ShowDatabases,
    ShowFieldKeys,
    ShowMeasurements,
    ShowRetentionPolicies,
    ShowTagKeys,
    ShowTagValues,
    Statement,
    Unsupported,
)
from engine_runtime.influxql.parser import parse, parse_statement
from engine_runtime.influxql.picks import pick_of, run_picked
from engine_runtime.influxql.results import Series, StatementResult, results_table
from engine_runtime.influxql.selects import run_select
from engine_runtime.influxql.show import (
    show_databases,
    show_field_keys,
    show_measurements,
    show_retention_policies,
    show_tag_keys,
    show_tag_values,
)
from engine_runtime.influxql.subquery import has_subquery, run_subquery
from engine_runtime.influxql.transform import run_transformed, transformation_of
from engine_runtime.store._guard import QueryCancelledError

if TYPE_CHECKING:
    import pyarrow as pa  # type: ignore[import-untyped]  # pyarrow ships no stubs

__all__ = ["execute", "query_table", "run_query"]


def execute(
    statements: Sequence[Statement],
    backend: InfluxQLBackend,
    *,
    database: str | None = None,
    now: int | None = None,
) -> list[StatementResult]:
    """Run parsed ``statements`` on ``backend``.

    :param database: the database of statements that name none (``db=``).
    :param now: what ``now()`` is, in nanoseconds since the epoch (default: the clock).
    """
    schemas = Schemas(backend)
    moment = time.time_ns() if now is None else now
    results = []
    for index, statement in enumerate(statements):
        timezone = statement.timezone if isinstance(statement, SelectStatement) else None
        try:
            series = _run(statement, schemas, database, moment)
        except QueryCancelledError:
            raise  # timed out, client gone, over budget: the request ends, not the statement
        except EngineError as exc:
            results.append(StatementResult(index, error=str(exc)))
        else:
            results.append(StatementResult(index, series, timezone=timezone))
    return results


def _run(
    statement: Statement, schemas: Schemas, database: str | None, now: int
) -> tuple[Series, ...]:
    if isinstance(statement, SelectStatement):
        if has_subquery(statement):
            return run_subquery(statement, schemas, database, now, _run)
        call = transformation_of(statement)
        if call is not None:
            return run_transformed(statement, call, schemas, database, now=now)
        call = pick_of(statement)
        if call is not None:
            return run_picked(statement, call, schemas, database, now=now)
        return run_select(statement, schemas, database, now=now)
    if isinstance(statement, ShowMeasurements):
        return show_measurements(statement, schemas, database, now=now)
    if isinstance(statement, ShowTagKeys):
        return show_tag_keys(statement, schemas, database, now=now)
    if isinstance(statement, ShowTagValues):
        return show_tag_values(statement, schemas, database, now=now)
    if isinstance(statement, ShowFieldKeys):
        return show_field_keys(statement, schemas, database)
    if isinstance(statement, ShowDatabases):
        return show_databases(schemas.backend.databases())
    if isinstance(statement, ShowRetentionPolicies):
        periods = getattr(schemas.backend, "retention_seconds", None)
        return show_retention_policies(statement, schemas.backend.databases(), database, periods)
    if isinstance(statement, CreateDatabase):
        schemas.backend.create_database(statement.name)
        return ()
    if isinstance(statement, Unsupported):
        raise InfluxQLError(statement.message)
    raise InfluxQLError(f"InfluxQL: cannot run {type(statement).__name__}")


def run_query(
    backend: InfluxQLBackend,
    database: str | None,
    text: str,
    *,
    params: Mapping[str, Any] | None = None,
    now: int | None = None,
) -> list[StatementResult]:
    """Parse ``text`` and run every statement; ``params`` binds ``$name`` placeholders.

    :raises InfluxQLSyntaxError: when ``text`` does not parse (nothing runs).
    """
    return execute(parse(text, params), backend, database=database, now=now)


def query_table(
    backend: InfluxQLBackend,
    database: str | None,
    text: str,
    *,
    params: Mapping[str, Any] | None = None,
    now: int | None = None,
) -> pa.Table:
    """The one statement of ``text`` as an Arrow table in InfluxDB 3's shape.

    Columns: ``iox::measurement``, ``time``, the ``GROUP BY`` tags, then the selected columns
    (`results.results_table`).

    :raises InfluxQLSyntaxError: when ``text`` does not parse or holds several statements.
    :raises EngineError: what the statement failed with (InfluxQLError, an unknown database,
        SQL the store refuses), unchanged.
    """
    statement = parse_statement(text, params)
    if isinstance(statement, Unsupported):
        raise InfluxQLUnsupportedError(statement.message)
    moment = time.time_ns() if now is None else now
    series = _run(statement, Schemas(backend), database, moment)
    timezone = statement.timezone if isinstance(statement, SelectStatement) else None
    return results_table(StatementResult(0, series, timezone=timezone))
