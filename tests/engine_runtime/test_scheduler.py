"""Schedule alignment with an injected clock, and the scheduler thread with the real one."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime

from engine_runtime.scheduler import Fire, Schedule, SchedulerThread
from engine_runtime.triggers import parse_trigger_spec

KEY = ("db", "t")


def at(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


def times(fires: list[Fire]) -> list[str]:
    return [f.at.strftime("%H:%M:%S.%f")[:-3] for f in fires]


def test_every_fires_on_multiples_of_the_period_since_the_epoch() -> None:
    schedule = Schedule()
    first = schedule.add(KEY, parse_trigger_spec("every:10s"), at("2026-01-01T00:00:03.5"))
    assert first == datetime(2026, 1, 1, 0, 0, 10, tzinfo=UTC)
    assert schedule.due(at("2026-01-01T00:00:09.999")) == []
    assert times(schedule.due(at("2026-01-01T00:00:10"))) == ["00:00:10.000"]
    assert times(schedule.due(at("2026-01-01T00:00:20.001"))) == ["00:00:20.000"]


def test_a_stall_gives_one_run_not_a_burst_of_catch_up_runs() -> None:
    schedule = Schedule()
    schedule.add(KEY, parse_trigger_spec("every:1s"), at("2026-01-01T00:00:00.2"))
    # the process stalls for 10 s: one fire (the first missed time), then back on the grid
    assert times(schedule.due(at("2026-01-01T00:00:10.5"))) == ["00:00:01.000"]
    assert schedule.next_time() == datetime(2026, 1, 1, 0, 0, 11, tzinfo=UTC)


def test_cron_is_utc_accepts_five_fields_and_sunday_as_0_or_7() -> None:
    schedule = Schedule()
    schedule.add(KEY, parse_trigger_spec("cron:0 30 12 * * *"), at("2026-01-01T12:29:59"))
    assert times(schedule.due(at("2026-01-01T12:30:00"))) == ["12:30:00.000"]
    five = Schedule()
    first = five.add(KEY, parse_trigger_spec("cron:*/15 * * * *"), at("2026-01-01T00:07:00"))
    assert first == datetime(2026, 1, 1, 0, 15, tzinfo=UTC)
    for sunday in ("0", "7"):
        weekly = Schedule()
        # 2026-01-01 is a Thursday; the next Sunday is the 4th
        nxt = weekly.add(
            KEY, parse_trigger_spec(f"cron:0 0 0 * * {sunday}"), at("2026-01-01T00:00:00")
        )
        assert nxt == datetime(2026, 1, 4, tzinfo=UTC)


def test_removed_and_replaced_triggers_do_not_fire() -> None:
    schedule = Schedule()
    schedule.add(KEY, parse_trigger_spec("every:1s"), at("2026-01-01T00:00:00"))
    schedule.add(("db", "u"), parse_trigger_spec("every:2s"), at("2026-01-01T00:00:00"))
    schedule.remove(KEY)
    assert [f.key for f in schedule.due(at("2026-01-01T00:00:02"))] == [("db", "u")]


def test_scheduler_thread_fires_on_time() -> None:
    fired: list[tuple[float, Fire]] = []
    done = threading.Event()

    def on_fire(fire: Fire) -> None:
        fired.append((time.time(), fire))
        if len(fired) >= 3:
            done.set()

    thread = SchedulerThread(on_fire, clock=time.time)
    thread.start()
    try:
        thread.add(KEY, parse_trigger_spec("every:100ms"))
        assert done.wait(5)
    finally:
        thread.stop()
    for wall, fire in fired:
        assert fire.at.timestamp() * 1000 % 100 == 0  # on the grid
        assert 0 <= wall - fire.at.timestamp() < 0.05  # and on time
