"""Internal: a write's body parsed before any lock is taken (`parse_write`, `ParsedWrite`), and
the `WriteError` its rejected lines make."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from engine_runtime.errors import (
    WriteError,
)
from engine_runtime.line_protocol.parse import LineBlock, LineError, parse_blocks

__all__ = ["ParsedWrite", "accepted_text", "merge_errors", "parse_write", "write_error"]


@dataclass(frozen=True, slots=True)
class ParsedWrite:
    """A line protocol body parsed by `parse_write`, for `MemoryStore.write_parsed`."""

    text: str
    blocks: list[LineBlock]
    errors: list[LineError]


def parse_write(
    text: str, *, precision: str = "ns", default_time_ns: int | None = None
) -> ParsedWrite:
    """Parse ``text`` for `MemoryStore.write_parsed`; takes no lock (the slow part of a write)."""
    blocks, errors = parse_blocks(text, precision=precision, default_time_ns=default_time_ns)
    return ParsedWrite(text, blocks, errors)


def merge_errors(
    text: str, parse_errors: list[LineError], type_errors: list[tuple[int, str]]
) -> list[LineError]:
    if not type_errors:
        return parse_errors
    raw = text.split("\n")
    merged = list(parse_errors)
    for number, message in type_errors:
        merged.append(
            LineError(number, raw[number - 1].rstrip("\r"), f"{message} on line {number}")
        )
    merged.sort(key=lambda error: error.line_number)
    return merged


def write_error(database: str, errors: list[LineError]) -> WriteError:
    shown = "; ".join(str(error) for error in errors[:3])
    more = f" (and {len(errors) - 3} more)" if len(errors) > 3 else ""
    msg = f"write to database {database} rejected: {shown}{more}"
    return WriteError(msg, errors=[str(error) for error in errors], line_errors=errors)


def accepted_text(text: str, accepted: Mapping[str, list[LineBlock]]) -> str:
    """The lines of ``text`` in ``accepted`` blocks, in order: what a log keeps of a partial
    write, so that a replay under other limits (or none) gives the same rows."""
    raw = text.split("\n")
    numbers = sorted(
        number for blocks in accepted.values() for b in blocks for number in b.line_numbers
    )
    return "\n".join(raw[number - 1] for number in numbers)
