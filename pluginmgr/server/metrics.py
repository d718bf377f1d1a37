"""``GET /metrics``: the server's counters in Prometheus text format, one registry per server.

Every `ServerMetrics` owns a `prometheus_client.CollectorRegistry` (never the global one), so
several servers in one process (tests, benchmarks) keep separate counts. What it exports:

* ``pluginmgr_http_requests_total{endpoint,method,status}`` and
  ``pluginmgr_http_request_duration_seconds{endpoint}``, recorded by `MetricsMiddleware`;
  ``endpoint`` is the route's path template (``/api/v3/engine/{path:path}`` for every request
  trigger), or ``other``, so unknown paths cannot grow the label set;
* ``pluginmgr_writes_total{origin,result}`` (``result`` ``ok``, ``partial`` or ``rejected``),
  ``pluginmgr_lines_written_total{origin}``, ``pluginmgr_lines_rejected_total{origin}`` and
  ``pluginmgr_queries_total{result}``, read from the engine's `DataStats` at scrape time;
  ``origin`` is ``client`` (every write API) or ``plugin`` (a plugin's ``write``/``write_sync``);
* ``pluginmgr_trigger_runs_total``, ``pluginmgr_trigger_failures_total`` and
  ``pluginmgr_trigger_host_deaths_total`` (plugin hosts that died under its runs), labelled
  ``{database,trigger,type}`` (one series per configured trigger, removed when it is deleted),
  and ``pluginmgr_triggers{state}``, read from the engine's statistics at scrape time;
* ``pluginmgr_wal_flush_duration_seconds`` (write plus ``fsync`` of one group commit),
  ``pluginmgr_wal_flushed_records_total``, ``pluginmgr_wal_flushed_bytes_total`` and
  ``pluginmgr_wal_flush_failures_total``, fed by the durable store's flush observer;
* ``pluginmgr_build_info{version}``.

``/metrics`` needs a token like every other endpoint, as in InfluxDB 3, unless ``serve
--disable-authz metrics`` names it.
"""

from __future__ import annotations

import time
from collections.abc import Collection, Iterator
from typing import TYPE_CHECKING, Final, final

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4
from prometheus_client.registry import Collector
from starlette.responses import Response

if TYPE_CHECKING:
    from starlette.requests import Request
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

    from engine_runtime import ProcessingEngine

__all__ = ["METRICS_PATH", "MetricsMiddleware", "ServerMetrics", "metrics_endpoint"]

METRICS_PATH: Final = "/metrics"
_PREFIX: Final = "pluginmgr"
_OTHER: Final = "other"
_METHODS: Final = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"})
#: one group commit is a write plus an fsync: sub-millisecond on tmpfs, tens of ms on disks
_FLUSH_BUCKETS: Final = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5)
_TRIGGER_TYPES: Final = {"WalRows": "wal", "Schedule": "schedule", "Request": "request"}


@final
class _EngineCollector(Collector):
    """The engine's own counters, read when Prometheus scrapes (nothing on the hot path)."""

    def __init__(self, engine: ProcessingEngine) -> None:
        self._engine = engine

    def collect(self) -> Iterator[Metric]:
        yield from self._data()
        yield from self._triggers()

    def _data(self) -> Iterator[Metric]:
        stats = self._engine.data_stats.snapshot()
        writes = CounterMetricFamily(
            f"{_PREFIX}_writes",
            "Line protocol writes that reached the engine, by origin and outcome.",
            labels=["origin", "result"],
        )
        for result, counts in (
            ("ok", stats.writes),
            ("partial", stats.partial_writes),
            ("rejected", stats.rejected_writes),
        ):
            for origin, value in counts.items():
                writes.add_metric([origin, result], value)
        yield writes
        for name, what, counts in (
            ("lines_written", "Lines of line protocol written", stats.lines_written),
            ("lines_rejected", "Lines of line protocol rejected", stats.lines_rejected),
        ):
            family = CounterMetricFamily(f"{_PREFIX}_{name}", f"{what}.", labels=["origin"])
            for origin, value in counts.items():
                family.add_metric([origin], value)
            yield family
        queries = CounterMetricFamily(
            f"{_PREFIX}_queries", "SQL queries run for clients, by outcome.", labels=["result"]
        )
        queries.add_metric(["ok"], stats.queries - stats.failed_queries)
        queries.add_metric(["error"], stats.failed_queries)
        yield queries

    def _triggers(self) -> Iterator[Metric]:
        labels = ["database", "trigger", "type"]
        runs = CounterMetricFamily(
            f"{_PREFIX}_trigger_runs", "Runs of each trigger's plugin.", labels=labels
        )
        failures = CounterMetricFamily(
            f"{_PREFIX}_trigger_failures", "Runs that raised or timed out.", labels=labels
        )
        deaths = CounterMetricFamily(
            f"{_PREFIX}_trigger_host_deaths",
            "Plugin hosts that died under the trigger's runs (a crash, a signal, memory).",
            labels=labels,
        )
        states = {"running": 0, "disabled": 0, "failed": 0}
        engine = self._engine
        for trigger in engine.catalog.triggers():
            database, name = trigger.database, trigger.trigger_name
            kind = _TRIGGER_TYPES.get(trigger.spec.plugin_type, _OTHER)
            snapshot = engine.stats.get(database, name)
            runs.add_metric([database, name, kind], snapshot.invocations)
            failures.add_metric([database, name, kind], snapshot.errors)
            deaths.add_metric([database, name, kind], snapshot.host_deaths)
            state = engine.trigger_state(database, name).partition(":")[0]
            states[state if state in states else "failed"] += 1
        yield runs
        yield failures
        yield deaths
        gauge = GaugeMetricFamily(
            f"{_PREFIX}_triggers", "Configured triggers by state.", labels=["state"]
        )
        for state, count in states.items():
            gauge.add_metric([state], count)
        yield gauge


@final
class ServerMetrics:
    """The metrics of one server: its own registry, the HTTP and WAL instruments.

    :param engine: whose write, query and trigger counters are exported.
    :param version: the ``version`` label of ``pluginmgr_build_info``.
    """

    def __init__(self, engine: ProcessingEngine, *, version: str) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        registry = self.registry
        self.requests = Counter(
            f"{_PREFIX}_http_requests",
            "HTTP requests answered, by endpoint, method and status.",
            ["endpoint", "method", "status"],
            registry=registry,
        )
        self.request_seconds = Histogram(
            f"{_PREFIX}_http_request_duration_seconds",
            "Time to answer an HTTP request, by endpoint.",
            ["endpoint"],
            registry=registry,
        )
        self.flush_seconds = Histogram(
            f"{_PREFIX}_wal_flush_duration_seconds",
            "Time to write and fsync one WAL group commit.",
            buckets=_FLUSH_BUCKETS,
            registry=registry,
        )
        self.flushed_records = Counter(
            f"{_PREFIX}_wal_flushed_records", "Records made durable.", registry=registry
        )
        self.flushed_bytes = Counter(
            f"{_PREFIX}_wal_flushed_bytes", "Bytes written to the WAL.", registry=registry
        )
        self.flush_failures = Counter(
            f"{_PREFIX}_wal_flush_failures", "WAL flushes that failed.", registry=registry
        )
        info = Gauge(
            f"{_PREFIX}_build_info", "The running version.", ["version"], registry=registry
        )
        info.labels(version).set(1)
        registry.register(_EngineCollector(engine))

    def observe_wal_flush(
        self, seconds: float, records: int, size: int, error: Exception | None
    ) -> None:
        """A `DurableStore` flush observer: one group commit took ``seconds``."""
        self.flush_seconds.observe(seconds)
        if error is None:
            self.flushed_records.inc(records)
            self.flushed_bytes.inc(size)
        else:
            self.flush_failures.inc()

    def observe_request(self, endpoint: str, method: str, status: int, seconds: float) -> None:
        """Count one answered request (`MetricsMiddleware` calls it)."""
        self.requests.labels(endpoint, method if method in _METHODS else _OTHER, str(status)).inc()
        self.request_seconds.labels(endpoint).observe(seconds)

    def render(self) -> bytes:
        """Everything, in the Prometheus text format."""
        return generate_latest(self.registry)


@final
class MetricsMiddleware:
    """Counts and times every HTTP request, refused ones (401, 413, ...) included.

    :param paths: the app's fixed route paths, the label for requests no route matched
        (refused by the auth middleware before routing); anything else is ``other``.
    """

    __slots__ = ("app", "metrics", "paths")

    def __init__(self, app: ASGIApp, *, metrics: ServerMetrics, paths: Collection[str]) -> None:
        self.app = app
        self.metrics = metrics
        self.paths = frozenset(paths)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # what the client sees if the app raises before answering

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            seconds = time.perf_counter() - started
            self.metrics.observe_request(self._endpoint(scope), scope["method"], status, seconds)

    def _endpoint(self, scope: Scope) -> str:
        route = scope.get("route")  # set by Starlette's router on the shared scope
        path = getattr(route, "path", None)
        if isinstance(path, str):
            return path
        return scope["path"] if scope["path"] in self.paths else _OTHER


async def metrics_endpoint(request: Request) -> Response:
    """``GET /metrics``: the Prometheus text format (version 0.0.4)."""
    metrics: ServerMetrics = request.app.state.metrics
    return Response(metrics.render(), media_type=CONTENT_TYPE_PLAIN_0_0_4)
