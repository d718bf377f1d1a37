"""InfluxQL tokens: `Lexer` scans one token at a time, `tokenize` a whole text.

Tokens::

    IDENT      cpu  _x1  "quoted \\" ident"        (keywords are IDENTs; the parser decides)
    STRING     'single quoted, \\' and \\\\ escaped'
    INTEGER    42                NUMBER 1.5  .5  1e3
    DURATION   10m  1h30m  1700000000s  100ms  5u  5µ  10ns  1d  2w   (value in nanoseconds)
    REGEX      /cpu.*/           (only where the parser asks for one: ``Lexer.regex``)
    PARAM      $host             (bound from the request's ``params``)
    operators  = != <> < <= > >= =~ !~ + - * / % ( ) , ; . ::
    EOF

``--`` starts a comment to the end of the line and ``/* ... */`` a block comment. A ``/`` is
division unless the parser expects a regex there (after ``=~``/``!~``, in ``FROM`` and ``GROUP
BY`` lists, after ``WITH MEASUREMENT =``), as in InfluxDB's own scanner.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from engine_runtime.errors import InfluxQLSyntaxError

__all__ = ["DURATION_UNITS", "Lexer", "Token", "describe", "syntax_error", "tokenize"]

#: duration unit -> nanoseconds (InfluxQL's units; ``u`` and ``µ`` are microseconds)
DURATION_UNITS: Final[dict[str, int]] = {
    "ns": 1,
    "u": 1_000,
    "µ": 1_000,
    "ms": 1_000_000,
    "s": 1_000_000_000,
    "m": 60_000_000_000,
    "h": 3_600_000_000_000,
    "d": 86_400_000_000_000,
    "w": 604_800_000_000_000,
}
_OPERATORS: Final = ("::", "=~", "!~", "!=", "<>", "<=", ">=", "=", "<", ">", "+", "-", "*")
_SINGLE: Final = frozenset("/%(),;.")
_IDENT: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_NUMBER: Final = re.compile(r"(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_DURATION: Final = re.compile(r"(?:[0-9]+(?:ns|ms|u|µ|s|m|h|d|w))+(?![A-Za-z0-9_µ])")
_DURATION_PART: Final = re.compile(r"([0-9]+)(ns|ms|u|µ|s|m|h|d|w)")
_SPACE: Final = re.compile(r"(?:\s+|--[^\n]*|/\*.*?\*/)+", re.S)


@dataclass(frozen=True, slots=True)
class Token:
    """One token: ``kind`` (``IDENT``, ``STRING``, an operator, ...), its value and position.

    ``value`` is the identifier (unquoted), the string's text, the number, the duration in
    nanoseconds, the regex pattern or the operator; ``quoted`` marks a double-quoted identifier
    (never a keyword).
    """

    kind: str
    value: str | int | float
    pos: int
    quoted: bool = False

    def keyword(self) -> str | None:
        """The upper-cased word when this is an unquoted identifier, else None."""
        if self.kind == "IDENT" and not self.quoted and isinstance(self.value, str):
            return self.value.upper()
        return None


def describe(token: Token) -> str:
    """How an error message names ``token`` (InfluxDB says ``found X, expected Y``)."""
    if token.kind == "EOF":
        return "EOF"
    if token.kind == "STRING":
        return f"'{token.value}'"
    if token.kind == "DURATION":
        return "duration"
    return str(token.value)


def syntax_error(text: str, pos: int, problem: str) -> InfluxQLSyntaxError:
    """``error parsing query: <problem> at line L, char C`` for offset ``pos`` of ``text``."""
    line = text.count("\n", 0, pos) + 1
    char = pos - (text.rfind("\n", 0, pos) + 1) + 1
    message = f"error parsing query: {problem} at line {line}, char {char}"
    return InfluxQLSyntaxError(message, position=pos)


class Lexer:
    """Scans ``text`` one token at a time from ``pos``."""

    __slots__ = ("pos", "text")

    def __init__(self, text: str, pos: int = 0) -> None:
        self.text = text
        self.pos = pos

    def next(self) -> Token:
        """The next token (EOF at the end); raises InfluxQLSyntaxError for a stray character."""
        self._skip_space()
        text, pos = self.text, self.pos
        if pos >= len(text):
            return Token("EOF", "", pos)
        char = text[pos]
        if char == '"':
            return Token("IDENT", self._quoted('"'), pos, quoted=True)
        if char == "'":
            return Token("STRING", self._quoted("'"), pos)
        if char == "$":
            match = _IDENT.match(text, pos + 1)
            if match is None:
                raise syntax_error(text, pos, "found $, expected a parameter name")
            self.pos = match.end()
            return Token("PARAM", match.group(), pos)
        if char.isdigit() or (char == "." and text[pos + 1 : pos + 2].isdigit()):
            return self._number()
        match = _IDENT.match(text, pos)
        if match is not None:
            self.pos = match.end()
            return Token("IDENT", match.group(), pos)
        return self._operator()

    def regex(self, start: int) -> Token:
        """A ``/pattern/`` token whose opening slash is at ``start`` (``\\/`` is a slash)."""
        text = self.text
        chars: list[str] = []
        index = start + 1
        while index < len(text) and text[index] != "/":
            if text[index] == "\\" and text[index + 1 : index + 2] == "/":
                index += 1
            chars.append(text[index])
            index += 1
        if index >= len(text):
            raise syntax_error(text, start, "found unterminated regex, expected /")
        self.pos = index + 1
        return Token("REGEX", "".join(chars), start)

    def _skip_space(self) -> None:
        match = _SPACE.match(self.text, self.pos)
        if match is not None:
            self.pos = match.end()
        elif self.text.startswith("/*", self.pos):
            raise syntax_error(self.text, self.pos, "found unterminated comment, expected */")

    def _quoted(self, quote: str) -> str:
        text, start = self.text, self.pos
        chars: list[str] = []
        index = start + 1
        while index < len(text) and text[index] != quote:
            if text[index] == "\\" and index + 1 < len(text):
                index += 1
            chars.append(text[index])
            index += 1
        if index >= len(text):
            what = "string" if quote == "'" else "identifier"
            raise syntax_error(text, start, f"found unterminated {what}, expected {quote}")
        self.pos = index + 1
        return "".join(chars)

    def _number(self) -> Token:
        text, pos = self.text, self.pos
        duration = _DURATION.match(text, pos)
        if duration is not None:
            self.pos = duration.end()
            parts = _DURATION_PART.findall(duration.group())
            return Token("DURATION", sum(int(n) * DURATION_UNITS[u] for n, u in parts), pos)
        match = _NUMBER.match(text, pos)
        end = pos if match is None else match.end()
        word = _IDENT.match(text, end)
        if match is None or word is not None:  # 10min, 5x: digits run into a word
            found = text[pos : end if word is None else word.end()] or text[pos]
            problem = f"found {found}, expected a number or a duration (10s, 5m, 1h, ...)"
            raise syntax_error(text, pos, problem)
        self.pos = end
        literal = match.group()
        if any(c in literal for c in ".eE"):
            return Token("NUMBER", float(literal), pos)
        return Token("INTEGER", int(literal), pos)

    def _operator(self) -> Token:
        text, pos = self.text, self.pos
        for operator in _OPERATORS:
            if text.startswith(operator, pos):
                self.pos = pos + len(operator)
                return Token(operator, operator, pos)
        if text[pos] in _SINGLE:
            self.pos = pos + 1
            return Token(text[pos], text[pos], pos)
        raise syntax_error(text, pos, f"found {text[pos]}, expected an InfluxQL token")


def tokenize(text: str) -> list[Token]:
    """Every token of ``text`` up to and including EOF (``/`` is always division here)."""
    lexer = Lexer(text)
    tokens = [lexer.next()]
    while tokens[-1].kind != "EOF":
        tokens.append(lexer.next())
    return tokens
