"""`PluginHost`: runs plugins in a child process on the plugins' venv interpreter.

The server side of a run: start the host if none is running, send ``run``, then service the
host's calls (query, write_sync, cache, log) through a `HostCallbacks` until its ``result``.
Runs of different triggers proceed at once in one host (each on a thread there); the caller's
thread waits for its own run's messages. Host failures raise `PluginHostError` with the reason
and the trigger:

* past the deadline the run is interrupted in the host (`PluginTimeout` there); a plugin that
  does not stop within `grace` seconds (stuck in a C call) gets its host *retired*: new runs go
  to a fresh host (started at once, in the background), and the old one is killed once its
  other runs have ended;
* `cancel` interrupts a trigger's runs with ``KeyboardInterrupt`` (disable, delete), with the
  same grace;
* the host died: `HostExitedError`, ``plugin host exited with signal SIGABRT while running
  trigger X``; the next run starts a fresh host after a back-off that doubles with each death
  in a row (`deaths.restart_delay`);
* it broke the protocol (a frame over the limit, not JSON, a message of the wrong shape): it is
  killed and its runs fail with `HostProtocolError`.

A plugin's own failure is no host failure: it comes back as ``RunResult(ok=False, ...)``.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Final, final

from ..watchdog import timeout_message
from .channel import PluginHostError
from .deaths import DeathCount, exit_error
from .frames import (
    PAYLOAD_KEYS,
    TriggerKind,
    control,
    interrupt,
    next_run_id,
    reply_to_call,
    run_frame,
    run_message,
    save_host_cache,
    send_run,
)
from .guest.pluginmgr_guest.wire import DEFAULT_MAX_FRAME
from .messages import HostCallbacks, RunResult, mib, run_result, with_error
from .process import Ended, HostProcess, RunSlot

__all__ = ["PluginHost"]

#: seconds an interrupted run has to stop before its host is retired
DEFAULT_GRACE: Final = 2.0


@final
class PluginHost:
    """One plugin host process at a time, started on the first `run` and after any failure.

    :param python: the interpreter (``<venv>/bin/python``).
    :param plugin_dir: added to the host's ``sys.path``.
    :param site_packages: the directories whose packages plugins import; None means the venv's
        own purelib/platlib, as its interpreter reports them; ``[]`` none (standard library).
    :param callbacks: services the plugins' query/write_sync/cache/log calls.
    :param memory_limit: bytes of address space a host may use (``RLIMIT_AS``); None: unbounded.
    :param grace: seconds an interrupted run has to stop before its host is retired.
    :param cache_file: where the host's plugin cache is saved (`save_cache`) and restored from
        when a host starts; None: not kept.
    """

    def __init__(
        self,
        python: Path,
        plugin_dir: Path | None,
        site_packages: Sequence[Path] | None,
        callbacks: HostCallbacks,
        *,
        max_frame: int = DEFAULT_MAX_FRAME,
        memory_limit: int | None = None,
        grace: float = DEFAULT_GRACE,
        cache_file: Path | None = None,
    ) -> None:
        self.python = python
        self.cache_file = cache_file
        self.plugin_dir = plugin_dir
        self.site_packages = site_packages
        self.callbacks = callbacks
        self.max_frame = max_frame
        self.memory_limit = memory_limit
        self.grace = grace
        self._lock = threading.Lock()
        self._process: HostProcess | None = None
        self._retired: list[HostProcess] = []
        self._closed = False
        self._deaths = DeathCount()
        #: hosts started so far (restarts included)
        self.starts = 0

    @property
    def pid(self) -> int | None:
        """The running host's pid, or None when none is running."""
        process = self._process
        return None if process is None or not process.alive else process.pid

    def run(
        self,
        trigger: str,
        kind: TriggerKind,
        path: Path,
        entry: str,
        *,
        database: str,
        payload: dict[str, Any],
        args: Mapping[str, str] | None = None,
        timeout: float | None = None,
        source: str | None = None,
        version: str | None = None,
        callbacks: HostCallbacks | None = None,
        test_cache: str | None = None,
    ) -> RunResult:
        """Call ``entry`` of the plugin at ``path`` (file or package dir) in the host.

        ``payload`` holds ``table_batches`` (wal), ``call_time`` (schedule), or
        ``query_parameters``, ``request_headers`` and ``request_body`` (request). A file's
        ``source`` and ``version`` (a content token) spare the host reading it; the source is
        sent once per version and host. ``callbacks`` serve this run instead of the host's (a
        dry run's copy of the store); ``test_cache`` names the test cache the plugin gets
        instead of its trigger's (dry runs). Raises `PluginHostError` when the host fails (see the
        module docstring), ValueError for a payload without its kind's keys, TypeError for a
        payload the wire cannot carry.
        """
        missing = [key for key in PAYLOAD_KEYS[kind] if key not in payload]
        if missing:
            raise ValueError(f"a {kind} run needs {', '.join(missing)} in its payload")
        deadline = None if timeout is None else time.monotonic() + timeout
        slot = RunSlot(next_run_id(), trigger, deadline)
        message = run_message(
            slot.id,
            trigger,
            kind,
            path,
            entry,
            database=database,
            payload=payload,
            args=args,
            version=version,
            test_cache=test_cache,
        )
        # a TypeError here leaves the host as it was
        frame = run_frame(message, trigger, self.max_frame)
        served = callbacks or self.callbacks
        retried = False
        while True:
            process = self._open(slot, trigger)
            try:
                if send_run(process, message, frame, source, self.max_frame):
                    return self._serve(process, slot, served, database, entry, path, timeout)
                ended = process.ended or Ended(process.popen.wait())
                self._died(process)
                if retried:
                    raise self._exit_error(process, ended, trigger) from None
            finally:
                process.close_run(slot)
            # it died before it could read the run (between runs, and its reader had not
            # noticed yet): the run never started, so a fresh host gets it, once
            retried = True
            slot = RunSlot(next_run_id(), trigger, deadline)
            message["id"] = slot.id
            frame = run_frame(message, trigger, self.max_frame)

    def save_cache(self) -> list[tuple[str, str, str]]:
        """Save the running host's cache to `cache_file`; what it skipped (namespace, key, why).
        Nothing runs: nothing to save."""
        process = self._process
        if self.cache_file is None or process is None or not process.alive:
            return []
        return save_host_cache(process, self.cache_file)

    def tell(self, fields: dict[str, Any]) -> None:
        """Send a control message to the running host without waiting for its answer."""
        process = self._process
        if process is None or not process.alive:
            return
        try:
            process.send({"op": "control", "id": 0, **fields})
        except OSError:
            pass  # gone: nothing of it to drop

    def ensure_started(self) -> None:
        """Start the host now if none runs (a failure to start is left to the first run)."""
        with self._lock:
            if self._closed or (self._process is not None and self._process.alive):
                return
            try:
                self._start()
            except PluginHostError:
                pass

    def cancel(self, trigger: str) -> int:
        """Interrupt ``trigger``'s runs with ``KeyboardInterrupt``; how many there were."""
        count = 0
        with self._lock:
            processes = [p for p in (self._process, *self._retired) if p is not None]
        for process in processes:
            for slot in process.open_runs():
                if slot.trigger == trigger and slot.interrupted is None:
                    interrupt(process, slot, "cancel", "", self.grace)
                    slot.messages.put(None)  # wakes the waiter: its deadline moved
                    count += 1
        return count

    def recycle(self) -> None:
        """New runs go to a fresh host (after an install: new packages, new ``.pth`` files);
        the current one ends once its runs have."""
        with self._lock:
            process, self._process = self._process, None
            if process is not None:
                self._retire(process)

    def close(self) -> None:
        """Stop the hosts (asking first, then SIGKILL) and refuse further runs."""
        with self._lock:
            self._closed = True
            process, self._process = self._process, None
            retired, self._retired = self._retired, []
        for old in retired:
            old.kill()
        if process is not None:
            process.stop()

    # -- inside ---------------------------------------------------------------------------------

    def _open(self, slot: RunSlot, trigger: str) -> HostProcess:
        process = self._process
        if process is None or not process.alive:
            self._deaths.back_off()  # outside the lock: a cancel or close must not wait for it
        with self._lock:
            if self._closed:
                raise PluginHostError(f"the plugin host is closed (trigger {trigger})")
            for _attempt in range(2):
                process = self._process
                if process is None or not process.alive:
                    if process is not None:  # it died between runs (a plugin's thread, a signal)
                        self._deaths.note(process)
                    process = self._start()
                if process.open_run(slot):
                    return process
                self._process = None
            raise PluginHostError(f"the plugin host could not take trigger {trigger}'s run")

    def _start(self) -> HostProcess:
        self._deaths.back_off()  # ~0 when `_open` waited already
        try:
            process = HostProcess(
                self.python,
                self.plugin_dir,
                self.site_packages,
                max_frame=self.max_frame,
                memory_limit=self.memory_limit,
            )
        except OSError as exc:
            raise PluginHostError(
                f"cannot start the plugin host {self.python}: {exc}",
                hint="create the plugins' venv (pluginmgr install package) or check its path",
            ) from None
        self._process = process
        self.starts += 1
        if self.cache_file is not None and self.cache_file.exists():
            try:
                control(process, {"action": "load_cache", "path": str(self.cache_file)})
            except PluginHostError as exc:
                self.callbacks.log("/", "WARN", f"the plugin cache was not restored: {exc}")
        return process

    def _retire(self, process: HostProcess) -> None:
        """No new runs for ``process``; killed once its open runs have ended (caller locks)."""
        process.retired = True
        if self._process is process:
            self._process = None
        self._retired = [p for p in self._retired if p.alive]
        if not process.open_runs():
            process.kill()
        else:
            self._retired.append(process)

    def _died(self, process: HostProcess) -> None:
        with self._lock:
            self._deaths.note(process)
            if self._process is process:
                self._process = None

    def _exit_error(self, process: HostProcess, ended: Ended, trigger: str) -> PluginHostError:
        return exit_error(ended, trigger, pid=process.pid, memory_limit=self.memory_limit)

    def _serve(
        self,
        process: HostProcess,
        slot: RunSlot,
        callbacks: HostCallbacks,
        database: str,
        entry: str,
        path: Path,
        timeout: float | None,
    ) -> RunResult:
        try:
            return self._serve_messages(process, slot, callbacks, database, entry, path, timeout)
        except (PluginHostError, TypeError, ValueError):
            raise
        except BaseException:
            # a callback failed unexpectedly: the plugin waits for a reply it will never get
            with self._lock:
                self._retire(process)
            raise

    def _serve_messages(
        self,
        process: HostProcess,
        slot: RunSlot,
        callbacks: HostCallbacks,
        database: str,
        entry: str,
        path: Path,
        timeout: float | None,
    ) -> RunResult:
        trigger = slot.trigger
        while True:
            deadline = slot.deadline
            try:
                wait = None if deadline is None else max(0.0, deadline - time.monotonic())
                message = slot.messages.get(timeout=wait)
            except queue.Empty:
                if slot.interrupted is None:
                    text = timeout_message(timeout or 0.0)
                    interrupt(process, slot, "timeout", text, self.grace)
                    continue
                with self._lock:
                    self._retire(process)
                if slot.interrupted == "timeout":  # the next run need not wait for a start
                    threading.Thread(
                        target=self.ensure_started, name="plugin-host-start", daemon=True
                    ).start()
                what = (
                    f"timed out after {timeout:g} s"
                    if slot.interrupted == "timeout"
                    else "was cancelled"
                )
                raise PluginHostError(
                    f"trigger {trigger} {what} and did not stop within {self.grace:g} s (stuck "
                    "in a C call?): its plugin host was replaced"
                ) from None
            if message is None:
                continue  # woken: the deadline moved
            if isinstance(message, Ended):
                self._died(process)
                raise self._exit_error(process, message, trigger)
            op = message["op"]
            if op == "result":
                with self._lock:
                    self._deaths.in_a_row = 0
                result = run_result(message, entry, path, slot.interrupted)
                if result.error_type == "MemoryError" and self.memory_limit is not None:
                    note = f" (the plugin host's memory limit is {mib(self.memory_limit)})"
                    result = with_error(result, (result.error or "") + note)
                return result
            if op == "log":
                callbacks.log(trigger, message["level"], message["text"])
                continue
            reply_to_call(process, slot, callbacks, message, self.max_frame)
