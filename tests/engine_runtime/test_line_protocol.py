"""Line protocol parser: every spec rule, every error, and a round-trip property."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine_runtime.line_protocol.parse import (
    LineBlock,
    LineError,
    ParsedLine,
    parse_blocks,
    parse_lines,
    precision_factor,
    series_key,
)


def one(text: str, **kwargs: object) -> ParsedLine:
    lines, errors = parse_lines(text, default_time_ns=42, **kwargs)  # type: ignore[arg-type]
    assert errors == []
    assert len(lines) == 1
    return lines[0]


def error(text: str) -> LineError:
    lines, errors = parse_lines(text, default_time_ns=42)
    assert lines == []
    assert len(errors) == 1
    return errors[0]


def test_simple_line() -> None:
    line = one("cpu,host=A,region=west usage=1i,system=23.2 100")
    assert line == ParsedLine(
        "cpu",
        (("host", "A"), ("region", "west")),
        {"usage": ("i64", 1), "system": ("f64", 23.2)},
        100,
        1,
    )


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("12i", ("i64", 12)),
        ("-12i", ("i64", -12)),
        ("9223372036854775807i", ("i64", 2**63 - 1)),
        ("-9223372036854775808i", ("i64", -(2**63))),
        ("12u", ("u64", 12)),
        ("18446744073709551615u", ("u64", 2**64 - 1)),
        ("1", ("f64", 1.0)),
        ("1.5", ("f64", 1.5)),
        ("-1e3", ("f64", -1000.0)),
        ("1.", ("f64", 1.0)),
        (".5", ("f64", 0.5)),
        ("1E-2", ("f64", 0.01)),
        ('"hi there, a=b"', ("string", "hi there, a=b")),
        ('""', ("string", "")),
        (r'"say \"x\" \\ y"', ("string", 'say "x" \\ y')),
        (r'"a\b"', ("string", "a\\b")),
    ],
)
def test_field_values(value: str, expected: tuple[str, object]) -> None:
    assert one(f"m f={value}").fields == {"f": expected}


@pytest.mark.parametrize("text", ["t", "T", "true", "True", "TRUE"])
def test_true(text: str) -> None:
    assert one(f"m f={text}").fields == {"f": ("bool", True)}


@pytest.mark.parametrize("text", ["f", "F", "false", "False", "FALSE"])
def test_false(text: str) -> None:
    assert one(f"m f={text}").fields == {"f": ("bool", False)}


@pytest.mark.parametrize(
    "value",
    [
        "1x",
        "abc",
        "tRUE",
        "1.2i",
        "-1u",
        "18446744073709551616u",
        "9223372036854775808i",
        "nan",
        "inf",
        "1_0",
        "+1",
        "",
        "--1",
        '"unterminated',
        '"a"b',
    ],
)
def test_invalid_field_value(value: str) -> None:
    err = error(f"m,t=1 x={value} 5")
    assert "field 'x'" in err.message
    assert "on line 1" in err.message


def test_invalid_field_value_message_names_line() -> None:
    _, errors = parse_lines("m a=1\nm a=2\nm x=zz", default_time_ns=0)
    assert [e.message for e in errors] == [
        "invalid field value in line protocol for field 'x' on line 3"
    ]
    assert str(errors[0]) == (
        "error parsing line 3 (1-based): "
        "invalid field value in line protocol for field 'x' on line 3"
    )
    assert errors[0].line == "m x=zz"
    assert errors[0].line_number == 3


def test_escapes() -> None:
    line = one(r'my\ m\,x,t\ k\=1=v\,a\ l\=\\ f\ 1\,=1i,s="q\"" 7')
    assert line.measurement == "my m,x"
    assert line.tags == (("t k=1", "v,a l=\\"),)
    assert line.fields == {"f 1,": ("i64", 1), "s": ("string", 'q"')}
    assert line.time_ns == 7


def test_measurement_backslash_is_literal() -> None:
    assert one(r"a\b f=1").measurement == "a\\b"
    assert one(r"a\\,t=1 f=1").measurement == "a\\,t=1"  # builder wrote measurement "a\,t=1"


def test_string_field_may_hold_separators() -> None:
    assert one('m s="a b,c=d" 1').fields == {"s": ("string", "a b,c=d")}


def test_missing_timestamp_uses_default() -> None:
    assert one("m f=1").time_ns == 42


@pytest.mark.parametrize(
    ("precision", "expected"),
    [
        ("ns", 5),
        ("n", 5),
        ("nanosecond", 5),
        ("auto", 5_000_000_000),
        ("us", 5_000),
        ("u", 5_000),
        ("microsecond", 5_000),
        ("ms", 5_000_000),
        ("millisecond", 5_000_000),
        ("s", 5_000_000_000),
        ("second", 5_000_000_000),
    ],
)
def test_precision(precision: str, expected: int) -> None:
    assert one("m f=1 5", precision=precision).time_ns == expected


# InfluxDB 3's guess for `auto`: |ts| // 1e9 below 5 is seconds, below 5e3 milliseconds, below
# 5e6 microseconds, else nanoseconds; the exact boundaries and a docs-style timestamp of each unit.
@pytest.mark.parametrize(
    ("stamp", "expected"),
    [
        (0, 0),
        (1, 1_000_000_000),
        (4_999_999_999, 4_999_999_999_000_000_000),
        (5_000_000_000, 5_000_000_000_000_000),
        (1_700_000_000, 1_700_000_000_000_000_000),
        (1_700_000_000_123, 1_700_000_000_123_000_000),
        (4_999_999_999_999, 4_999_999_999_999_000_000),
        (5_000_000_000_000, 5_000_000_000_000_000),
        (1_700_000_000_123_456, 1_700_000_000_123_456_000),
        (4_999_999_999_999_999, 4_999_999_999_999_999_000),
        (5_000_000_000_000_000, 5_000_000_000_000_000),
        (1_700_000_000_123_456_789, 1_700_000_000_123_456_789),
        (9_223_372_036_854_775_807, 9_223_372_036_854_775_807),
        (-1, -1_000_000_000),
        (-4_999_999_999, -4_999_999_999_000_000_000),
        (-5_000_000_000, -5_000_000_000_000_000),
        (-1_700_000_000_123_456_789, -1_700_000_000_123_456_789),
    ],
)
def test_auto_precision_guesses_the_unit_per_timestamp(stamp: int, expected: int) -> None:
    assert one(f"m f=1 {stamp}", precision="auto").time_ns == expected
    blocks, errors = parse_blocks(f"m f=1 {stamp}\nm f=2 {stamp}", precision="auto")
    assert errors == []
    assert blocks[0].times == [expected, expected]


def test_auto_precision_guesses_each_line_of_a_batch_alone() -> None:
    text = "m f=1 1700000000\nm f=2 1700000000000\nm f=3 1700000000000000\nm f=4 1"
    blocks, errors = parse_blocks(text, precision="auto", default_time_ns=42)
    assert errors == []
    second = 1_700_000_000_000_000_000
    assert blocks[0].times == [second, second, second, 1_000_000_000]


def test_default_time_is_not_scaled() -> None:
    assert one("m f=1", precision="s").time_ns == 42


def test_unknown_precision() -> None:
    with pytest.raises(ValueError, match="invalid precision"):
        precision_factor("minutes")


def test_negative_timestamp() -> None:
    assert one("m f=1 -5").time_ns == -5


def test_default_time_now() -> None:
    lines, _ = parse_lines("m f=1")
    assert lines[0].time_ns > 1_600_000_000 * 10**9


def test_blank_comments_and_crlf() -> None:
    lines, errors = parse_lines(
        "# c\r\n\r\n  \nm f=1 1\r\n   # indented\nm f=2 2\n", default_time_ns=0
    )
    assert errors == []
    assert [(line.time_ns, line.line_number) for line in lines] == [(1, 4), (2, 6)]


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("cpu", "missing fields"),
        ("cpu,host=a", "missing fields"),
        ("cpu,host=a ", "missing fields"),
        ("cpu f=1,f=2", "duplicate field 'f'"),
        (r'cpu f=1,f="x"', "duplicate field 'f'"),
        ("cpu,a=1,a=2 f=1", "duplicate tag 'a'"),
        ("cpu f=1 12x", "invalid timestamp"),
        ("cpu f=1 1.5", "invalid timestamp"),
        ("cpu f=1 99999999999999999999", "invalid timestamp"),
        ("cpu f=1 1 2", "invalid timestamp"),
        (",t=1 f=1", "missing measurement"),
        ("cpu,t f=1", "invalid tag"),
        ("cpu,t= f=1", "invalid tag"),
        ("cpu,=v f=1", "invalid tag"),
        ("cpu f", "invalid field"),
        ("cpu =1", "invalid field"),
        ("cpu,a=1 a=1", "both a tag and a field"),
        ("cpu time=1", "'time' cannot be used"),
        ("cpu,time=x f=1", "'time' cannot be used"),
    ],
)
def test_errors(text: str, fragment: str) -> None:
    assert fragment in error(text).message


def test_good_lines_survive_bad_ones() -> None:
    lines, errors = parse_lines("a f=1 1\nbad\nc f=3 3", default_time_ns=0)
    assert [line.measurement for line in lines] == ["a", "c"]
    assert [e.line_number for e in errors] == [2]


def test_odd_spacing_takes_slow_path() -> None:
    line = one("m,t=1  f=1   5  ")
    assert (line.tags, line.fields, line.time_ns) == ((("t", "1"),), {"f": ("f64", 1.0)}, 5)


# --- round trip against a serializer with LineBuilder's escaping rules ---------------------


def _escape_measurement(text: str) -> str:
    return text.replace(",", "\\,").replace(" ", "\\ ")


def _escape_key(text: str) -> str:
    text = text.replace("\\", "\\\\")
    return text.replace(",", "\\,").replace("=", "\\=").replace(" ", "\\ ")


def _render(kind: str, value: object) -> str:
    if kind == "i64":
        return f"{value}i"
    if kind == "u64":
        return f"{value}u"
    if kind == "bool":
        return "t" if value else "f"
    if kind == "string":
        assert isinstance(value, str)
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    assert isinstance(value, float)
    return f"{int(value)}.0" if value.is_integer() else repr(value)


_ALPHABET = st.sampled_from(list("ab_xZ9 ,=\\\"'é-."))
_names = st.text(_ALPHABET, min_size=1, max_size=6)
_measurements = _names.filter(lambda s: s[0] != "#" and not s.endswith("\\"))
_values = st.one_of(
    st.tuples(st.just("i64"), st.integers(-(2**63), 2**63 - 1)),
    st.tuples(st.just("u64"), st.integers(0, 2**64 - 1)),
    st.tuples(st.just("f64"), st.floats(allow_nan=False, allow_infinity=False)),
    st.tuples(st.just("bool"), st.booleans()),
    st.tuples(st.just("string"), st.text(_ALPHABET, max_size=8)),
)


@settings(max_examples=200, deadline=None)
@given(
    measurement=_measurements,
    tags=st.dictionaries(_names, _names, max_size=3),
    fields=st.dictionaries(_names, _values, min_size=1, max_size=4),
    timestamp=st.one_of(st.none(), st.integers(-(2**62), 2**62)),
)
def test_round_trip(
    measurement: str,
    tags: dict[str, str],
    fields: dict[str, tuple[str, object]],
    timestamp: int | None,
) -> None:
    fields = {k: v for k, v in fields.items() if k not in tags and k != "time"}
    tags = {k: v for k, v in tags.items() if k != "time"}
    if not fields:
        return
    text = _escape_measurement(measurement)
    text += "".join(f",{_escape_key(k)}={_escape_key(v)}" for k, v in tags.items())
    text += " " + ",".join(f"{_escape_key(k)}={_render(*v)}" for k, v in fields.items())
    if timestamp is not None:
        text += f" {timestamp}"
    line = one(text)
    assert line.measurement == measurement
    assert dict(line.tags) == tags
    assert line.time_ns == (42 if timestamp is None else timestamp)
    assert line.fields.keys() == fields.keys()
    for key, (kind, value) in fields.items():
        got_kind, got = line.fields[key]
        assert got_kind == kind
        assert got == value
        assert type(got) is type(value)


def _block_lines(blocks: list[LineBlock]) -> list[ParsedLine]:
    """`parse_blocks`' rows as `ParsedLine`s in line order."""
    rows: list[ParsedLine] = []
    for block in blocks:
        assert block.line_numbers == sorted(block.line_numbers)
        for row, number in enumerate(block.line_numbers):
            tags = tuple(zip(block.tag_keys, (c[row] for c in block.tag_columns), strict=True))
            fields = {
                key: (kind, column[row])
                for key, kind, column in zip(
                    block.field_keys, block.field_kinds, block.field_columns, strict=True
                )
            }
            rows.append(ParsedLine(block.measurement, tags, fields, block.times[row], number))
    rows.sort(key=lambda line: line.line_number)
    return rows


def _assert_same_as_parse_lines(text: str, precision: str = "ns") -> list[LineBlock]:
    blocks, errors = parse_blocks(text, precision=precision, default_time_ns=42)
    lines, line_errors = parse_lines(text, precision=precision, default_time_ns=42)
    assert errors == line_errors
    got = _block_lines(blocks)
    assert got == lines
    for line, want in zip(got, lines, strict=True):  # == does not tell 1 from 1.0 or True
        for (_, value), (_, expected) in zip(
            line.fields.values(), want.fields.values(), strict=True
        ):
            assert type(value) is type(expected)
    firsts = [block.line_numbers[0] for block in blocks]
    assert firsts == sorted(firsts)
    return blocks


_TOKENS = [
    "m", "m,t=a", "m,t=b", "m,t=a,u=1", "m,u=1,t=a", "n,t=a", "m,t=a,t=b", "m,time=1", " m",
    "#m", "", "m,a=1",
    " ", " ", " ", "  ", "\n", "\n", "\n", "\r\n", "\t",
    "f=1", "f=1.5", "f=-2e3", "f=.5", "f=1.", "f=+1", "f=nan", "f=inf", "f=1_0", "f=1i",
    "f=-1i", "f=1u", "f=t", "f=FALSE", 'f="s"', "f=", "f=1=2", "f=1,g=2i", "g=2i,f=1",
    "f=1,f=2", "a=1", "time=1", "f=99999999999999999999i", "f=18446744073709551616u",
    "0", "1", "17", "-5", "9223372036854775807", "9223372036854775808", "1_0", "٣",
    'f="a b"', 'f="x,y=z"', 'f="q"x', 'f="', 'g="s",f=1', 'f="s",g=2i', '"q', "m,t=\"x\"",
    'f=""', 'f="\t"', '"', "\\", "\\ ", "\\,", "=", ",",
]  # fmt: skip


@settings(max_examples=1000, deadline=None)
@given(
    tokens=st.lists(st.sampled_from(_TOKENS), max_size=40),
    precision=st.sampled_from(["ns", "s", "auto"]),
)
def test_parse_blocks_matches_parse_lines(tokens: list[str], precision: str) -> None:
    _assert_same_as_parse_lines("".join(tokens), precision)


_BATCH_VALUES = [
    "1.5", "-2e3", "7i", "t", "+1", "nan", "1_0", "8u", "\t1",
    '"s"', '"a b"', '"x,y=z 1"', '"', '""', '"q"x', '"\\""',
]  # fmt: skip


@settings(max_examples=200, deadline=None)
@given(
    rows=st.lists(
        st.tuples(
            st.sampled_from(["m,h=a", "m,h=b", "m,h=c,r=x", "m,r=x,h=c", "m,h=a,h=b", "q,h=a"]),
            st.sampled_from(_BATCH_VALUES),
            st.sampled_from(["1", "2", "9223372036854775807", "99999999999999999999"]),
        ),
        min_size=1,
        max_size=30,
    ),
    suffix=st.sampled_from(["", "\n", "\n\n"]),
    precision=st.sampled_from(["ns", "s", "auto"]),
)
def test_parse_blocks_batches(
    rows: list[tuple[str, str, str]], suffix: str, precision: str
) -> None:
    """Near-uniform batches: the whole-text and per-head bulk paths, and their fallbacks."""
    text = "\n".join(f"{head} f={value},g=2i {stamp}" for head, value, stamp in rows) + suffix
    _assert_same_as_parse_lines(text, precision)


_ODD_LINES = [
    "m,h=a=b f=1 1", "m,h= f=1 1", "m,h=a,h=b f=1 1", "m,r=x,h=c f=1 1", "m f=1 1", "m,h=a f=1",
    "m,h=a g=1i 1", "# note", "", "m,h=a f=1i 1", "n,h=a f=1 1", "m,h=a f=1,f=2 1", "m,h=a  f=1 1",
]  # fmt: skip


@settings(max_examples=150, deadline=None)
@given(
    runs=st.lists(
        st.tuples(
            st.sampled_from(["m", "n", "cpu"]),
            st.integers(min_value=1, max_value=45),  # lines in the run
            st.integers(min_value=1, max_value=50),  # series in the run
            st.lists(st.tuples(st.integers(0, 45), st.sampled_from(_ODD_LINES)), max_size=2),
            st.sampled_from(["100", "1,2", "step"]),  # timestamps: shared, two, one per line
        ),
        min_size=1,
        max_size=4,
    ),
    suffix=st.sampled_from(["", "\n"]),
    precision=st.sampled_from(["ns", "s"]),
)
def test_parse_blocks_agent_runs(
    runs: list[tuple[str, int, int, list[tuple[int, str]], str]], suffix: str, precision: str
) -> None:
    """Runs of lines of one measurement (an agent's inputs, one after another), some with an
    odd line inside: the run path, its fallbacks, and the merge with the per-head path."""
    lines: list[str] = []
    for name, count, series, odd, stamps in runs:
        run = []
        for i in range(count):
            stamp = {"100": "100", "1,2": str(1 + i % 2), "step": str(i)}[stamps]
            run.append(f"{name},h=h{i % series},r=x f={i}.5,g={i}i {stamp}")
        for position, line in odd:
            run.insert(min(position, len(run)), line)
        lines += run
    _assert_same_as_parse_lines("\n".join(lines) + suffix, precision)


def test_parse_blocks_agent_batch_runs_become_one_block_per_measurement() -> None:
    text = "\n".join(
        f"{name},host=h{i} v={i}.5 7" for name in ("cpu", "mem", "cpu") for i in range(40)
    )
    blocks = _assert_same_as_parse_lines(text)
    assert [(b.measurement, len(b.times)) for b in blocks] == [("cpu", 80), ("mem", 40)]
    cpu = blocks[0]
    assert cpu.line_numbers == [*range(1, 41), *range(81, 121)]
    assert cpu.series[:2] == [("host=h0", 7, 7, True), ("host=h1", 7, 7, True)]


@pytest.mark.parametrize(
    "text",
    [
        "f=1 f=1\n5 f=1 f=2 7",  # 2 + 4 parts: 3 per line on average, columns shifted
        "5 f=1\n5 f=1 f=2 7",
        "m f=1\nm f=1 1 1\nm f=1 1",
        "m,t=a f=1 1\nm,t=a f=1\nm,t=a f=1 2 3",
        "m,t=a f=1i 1\nm,t=a f=1 2\nm,t=a f=1i 3\nm,t=b f=t 1",
        "m,t=a f=1 1\nm,t=b f=1 1\nm,u=a f=1 1\nn,t=a f=1 1",
    ],
)
def test_parse_blocks_misaligned_and_mixed(text: str) -> None:
    _assert_same_as_parse_lines(text)
    _assert_same_as_parse_lines(text.replace("m", "m,x=1", 1))  # per-head path, not uniform


def test_parse_blocks_uniform_batch() -> None:
    text = "\n".join(f"cpu,host=h{i % 3} a={i}.5,b={i}i,c=t {i}" for i in range(50)) + "\n"
    blocks = _assert_same_as_parse_lines(text)
    assert len(blocks) == 1
    block = blocks[0]
    assert block.tag_columns == [[f"h{i % 3}" for i in range(50)]]
    assert block.field_columns[1] == list(range(50))
    # each series' own range: h0 at 0, 3, ..., 48; h1 at 1, ..., 49; h2 at 2, ..., 47
    assert block.series == [
        ("host=h0", 0, 48, True),
        ("host=h1", 1, 49, True),
        ("host=h2", 2, 47, True),
    ]


def test_series_keys_are_the_same_whatever_the_path_and_tag_order() -> None:
    """A series has one key in every parse path (uniform, per head, per line) and whatever
    the order its tags are written in: the store finds repeats by this key."""
    uniform = "\n".join(f"m,a=1,b={i} v=1 {i}" for i in range(40))
    (block,) = parse_blocks(uniform, default_time_ns=0)[0]
    (reordered,) = parse_blocks("m,b=7,a=1 v=2 7", default_time_ns=0)[0]
    quoted, _ = parse_blocks('m,b=7,a=1 v=2,s="x" 7\nm,a=1,b=7 v=3 8', default_time_ns=0)
    assert block.series[7] == ("a=1,b=7", 7, 7, True)
    assert reordered.series == [("a=1,b=7", 7, 7, True)]
    assert {span[0] for one_block in quoted for span in one_block.series} == {"a=1,b=7"}
    assert series_key((("z", "1"), ("a", "2"))) == "a=2,z=1"


def test_parse_blocks_agent_batch_has_a_span_per_series() -> None:
    """An agent writes every series of a batch at one timestamp: each series has one time,
    distinct, and only a series written twice at that time is marked as repeating."""
    text = "\n".join(f"cpu,host=h{i} usage={i}.5 1000" for i in range(200))
    (block,) = _assert_same_as_parse_lines(text)
    assert block.series == [(f"host=h{i}", 1000, 1000, True) for i in range(200)]
    (repeated,) = _assert_same_as_parse_lines(text + "\ncpu,host=h7 usage=9.5 1000")
    assert ("host=h7", 1000, 1000, False) in repeated.series
    assert ("host=h8", 1000, 1000, True) in repeated.series
