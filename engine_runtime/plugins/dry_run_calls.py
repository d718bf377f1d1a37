"""Internal: what a dry run gives its plugin host: the run's payload (`run_payload`), and the calls
back served on the run's copy of the store (`DryCallbacks`: queries, sync writes captured, log
lines into the report; `NoCallbacks` for the host's own, between runs)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final, final

from ..errors import EngineError

if TYPE_CHECKING:
    from ..host.frames import TriggerKind
    from ..store import Store

__all__ = ["DryCallbacks", "NoCallbacks", "run_payload"]


_KINDS: Final[dict[str, TriggerKind]] = {
    "process_writes": "wal",
    "process_scheduled_call": "schedule",
    "process_request": "request",
}


def run_payload(function: str, positional: tuple[Any, ...]) -> tuple[TriggerKind, dict[str, Any]]:
    kind = _KINDS[function]
    keys = {
        "wal": ("table_batches",),
        "schedule": ("call_time",),
        "request": ("query_parameters", "request_headers", "request_body"),
    }[kind]
    return kind, dict(zip(keys, positional, strict=True))


@final
class DryCallbacks:
    """A dry run's calls back: queries and sync writes on the run's copy of the store (writes
    captured), log lines into the report."""

    def __init__(self, store: Store, captured: dict[str, list[str]], lines: list[str]) -> None:
        self.store, self.captured, self.lines = store, captured, lines

    def query(
        self, trigger: str, database: str, sql: str, params: Mapping[str, str] | None
    ) -> list[dict[str, Any]]:
        return self.store.query(database, sql, params)

    def write_sync(self, trigger: str, database: str, lines: str, no_sync: bool) -> None:
        self.store.write_lp(database, lines, accept_partial=False)
        self.captured.setdefault(database, []).extend(lines.splitlines())

    def log(self, trigger: str, level: str, text: str) -> None:
        self.lines.append(f"{level}: {text}")


@final
class NoCallbacks:
    """A dry-run host's own callbacks: every run brings its own (`DryCallbacks`)."""

    def query(
        self, trigger: str, database: str, sql: str, params: Mapping[str, str] | None
    ) -> list[dict[str, Any]]:
        raise EngineError("no dry run is in progress")

    def write_sync(self, trigger: str, database: str, lines: str, no_sync: bool) -> None:
        raise EngineError("no dry run is in progress")

    def log(self, trigger: str, level: str, text: str) -> None:
        pass  # a host's own warnings between runs
