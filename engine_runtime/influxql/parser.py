"""InfluxQL text -> statements: `parse`, a recursive-descent parser over `lexer.Lexer`.

Grammar (keywords are case-insensitive; ``[ ]`` optional, ``{ }`` repeated)::

    query      = statement { ";" statement } [ ";" ]
    statement  = select | show | "CREATE DATABASE" ident
    select     = "SELECT" field { "," field } "FROM" source { "," source }
                 [ "WHERE" expr ] [ "GROUP BY" dimension { "," dimension } ]
                 [ "fill(" ( "null" | "none" | "previous" | "linear" | number ) ")" ]
                 [ "ORDER BY time" [ "ASC" | "DESC" ] ] [ "LIMIT" int ] [ "OFFSET" int ]
                 [ "SLIMIT" int ] [ "SOFFSET" int ] [ "tz(" string ")" ]
    field      = expr [ "AS" ident ]
    source     = regex | ident [ "." [ ident ] [ "." ident ] ]      (m, db.rp.m, db..m)
    dimension  = "time(" duration [ "," duration ] ")" | "*" | regex | ident
    show       = "SHOW DATABASES" | "SHOW RETENTION POLICIES" [ "ON" ident ]
               | "SHOW MEASUREMENTS" [ on ] [ "WITH MEASUREMENT" ( "=" ident | "=~" regex ) ]
                 [ where ] [ limits ]
               | "SHOW TAG KEYS" [ on ] [ from ] [ where ] [ limits ]
               | "SHOW TAG VALUES" [ on ] [ from ] "WITH KEY" ( ("=" | "!=") ident
                 | ("=~" | "!~") regex | "IN (" ident { "," ident } ")" ) [ where ] [ limits ]
               | "SHOW FIELD KEYS" [ on ] [ from ] [ limits ]

Text that does not parse raises InfluxQLSyntaxError (the whole query fails, as in InfluxDB).
Valid InfluxQL that is not run here (``INTO``, ``DROP``, ``SHOW SERIES``, subqueries, ...)
becomes an `Unsupported` statement, so the other statements of the query still run.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from engine_runtime.errors import InfluxQLSyntaxError, InfluxQLUnsupportedError
from engine_runtime.influxql._bounds import MAX_STATEMENTS, too_many_statements
from engine_runtime.influxql._expressions import unsupported
from engine_runtime.influxql.nodes import (
    CreateDatabase,
    Dimension,
    Field,
    Fill,
    RegexDimension,
    SelectStatement,
    Statement,
    TagDimension,
    TimeDimension,
    Unsupported,
    WildcardDimension,
)
from engine_runtime.influxql.show_parser import ShowParser

__all__ = ["STATEMENT_KEYWORDS", "parse", "parse_statement"]

#: the words a statement may start with, as InfluxDB lists them in its error
STATEMENT_KEYWORDS: Final = (
    "SELECT, DELETE, SHOW, CREATE, DROP, EXPLAIN, GRANT, REVOKE, ALTER, SET, KILL"
)
_OTHER_STATEMENTS: Final = frozenset(
    {"DELETE", "DROP", "EXPLAIN", "GRANT", "REVOKE", "ALTER", "SET", "KILL"}
)
_FILL_MODES: Final = frozenset({"null", "none", "previous", "linear"})


class _Parser(ShowParser):
    def statement(self) -> Statement:
        word = self.token.keyword()
        if word == "SELECT":
            self.advance()
            return self._select()
        if word == "SHOW":
            self.advance()
            return self.show()
        if word == "CREATE":
            return self._create()
        if word in _OTHER_STATEMENTS:
            what = f"the {word} statement"
            raise unsupported(what, "this server runs SELECT and SHOW queries only")
        raise self.error(STATEMENT_KEYWORDS)

    def skip_statement(self) -> None:
        """Move past the rest of a statement that will not run, to its ``;`` or the end."""
        while not self.at(";", "EOF"):
            try:
                self.advance()
            except InfluxQLSyntaxError:  # e.g. the inside of a regex: skip one character
                self.lexer.pos += 1

    def _create(self) -> Statement:
        self.advance()
        if not self.accept_keyword("DATABASE"):
            raise unsupported(f"CREATE {self.token.value}", "only CREATE DATABASE <name> runs")
        name = self.identifier("database name")
        if self.at_keyword("WITH"):
            raise unsupported("CREATE DATABASE ... WITH", "create the database without WITH")
        return CreateDatabase(name)

    # -- SELECT -------------------------------------------------------------------------------

    def _select(self) -> SelectStatement:
        fields = [self._field()]
        while self.accept(","):
            fields.append(self._field())
        if self.at_keyword("INTO"):
            raise unsupported("SELECT ... INTO", "run the SELECT and write its rows to /write")
        self.expect_keyword("FROM")
        sources = self.sources()
        condition = self.expression() if self.accept_keyword("WHERE") else None
        dimensions = self._dimensions() if self._accept_pair("GROUP", "BY") else ()
        fill = self._fill() if self.at_keyword("FILL") else Fill()
        descending = self._order_by()
        limit, offset = self.limits()
        slimit = self.integer() if self.accept_keyword("SLIMIT") else None
        soffset = self.integer() if self.accept_keyword("SOFFSET") else 0
        timezone = self._timezone()
        return SelectStatement(
            fields=tuple(fields),
            sources=tuple(sources),
            condition=condition,
            dimensions=dimensions,
            fill=fill,
            descending=descending,
            limit=limit,
            offset=offset,
            slimit=slimit,
            soffset=soffset,
            timezone=timezone,
        )

    def subquery(self) -> SelectStatement:
        self.expect("(")
        self.expect_keyword("SELECT")
        self.enter()  # nested subqueries recurse like parentheses
        try:
            inner = self._select()
        finally:
            self.depth -= 1
        self.expect(")", ")")
        return inner

    def _field(self) -> Field:
        expr = self.expression()
        alias = self.identifier("alias") if self.accept_keyword("AS") else None
        return Field(expr, alias)

    def _dimensions(self) -> tuple[Dimension, ...]:
        found = [self._dimension()]
        while self.accept(","):
            found.append(self._dimension())
        return tuple(found)

    def _dimension(self) -> Dimension:
        if self.accept("*"):
            return WildcardDimension()
        if self.at("/"):
            return RegexDimension(self.regex())
        token = self.token
        name = self.identifier("time(), *, a regex or a tag key")
        if token.quoted or name.lower() != "time" or not self.at("("):
            if self.at("::") and self._kind() != "tag":  # Grafana writes "host"::tag
                raise self.error("::tag (GROUP BY takes tags only)")
            return TagDimension(name)
        self.expect("(")
        if not self.at("DURATION") or self.token.value == 0:
            raise self.error("a GROUP BY time() interval above 0 (10s, 5m, 1h, ...)")
        interval = int(self.advance().value)
        offset = self._duration() if self.accept(",") else 0
        self.expect(")", ")")
        return TimeDimension(interval, offset)

    def _duration(self) -> int:
        negative = self.accept("-")
        value = int(self.expect("DURATION", "duration").value)
        return -value if negative else value

    def _fill(self) -> Fill:
        self.advance()
        self.expect("(", "(")
        negative = self.accept("-")
        if self.at("INTEGER", "NUMBER"):
            number = self.advance().value
            if not isinstance(number, int | float):  # the lexer's numbers are int or float
                raise self.error("a number")
            fill = Fill("value", -number if negative else number)
        elif not negative and self.token.kind == "IDENT" and self.token.keyword():
            mode = str(self.token.value).lower()
            if mode not in _FILL_MODES:
                raise self.error("null, none, previous, linear or a number")
            self.advance()
            fill = Fill(mode)
        else:
            raise self.error("null, none, previous, linear or a number")
        self.expect(")", ")")
        return fill

    def _order_by(self) -> bool:
        if not self._accept_pair("ORDER", "BY"):
            return False
        token = self.token
        name = self.identifier("time")
        if name.lower() != "time" or token.quoted:
            raise unsupported(f"ORDER BY {name}", "order by time (ASC or DESC)")
        if self.accept_keyword("DESC"):
            return True
        self.accept_keyword("ASC")
        return False

    def _timezone(self) -> str | None:
        if not (self.at_keyword("TZ") and self._next_is("(")):
            return None
        self.advance()
        self.expect("(")
        name = str(self.expect("STRING", "a time zone name as a string").value)
        self.expect(")", ")")
        return name

    def _accept_pair(self, first: str, second: str) -> bool:
        if not self.accept_keyword(first):
            return False
        self.expect_keyword(second)
        return True

    def _next_is(self, kind: str) -> bool:
        saved = self.lexer.pos
        following = self.lexer.next()
        self.lexer.pos = saved
        return following.kind == kind


def parse(text: str, params: Mapping[str, Any] | None = None) -> tuple[Statement, ...]:
    """Every statement of ``text``; ``params`` binds ``$name`` placeholders.

    :raises InfluxQLSyntaxError: when any statement does not parse, or there is none.
    """
    parser = _Parser(text, params)
    statements: list[Statement] = []
    while True:
        while parser.accept(";"):
            pass
        if parser.at("EOF"):
            break
        if len(statements) == MAX_STATEMENTS:  # refused before the rest is even parsed
            raise too_many_statements(parser.token.pos)
        parser.depth, parser.terms = 0, 0
        try:
            statements.append(parser.statement())
        except InfluxQLUnsupportedError as exc:
            parser.skip_statement()
            statements.append(Unsupported(str(exc)))
        if not parser.at(";", "EOF"):
            raise parser.error(";")
    if not statements:
        raise parser.error(STATEMENT_KEYWORDS)
    return tuple(statements)


def parse_statement(text: str, params: Mapping[str, Any] | None = None) -> Statement:
    """The one statement of ``text``; InfluxQLSyntaxError when there are several."""
    statements = parse(text, params)
    if len(statements) != 1:
        problem = f"found {len(statements)} statements, expected one"
        raise InfluxQLSyntaxError(f"error parsing query: {problem}", position=0)
    return statements[0]
