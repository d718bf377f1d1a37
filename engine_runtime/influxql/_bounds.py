"""Internal: the bounds that keep hostile InfluxQL from exhausting the stack or the memory.

The parser and everything that walks an expression (the condition analysis, the SQL
translation) recurse once per level, so without a bound a thousand nested parentheses, a long
``+`` chain or a thousand-term ``OR`` chain ends in ``RecursionError`` (a 500). Instead:

* ``AND`` and ``OR`` chains are built balanced (`balanced`): ``a OR b OR c OR d`` is
  ``(a OR b) OR (c OR d)``, the same condition, so 10,000 terms are 14 levels deep;
* an expression may be at most `MAX_DEPTH` levels deep (parentheses, unary minus, calls,
  and chains of the other operators, which are not reordered) and a statement may hold at most
  `MAX_TERMS` terms;
* a request may hold at most `MAX_STATEMENTS` statements.

Each is refused as a syntax error, which the HTTP API answers 400 and Flight
INVALID_ARGUMENT, before anything runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from engine_runtime.errors import InfluxQLSyntaxError
from engine_runtime.influxql.nodes import BinaryExpr, Call, Expr

__all__ = [
    "MAX_DEPTH",
    "MAX_STATEMENTS",
    "MAX_TERMS",
    "TOO_DEEP_MESSAGE",
    "balanced",
    "too_deep",
    "too_many_statements",
    "tree_depth",
]

#: levels of nesting one expression may have (the parser uses ~9 Python frames per level)
MAX_DEPTH: Final = 100
#: terms (operands and calls) one statement may hold
MAX_TERMS: Final = 10_000
#: statements one request may hold
MAX_STATEMENTS: Final = 100
TOO_DEEP_MESSAGE: Final = "InfluxQL: expression nested too deeply"


def too_deep(pos: int) -> InfluxQLSyntaxError:
    """The refusal of an expression past `MAX_DEPTH` levels or `MAX_TERMS` terms."""
    message = (
        f"{TOO_DEEP_MESSAGE} (at most {MAX_DEPTH} levels and {MAX_TERMS} terms; char "
        f"{pos + 1}): split the condition over several queries, or use a regex "
        "(host =~ /^(a|b|c)$/) for a long OR of values"
    )
    return InfluxQLSyntaxError(message, position=pos)


def too_many_statements(pos: int) -> InfluxQLSyntaxError:
    """The refusal of a request of more than `MAX_STATEMENTS` statements."""
    message = (
        f"InfluxQL: more than {MAX_STATEMENTS} statements in one request (at most "
        f"{MAX_STATEMENTS}): send them in several requests"
    )
    return InfluxQLSyntaxError(message, position=pos)


def balanced(op: str, terms: Sequence[Expr]) -> Expr:
    """``terms`` joined by the associative ``op`` (AND, OR) in a balanced tree, in order."""
    level = list(terms)
    while len(level) > 1:
        pairs = [BinaryExpr(op, level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        level = pairs + level[len(level) - len(level) % 2 :]
    return level[0]


def tree_depth(expr: Expr) -> int:
    """How many levels of operators and calls ``expr`` nests, walked without recursion."""
    deepest = 0
    stack: list[tuple[Expr, int]] = [(expr, 1)]
    while stack:
        node, depth = stack.pop()
        deepest = max(deepest, depth)
        if isinstance(node, BinaryExpr):
            stack += [(node.lhs, depth + 1), (node.rhs, depth + 1)]
        elif isinstance(node, Call):
            stack += [(arg, depth + 1) for arg in node.args]
    return deepest
