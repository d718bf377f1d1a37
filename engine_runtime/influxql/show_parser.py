"""The ``SHOW`` statements: `ShowParser.show`, called with ``SHOW`` already read.

Run here: ``DATABASES``, ``RETENTION POLICIES``, ``MEASUREMENTS``, ``TAG KEYS``, ``TAG VALUES``
and ``FIELD KEYS``; every other ``SHOW`` is an `Unsupported` statement naming itself.
"""

from __future__ import annotations

from typing import Final

from engine_runtime.influxql._expressions import ExpressionParser, unsupported
from engine_runtime.influxql.nodes import (
    Expr,
    Measurement,
    ShowDatabases,
    ShowFieldKeys,
    ShowMeasurements,
    ShowRetentionPolicies,
    ShowTagKeys,
    ShowTagValues,
    Statement,
)

__all__ = ["SHOW_SUPPORTED", "ShowParser"]

#: what may follow ``SHOW`` here
SHOW_SUPPORTED: Final = (
    "DATABASES, MEASUREMENTS, RETENTION POLICIES, TAG KEYS, TAG VALUES or FIELD KEYS"
)
_INSTEAD: Final = f"this server runs SHOW {SHOW_SUPPORTED}"
#: what ends the name of an unsupported SHOW statement
_CLAUSES: Final = frozenset({None, "ON", "FROM", "WHERE", "WITH", "LIMIT", "OFFSET"})
#: the other SHOW statements of InfluxQL (anything else after SHOW is a syntax error)
_OTHER_SHOWS: Final = frozenset(
    "CONTINUOUS DIAGNOSTICS GRANTS MEASUREMENT QUERIES SERIES SHARD SHARDS STATS SUBSCRIPTIONS "
    "USERS".split()
)


class ShowParser(ExpressionParser):
    """The ``SHOW`` grammar on top of the shared cursor."""

    def show(self) -> Statement:
        """One ``SHOW`` statement (``SHOW`` read)."""
        word = self.token.keyword()
        if word == "DATABASES":
            self.advance()
            return ShowDatabases()
        if word == "RETENTION":
            self.advance()
            self.expect_keyword("POLICIES")
            return ShowRetentionPolicies(self._on())
        if word == "MEASUREMENTS":
            self.advance()
            return self._measurements()
        if word in ("TAG", "FIELD"):
            return self._keys_or_values(word)
        raise self._unsupported_show()

    def _unsupported_show(self) -> Exception:
        if self.token.keyword() not in _OTHER_SHOWS:
            return self.error(SHOW_SUPPORTED)
        words: list[str] = []
        while len(words) < 3 and self.token.keyword() not in _CLAUSES:
            words.append(str(self.advance().keyword()))
        return unsupported(f"SHOW {' '.join(words)}", _INSTEAD)

    def _on(self) -> str | None:
        return self.identifier("database name") if self.accept_keyword("ON") else None

    def _from(self) -> tuple[Measurement, ...]:
        return tuple(self.sources()) if self.accept_keyword("FROM") else ()

    def _where(self) -> Expr | None:
        return self.expression() if self.accept_keyword("WHERE") else None

    def _measurements(self) -> ShowMeasurements:
        database = self._on()
        test: tuple[str, str] | None = None
        if self.accept_keyword("WITH"):
            self.expect_keyword("MEASUREMENT")
            if self.accept("=~"):
                test = ("=~", self.regex())
            else:
                self.expect("=", "= or =~")
                test = ("=~", self.regex()) if self.at("/") else ("=", self.identifier())
        condition = self._where()
        limit, offset = self.limits()
        return ShowMeasurements(database, test, condition, limit, offset)

    def _keys_or_values(self, word: str) -> Statement:
        self.advance()
        second = self.token.keyword()
        if word == "TAG" and second == "KEYS":
            self.advance()
            database, sources = self._on(), self._from()
            condition = self._where()
            limit, offset = self.limits()
            return ShowTagKeys(database, sources, condition, limit, offset)
        if word == "TAG" and second == "VALUES":
            self.advance()
            return self._tag_values()
        if word == "FIELD" and second == "KEYS":
            self.advance()
            database, sources = self._on(), self._from()
            limit, offset = self.limits()
            return ShowFieldKeys(database, sources, limit, offset)
        words = [word]
        while len(words) < 4 and self.token.keyword() not in _CLAUSES:
            words.append(str(self.advance().keyword()))
        raise unsupported(f"SHOW {' '.join(words)}", _INSTEAD)

    def _tag_values(self) -> ShowTagValues:
        database, sources = self._on(), self._from()
        if not self.at_keyword("WITH"):
            raise self.error("WITH KEY")
        self.advance()
        self.expect_keyword("KEY")
        op, keys = self._key_test()
        condition = self._where()
        limit, offset = self.limits()
        return ShowTagValues(op, keys, database, sources, condition, limit, offset)

    def _key_test(self) -> tuple[str, tuple[str, ...]]:
        if self.accept_keyword("IN"):
            self.expect("(", "(")
            keys = [self.identifier("tag key")]
            while self.accept(","):
                keys.append(self.identifier("tag key"))
            self.expect(")", ")")
            return "IN", tuple(keys)
        for op in ("=~", "!~"):
            if self.accept(op):
                return op, (self.regex(),)
        for op in ("=", "!=", "<>"):
            if self.accept(op):
                return ("!=" if op == "<>" else op), (self.identifier("tag key"),)
        raise self.error("=, !=, =~, !~ or IN")
