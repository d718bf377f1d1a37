"""The value caches: what one cache costs a write, and ``last_cache()`` against the SQL it
replaces, on ``--rows`` rows (20 series, 1 s apart: `make_batch`).

* **Writes**: the same 10k-line batches loaded into three engines in turns, one without a
  cache, one with a last-value cache on the series (host, region), one with a distinct-value
  cache on them; rows/s of ``ProcessingEngine.write_lp`` (parse, insert, cache update).
* **Queries**: ``SELECT * FROM last_cache('cpu')`` against the two ways SQL answers "the
  newest row of each series": one ``ORDER BY time DESC LIMIT 1`` query per series (what a
  dashboard panel per host sends) and one ``row_number()`` window query over the table.
  Medians of ``engine.query`` (planning, execution, conversion to dicts).
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

from _common import BATCH, make_batch

from engine_runtime import Catalog, ProcessingEngine

__all__ = ["bench_caches"]

_WINDOW = (
    "SELECT * FROM (SELECT *, row_number() OVER (PARTITION BY host, region ORDER BY time DESC)"
    " AS rn FROM cpu) WHERE rn = 1"
)
_PER_SERIES = (
    "SELECT * FROM cpu WHERE host = '{host}' AND region = '{region}' ORDER BY time DESC LIMIT 1"
)


def _median(runs: int, func: Callable[[], object]) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        func()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _engine(cache: str | None) -> ProcessingEngine:
    engine = ProcessingEngine(Catalog(None))
    engine.start()
    engine.write_lp("bench", make_batch(0, 1))  # the table exists: a cache can be made
    if cache == "last":
        engine.value_caches.create_last_cache("bench", "cpu", key_columns=["host", "region"])
    elif cache == "distinct":
        engine.value_caches.create_distinct_cache("bench", "cpu", ["host", "region"])
    return engine


def _load(
    rows: int, kinds: tuple[str | None, ...]
) -> tuple[dict[str | None, ProcessingEngine], dict[str | None, float]]:
    """One engine per cache kind, loaded batch by batch in turns (the machine's noise falls on
    all alike); each engine's write rate (rows/s)."""
    engines = {kind: _engine(kind) for kind in kinds}
    spent = dict.fromkeys(kinds, 0.0)
    for kind, engine in engines.items():
        _time_updates(engine, kind)
    for number, first in enumerate(range(0, rows, BATCH)):
        text = make_batch(first, min(BATCH, rows - first))
        turn = kinds[number % len(kinds) :] + kinds[: number % len(kinds)]
        for kind in turn:
            start = time.perf_counter()
            engines[kind].write_lp("bench", text)
            spent[kind] += time.perf_counter() - start
    return engines, {kind: rows / spent[kind] for kind in kinds}


#: cache kind -> seconds spent in `ValueCaches.on_write` while loading
UPDATES: dict[str | None, float] = {}


def _time_updates(engine: ProcessingEngine, kind: str | None) -> None:
    """Count the time ``engine`` spends updating its caches into `UPDATES`."""
    update = engine.value_caches.on_write
    UPDATES[kind] = 0.0

    def timed(database: str, result: object) -> None:
        start = time.perf_counter()
        update(database, result)  # type: ignore[arg-type]
        UPDATES[kind] += time.perf_counter() - start

    engine.value_caches.on_write = timed  # type: ignore[method-assign]


def Row(name: str, result: str, floor: str = "", ratio: str = "") -> tuple[str, str, str, str]:
    return name, result, floor, ratio


def bench_caches(args: argparse.Namespace) -> list[tuple[str, str, str, str]]:
    """Rows of the markdown table: (name, result, what it is compared with, ratio)."""
    engines, rates = _load(args.rows, (None, "last", "distinct"))
    for cache in ("distinct", None):
        engines.pop(cache).shutdown()
    engine = engines["last"]
    series = engine.query("bench", "SELECT DISTINCT host, region FROM cpu ORDER BY host")
    cached = engine.query("bench", "SELECT * FROM last_cache('cpu')")
    windowed = engine.query("bench", _WINDOW)
    assert len(cached) == len(windowed) == len(series)
    assert sorted(r["time"] for r in cached) == sorted(r["time"] for r in windowed)

    def per_series() -> None:
        for s in series:
            engine.query("bench", _PER_SERIES.format(**s))

    last = _median(args.runs, lambda: engine.query("bench", "SELECT * FROM last_cache('cpu')"))
    each = _median(args.runs, per_series)
    window = _median(args.runs, lambda: engine.query("bench", _WINDOW))
    engine.shutdown()
    n, base = len(series), rates[None]
    what = f"{args.rows:,} rows, {n} series"
    return [
        Row(f"`write_lp`, 10k-line batches, no cache, {what} (rows/s)", f"{base:,.0f}"),
        Row("`write_lp`, 10k-line batches, one last-value cache on (host, region) (rows/s)",
            f"{rates['last']:,.0f}", f"{base:,.0f}", f"{rates['last'] / base:.2f}"),
        Row("`write_lp`, 10k-line batches, one distinct-value cache on (host, region) (rows/s)",
            f"{rates['distinct']:,.0f}", f"{base:,.0f}", f"{rates['distinct'] / base:.2f}"),
        Row("the cache update alone (`ValueCaches.on_write`), last-value / distinct-value (ns/row)",
            " / ".join(f"{UPDATES[k] / args.rows * 1e9:,.0f}" for k in ("last", "distinct"))),
        Row(f"`last_cache('cpu')` vs {n} `ORDER BY time DESC LIMIT 1` queries, {what} (ms)",
            f"{last * 1000:,.2f}", f"{each * 1000:,.1f}", f"{each / last:,.0f}x faster"),
        Row(f"`last_cache('cpu')` vs one `row_number()` window query, {what} (ms)",
            f"{last * 1000:,.2f}", f"{window * 1000:,.1f}", f"{window / last:,.0f}x faster"),
    ]  # fmt: skip
