"""Trigger specs with upstream's grammar and strings; humantime durations; schedule arithmetic."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from engine_runtime.triggers import (
    TriggerSpecError,
    format_duration,
    next_fire_time,
    parse_duration,
    parse_trigger_spec,
)

FORMS = (
    "expect one of the following forms: 'table:<TABLE_NAME>', 'all_tables', "
    "'cron:<CRON_EXPRESSION>', 'every:<DURATION>', or 'request:<PATH>'"
)


@pytest.mark.parametrize(
    ("text", "canonical", "plugin_type"),
    [
        ("table:cpu", "table:cpu", "WalRows"),
        ("  table: cpu ", "table:cpu", "WalRows"),
        ("all_tables", "all_tables", "WalRows"),
        ("every:10s", "every:10s", "Schedule"),
        ("every:1h30m", "every:1h 30m", "Schedule"),
        ("every:1h 30m", "every:1h 30m", "Schedule"),
        ("every:1w", "every:7days", "Schedule"),
        ("every:1d", "every:1day", "Schedule"),
        ("every:1M", "every:1month", "Schedule"),
        ("every:1y", "every:1year", "Schedule"),
        ("cron:0 */5 * * * *", "cron:0 */5 * * * *", "Schedule"),
        ("request:hello/world", "request:hello/world", "Request"),
    ],
)
def test_specs_parse_to_upstreams_canonical_form(
    text: str, canonical: str, plugin_type: str
) -> None:
    spec = parse_trigger_spec(text)
    assert str(spec) == canonical
    assert spec.plugin_type == plugin_type


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("table:", "failed to parse trigger from table:: table name is empty"),
        ("every:5", "failed to parse trigger from every:5: couldn't parse to duration"),
        ("every:soon", "failed to parse trigger from every:soon: couldn't parse to duration"),
        (
            "every:2y",
            "failed to parse trigger from every:2y: don't support every schedules of over 1 year",
        ),
        ("every:500us", "every schedules must be at least 1ms"),
        ("request:", "failed to parse trigger from request:"),
        ("cron:", "failed to parse trigger from cron:"),
        ("cron:not a cron", "invalid cron syntax"),
        ("Table:cpu", f"failed to parse trigger from Table:cpu: {FORMS}"),
        ("", f"failed to parse trigger from : {FORMS}"),
    ],
)
def test_bad_specs_give_upstreams_messages(text: str, message: str) -> None:
    with pytest.raises(TriggerSpecError) as caught:
        parse_trigger_spec(text)
    assert message in str(caught.value)


def test_durations_round_trip_through_humantime_forms() -> None:
    assert parse_duration("1h30m") == parse_duration("90min") == 5_400_000_000_000
    assert parse_duration("1sec 500ms") == 1_500_000_000
    assert format_duration(9_761_464) == "9ms 761us 464ns"
    assert format_duration(0) == "0s"
    with pytest.raises(ValueError, match="time unit needed"):
        parse_duration("10")


def test_every_fires_on_multiples_of_the_period_since_the_epoch() -> None:
    spec = parse_trigger_spec("every:10s")
    now = datetime(2026, 1, 1, 0, 0, 3, 250_000, tzinfo=UTC)
    assert next_fire_time(spec, now) == datetime(2026, 1, 1, 0, 0, 10, tzinfo=UTC)
    on_the_dot = datetime(2026, 1, 1, 0, 0, 10, tzinfo=UTC)
    assert next_fire_time(spec, on_the_dot) == datetime(2026, 1, 1, 0, 0, 20, tzinfo=UTC)


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("* * * * * *", datetime(2026, 11, 23, 10, 0, 1, tzinfo=UTC)),
        ("0 */5 * * * *", datetime(2026, 11, 23, 10, 5, tzinfo=UTC)),
        ("0 0 0 1 1 * 2030", datetime(2030, 1, 1, tzinfo=UTC)),
        ("*/10 * * * *", datetime(2026, 11, 23, 10, 10, tzinfo=UTC)),  # 5 fields: accepted
        ("0 0 6 * * 1-5", datetime(2026, 11, 24, 6, tzinfo=UTC)),  # Mon-Fri, as the docs mean
        ("0 0 6 * * 6", datetime(2026, 11, 28, 6, tzinfo=UTC)),  # 6 = Saturday (0/7 = Sunday)
    ],
)
def test_cron_next_fire_time_in_utc(expression: str, expected: datetime) -> None:
    now = datetime(2026, 11, 23, 10, 0, 0, tzinfo=UTC)  # a Monday
    assert next_fire_time(parse_trigger_spec(f"cron:{expression}"), now) == expected


def test_a_request_spec_is_not_a_schedule() -> None:
    with pytest.raises(ValueError, match="is not a schedule"):
        next_fire_time(parse_trigger_spec("request:x"), datetime.now(UTC))
