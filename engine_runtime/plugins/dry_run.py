"""Run a plugin once and report what it did: InfluxDB 3's ``test wal_plugin`` / ``test
schedule_plugin`` (engine-behavior.md §6) and our ``test request_plugin``.

Each run works on a copy of the store, so nothing the plugin writes persists:

* the WAL input is written into the copy first, so the plugin can query the rows it is handed
  (upstream parses it against a cloned catalog only; real plugins query their own table);
* ``write_sync*`` land in the copy (read-your-writes, as in production) and are captured;
* ``write``/``write_to_db`` are captured after a successful return, after the sync writes;
* every captured line is then validated against the original store, as upstream does.

The plugin runs in a plugin host, as a trigger's would: the server's shared host when a server
runs the test (`DryRunner(host=...)`), else a host of the runner's own on the venv's
interpreter. Its cache is the host's test cache (``--cache-name``).

Unlike upstream, the log lines are kept when the plugin raises, the error names the real cause
and a ``traceback`` key carries the plugin's traceback; sync writes that already happened stay
in ``database_writes``. A schedule test on a database that does not exist yet runs against an
empty one (upstream answers ``couldn't find db``; offline there is nothing to find).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, final
from urllib.parse import parse_qsl

from ..errors import EngineError, InvalidDatabaseNameError, PluginError, WriteError
from ..host.host import PluginHost
from ..host.pool import base_interpreter, venv_python
from ..host_runs import failure_of, plugin_location
from ..store import MemoryStore, check_database_name
from ..triggers import (
    TriggerSpec,
    TriggerSpecError,
    format_duration,
    next_fire_time,
    parse_trigger_spec,
)
from .dry_run_calls import DryCallbacks, NoCallbacks, run_payload
from .loader import PluginFailure, describe_failure
from .responses import HttpResponse, error_response, request_headers, request_parameters

if TYPE_CHECKING:
    from ..store import Store
    from .loader import PluginSource

__all__ = ["DEFAULT_SCHEDULE", "DryRunner"]

#: upstream's default for ``test schedule_plugin --schedule`` (every second)
DEFAULT_SCHEDULE: Final = "* * * * * *"
_SCHEDULE_HINT: Final = (
    "use a 6/7-field cron expression (seconds first), every:DURATION or cron:EXPR"
)


@dataclass(slots=True)
class _Outcome:
    """What one plugin call did."""

    log_lines: list[str] = field(default_factory=list)
    writes: dict[str, list[str]] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    traceback: str | None = None
    response: HttpResponse | None = None
    failure: str | None = None  # what the HTTP answer says when the plugin failed
    response_error: str | None = None  # a request's return value that is no response

    @property
    def failed(self) -> bool:
        return self.failure is not None


def _parse_schedule(schedule: str) -> TriggerSpec:
    """A bare cron expression (upstream's form) or an ``every:``/``cron:`` trigger spec."""
    text = schedule.strip()
    if text.startswith(("every:", "cron:")):
        return parse_trigger_spec(text)
    try:
        return parse_trigger_spec(f"cron:{text}")
    except TriggerSpecError as exc:
        detail = exc.message.partition("invalid cron syntax: ")[2] or exc.message
        message = f"invalid cron syntax: {detail} (schedule {text!r})"
        raise TriggerSpecError(message, hint=_SCHEDULE_HINT) from None


def _rfc3339(moment: datetime) -> str:
    text = moment.astimezone(UTC).replace(tzinfo=None).isoformat()
    return f"{text}Z"


@final
class DryRunner:
    """Runs plugins against copies of one store, in one plugin host.

    :param store: the data plugins see; a fresh `MemoryStore` by default.
    :param plugin_dir: exported to plugins as ``PLUGIN_DIR`` and on the host's ``sys.path``.
    :param site_packages: the plugin venv's site-packages: its venv's interpreter runs the host
        (without one, the base interpreter with the standard library only).
    :param host: the host to run in (a server's shared one); default: one of the runner's own,
        started on the first run and stopped by `close`.
    :param clock: wall clock in seconds (schedule tests take the next fire time after it).
    """

    __slots__ = ("_own_host", "clock", "host", "plugin_dir", "site_packages", "store")

    def __init__(
        self,
        *,
        store: Store | None = None,
        plugin_dir: Path | None = None,
        site_packages: Path | None = None,
        host: PluginHost | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store: Store = store if store is not None else MemoryStore()
        self.plugin_dir = plugin_dir
        self.site_packages = site_packages
        self.clock = clock
        self.host = host
        self._own_host = host is None

    def close(self) -> None:
        """Stop the runner's own host (a shared one is left running)."""
        if self._own_host and self.host is not None:
            self.host.close()
            self.host = None

    def __enter__(self) -> DryRunner:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _host(self) -> PluginHost:
        if self.host is None:
            python = base_interpreter()
            site: list[Path] | None = []  # the standard library only
            if self.site_packages is not None:
                venv = venv_python(_venv_root(self.site_packages))
                if venv.exists():
                    python, site = venv, None  # the venv's own, as a trigger's host
            self.host = PluginHost(python, self.plugin_dir, site, NoCallbacks())
        return self.host

    def seed(self, database: str, lp: str) -> int:
        """Write ``lp`` into the store before runs; every line must be valid. Returns lines."""
        return self.store.write_lp(database, lp, accept_partial=False).lines_written

    def run(
        self, trigger: str, source: PluginSource, database: str, **kwargs: Any
    ) -> dict[str, Any]:
        """Dispatch to `wal`, `schedule` or `request` by name (the CLI's entry)."""
        runs: dict[str, Callable[..., dict[str, Any]]] = {
            "wal": self.wal,
            "schedule": self.schedule,
            "request": self.request,
        }
        return runs[trigger](source, database, **kwargs)

    # -- the three triggers -------------------------------------------------------------------

    def wal(
        self,
        source: PluginSource,
        database: str,
        lp: str,
        *,
        args: Mapping[str, str] | None = None,
        cache_name: str | None = None,
    ) -> dict[str, Any]:
        """Feed ``lp`` to ``process_writes``; report as ``POST /api/v3/plugin_test/wal``."""
        copy = self.store.copy()
        try:
            written = copy.write_lp(database, lp, accept_partial=False)
        except EngineError as exc:
            return _report({}, _Outcome(errors=_write_errors(exc)))
        outcome = self._call(
            source,
            "process_writes",
            database,
            copy,
            (written.table_batches,),
            args=args,
            cache_name=cache_name,
            first_line="INFO: starting execution of wal plugin.",
        )
        return _report({}, outcome)

    def schedule(
        self,
        source: PluginSource,
        database: str,
        schedule: str = DEFAULT_SCHEDULE,
        *,
        args: Mapping[str, str] | None = None,
        cache_name: str | None = None,
    ) -> dict[str, Any]:
        """Call ``process_scheduled_call`` with the schedule's next fire time."""
        head: dict[str, Any] = {"trigger_time": None}
        try:
            spec = _parse_schedule(schedule)
        except EngineError as exc:
            return _report(head, _Outcome(errors=[str(exc)]))
        now = datetime.fromtimestamp(self.clock(), tz=UTC)
        fire = next_fire_time(spec, now)
        if fire is None:
            return _report(head, _Outcome(errors=[f"cron schedule never triggers: {spec.value}"]))
        head["trigger_time"] = _rfc3339(fire)
        call_time = fire.replace(tzinfo=None, microsecond=0)  # naive UTC, whole seconds
        started = f"INFO: starting execution with scheduled time {fire:%Y-%m-%d %H:%M:%S} UTC"
        outcome = self._call(
            source,
            "process_scheduled_call",
            database,
            self.store.copy(),
            (call_time,),
            args=args,
            cache_name=cache_name,
            first_line=started,
        )
        if outcome.failed:
            head["trigger_time"] = None  # upstream's shape for a failed run
        return _report(head, outcome)

    def request(
        self,
        source: PluginSource,
        database: str,
        *,
        method: str = "POST",
        query_string: str = "",
        headers: Iterable[tuple[str, str]] = (),
        body: bytes = b"",
        args: Mapping[str, str] | None = None,
        cache_name: str | None = None,
    ) -> dict[str, Any]:
        """Call ``process_request`` and report the HTTP answer the endpoint would give."""
        query = dict(parse_qsl(query_string, keep_blank_values=True))  # last value wins
        outcome = self._call(
            source,
            "process_request",
            database,
            self.store.copy(),
            (request_parameters(query), request_headers(headers), body),
            args=args,
            cache_name=cache_name,
            first_line="INFO: starting execution of request plugin.",
        )
        response = self._respond(outcome)
        head: dict[str, Any] = {
            "method": method,
            "status": response.status,
            "headers": response.headers,
            "body": response.body.decode("utf-8", errors="replace"),
        }
        return _report(head, outcome)

    # -- internals ----------------------------------------------------------------------------

    @staticmethod
    def _respond(outcome: _Outcome) -> HttpResponse:
        if outcome.failure is not None:
            return error_response(outcome.failure)
        if outcome.response_error is not None:
            outcome.errors.append(outcome.response_error)
            outcome.writes = {}  # upstream flushes only after a successful response
            return error_response(outcome.response_error)
        assert outcome.response is not None  # noqa: S101 - a request run that succeeded
        return outcome.response

    def _call(
        self,
        source: PluginSource,
        function: str,
        database: str,
        store: Store,
        positional: tuple[Any, ...],
        *,
        args: Mapping[str, str] | None,
        cache_name: str | None,
        first_line: str,
    ) -> _Outcome:
        outcome = _Outcome(log_lines=[first_line])
        try:
            check_database_name(database)
        except InvalidDatabaseNameError as exc:
            return _Outcome(errors=[f"database name {database} is invalid: {exc}"])
        if database not in store.databases():
            store.create_database(database)  # offline there is no server to find it on
        if self.plugin_dir is not None:
            os.environ["PLUGIN_DIR"] = str(self.plugin_dir)  # the host inherits it
        captured: dict[str, list[str]] = {}
        callbacks = DryCallbacks(store, captured, outcome.log_lines)
        kind, payload = run_payload(function, positional)
        started = time.perf_counter_ns()
        try:
            code = source.load()
            path, text = plugin_location(code)
            result = self._host().run(
                f"{database}/(test)",
                kind,
                path,
                function,
                database=database,
                payload=payload,
                args=None if args is None else dict(args),
                source=text,
                version=code.version,
                callbacks=callbacks,
                test_cache=cache_name or "",
            )
        except PluginError as exc:  # the code could not be read, or its host failed
            _failed(outcome, describe_failure(exc))
        else:
            if result.ok or result.stage == "response":
                elapsed = format_duration(time.perf_counter_ns() - started)
                outcome.log_lines.append(f"INFO: finished execution in {elapsed}")
            if result.ok:
                for db, lines in result.writes.items():
                    captured.setdefault(db, []).extend(lines)
                outcome.response = result.response
            elif result.stage == "response":
                outcome.response_error = result.error
            else:
                _failed(outcome, failure_of(result))
        outcome.writes = captured
        outcome.errors.extend(self._validate(captured))
        return outcome

    def _validate(self, writes: Mapping[str, list[str]]) -> list[str]:
        """Check captured lines against the store as it was before the run (upstream's catalog)."""
        problems: list[str] = []
        for db, lines in writes.items():
            try:
                errors = self.store.validate_lp(db, "\n".join(lines))
            except InvalidDatabaseNameError as exc:
                problems.append(f"database name {db} is invalid: {exc}")
                continue
            problems.extend(f"Failed to validate output lines to db {db}: {e}" for e in errors)
        return problems


def _venv_root(site_packages: Path) -> Path:
    # <venv>/lib/pythonX.Y/site-packages or <venv>/Lib/site-packages
    for parent in site_packages.parents:
        if (parent / "pyvenv.cfg").is_file():
            return parent
    return site_packages.parent


def _failed(outcome: _Outcome, failure: PluginFailure) -> None:
    outcome.failure = failure.http_body
    outcome.errors.append(f"error executing plugin: {failure.message}")
    outcome.traceback = failure.traceback


def _write_errors(exc: EngineError) -> list[str]:
    if isinstance(exc, WriteError) and exc.errors:
        return [str(error) for error in exc.errors]
    return [exc.message]


def _report(head: dict[str, Any], outcome: _Outcome) -> dict[str, Any]:
    report = {
        **head,
        "log_lines": outcome.log_lines,
        "database_writes": outcome.writes,
        "errors": outcome.errors,
    }
    if outcome.traceback:
        report["traceback"] = outcome.traceback
    return report
