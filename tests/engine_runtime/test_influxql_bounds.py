"""The parser's bounds: balanced AND/OR chains, `MAX_DEPTH` levels, `MAX_TERMS` terms and
`MAX_STATEMENTS` statements, each refused as a syntax error naming the limit."""

from __future__ import annotations

import pytest

from engine_runtime.errors import InfluxQLSyntaxError
from engine_runtime.influxql._bounds import MAX_DEPTH, MAX_STATEMENTS, MAX_TERMS, tree_depth
from engine_runtime.influxql.nodes import SelectStatement
from engine_runtime.influxql.parser import parse, parse_statement


def _condition_depth(text: str) -> int:
    statement = parse_statement(text)
    assert isinstance(statement, SelectStatement) and statement.condition is not None
    return tree_depth(statement.condition)


def test_a_chain_of_the_most_terms_is_shallow() -> None:
    ors = " OR ".join(f"v = {i}" for i in range(MAX_TERMS // 2 - 1))
    assert _condition_depth(f"SELECT v FROM m WHERE {ors}") <= 15


@pytest.mark.parametrize(
    "where",
    [
        "(" * (MAX_DEPTH + 1) + "v = 1" + ")" * (MAX_DEPTH + 1),
        "v = " + "- " * (MAX_DEPTH + 1) + "v",
        "v = " + " * ".join(["2"] * (MAX_DEPTH + 1)),
        "v = " + "abs(" * (MAX_DEPTH + 1) + "1" + ")" * (MAX_DEPTH + 1),
        " OR ".join(["v = 1"] * (MAX_TERMS // 2 + 1)),
    ],
    ids=["parentheses", "unary-minus", "times-chain", "calls", "terms"],
)
def test_past_a_bound_is_a_syntax_error(where: str) -> None:
    with pytest.raises(InfluxQLSyntaxError, match="InfluxQL: expression nested too deeply"):
        parse(f"SELECT v FROM m WHERE {where}")


def test_nested_subqueries_count_as_levels() -> None:
    text = "SELECT v FROM " + "(SELECT v FROM " * (MAX_DEPTH + 1) + "m" + ")" * (MAX_DEPTH + 1)
    with pytest.raises(InfluxQLSyntaxError, match="nested too deeply"):
        parse(text)


def test_terms_are_counted_per_statement() -> None:
    ors = " OR ".join(["v = 1"] * (MAX_TERMS // 4))
    assert len(parse(f"SELECT v FROM m WHERE {ors}; SELECT v FROM m WHERE {ors}")) == 2


def test_statements_past_the_bound_are_refused() -> None:
    assert len(parse("; ".join(["SHOW DATABASES"] * MAX_STATEMENTS))) == MAX_STATEMENTS
    with pytest.raises(InfluxQLSyntaxError, match=r"more than 100 statements in one request"):
        parse("; ".join(["SHOW DATABASES"] * (MAX_STATEMENTS + 1)))
