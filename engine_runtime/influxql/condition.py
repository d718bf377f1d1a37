"""InfluxQL expressions -> DataFusion SQL: `condition_sql` (``WHERE``) and `value_sql`.

Tags compare as InfluxDB compares them: a point without the tag has the empty string, so
``host != 'a'`` and ``host = ''`` match it (``coalesce(CAST(host AS VARCHAR), '')``). A field
missing from a point is NULL, so no comparison matches it. A name that is neither a tag nor a
field of the measurement behaves like a missing tag against strings and regexes, and like a
missing field otherwise. ``=~``/``!~`` become DataFusion's ``~``/``!~`` (unanchored, as in
InfluxQL); ``/`` always divides as floating point (InfluxQL's ``1 / 2`` is ``0.5``).
"""

from __future__ import annotations

from typing import Final

from engine_runtime.errors import InfluxQLError
from engine_runtime.influxql._expressions import unsupported
from engine_runtime.influxql.nodes import (
    BinaryExpr,
    BoolLit,
    Call,
    DurationLit,
    Expr,
    NumberLit,
    RegexLit,
    StringLit,
    VarRef,
    Wildcard,
)
from engine_runtime.influxql.schema import MeasurementSchema, quote_ident, quote_string

__all__ = ["NULL_FIELD", "column_sql", "condition_sql", "literal_sql", "tag_sql", "value_sql"]

#: what an unknown field reads as
NULL_FIELD: Final = "CAST(NULL AS DOUBLE)"
_COMPARISONS: Final = frozenset({"=", "!=", "<", "<=", ">", ">="})
_ARITHMETIC: Final = frozenset({"+", "-", "*", "/", "%"})
_TAG_KINDS: Final = frozenset({"tag"})


def tag_sql(name: str) -> str:
    """A tag as a string, the empty string where a point has none."""
    return f"coalesce(CAST({quote_ident(name)} AS VARCHAR), '')"


def column_sql(ref: VarRef, schema: MeasurementSchema) -> str | None:
    """The column ``ref`` names: a field as it is, a tag as a string; None when unknown.

    ``::tag`` only finds a tag and ``::field`` (or a field type) only a field.
    """
    if ref.kind not in _TAG_KINDS and schema.field_type(ref.name) is not None:
        return quote_ident(ref.name)
    if (ref.kind is None or ref.kind in _TAG_KINDS) and schema.is_tag(ref.name):
        return f"CAST({quote_ident(ref.name)} AS VARCHAR)"
    return None


def literal_sql(expr: Expr) -> str | None:
    """A literal as SQL; None when ``expr`` is not one."""
    if isinstance(expr, StringLit):
        return quote_string(expr.value)
    if isinstance(expr, BoolLit):
        return "TRUE" if expr.value else "FALSE"
    if isinstance(expr, NumberLit | DurationLit):
        return repr(expr.value)
    return None


def value_sql(expr: Expr, schema: MeasurementSchema) -> str:
    """A value expression (no aggregates): columns, literals and arithmetic."""
    literal = literal_sql(expr)
    if literal is not None:
        return literal
    if isinstance(expr, VarRef):
        return column_sql(expr, schema) or NULL_FIELD
    if isinstance(expr, BinaryExpr) and expr.op in _ARITHMETIC:
        lhs, rhs = value_sql(expr.lhs, schema), value_sql(expr.rhs, schema)
        if expr.op == "/":
            lhs = f"CAST({lhs} AS DOUBLE)"
        return f"({lhs} {expr.op} {rhs})"
    raise _not_a_value(expr)


def condition_sql(expr: Expr, schema: MeasurementSchema) -> str:
    """A ``WHERE`` condition without its time comparisons (see `timerange.split_condition`)."""
    if isinstance(expr, BinaryExpr) and expr.op in ("AND", "OR"):
        lhs, rhs = condition_sql(expr.lhs, schema), condition_sql(expr.rhs, schema)
        return f"({lhs} {expr.op} {rhs})"
    if isinstance(expr, BinaryExpr) and expr.op in ("=~", "!~"):
        return _regex_match(expr, schema)
    if isinstance(expr, BinaryExpr) and expr.op in _COMPARISONS:
        return _comparison(expr, schema)
    if isinstance(expr, BoolLit):
        return "TRUE" if expr.value else "FALSE"
    if isinstance(expr, VarRef) and schema.field_type(expr.name) == "boolean":
        return quote_ident(expr.name)
    message = "InfluxQL: a WHERE condition must compare a tag or a field (=, !=, <, >, =~, !~)"
    raise InfluxQLError(message)


def _operand(expr: Expr, schema: MeasurementSchema, *, textual: bool) -> tuple[str, bool]:
    """(SQL, is a tag) of one side of a comparison whose other side is ``textual``."""
    if isinstance(expr, VarRef):
        if expr.kind not in _TAG_KINDS and schema.field_type(expr.name) is not None:
            return quote_ident(expr.name), False
        if schema.is_tag(expr.name):
            return tag_sql(expr.name), True
        return ("''", True) if textual else (NULL_FIELD, False)
    return value_sql(expr, schema), False


def _comparison(expr: BinaryExpr, schema: MeasurementSchema) -> str:
    lhs_text = isinstance(expr.lhs, StringLit)
    rhs_text = isinstance(expr.rhs, StringLit)
    lhs, lhs_tag = _operand(expr.lhs, schema, textual=rhs_text)
    rhs, rhs_tag = _operand(expr.rhs, schema, textual=lhs_text)
    if (lhs_tag and not (rhs_text or rhs_tag)) or (rhs_tag and not (lhs_text or lhs_tag)):
        return "FALSE"  # a tag is a string: it never equals (or orders against) a number
    return f"({lhs} {expr.op} {rhs})"


def _regex_match(expr: BinaryExpr, schema: MeasurementSchema) -> str:
    if not isinstance(expr.rhs, RegexLit):
        raise InfluxQLError(f"InfluxQL: {expr.op} needs a regex on its right, like /^web/")
    subject, _ = _operand(expr.lhs, schema, textual=True)
    return f"({subject} {'~' if expr.op == '=~' else '!~'} {quote_string(expr.rhs.pattern)})"


def _not_a_value(expr: Expr) -> Exception:
    if isinstance(expr, Call):
        return unsupported(f"{expr.name}() here", "use functions only in the SELECT list")
    if isinstance(expr, Wildcard):
        return InfluxQLError("InfluxQL: * can only stand alone or inside a function")
    if isinstance(expr, RegexLit):
        return InfluxQLError("InfluxQL: a regex can only follow =~ or !~, or stand alone")
    if isinstance(expr, BinaryExpr):
        return InfluxQLError(f"InfluxQL: {expr.op} compares; it cannot compute a value")
    return InfluxQLError(f"InfluxQL: {expr!r} is not a value")
