"""Internal: the token cursor, the expression grammar and the clauses SELECT and SHOW share
(``FROM`` sources, ``LIMIT``/``OFFSET``), which the statement parsers build on.

Precedence, lowest first: ``OR``; ``AND``; ``= != <> < <= > >= =~ !~``; ``+ -``; ``* / %``;
unary ``-``. ``$name`` is replaced by its bound value; the right side of ``=~``/``!~`` is a
regex (or a parameter bound to a string).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from engine_runtime.errors import InfluxQLSyntaxError, InfluxQLUnsupportedError
from engine_runtime.influxql._bounds import MAX_DEPTH, MAX_TERMS, balanced, too_deep, tree_depth
from engine_runtime.influxql.lexer import Lexer, Token, describe, syntax_error
from engine_runtime.influxql.nodes import (
    BinaryExpr,
    BoolLit,
    Call,
    DurationLit,
    Expr,
    Measurement,
    NumberLit,
    RegexLit,
    SelectStatement,
    StringLit,
    VarRef,
    Wildcard,
)

__all__ = ["RESERVED", "ExpressionParser", "unsupported"]

#: words that cannot be bare identifiers (quote them: ``"limit"``)
RESERVED: Final = frozenset(
    "ALL ALTER AND AS ASC BY CREATE DELETE DESC DROP EXPLAIN FILL FROM GRANT GROUP IN INTO KEY "
    "KILL LIMIT OFFSET ON OR ORDER REVOKE SELECT SHOW SLIMIT SOFFSET WHERE WITH".split()
)
_COMPARISONS: Final = frozenset({"=", "!=", "<>", "<", "<=", ">", ">=", "=~", "!~"})
_KINDS: Final = frozenset({"field", "tag", "float", "integer", "unsigned", "string", "boolean"})


class ExpressionParser:
    """A one-token lookahead over ``text``, and the expression grammar."""

    def __init__(self, text: str, params: Mapping[str, Any] | None = None) -> None:
        self.text = text
        self.params = dict(params or {})
        self.lexer = Lexer(text)
        self.token = self.lexer.next()
        self.depth = 0  #: levels of nesting now open (`MAX_DEPTH`)
        self.terms = 0  #: terms read in this statement (`MAX_TERMS`)

    # -- tokens -------------------------------------------------------------------------------

    def advance(self) -> Token:
        """Consume the current token and return it."""
        token = self.token
        self.token = self.lexer.next()
        return token

    def at(self, *kinds: str) -> bool:
        """Whether the current token is one of the operator/literal ``kinds``."""
        return self.token.kind in kinds

    def at_keyword(self, *words: str) -> bool:
        """Whether the current token is one of the keywords ``words``."""
        return self.token.keyword() in words

    def accept(self, kind: str) -> bool:
        """Consume the current token if it is ``kind``; whether it was."""
        if self.token.kind == kind:
            self.advance()
            return True
        return False

    def accept_keyword(self, word: str) -> bool:
        """Consume the current token if it is the keyword ``word``; whether it was."""
        if self.token.keyword() == word:
            self.advance()
            return True
        return False

    def expect(self, kind: str, expected: str | None = None) -> Token:
        """Consume a ``kind`` token; a syntax error naming ``expected`` otherwise."""
        if self.token.kind != kind:
            raise self.error(expected or kind)
        return self.advance()

    def expect_keyword(self, word: str) -> None:
        """Consume the keyword ``word``; a syntax error otherwise."""
        if not self.accept_keyword(word):
            raise self.error(word)

    def error(self, expected: str) -> InfluxQLSyntaxError:
        """``found <token>, expected <expected>`` at the current token."""
        problem = f"found {describe(self.token)}, expected {expected}"
        return syntax_error(self.text, self.token.pos, problem)

    def identifier(self, expected: str = "identifier") -> str:
        """A bare (not reserved) or double-quoted identifier."""
        token = self.token
        if token.kind != "IDENT" or (not token.quoted and token.keyword() in RESERVED):
            raise self.error(expected)
        self.advance()
        return str(token.value)

    def integer(self) -> int:
        """Consume an integer literal (``LIMIT 10``)."""
        return int(self.expect("INTEGER", "integer").value)

    def regex(self) -> str:
        """A ``/pattern/`` at the current token (which the lexer read as ``/``)."""
        if self.token.kind != "/":
            raise self.error("regex")
        token = self.lexer.regex(self.token.pos)
        self.token = self.lexer.next()
        return str(token.value)

    # -- clauses SELECT and SHOW share ---------------------------------------------------------

    def sources(self) -> list[Measurement]:
        """``FROM``'s comma-separated measurements (the keyword already read)."""
        found = [self._source()]
        while self.accept(","):
            found.append(self._source())
        return found

    def _source(self) -> Measurement:
        if self.at("("):
            return Measurement(subquery=self.subquery())
        if self.at("/"):
            return Measurement(regex=self.regex())
        parts: list[str | None] = [self.identifier("measurement")]
        while len(parts) < 3 and self.accept("."):
            if self.at("."):  # db..m: the default retention policy
                parts.append(None)
                continue
            if self.at("/"):
                return _qualified(parts, Measurement(regex=self.regex()))
            parts.append(self.identifier("measurement"))
        return _qualified(parts[:-1], Measurement(name=parts[-1]))

    def subquery(self) -> SelectStatement:
        """``( SELECT ... )`` in ``FROM``; only a ``SELECT``'s parser runs one."""
        raise unsupported("a subquery in FROM", "query the measurement itself")

    def limits(self) -> tuple[int | None, int]:
        """``[LIMIT n] [OFFSET n]``."""
        limit = self.integer() if self.accept_keyword("LIMIT") else None
        offset = self.integer() if self.accept_keyword("OFFSET") else 0
        return limit, offset

    # -- expressions --------------------------------------------------------------------------

    def enter(self) -> None:
        """Open one level of nesting (leave it with ``depth -= 1``); past `MAX_DEPTH`, refuse."""
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise too_deep(self.token.pos)

    def expression(self) -> Expr:
        """An expression, ``OR`` being the loosest operator; ``AND``/``OR`` chains balanced and
        the whole within `MAX_DEPTH` levels (see `_bounds`)."""
        start = self.token.pos
        outermost = self.depth == 0
        self.enter()
        try:
            terms = [self._and()]
            while self.accept_keyword("OR"):
                terms.append(self._and())
        finally:
            self.depth -= 1
        expr = balanced("OR", terms)
        if outermost and tree_depth(expr) > MAX_DEPTH:  # a long chain of + - * / or compares
            raise too_deep(start)
        return expr

    def _and(self) -> Expr:
        terms = [self._comparison()]
        while self.accept_keyword("AND"):
            terms.append(self._comparison())
        return balanced("AND", terms)

    def _comparison(self) -> Expr:
        lhs = self._additive()
        while self.token.kind in _COMPARISONS:
            op = self.advance().kind
            rhs = self._regex_operand() if op in ("=~", "!~") else self._additive()
            lhs = BinaryExpr("!=" if op == "<>" else op, lhs, rhs)
        return lhs

    def _regex_operand(self) -> Expr:
        if self.at("PARAM"):
            bound = self._bound(self.advance())
            if isinstance(bound, StringLit):
                return RegexLit(bound.value)
            raise self.error("a regex")
        return RegexLit(self.regex())

    def _additive(self) -> Expr:
        lhs = self._multiplicative()
        while self.token.kind in ("+", "-"):
            op = self.advance().kind
            lhs = BinaryExpr(op, lhs, self._multiplicative())
        return lhs

    def _multiplicative(self) -> Expr:
        lhs = self._unary()
        while self.token.kind in ("*", "/", "%"):
            op = self.advance().kind
            lhs = BinaryExpr(op, lhs, self._unary())
        return lhs

    def _unary(self) -> Expr:
        if not self.accept("-"):
            return self._primary()
        if self.at("INTEGER", "NUMBER"):
            return NumberLit(-self.advance().value)  # type: ignore[operator]  # a number
        if self.at("DURATION"):
            return DurationLit(-int(self.advance().value))
        self.enter()
        try:
            return BinaryExpr("*", NumberLit(-1), self._unary())
        finally:
            self.depth -= 1

    def _primary(self) -> Expr:
        token = self.token
        self.terms += 1
        if self.terms > MAX_TERMS:
            raise too_deep(token.pos)
        if token.kind == "(":
            self.advance()
            inner = self.expression()
            self.expect(")", ")")
            return inner
        if token.kind == "*":
            self.advance()
            return Wildcard(self._kind())
        literal = self._literal(token)
        if literal is not None:
            self.advance()
            return literal
        if token.kind == "PARAM":
            return self._bound(self.advance())
        if token.keyword() in ("TRUE", "FALSE"):
            self.advance()
            return BoolLit(token.keyword() == "TRUE")
        name = self.identifier("identifier, string, number, bool")
        if not token.quoted and self.at("("):
            return self._call(name.lower())
        return VarRef(name, self._kind())

    @staticmethod
    def _literal(token: Token) -> Expr | None:
        if token.kind == "STRING":
            return StringLit(str(token.value))
        if token.kind in ("INTEGER", "NUMBER"):
            return NumberLit(token.value)  # type: ignore[arg-type]  # int or float
        if token.kind == "DURATION":
            return DurationLit(int(token.value))
        return None

    def _call(self, name: str) -> Call:
        self.expect("(")
        args: list[Expr] = []
        if not self.at(")"):
            args.append(self._argument())
            while self.accept(","):
                args.append(self._argument())
        self.expect(")", ")")
        return Call(name, tuple(args))

    def _argument(self) -> Expr:
        if self.at("/"):
            return RegexLit(self.regex())
        return self.expression()

    def _kind(self) -> str | None:
        if not self.accept("::"):
            return None
        kind = self.identifier("field, tag, float, integer, unsigned, string or boolean")
        if kind.lower() not in _KINDS:
            raise self.error("field, tag, float, integer, unsigned, string or boolean")
        return kind.lower()

    def _bound(self, token: Token) -> Expr:
        name = str(token.value)
        if name not in self.params:
            problem = f"found ${name}, expected a value for it in the request's params"
            raise syntax_error(self.text, token.pos, problem)
        value = self.params[name]
        if isinstance(value, bool):
            return BoolLit(value)
        if isinstance(value, int | float):
            return NumberLit(value)
        return StringLit(str(value))


def _qualified(prefix: list[str | None], measurement: Measurement) -> Measurement:
    """``m``, ``rp.m`` or ``db.rp.m`` (``db..m``: the default policy)."""
    database = prefix[0] if len(prefix) == 2 else None
    policy = prefix[-1] if prefix else None
    return Measurement(measurement.name, measurement.regex, database, policy)


def unsupported(what: str, instead: str) -> InfluxQLUnsupportedError:
    """``InfluxQL: <what> is not supported; <instead>``."""
    return InfluxQLUnsupportedError(f"InfluxQL: {what} is not supported; {instead}")
