"""InfluxQL grammar: tokens, parse trees, unsupported statements and syntax errors."""

from __future__ import annotations

import pytest

from engine_runtime.errors import InfluxQLSyntaxError
from engine_runtime.influxql import parse, parse_statement
from engine_runtime.influxql.lexer import tokenize
from engine_runtime.influxql.nodes import (
    BinaryExpr,
    BoolLit,
    Call,
    CreateDatabase,
    DurationLit,
    Field,
    Fill,
    Measurement,
    NumberLit,
    RegexDimension,
    RegexLit,
    SelectStatement,
    ShowDatabases,
    ShowFieldKeys,
    ShowMeasurements,
    ShowRetentionPolicies,
    ShowTagKeys,
    ShowTagValues,
    StringLit,
    TagDimension,
    TimeDimension,
    Unsupported,
    VarRef,
    Wildcard,
    WildcardDimension,
)

MINUTE = 60_000_000_000
HOUR = 60 * MINUTE


def test_tokens_kinds_and_values() -> None:
    tokens = tokenize("""SELECT "a b"::field, 'it\\'s', 1.5, 42, 1h30m, $p =~ != <> >= :: -- c""")
    assert [(t.kind, t.value) for t in tokens] == [
        ("IDENT", "SELECT"),
        ("IDENT", "a b"),
        ("::", "::"),
        ("IDENT", "field"),
        (",", ","),
        ("STRING", "it's"),
        (",", ","),
        ("NUMBER", 1.5),
        (",", ","),
        ("INTEGER", 42),
        (",", ","),
        ("DURATION", HOUR + 30 * MINUTE),
        (",", ","),
        ("PARAM", "p"),
        ("=~", "=~"),
        ("!=", "!="),
        ("<>", "<>"),
        (">=", ">="),
        ("::", "::"),
        ("EOF", ""),
    ]
    assert tokens[1].quoted and tokens[1].keyword() is None
    assert tokens[0].keyword() == "SELECT"


@pytest.mark.parametrize(
    ("literal", "nanoseconds"),
    [("10ns", 10), ("5u", 5_000), ("5µ", 5_000), ("100ms", 100_000_000), ("2s", 2 * 10**9)],
)
def test_duration_units(literal: str, nanoseconds: int) -> None:
    assert tokenize(literal)[0].value == nanoseconds


def test_a_full_select() -> None:
    text = (
        'SELECT mean("v") AS m, max(v) FROM "db"."rp"."cpu" '
        "WHERE time > now() - 1h AND (host = 'a' OR host =~ /^web/) "
        "GROUP BY time(10m, 5m), host fill(previous) ORDER BY time DESC "
        "LIMIT 5 OFFSET 2 SLIMIT 3 SOFFSET 1 tz('Europe/Paris')"
    )
    assert parse_statement(text) == SelectStatement(
        fields=(
            Field(Call("mean", (VarRef("v"),)), "m"),
            Field(Call("max", (VarRef("v"),))),
        ),
        sources=(Measurement("cpu", database="db", retention_policy="rp"),),
        condition=BinaryExpr(
            "AND",
            BinaryExpr(">", VarRef("time"), BinaryExpr("-", Call("now", ()), DurationLit(HOUR))),
            BinaryExpr(
                "OR",
                BinaryExpr("=", VarRef("host"), StringLit("a")),
                BinaryExpr("=~", VarRef("host"), RegexLit("^web")),
            ),
        ),
        dimensions=(TimeDimension(10 * MINUTE, 5 * MINUTE), TagDimension("host")),
        fill=Fill("previous"),
        descending=True,
        limit=5,
        offset=2,
        slimit=3,
        soffset=1,
        timezone="Europe/Paris",
    )


def test_sources_wildcards_fill_values_and_precedence() -> None:
    statement = parse_statement(
        "select *, *::tag, v * 2 + 1 from rp.m, db..n, /^c.*/ group by *, /re/ fill(-1.5)"
    )
    assert isinstance(statement, SelectStatement)
    assert statement.fields == (
        Field(Wildcard()),
        Field(Wildcard("tag")),
        Field(BinaryExpr("+", BinaryExpr("*", VarRef("v"), NumberLit(2)), NumberLit(1))),
    )
    assert statement.sources == (
        Measurement("m", retention_policy="rp"),
        Measurement("n", database="db"),
        Measurement(regex="^c.*"),
    )
    assert statement.dimensions == (WildcardDimension(), RegexDimension("re"))
    assert statement.fill == Fill("value", -1.5)


def test_time_literals_and_bound_parameters() -> None:
    statement = parse_statement(
        "SELECT v FROM m WHERE time >= 1700000000s AND time < '2024-01-01T00:00:00Z' "
        "AND host = $host AND up = $up AND n > $n",
        {"host": "a", "up": True, "n": 3},
    )
    assert isinstance(statement, SelectStatement)
    # an AND chain is built balanced, in order: ((t1 AND t2) AND (host AND up)) AND n
    assert statement.condition == BinaryExpr(
        "AND",
        BinaryExpr(
            "AND",
            BinaryExpr(
                "AND",
                BinaryExpr(">=", VarRef("time"), DurationLit(1_700_000_000 * 10**9)),
                BinaryExpr("<", VarRef("time"), StringLit("2024-01-01T00:00:00Z")),
            ),
            BinaryExpr(
                "AND",
                BinaryExpr("=", VarRef("host"), StringLit("a")),
                BinaryExpr("=", VarRef("up"), BoolLit(True)),
            ),
        ),
        BinaryExpr(">", VarRef("n"), NumberLit(3)),
    )


def test_show_statements() -> None:
    text = (
        "SHOW DATABASES; SHOW RETENTION POLICIES ON db; "
        "SHOW MEASUREMENTS WITH MEASUREMENT =~ /cpu/ LIMIT 2; "
        'SHOW TAG KEYS FROM "cpu"; SHOW TAG VALUES WITH KEY IN ("host", region); '
        "SHOW TAG VALUES FROM cpu WITH KEY = \"host\" WHERE region = 'eu'; SHOW FIELD KEYS;"
    )
    assert parse(text) == (
        ShowDatabases(),
        ShowRetentionPolicies("db"),
        ShowMeasurements(measurement=("=~", "cpu"), limit=2),
        ShowTagKeys(sources=(Measurement("cpu"),)),
        ShowTagValues("IN", ("host", "region")),
        ShowTagValues(
            "=",
            ("host",),
            sources=(Measurement("cpu"),),
            condition=BinaryExpr("=", VarRef("region"), StringLit("eu")),
        ),
        ShowFieldKeys(),
    )


def test_unsupported_statements_keep_the_others_running() -> None:
    statements = parse(
        "SELECT v INTO other FROM m; DROP MEASUREMENT m; SHOW SERIES; "
        "SHOW TAG KEY CARDINALITY; SELECT v FROM m WHERE h =~ /a;b/ ORDER BY v; "
        "CREATE DATABASE fresh; SELECT v FROM (SELECT v FROM m)"
    )
    messages = [s.message if isinstance(s, Unsupported) else s for s in statements]
    assert messages == [
        "InfluxQL: SELECT ... INTO is not supported; run the SELECT and write its rows to /write",
        "InfluxQL: the DROP statement is not supported; this server runs SELECT and SHOW "
        "queries only",
        "InfluxQL: SHOW SERIES is not supported; this server runs SHOW DATABASES, MEASUREMENTS, "
        "RETENTION POLICIES, TAG KEYS, TAG VALUES or FIELD KEYS",
        "InfluxQL: SHOW TAG KEY CARDINALITY is not supported; this server runs SHOW DATABASES, "
        "MEASUREMENTS, RETENTION POLICIES, TAG KEYS, TAG VALUES or FIELD KEYS",
        "InfluxQL: ORDER BY v is not supported; order by time (ASC or DESC)",
        CreateDatabase("fresh"),
        SelectStatement(
            fields=(Field(VarRef("v")),),
            sources=(
                Measurement(
                    subquery=SelectStatement(
                        fields=(Field(VarRef("v")),), sources=(Measurement("m"),)
                    )
                ),
            ),
        ),
    ]


def test_group_by_a_tag_cast_as_grafana_writes_it() -> None:
    found = parse_statement('SELECT mean(v) FROM m GROUP BY time(1m), "host"::tag')
    assert isinstance(found, SelectStatement)
    assert found.dimensions == (TimeDimension(MINUTE), TagDimension("host"))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "",
            "found EOF, expected SELECT, DELETE, SHOW, CREATE, DROP, EXPLAIN, GRANT, REVOKE, "
            "ALTER, SET, KILL at line 1, char 1",
        ),
        ("SELEC v FROM m", "found SELEC, expected SELECT, DELETE"),
        (
            "SELECT FROM m",
            "found FROM, expected identifier, string, number, bool at line 1, char 8",
        ),
        ("SELECT v FROM", "found EOF, expected measurement at line 1, char 14"),
        ("SELECT v FROM m WHERE", "found EOF, expected identifier"),
        ("SELECT v FROM m\nWHERE h =~ /abc", "found unterminated regex, expected / at line 2"),
        ("SELECT v FROM m GROUP BY time(0s)", "expected a GROUP BY time() interval above 0"),
        ("SELECT v FROM m fill(sideways)", "found sideways, expected null, none, previous"),
        ("SELECT $x FROM m", "found $x, expected a value for it in the request's params"),
        ("SELECT 10min FROM m", "found 10min, expected a number or a duration"),
        ("SELECT v FROM m extra", "found extra, expected ;"),
        ("SHOW FOO", "found FOO, expected DATABASES, MEASUREMENTS"),
        ("SHOW TAG VALUES FROM m", "found EOF, expected WITH KEY"),
        ("SELECT 'open FROM m", "found unterminated string, expected '"),
        ('SELECT v FROM m GROUP BY "v"::field', "expected ::tag (GROUP BY takes tags only)"),
    ],
)
def test_syntax_errors_say_what_was_found_and_where(text: str, message: str) -> None:
    with pytest.raises(InfluxQLSyntaxError) as caught:
        parse(text)
    assert str(caught.value).startswith("error parsing query: ")
    assert message in str(caught.value)


def test_parse_statement_wants_exactly_one() -> None:
    with pytest.raises(InfluxQLSyntaxError, match="found 2 statements, expected one"):
        parse_statement("SHOW DATABASES; SHOW DATABASES")
