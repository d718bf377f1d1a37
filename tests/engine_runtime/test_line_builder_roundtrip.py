"""Property: what the plugin-facing `LineBuilder` writes, the parser and the store read back."""

from __future__ import annotations

import math
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from engine_runtime import LineBuilder, MemoryStore
from engine_runtime.line_protocol.parse import parse_lines

# what LineBuilder accepts and escapes: measurements escape only "," and " " (and may not hold
# spaces); keys may not hold space, comma or equals; tag keys are not escaped at all (so no
# backslash), field keys and tag values escape backslash (and tag values comma, equals and
# space); strings escape backslash and double quote
_TEXT = st.characters(codec="utf-8", exclude_characters="\n\r", exclude_categories=("Cs",))
_MEASUREMENT = st.text(
    st.characters(codec="utf-8", exclude_characters="\n\r \\", exclude_categories=("Cs",)),
    min_size=1,
    max_size=12,
).filter(lambda m: not m.startswith(("#", "\t")))  # the parser skips leading blanks
_TAG_KEY = st.text(
    st.characters(codec="utf-8", exclude_characters="\n\r ,=\\", exclude_categories=("Cs",)),
    min_size=1,
    max_size=8,
)
_ESCAPED = st.text(_TEXT, min_size=1, max_size=12)
_I64 = st.integers(min_value=-(2**63), max_value=2**63 - 1)
_FIELD = st.one_of(
    st.tuples(st.just("i64"), _I64),
    st.tuples(st.just("u64"), st.integers(min_value=0, max_value=2**64 - 1)),
    st.tuples(st.just("f64"), st.floats(allow_nan=False, allow_infinity=False)),
    st.tuples(st.just("bool"), st.booleans()),
    st.tuples(st.just("string"), st.text(_TEXT, max_size=20)),
)
_SETTERS = {
    "i64": "int64_field",
    "u64": "uint64_field",
    "f64": "float64_field",
    "bool": "bool_field",
    "string": "string_field",
}


@st.composite
def points(draw: st.DrawFn) -> dict[str, Any]:
    tags = draw(st.dictionaries(_TAG_KEY, _ESCAPED, max_size=3))
    field_keys = st.text(_TEXT.filter(lambda c: c not in " ,="), min_size=1, max_size=8)
    fields = draw(st.dictionaries(field_keys, _FIELD, min_size=1, max_size=4))
    names = set(tags) | set(fields)
    if "time" in names or set(tags) & set(fields):
        tags = {k: v for k, v in tags.items() if k not in fields and k != "time"}
        fields = {k: v for k, v in fields.items() if k != "time"} or {"v": ("bool", True)}
    time_ns = draw(st.none() | _I64)
    return {"measurement": draw(_MEASUREMENT), "tags": tags, "fields": fields, "time": time_ns}


def build(point: dict[str, Any]) -> str:
    line = LineBuilder(point["measurement"])
    for key, value in point["tags"].items():
        line.tag(key, value)
    for key, (kind, value) in point["fields"].items():
        getattr(line, _SETTERS[kind])(key, value)
    if point["time"] is not None:
        line.time_ns(point["time"])
    return line.build()


def same_value(kind: str, expected: Any, got: Any) -> bool:
    if kind == "f64":
        return math.isclose(expected, got, rel_tol=1e-15, abs_tol=0.0) or expected == got
    return bool(expected == got)


@settings(max_examples=300, deadline=None)
@given(points())
def test_parser_reads_back_what_line_builder_writes(point: dict[str, Any]) -> None:
    text = build(point)
    parsed, errors = parse_lines(text, default_time_ns=7)
    assert errors == [], text
    (line,) = parsed
    assert line.measurement == point["measurement"]
    assert dict(line.tags) == point["tags"]
    assert line.time_ns == (7 if point["time"] is None else point["time"])
    assert set(line.fields) == set(point["fields"])
    for key, (kind, value) in point["fields"].items():
        got_kind, got = line.fields[key]
        assert got_kind == kind, (text, key)
        assert same_value(kind, value, got), (text, key)


@settings(max_examples=100, deadline=None)
@given(st.lists(points(), min_size=1, max_size=5))
def test_store_hands_plugins_the_rows_line_builder_wrote(batch: list[dict[str, Any]]) -> None:
    # one table per point, so a column's first type never conflicts with a later point's
    for index, point in enumerate(batch):
        point["measurement"] = f"t{index}"
    result = MemoryStore().write_lp("db", "\n".join(build(p) for p in batch), default_time_ns=7)
    assert result.errors == ()
    rows = {b["table_name"]: b["rows"] for b in result.table_batches}
    for index, point in enumerate(batch):
        (row,) = rows[f"t{index}"]
        assert list(row)[: len(point["tags"])] == list(point["tags"])  # tags come first
        assert row["time"] == (7 if point["time"] is None else point["time"])
        for key, value in point["tags"].items():
            assert row[key] == value
        for key, (kind, value) in point["fields"].items():
            assert same_value(kind, value, row[key]), (key, row)
