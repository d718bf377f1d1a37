"""Per-call execution timeouts (engine_runtime.watchdog; upstream has none, §7.3)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator

import pytest

from engine_runtime.watchdog import (
    PluginTimeout,
    Watch,
    Watchdog,
    format_seconds,
    timeout_message,
)

# The bodies below are functions called from the `with` block, as the engine calls a plugin.


def busy(seconds: float) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        pass


def spin_forever() -> None:
    while True:
        pass


@pytest.fixture
def watchdog() -> Iterator[Watchdog]:
    dog = Watchdog(grace=0.3, idle_exit=0.2)
    yield dog
    assert dog.active() == []


def run_watched(dog: Watchdog, timeout: float, body: Callable[[], object]) -> tuple[Watch, float]:
    """Run ``body`` under a watch; returns the watch and how long until PluginTimeout."""
    start = time.monotonic()
    with pytest.raises(PluginTimeout) as info:
        with dog.watch(timeout) as watch:
            body()
    assert str(info.value) == timeout_message(timeout)
    assert info.value.timeout == timeout
    return watch, time.monotonic() - start


def test_plugin_timeout_is_not_an_exception() -> None:
    assert issubclass(PluginTimeout, BaseException)
    assert not issubclass(PluginTimeout, Exception)
    assert str(PluginTimeout(2.5)) == "plugin execution exceeded the 2.5s timeout"
    assert str(PluginTimeout()) == "plugin execution exceeded its timeout"


@pytest.mark.parametrize(
    ("seconds", "text"), [(2.5, "2.5s"), (2.0, "2s"), (0.25, "0.25s"), (30, "30s")]
)
def test_format_seconds(seconds: float, text: str) -> None:
    assert format_seconds(seconds) == text


@pytest.mark.parametrize("timeout", [0, -1.0, float("nan")])
def test_watch_rejects_a_non_positive_timeout(watchdog: Watchdog, timeout: float) -> None:
    with pytest.raises(ValueError, match="positive number of seconds"):
        watchdog.watch(timeout)


def test_busy_loop_is_interrupted(watchdog: Watchdog) -> None:
    watch, elapsed = run_watched(watchdog, 0.2, spin_forever)
    assert 0.2 <= elapsed < 0.4
    assert watch.expired and watch.closed and not watch.abandoned


def test_except_exception_does_not_swallow_it(watchdog: Watchdog) -> None:
    def plugin() -> None:
        while True:
            try:
                busy(0.01)
            except Exception:  # noqa: S110 (what a careless plugin does)
                pass

    _, elapsed = run_watched(watchdog, 0.2, plugin)
    assert elapsed < 0.4


def test_reraised_until_the_block_is_left(watchdog: Watchdog) -> None:
    caught: list[BaseException] = []

    def plugin() -> None:
        try:
            spin_forever()
        except BaseException as exc:  # swallows the first raise, then keeps looping
            caught.append(exc)
        spin_forever()

    watch, elapsed = run_watched(watchdog, 0.2, plugin)
    assert len(caught) == 1
    assert watch.raises >= 2
    assert elapsed < 0.6


def test_a_call_that_finishes_in_time_is_never_interrupted_later(watchdog: Watchdog) -> None:
    timed_out = 0
    for i in range(150):
        try:
            with watchdog.watch(0.01):
                busy(0.0085 + (i % 4) * 0.001)  # right around the deadline
        except PluginTimeout:
            timed_out += 1
    # whatever happened at the boundary stayed inside the block: nothing arrives afterwards
    busy(0.5)
    assert watchdog.active() == []
    assert timed_out < 150


def test_a_call_that_returns_quickly_is_not_interrupted(watchdog: Watchdog) -> None:
    with watchdog.watch(0.3) as watch:
        busy(0.05)
    busy(0.4)
    assert not watch.expired and watch.raises == 0


def test_nested_and_sequential_watches_on_eight_threads(watchdog: Watchdog) -> None:
    results: dict[int, list[str]] = {}
    errors: list[BaseException] = []

    def worker(n: int) -> None:
        log = results.setdefault(n, [])
        try:
            with watchdog.watch(5.0) as outer:
                try:
                    with watchdog.watch(0.1 + n * 0.02) as inner:
                        spin_forever()
                except PluginTimeout:
                    log.append("inner timed out")
                with watchdog.watch(1.0):
                    busy(0.02)
                log.append("sequential ok")
            busy(0.3)
            assert inner.expired and not outer.expired
            log.append("done")
        except BaseException as exc:  # reported to the main thread
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert errors == []
    assert all(log == ["inner timed out", "sequential ok", "done"] for log in results.values())
    assert len(results) == 8


def test_outer_watch_fires_through_an_inner_one(watchdog: Watchdog) -> None:
    with pytest.raises(PluginTimeout) as info:
        with watchdog.watch(0.15) as outer:
            with watchdog.watch(5.0) as inner:
                spin_forever()
    assert outer.expired and not inner.expired
    assert info.value.timeout == 0.15


def test_watch_another_thread(watchdog: Watchdog) -> None:
    ready = threading.Event()
    outcome: list[str] = []

    def worker() -> None:
        ready.set()
        try:
            spin_forever()
        except PluginTimeout:
            outcome.append("stopped")

    thread = threading.Thread(target=worker)
    thread.start()
    ready.wait()
    assert thread.ident is not None
    with watchdog.watch(0.1, thread_id=thread.ident) as watch:
        thread.join(timeout=2)
    assert outcome == ["stopped"] and watch.expired


def test_thread_stuck_in_a_c_call_is_abandoned() -> None:
    abandoned: list[int] = []
    dog = Watchdog(grace=0.3, idle_exit=0.2, on_abandon=abandoned.append)
    outcome: list[str] = []

    def worker() -> None:
        try:
            with dog.watch(0.2):
                time.sleep(1.2)  # an async exception waits until the C call returns
            outcome.append("finished")
        except PluginTimeout:
            outcome.append("timed out")

    thread = threading.Thread(target=worker)
    thread.start()
    deadline = time.monotonic() + 1.0
    while not abandoned and time.monotonic() < deadline:
        time.sleep(0.02)
    assert abandoned == [thread.ident]
    [stuck] = dog.stuck()
    assert stuck.abandoned and stuck.expired and not stuck.closed
    thread.join(timeout=3)
    assert not thread.is_alive()
    assert outcome == ["timed out"]
    assert dog.stuck() == []


def test_monitor_is_a_daemon_and_stops_when_idle(watchdog: Watchdog) -> None:
    assert not watchdog.monitor_alive()
    with watchdog.watch(1.0):
        assert watchdog.monitor_alive()
        monitors = [t for t in threading.enumerate() if t.name == "plugin-watchdog"]
        assert monitors and all(t.daemon for t in monitors)
    deadline = time.monotonic() + 2.0
    while watchdog.monitor_alive() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not watchdog.monitor_alive()
    with watchdog.watch(0.1):  # and restarts on demand
        assert watchdog.monitor_alive()
