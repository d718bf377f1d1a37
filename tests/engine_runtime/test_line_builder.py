"""`LineBuilder` against upstream's golden outputs (engine-behavior.md §5.7)."""

from __future__ import annotations

import builtins
import math
from collections.abc import Callable

import pytest

from engine_runtime.plugins.line_builder import (
    InfluxDBError,
    InvalidKeyError,
    InvalidLineError,
    InvalidMeasurementError,
    LineBuilder,
    install_builtins,
)

# The plugin code and expected writes of influxdb3/tests/cli/mod.rs::test_linebuilder_escaping.


def _basic() -> LineBuilder:
    return (
        LineBuilder("metrics")
        .tag("host", "server01")
        .tag("region", "us-west")
        .int64_field("cpu", 42)
        .uint64_field("memory_bytes", 8589934592)
        .float64_field("load", 86.5)
        .string_field("status", "online")
        .bool_field("healthy", True)
        .time_ns(1609459200000000000)
    )


def _spaces() -> LineBuilder:
    return (
        LineBuilder("system_metrics")
        .tag("server", "app server 1")
        .tag("datacenter", "us west")
        .int64_field("count", 1)
    )


def _commas() -> LineBuilder:
    return (
        LineBuilder("network")
        .tag("servers", "web,app,db")
        .tag("location", "floor1,rack3")
        .int64_field("connections", 256)
    )


def _equals() -> LineBuilder:
    return (
        LineBuilder("formulas")
        .tag("equation", "y=mx+b")
        .tag("result", "a=b=c")
        .float64_field("value", 3.14159)
    )


def _backslash() -> LineBuilder:
    return (
        LineBuilder("paths")
        .tag("windows_path", "C:\\Program Files\\App")
        .tag("regex", "\\d+\\w+")
        .string_field("description", "Windows\\Unix paths")
        .int64_field("count", 42)
    )


def _quotes() -> LineBuilder:
    return (
        LineBuilder("messages")
        .tag("type", "notification")
        .string_field("content", 'User said "Hello World"')
        .string_field("json", '{"key": "value"}')
        .int64_field("priority", 1)
    )


def _complex() -> LineBuilder:
    return (
        LineBuilder("complex,measurement")
        .tag("location", "New York, USA")
        .tag("details", "floor=5, room=3")
        .tag("path", "C:\\Users\\Admin\\Documents")
        .string_field("message", 'Error in line: "x = y + z"')
        .string_field("query", 'SELECT * FROM table WHERE id="abc"')
        .float64_field("value", 123.456)
        .time_ns(1609459200000000000)
    )


def _specific_db() -> LineBuilder:
    return LineBuilder("memory_stats").tag("host", "server1").int64_field("usage", 75)


def _chained() -> LineBuilder:
    return (
        LineBuilder("sensor_data")
        .tag("device", "thermostat")
        .tag("room", "living room")
        .tag("floor", "1")
        .float64_field("temperature", 72.5)
        .int64_field("humidity", 45)
        .string_field("mode", "auto")
    )


GOLDEN = [
    (
        _basic,
        "metrics,host=server01,region=us-west cpu=42i,memory_bytes=8589934592u,"
        'load=86.5,status="online",healthy=t 1609459200000000000',
    ),
    (_spaces, r"system_metrics,server=app\ server\ 1,datacenter=us\ west count=1i"),
    (_commas, r"network,servers=web\,app\,db,location=floor1\,rack3 connections=256i"),
    (_equals, r"formulas,equation=y\=mx+b,result=a\=b\=c value=3.14159"),
    (
        _backslash,
        r"paths,windows_path=C:\\Program\ Files\\App,regex=\\d+\\w+ "
        r'description="Windows\\Unix paths",count=42i',
    ),
    (
        _quotes,
        r'messages,type=notification content="User said \"Hello World\"",'
        r'json="{\"key\": \"value\"}",priority=1i',
    ),
    (
        _complex,
        r"complex\,measurement,location=New\ York\,\ USA,details=floor\=5\,\ room\=3,"
        r'path=C:\\Users\\Admin\\Documents message="Error in line: \"x = y + z\"",'
        r'query="SELECT * FROM table WHERE id=\"abc\"",value=123.456 1609459200000000000',
    ),
    (_specific_db, "memory_stats,host=server1 usage=75i"),
    (
        _chained,
        r"sensor_data,device=thermostat,room=living\ room,floor=1 "
        r'temperature=72.5,humidity=45i,mode="auto"',
    ),
]


@pytest.mark.parametrize(("make", "expected"), GOLDEN, ids=[g[0].__name__ for g in GOLDEN])
def test_linebuilder_escaping_golden(make: Callable[[], LineBuilder], expected: str) -> None:
    assert make().build() == expected


def test_wal_plugin_test_lines() -> None:
    # influxdb3/tests/cli/mod.rs::test_wal_plugin_test
    line = (
        LineBuilder("some_table")
        .tag("tag1", "tag1_value")
        .tag("tag2", "tag2_value")
        .int64_field("field1", 1)
        .float64_field("field2", 2.0)
        .string_field("field3", "number three")
    )
    expected = (
        'some_table,tag1=tag1_value,tag2=tag2_value field1=1i,field2=2.0,field3="number three"'
    )
    assert line.build() == expected
    other = LineBuilder("other_table")
    other.int64_field("other_field", 1)
    other.float64_field("other_field2", 3.14)
    other.time_ns(1302)
    assert other.build() == "other_table other_field=1i,other_field2=3.14 1302"


def test_measurement_with_space_rejected() -> None:
    with pytest.raises(InvalidMeasurementError, match=r"^Measurement name cannot contain spaces$"):
        LineBuilder("a b")


def test_empty_measurement_allowed() -> None:
    assert LineBuilder("").int64_field("f", 1).build() == " f=1i"


@pytest.mark.parametrize("kind", ["tag", "field"])
@pytest.mark.parametrize(
    ("key", "message"),
    [
        ("", "{kind} key cannot be empty"),
        ("a b", "{kind} key 'a b' cannot contain spaces"),
        ("a,b", "{kind} key 'a,b' cannot contain commas"),
        ("a=b", "{kind} key 'a=b' cannot contain equals signs"),
    ],
)
def test_key_validation_messages(kind: str, key: str, message: str) -> None:
    builder = LineBuilder("m")
    with pytest.raises(InvalidKeyError) as info:
        if kind == "tag":
            builder.tag(key, "v")
        else:
            builder.int64_field(key, 1)
    assert str(info.value) == message.format(kind=kind)


@pytest.mark.parametrize(
    "setter", ["int64_field", "uint64_field", "float64_field", "string_field", "bool_field"]
)
def test_every_field_setter_validates_key(setter: str) -> None:
    value: object = "x" if setter == "string_field" else 1
    with pytest.raises(InvalidKeyError, match=r"^field key cannot be empty$"):
        getattr(LineBuilder("m"), setter)("", value)


def test_uint64_negative() -> None:
    with pytest.raises(ValueError, match=r"^uint64 field 'n' cannot be negative$"):
        LineBuilder("m").uint64_field("n", -1)
    assert LineBuilder("m").uint64_field("n", 0).build() == "m n=0u"


def test_build_without_fields_reports_measurement_and_tags() -> None:
    with pytest.raises(InvalidLineError) as info:
        LineBuilder("some_table").build()
    assert str(info.value) == "At least one field is required: some_table"
    assert f"{type(info.value).__name__}: {info.value}" == (
        "InvalidLineError: At least one field is required: some_table"
    )
    with pytest.raises(InvalidLineError, match=r"^At least one field is required: a\\,b,t=x\\ y$"):
        LineBuilder("a,b").tag("t", "x y").build()


def test_exception_tree() -> None:
    for cls in (InvalidMeasurementError, InvalidKeyError, InvalidLineError):
        assert issubclass(cls, InfluxDBError)
    assert issubclass(InfluxDBError, Exception)


def test_setters_return_self() -> None:
    b = LineBuilder("m")
    assert b.tag("t", "v") is b
    assert b.int64_field("a", 1) is b
    assert b.uint64_field("b", 1) is b
    assert b.float64_field("c", 1.5) is b
    assert b.string_field("d", "s") is b
    assert b.bool_field("e", False) is b
    assert b.time_ns(5) is b


def test_reset_key_keeps_first_position() -> None:
    b = LineBuilder("m").tag("a", "1").tag("b", "2").tag("a", "3")
    b.int64_field("x", 1).int64_field("y", 2).float64_field("x", 0.5)
    assert b.build() == "m,a=3,b=2 x=0.5,y=2i"


def test_bool_truthiness() -> None:
    b = LineBuilder("m").bool_field("a", 1).bool_field("b", 0).bool_field("c", [])  # type: ignore[arg-type]
    b.bool_field("d", "x")  # type: ignore[arg-type]
    assert b.build() == "m a=t,b=f,c=f,d=t"


@pytest.mark.parametrize(
    ("value", "rendered"),
    [
        (2.0, "2.0"),
        (86.5, "86.5"),
        (-3.0, "-3.0"),
        (0.0, "0.0"),
        (5, "5.0"),
        (1e20, "100000000000000000000.0"),
        (0.1, "0.1"),
        (math.nan, "nan"),
        (math.inf, "inf"),
        (-math.inf, "-inf"),
    ],
)
def test_float_rendering(value: float, rendered: str) -> None:
    assert LineBuilder("m").float64_field("f", value).build() == f"m f={rendered}"


def test_tag_value_str_and_empty() -> None:
    b = LineBuilder("m").tag("n", 5).tag("e", "")  # type: ignore[arg-type]
    assert b.int64_field("f", 1).build() == "m,n=5,e= f=1i"


def test_tag_key_not_escaped_field_key_escaped() -> None:
    b = LineBuilder("m").tag("a\\b", "v").int64_field("c\\d", 1)
    assert b.build() == "m,a\\b=v c\\\\d=1i"


def test_int64_no_check_and_time_as_is() -> None:
    b = LineBuilder("m").int64_field("big", 2**70).time_ns(-5)
    assert b.build() == f"m big={2**70}i -5"


def test_install_builtins_idempotent() -> None:
    had = hasattr(builtins, "LineBuilder")
    try:
        install_builtins()
        install_builtins()
        assert builtins.LineBuilder is LineBuilder  # type: ignore[attr-defined]
        assert not hasattr(builtins, "InvalidLineError")
        assert not hasattr(builtins, "InfluxDBError")
    finally:
        if not had:
            del builtins.LineBuilder  # type: ignore[attr-defined]
