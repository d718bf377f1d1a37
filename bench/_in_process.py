"""The comparison of the plugin host benchmarks: plugins called in this process, as the engine
ran them before plugin hosts, and a log sink that hands the benchmark the plugins' stamps.

`InProcessHosts` stands in for an engine's `HostPool` (``engine._runner._hosts``): the runner
still logs, counts and writes back as it does for a host, but the plugin's module is run and its
entry point called on the trigger's thread, with `PluginApi` and `Loader` as the old runner did
(fresh module globals per call, ``plugin_call`` around the call). Everything else of the run is
the same code, so the difference between the two is the plugin host.
"""

from __future__ import annotations

import queue
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from engine_runtime import ProcessingEngine
from engine_runtime.cache import CacheStore
from engine_runtime.host import HostCallbacks, RunResult
from engine_runtime.plugins.api import PluginApi, plugin_call, write_queue
from engine_runtime.plugins.loader import Loader
from engine_runtime.plugins.responses import to_http_response
from engine_runtime.plugins.source import PluginCode

__all__ = ["STAMP_PREFIX", "InProcessHosts", "StampSink", "install_in_process", "install_sink"]

#: a plugin logs ``stamp <time.monotonic_ns()>`` at its first line; the sink takes those lines
STAMP_PREFIX = "stamp "


class StampSink:
    """`HostCallbacks` that hands ``stamp`` log lines to `stamps` and the rest to ``inner``."""

    def __init__(self, inner: HostCallbacks) -> None:
        self.inner = inner
        self.stamps: queue.SimpleQueue[tuple[str, str]] = queue.SimpleQueue()

    def query(self, trigger: str, database: str, sql: str, params: Any) -> Any:
        return self.inner.query(trigger, database, sql, params)

    def write_sync(self, trigger: str, database: str, lines: str, no_sync: bool) -> None:
        self.inner.write_sync(trigger, database, lines, no_sync)

    def log(self, trigger: str, level: str, text: str) -> None:
        if text.startswith(STAMP_PREFIX):
            self.stamps.put((trigger, text[len(STAMP_PREFIX) :]))
        else:
            self.inner.log(trigger, level, text)


class InProcessHosts:
    """A `HostPool` whose every host is this process (see the module docstring)."""

    def __init__(self, engine: ProcessingEngine) -> None:
        self.engine = engine
        self.callbacks: HostCallbacks = engine.hosts.callbacks
        self.loader = Loader()
        self.caches = CacheStore()

    def host_for(self, definition: object) -> InProcessHosts:
        return self

    def warm(self, definition: object) -> None:
        pass

    def cancel(self, definition: object, trigger: str) -> int:
        return 0

    def release(self, definition: object) -> None:
        pass

    def run(
        self,
        trigger: str,
        kind: str,
        path: Path,
        entry: str,
        *,
        database: str,
        payload: dict[str, Any],
        args: Mapping[str, str] | None = None,
        timeout: float | None = None,
        source: str | None = None,
        version: str | None = None,
    ) -> RunResult:
        name = trigger.partition("/")[2]
        code = PluginCode(name=path.name, kind="file", path=path, source=source, version=version)
        api = PluginApi(
            database,
            store=self.engine.store,
            cache=self.caches.for_trigger(database, name),
            log=lambda level, text: self.callbacks.log(trigger, level, text),
            sync_write=lambda db, text, no_sync: self.callbacks.write_sync(
                trigger, db, text, no_sync
            ),
            sweep=self.caches.maybe_sweep,
        )
        positional = tuple(payload.values())  # in PAYLOAD_KEYS order
        try:
            function = self.loader.entry_point(code, entry)  # type: ignore[arg-type]
            with plugin_call():
                value = function(api, *positional, None if args is None else dict(args))
            response = to_http_response(value) if kind == "request" else None
        except (Exception, SystemExit) as exc:  # reported as the host reports a plugin's error
            return RunResult(False, error=f"{type(exc).__name__}: {exc}", stage="call")
        return RunResult(True, writes=write_queue(api).take(), response=response)


def install_in_process(engine: ProcessingEngine) -> StampSink:
    """Make ``engine`` run its plugins in this process; call before creating triggers."""
    sink = install_sink(engine)
    engine._runner._hosts = InProcessHosts(engine)  # type: ignore[assignment]
    return sink


def install_sink(engine: ProcessingEngine) -> StampSink:
    """Route ``engine``'s plugin logs through a `StampSink`; before its first host starts."""
    sink = StampSink(engine.hosts.callbacks)
    engine.hosts.callbacks = sink
    return sink


def _serve_in_process(argv: list[str]) -> int:
    """``pluginmgr`` with ``argv`` (``serve ...``), its engine running plugins in-process."""
    original = ProcessingEngine.start

    def start(engine: ProcessingEngine) -> None:
        install_in_process(engine)
        original(engine)

    ProcessingEngine.start = start  # type: ignore[method-assign]
    from pluginmgr.cli import main

    return main(argv)


if __name__ == "__main__":  # the in-process server of `bench/server.py --only cpu`
    import sys

    raise SystemExit(_serve_in_process(sys.argv[1:]))
