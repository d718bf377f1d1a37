"""The ``SELECT`` list: wildcard expansion, column names and function checks.

``*`` expands to every field and tag of the measurement, sorted by name, except the ``GROUP BY``
tags (``*::field`` and ``*::tag`` keep one kind; a regex keeps the names it matches).
``count(*)`` expands to ``count(f)`` for each field ``f``, named ``count_f`` (numeric fields only
for the functions that need numbers). Column names follow InfluxDB: a function's name, a
field's name, the names inside an arithmetic expression joined by ``_``, an alias as written;
a repeated name gets ``_1``, ``_2``, ...
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from typing import Final

from engine_runtime.errors import InfluxQLError
from engine_runtime.influxql._expressions import unsupported
from engine_runtime.influxql.nodes import (
    BinaryExpr,
    Call,
    Expr,
    Field,
    NumberLit,
    RegexLit,
    VarRef,
    Wildcard,
)
from engine_runtime.influxql.schema import MeasurementSchema

__all__ = [
    "AGGREGATES",
    "MIXING_MESSAGE",
    "NUMERIC_ONLY",
    "SELECTORS",
    "calls_in",
    "check_calls",
    "column_names",
    "compile_regex",
    "expand_fields",
    "field_refs",
]

#: functions that compute a value from every point
AGGREGATES: Final = ("count", "mean", "median", "spread", "stddev", "sum")
#: functions that pick one point
SELECTORS: Final = ("first", "last", "max", "min", "percentile")
#: functions over a series' rows (engine_runtime.influxql.transform runs them)
TRANSFORMATIONS: Final = (
    "cumulative_sum",
    "derivative",
    "difference",
    "moving_average",
    "non_negative_derivative",
    "non_negative_difference",
)
#: functions that pick several points or values (engine_runtime.influxql.picks runs them)
PICKS: Final = ("bottom", "distinct", "mode", "top")
#: functions that need a float, integer or unsigned field
NUMERIC_ONLY: Final = frozenset(
    {"max", "mean", "median", "min", "percentile", "spread", "stddev", "sum"}
)
#: InfluxDB's words for aggregates mixed with raw fields
MIXING_MESSAGE: Final = "InfluxQL: mixing aggregate and non-aggregate queries is not supported"
_NUMERIC_TYPES: Final = frozenset({"float", "integer", "unsigned"})
#: max() and min() also order booleans (false < true), as InfluxDB does
_ORDERED: Final = frozenset({"max", "min"})


def expand_fields(
    fields: Sequence[Field], schema: MeasurementSchema, group_tags: Sequence[str]
) -> list[Field]:
    """``fields`` with wildcards and regexes expanded and ``time`` left out."""
    expanded: list[Field] = []
    for field in fields:
        expr = field.expr
        if isinstance(expr, Wildcard | RegexLit):
            expanded.extend(Field(ref) for ref in _columns(expr, schema, group_tags))
        elif isinstance(expr, Call) and expr.args and isinstance(expr.args[0], Wildcard | RegexLit):
            expanded.extend(_expand_call(expr, field.alias, schema))
        elif not (isinstance(expr, VarRef) and expr.name.lower() == "time"):
            expanded.append(field)
    return expanded


def _columns(
    pattern: Wildcard | RegexLit, schema: MeasurementSchema, group_tags: Sequence[str]
) -> list[VarRef]:
    kind = pattern.kind if isinstance(pattern, Wildcard) else None
    found = []
    if kind != "tag":
        found += [VarRef(name, "field") for name in schema.field_names()]
    if kind != "field":
        found += [VarRef(name, "tag") for name in schema.tags if name not in group_tags]
    if isinstance(pattern, RegexLit):
        regex = compile_regex(pattern.pattern)
        found = [ref for ref in found if regex.search(ref.name)]
    return sorted(found, key=lambda ref: ref.name)


def _expand_call(call: Call, alias: str | None, schema: MeasurementSchema) -> Iterator[Field]:
    pattern = call.args[0]
    regex = compile_regex(pattern.pattern) if isinstance(pattern, RegexLit) else None
    for name, kind in schema.fields:
        if call.name in NUMERIC_ONLY and not _takes(call.name, kind):
            continue
        if regex is None or regex.search(name):
            args = (VarRef(name, "field"), *call.args[1:])
            yield Field(Call(call.name, args), f"{alias or call.name}_{name}")


def _takes(function: str, kind: str) -> bool:
    return kind in _NUMERIC_TYPES or (function in _ORDERED and kind == "boolean")


def compile_regex(pattern: str) -> re.Pattern[str]:
    """``pattern`` compiled; InfluxQLError naming it when it is not a valid regex."""
    try:
        return re.compile(pattern)
    except re.error as exc:
        raise InfluxQLError(f"InfluxQL: invalid regex /{pattern}/: {exc}") from None


def _name(expr: Expr) -> list[str]:
    if isinstance(expr, Call):
        return [expr.name]
    if isinstance(expr, VarRef):
        return [expr.name]
    if isinstance(expr, BinaryExpr):
        return _name(expr.lhs) + _name(expr.rhs)
    return []


def column_names(fields: Sequence[Field]) -> list[str]:
    """The output column of each field (after ``time``), unique as InfluxDB makes them."""
    used: dict[str, int] = {"time": 1}
    names: list[str | None] = [field.alias for field in fields]
    for alias in names:
        if alias is not None:
            used[alias] = 1
    for index, field in enumerate(fields):
        if names[index] is not None:
            continue
        name = "_".join(_name(field.expr))
        count = used.get(name)
        if count is not None:
            while f"{name}_{count}" in used:
                count += 1
            used[name] = count + 1
            name = f"{name}_{count}"
        used[name] = used.get(name, 0) + 1
        names[index] = name
    return [name or "" for name in names]


def calls_in(expr: Expr) -> list[Call]:
    """The function calls of ``expr`` (not looking inside a call's arguments)."""
    if isinstance(expr, Call):
        return [expr]
    if isinstance(expr, BinaryExpr):
        return calls_in(expr.lhs) + calls_in(expr.rhs)
    return []


def field_refs(expr: Expr, *, inside_calls: bool = True) -> list[VarRef]:
    """The names ``expr`` refers to (outside calls only, unless ``inside_calls``)."""
    if isinstance(expr, VarRef):
        return [expr]
    if isinstance(expr, BinaryExpr):
        lhs = field_refs(expr.lhs, inside_calls=inside_calls)
        return lhs + field_refs(expr.rhs, inside_calls=inside_calls)
    if isinstance(expr, Call) and inside_calls:
        return [ref for arg in expr.args for ref in field_refs(arg)]
    return []


def check_calls(fields: Sequence[Field], schema: MeasurementSchema) -> Call | None:
    """Refuse what cannot run; returns the selector when it is the query's only function.

    Raw names next to functions are allowed only beside a single selector (they take the
    values of the point it picks), as in InfluxDB.
    """
    calls = [call for field in fields for call in calls_in(field.expr)]
    for call in calls:
        _check_call(call, schema)
    raw = [ref for field in fields for ref in field_refs(field.expr, inside_calls=False)]
    single = calls[0] if len(calls) == 1 and calls[0].name in SELECTORS else None
    if calls and raw and single is None:
        raise InfluxQLError(MIXING_MESSAGE)
    return single


def _check_call(call: Call, schema: MeasurementSchema) -> None:
    name = call.name
    if name in TRANSFORMATIONS or name in PICKS:  # run_transformed/run_picked take it alone
        raise unsupported(f"{name}() inside another expression", f"select {name}() on its own")
    if name not in AGGREGATES and name not in SELECTORS:
        known = (*AGGREGATES, *SELECTORS, *TRANSFORMATIONS, *PICKS)
        supported = ", ".join(f"{n}()" for n in sorted(known))
        raise unsupported(f"the function {name}()", f"use one of {supported}")
    arity = 2 if name == "percentile" else 1
    if len(call.args) != arity:
        message = f"InfluxQL: {name}() takes {arity} argument{'s' if arity > 1 else ''}"
        raise InfluxQLError(f"{message}, got {len(call.args)}")
    if name == "percentile" and not isinstance(call.args[1], NumberLit):
        raise InfluxQLError("InfluxQL: percentile() takes a number as its second argument")
    arg = call.args[0]
    if isinstance(arg, Call):
        raise unsupported(f"{arg.name}() inside {name}()", "apply one function to a field")
    if not isinstance(arg, VarRef):
        raise InfluxQLError(f"InfluxQL: {name}() takes a field name as its first argument")
    kind = schema.field_type(arg.name)
    if kind is None and schema.is_tag(arg.name):
        raise InfluxQLError(f"InfluxQL: {name}() needs a field, and {arg.name} is a tag")
    if kind is not None and name in NUMERIC_ONLY and not _takes(name, kind):
        message = f"InfluxQL: {name}() needs a numeric field, and {arg.name} is a {kind} field"
        raise InfluxQLError(message)
