"""Query results and their two wire shapes: InfluxDB 1.x JSON and InfluxDB 3 rows.

v1 (`v1_json`, `v1_chunks`)::

    {"results": [{"statement_id": 0, "series": [{"name": "cpu", "tags": {"host": "a"},
      "columns": ["time", "mean"], "values": [["2024-01-01T00:00:00Z", 1.5]]}]}]}

Times are RFC3339 strings (in the statement's ``tz()`` zone), or integers with ``epoch=``
(``ns``, ``u``/``µ``, ``ms``, ``s``, ``m``, ``h``). A statement that failed has ``"error"``
instead of ``"series"``; one without rows has neither.

v3 (`results_table`): one Arrow table per statement, as InfluxDB 3 answers InfluxQL over
``/api/v3/query_influxql`` and Flight: ``iox::measurement`` first, then ``time``, then the
``GROUP BY`` tags (plain strings), then the other columns, every series' rows in order (a
column a series lacks is null there).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Final

import pyarrow as pa  # type: ignore[import-untyped]  # pyarrow ships no stubs

from engine_runtime.errors import InfluxQLError
from engine_runtime.influxql.timerange import format_time, zone_for

__all__ = [
    "EPOCHS",
    "MEASUREMENT_COLUMN",
    "Series",
    "StatementResult",
    "results_table",
    "v1_chunks",
    "v1_json",
    "v1_result",
]

#: ``epoch=`` value -> nanoseconds per unit
EPOCHS: Final[dict[str, int]] = {
    "ns": 1,
    "n": 1,
    "u": 1_000,
    "µ": 1_000,
    "us": 1_000,
    "ms": 1_000_000,
    "s": 1_000_000_000,
    "m": 60_000_000_000,
    "h": 3_600_000_000_000,
}
#: the first column of every v3 InfluxQL result
MEASUREMENT_COLUMN: Final = "iox::measurement"
_ARROW_TYPES: Final = {
    "float": pa.float64(),
    "integer": pa.int64(),
    "unsigned": pa.uint64(),
    "string": pa.string(),
    "boolean": pa.bool_(),
    "time": pa.timestamp("ns"),
    "tag": pa.string(),  # InfluxDB 3 sends tags as plain strings
}


@dataclass(frozen=True, slots=True)
class Series:
    """One series of a result.

    :param name: the measurement (``databases``, ``measurements`` for those SHOWs; None for
        ``SHOW RETENTION POLICIES``, which InfluxDB answers without a name).
    :param tags: the ``GROUP BY`` tags as sorted ``(key, value)`` pairs.
    :param types: each column's InfluxQL type (``float``, ``integer``, ``unsigned``,
        ``string``, ``boolean``), ``time`` for the time column (nanoseconds since the epoch).
    """

    name: str | None
    columns: tuple[str, ...]
    values: tuple[tuple[Any, ...], ...]
    types: tuple[str, ...]
    tags: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class StatementResult:
    """What one statement returned: series, or an error message; ``timezone`` from ``tz()``."""

    statement_id: int
    series: tuple[Series, ...] = ()
    error: str | None = None
    timezone: str | None = None


def _epoch_unit(epoch: str | None) -> int | None:
    if epoch is None or epoch == "":
        return None
    unit = EPOCHS.get(epoch)
    if unit is None:
        message = f"invalid epoch {epoch!r}: use one of {', '.join(EPOCHS)} or leave it out"
        raise InfluxQLError(message)
    return unit


def _json_value(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None  # JSON has no NaN or infinity
    return value


def _row(row: tuple[Any, ...], timed: bool, unit: int | None, zone: Any) -> list[Any]:
    values = [_json_value(v) for v in row]
    if timed and values and values[0] is not None:
        ns = int(values[0])
        if unit is None:
            values[0] = format_time(ns, zone)
        else:
            whole = abs(ns) // unit  # toward zero, as InfluxDB divides
            values[0] = whole if ns >= 0 else -whole
    return values


def _series_json(
    series: Series, rows: Sequence[tuple[Any, ...]], unit: int | None, zone: Any
) -> dict[str, Any]:
    body: dict[str, Any] = {}
    if series.name is not None:
        body["name"] = series.name
    if series.tags:
        body["tags"] = dict(series.tags)
    body["columns"] = list(series.columns)
    timed = bool(series.types) and series.types[0] == "time"
    body["values"] = [_row(row, timed, unit, zone) for row in rows]
    return body


def v1_result(result: StatementResult, *, epoch: str | None = None) -> dict[str, Any]:
    """One statement's v1 JSON object."""
    unit = _epoch_unit(epoch)
    body: dict[str, Any] = {"statement_id": result.statement_id}
    if result.error is not None:
        body["error"] = result.error
        return body
    zone = zone_for(result.timezone)
    if result.series:
        body["series"] = [_series_json(s, s.values, unit, zone) for s in result.series]
    return body


def v1_json(results: Sequence[StatementResult], *, epoch: str | None = None) -> dict[str, Any]:
    """The whole v1 answer: ``{"results": [...]}``; InfluxQLError for an unknown ``epoch``."""
    _epoch_unit(epoch)
    return {"results": [v1_result(result, epoch=epoch) for result in results]}


def v1_chunks(
    results: Sequence[StatementResult], *, epoch: str | None = None, chunk_size: int = 10_000
) -> Iterator[dict[str, Any]]:
    """The v1 answer as InfluxDB streams it with ``chunked=true``: one object per chunk.

    Each chunk holds at most ``chunk_size`` rows of one series; a series continued in the
    next chunk has ``"partial": true``, and so does the statement while chunks of it follow.
    """
    unit = _epoch_unit(epoch)
    size = max(1, chunk_size)
    for result in results:
        if result.error is not None or not result.series:
            yield {"results": [v1_result(result, epoch=epoch)]}
            continue
        zone = zone_for(result.timezone)
        pieces = [
            (series, start)
            for series in result.series
            for start in range(0, max(1, len(series.values)), size)
        ]
        for number, (series, start) in enumerate(pieces):
            body = _series_json(series, series.values[start : start + size], unit, zone)
            if start + size < len(series.values):
                body["partial"] = True
            statement: dict[str, Any] = {"statement_id": result.statement_id, "series": [body]}
            if number + 1 < len(pieces):
                statement["partial"] = True
            yield {"results": [statement]}


def results_table(result: StatementResult) -> pa.Table:
    """One statement's result in InfluxDB 3's shape (see the module docstring).

    :raises InfluxQLError: when the statement failed (its message).
    """
    if result.error is not None:
        raise InfluxQLError(result.error)
    names: dict[str, str] = {MEASUREMENT_COLUMN: "string"}
    tag_keys: dict[str, None] = {}
    for series in result.series:
        if series.types[:1] == ("time",):
            names.setdefault("time", "time")
        tag_keys.update((key, None) for key, _ in series.tags)
    for key in tag_keys:
        names.setdefault(key, "tag")
    for series in result.series:
        for column, kind in zip(series.columns, series.types, strict=True):
            names.setdefault(column, kind)
    data: dict[str, list[Any]] = {name: [] for name in names}
    for series in result.series:
        _append_rows(data, series)
    arrays = [pa.array(data[n], type=_ARROW_TYPES.get(k, pa.string())) for n, k in names.items()]
    return pa.Table.from_arrays(arrays, names=list(names))


def _append_rows(data: dict[str, list[Any]], series: Series) -> None:
    count = len(series.values)
    known = dict(series.tags)
    for name, column in data.items():
        if name == MEASUREMENT_COLUMN:
            column.extend([series.name] * count)
        elif name in known:
            column.extend([known[name]] * count)
        elif name in series.columns:
            position = series.columns.index(name)
            column.extend(row[position] for row in series.values)
        else:
            column.extend([None] * count)
