"""The InfluxQL syntax tree: the frozen values `parser.parse` builds.

Expressions are `VarRef`, `Wildcard`, `Call`, `BinaryExpr`, `RegexLit` and the literals
`StringLit`, `NumberLit`, `BoolLit`, `DurationLit`. Statements are `SelectStatement`, the
``SHOW`` statements, `CreateDatabase`, and `Unsupported` (valid InfluxQL this runtime does not
run: it answers with its message as the statement's error).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeAlias

__all__ = [
    "BinaryExpr",
    "BoolLit",
    "Call",
    "CreateDatabase",
    "Dimension",
    "DurationLit",
    "Expr",
    "Field",
    "Fill",
    "Measurement",
    "NumberLit",
    "RegexDimension",
    "RegexLit",
    "SelectStatement",
    "ShowDatabases",
    "ShowFieldKeys",
    "ShowMeasurements",
    "ShowRetentionPolicies",
    "ShowTagKeys",
    "ShowTagValues",
    "Statement",
    "StringLit",
    "TagDimension",
    "TimeDimension",
    "Unsupported",
    "VarRef",
    "Wildcard",
    "WildcardDimension",
]


@dataclass(frozen=True, slots=True)
class VarRef:
    """A tag, field or ``time``; ``kind`` is the ``::tag``/``::field``/... suffix, if any."""

    name: str
    kind: str | None = None


@dataclass(frozen=True, slots=True)
class Wildcard:
    """``*`` (or ``*::field``, ``*::tag``)."""

    kind: str | None = None


@dataclass(frozen=True, slots=True)
class StringLit:
    """``'text'``."""

    value: str


@dataclass(frozen=True, slots=True)
class NumberLit:
    """``42`` or ``1.5`` (a leading ``-`` is folded in)."""

    value: int | float


@dataclass(frozen=True, slots=True)
class BoolLit:
    """``true`` or ``false``."""

    value: bool


@dataclass(frozen=True, slots=True)
class DurationLit:
    """``10m``: ``value`` in nanoseconds (negative after a leading ``-``)."""

    value: int


@dataclass(frozen=True, slots=True)
class RegexLit:
    """``/pattern/``."""

    pattern: str


@dataclass(frozen=True, slots=True)
class Call:
    """``name(args...)``; ``name`` is lower-cased."""

    name: str
    args: tuple[Expr, ...]


@dataclass(frozen=True, slots=True)
class BinaryExpr:
    """``lhs op rhs``; ``op`` is upper-cased for ``AND``/``OR``."""

    op: str
    lhs: Expr
    rhs: Expr


Expr: TypeAlias = (
    VarRef | Wildcard | StringLit | NumberLit | BoolLit | DurationLit | RegexLit | Call | BinaryExpr
)


@dataclass(frozen=True, slots=True)
class Field:
    """One item of the ``SELECT`` list, with its ``AS`` alias."""

    expr: Expr
    alias: str | None = None


@dataclass(frozen=True, slots=True)
class Measurement:
    """A ``FROM`` source: a name, a regex or a subquery, with the database and retention policy
    given."""

    name: str | None = None
    regex: str | None = None
    database: str | None = None
    retention_policy: str | None = None
    subquery: SelectStatement | None = None


@dataclass(frozen=True, slots=True)
class TimeDimension:
    """``GROUP BY time(interval[, offset])``, in nanoseconds."""

    interval: int
    offset: int = 0


@dataclass(frozen=True, slots=True)
class TagDimension:
    """``GROUP BY tag``."""

    name: str


@dataclass(frozen=True, slots=True)
class RegexDimension:
    """``GROUP BY /pattern/``: every tag whose key matches."""

    pattern: str


@dataclass(frozen=True, slots=True)
class WildcardDimension:
    """``GROUP BY *``: every tag."""


Dimension: TypeAlias = TimeDimension | TagDimension | RegexDimension | WildcardDimension


@dataclass(frozen=True, slots=True)
class Fill:
    """``fill(...)``: ``mode`` is ``null``, ``none``, ``previous``, ``linear`` or ``value``."""

    mode: str = "null"
    value: int | float | None = None


@dataclass(frozen=True, slots=True)
class SelectStatement:
    """``SELECT fields FROM sources [WHERE] [GROUP BY] [fill] [ORDER BY] [LIMIT...] [tz]``."""

    fields: tuple[Field, ...]
    sources: tuple[Measurement, ...]
    condition: Expr | None = None
    dimensions: tuple[Dimension, ...] = ()
    fill: Fill = Fill()
    descending: bool = False
    limit: int | None = None
    offset: int = 0
    slimit: int | None = None
    soffset: int = 0
    timezone: str | None = None


@dataclass(frozen=True, slots=True)
class ShowDatabases:
    """``SHOW DATABASES``."""


@dataclass(frozen=True, slots=True)
class ShowRetentionPolicies:
    """``SHOW RETENTION POLICIES [ON db]``."""

    database: str | None = None


@dataclass(frozen=True, slots=True)
class ShowMeasurements:
    """``SHOW MEASUREMENTS [ON db] [WITH MEASUREMENT =|=~ ...] [WHERE] [LIMIT] [OFFSET]``.

    ``measurement`` is the ``WITH MEASUREMENT`` test: ``("=", name)`` or ``("=~", pattern)``.
    """

    database: str | None = None
    measurement: tuple[str, str] | None = None
    condition: Expr | None = None
    limit: int | None = None
    offset: int = 0


@dataclass(frozen=True, slots=True)
class ShowTagKeys:
    """``SHOW TAG KEYS [ON db] [FROM ...] [WHERE] [LIMIT] [OFFSET]``."""

    database: str | None = None
    sources: tuple[Measurement, ...] = ()
    condition: Expr | None = None
    limit: int | None = None
    offset: int = 0


@dataclass(frozen=True, slots=True)
class ShowTagValues:
    """``SHOW TAG VALUES [ON db] [FROM ...] WITH KEY <op> <keys> [WHERE] [LIMIT] [OFFSET]``.

    ``key_op`` is ``=``, ``!=``, ``=~``, ``!~`` or ``IN``; ``keys`` the names (or one pattern).
    """

    key_op: str
    keys: tuple[str, ...]
    database: str | None = None
    sources: tuple[Measurement, ...] = ()
    condition: Expr | None = None
    limit: int | None = None
    offset: int = 0


@dataclass(frozen=True, slots=True)
class ShowFieldKeys:
    """``SHOW FIELD KEYS [ON db] [FROM ...] [LIMIT] [OFFSET]``."""

    database: str | None = None
    sources: tuple[Measurement, ...] = ()
    limit: int | None = None
    offset: int = 0


@dataclass(frozen=True, slots=True)
class CreateDatabase:
    """``CREATE DATABASE name`` (no ``WITH`` clause)."""

    name: str


@dataclass(frozen=True, slots=True)
class Unsupported:
    """A statement this runtime does not run; ``message`` says what and what to do instead."""

    message: str


Statement: TypeAlias = (
    SelectStatement
    | ShowDatabases
    | ShowRetentionPolicies
    | ShowMeasurements
    | ShowTagKeys
    | ShowTagValues
    | ShowFieldKeys
    | CreateDatabase
    | Unsupported
)
