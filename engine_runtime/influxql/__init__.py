"""InfluxQL on the runtime's store: parse InfluxQL, translate it to DataFusion SQL, run it.

::

    from engine_runtime.influxql import StoreBackend, run_query, v1_json

    results = run_query(StoreBackend(store), "mydb", "SELECT mean(v) FROM cpu GROUP BY time(1m)")
    v1_json(results)  # {"results": [{"statement_id": 0, "series": [...]}]}

`parse` gives the syntax tree (`nodes`), `run_query` one `StatementResult` per statement,
`query_table` one statement as an Arrow table in InfluxDB 3's shape (``iox::measurement``,
``time``, tags, fields) for ``/api/v3/query_influxql`` and Arrow Flight. Modules: `lexer`,
`parser`/`show_parser` (grammar), `nodes` (tree), `timerange`, `condition`, `fields`,
`translate` (SQL), `selects`/`show`/`fill` (running and shaping), `transform` (derivative,
difference, moving_average, ...), `picks` (top, bottom, distinct, mode), `subquery`, `results`
(wire shapes), `backend` (the store seam).
"""

from __future__ import annotations

from engine_runtime.influxql.backend import EngineBackend, InfluxQLBackend, StoreBackend
from engine_runtime.influxql.execute import execute, query_table, run_query
from engine_runtime.influxql.parser import parse, parse_statement
from engine_runtime.influxql.results import (
    EPOCHS,
    MEASUREMENT_COLUMN,
    Series,
    StatementResult,
    results_table,
    v1_chunks,
    v1_json,
)
from engine_runtime.influxql.schema import database_for

__all__ = [
    "EPOCHS",
    "MEASUREMENT_COLUMN",
    "EngineBackend",
    "InfluxQLBackend",
    "Series",
    "StatementResult",
    "StoreBackend",
    "database_for",
    "execute",
    "parse",
    "parse_statement",
    "query_table",
    "results_table",
    "run_query",
    "v1_chunks",
    "v1_json",
]
