"""Rows for people (``--format pretty``) and for machines (``json``, ``csv``).

A pretty table fits the output width (`output_width`: ``COLUMNS``, else the terminal's width;
piped output keeps its natural width). Cells wrap, they are never cut inside a word:

1. cells wrap at spaces only;
2. if that is too wide, headers also wrap after ``_`` (``usage_`` / ``system``);
3. then values also wrap after ``/``, ``,`` and ``:`` (``gh:influxdata/`` / ``notifier/`` /
   ``notifier_plugin.py``, ``table:`` / ``cpu_usage``): a name (``notify_on_threshold``, a
   path component) is never split;
4. if even that does not fit, each row becomes a block of ``label  value`` lines (`records`).

A cell holding several lines (a traceback, a log message) is shown below the table as a note,
its cell holding the note's number (``[1]``). The widths are decided here (`fit_widths`, pure);
rich only draws the result.
"""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import sys
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final

import click

__all__ = [
    "cell",
    "columns_of",
    "fit_widths",
    "output_width",
    "print_rows",
    "records",
    "render_table",
    "wrap",
]

#: characters a long value may wrap after, when wrapping at spaces is not enough
_SOFT_BREAKS: Final = re.compile(r"(?<=[/,:])(?=.)")
_HEADER_BREAKS: Final = re.compile(r"(?<=_)(?=.)")
_GAP: Final = 2  # spaces between a record's labels and its values


def output_width() -> int | None:
    """The width to fit: ``COLUMNS`` if set, the terminal's if stdout is one, else None."""
    columns = os.environ.get("COLUMNS", "")
    if columns.isdigit() and int(columns) > 0:
        return int(columns)
    if sys.stdout.isatty():
        return shutil.get_terminal_size().columns
    return None  # piped: natural width, nothing wraps


def cell(value: Any) -> str:
    """A JSON value as one table or CSV cell."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    if isinstance(value, list | tuple):
        return ",".join(cell(item) for item in value)
    if isinstance(value, dict):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


def columns_of(rows: Iterable[Mapping[str, Any]]) -> list[str]:
    """Every key of ``rows``, in the order they first appear."""
    columns: dict[str, None] = {}
    for row in rows:
        columns.update(dict.fromkeys(row))
    return list(columns)


# -- wrapping (pure) -----------------------------------------------------------------------------


def _length(text: str) -> int:
    from rich.cells import cell_len  # wide characters take two columns

    return cell_len(text)


def _atoms(text: str, breaks: re.Pattern[str] | None) -> list[tuple[str, str]]:
    """``(separator, piece)`` pairs: ``" "`` before a new word, ``""`` inside a word."""
    atoms: list[tuple[str, str]] = []
    for index, word in enumerate(text.split()):
        pieces = breaks.split(word) if breaks else [word]
        atoms.extend(((" " if index and not n else ""), piece) for n, piece in enumerate(pieces))
    return atoms


def _longest(text: str, breaks: re.Pattern[str] | None) -> int:
    return max((_length(piece) for _sep, piece in _atoms(text, breaks)), default=0)


def wrap(text: str, width: int, *, breaks: re.Pattern[str] | None = _SOFT_BREAKS) -> list[str]:
    """``text`` in lines of at most ``width`` columns, broken at spaces; a word too long for a
    line of its own is broken after ``breaks`` (by default ``/ , :``), and a piece longer than
    ``width`` stays whole on its own line."""
    lines: list[str] = []
    for paragraph in text.splitlines() or [""]:
        current = ""
        for word in paragraph.split():
            joined = f"{current} {word}" if current else word
            if _length(joined) <= width:
                current = joined
                continue
            if _length(word) <= width or breaks is None:
                if current:
                    lines.append(current)
                current = word
                continue
            for n, piece in enumerate(breaks.split(word)):
                sep = " " if current and not n else ""
                if current and _length(current + sep + piece) > width:
                    lines.append(current)
                    current = piece
                else:
                    current += sep + piece
        lines.append(current)
    return lines


def fit_widths(natural: Sequence[int], minimum: Sequence[int], available: int) -> list[int] | None:
    """Column widths summing to at most ``available``, each between its minimum and natural
    width; None when even the minimums do not fit.

    The columns that need least are widened to their natural width first, as long as the
    spare room covers them whole (a row then takes fewer lines); what remains is shared
    equally by the others.
    """
    if sum(minimum) > available:
        return None
    if sum(natural) <= available:
        return list(natural)
    widths = list(minimum)
    spare = available - sum(widths)
    order = sorted(range(len(widths)), key=lambda i: natural[i] - minimum[i])
    while order and natural[order[0]] - minimum[order[0]] <= spare:
        index = order.pop(0)
        spare -= natural[index] - minimum[index]
        widths[index] = natural[index]
    for position, index in enumerate(order):
        grow = min(natural[index] - minimum[index], spare // (len(order) - position))
        widths[index] += grow
        spare -= grow
    return widths


# -- rendering -----------------------------------------------------------------------------------


def _notes(rows: Sequence[Sequence[str]], headers: Sequence[str]) -> tuple[list[list[str]], str]:
    """Rows with every multi-line cell replaced by ``[n]``, and the notes that hold them."""
    kept: list[list[str]] = []
    notes: list[str] = []
    count = 0
    for number, row in enumerate(rows, start=1):
        out = []
        for header, value in zip(headers, row, strict=True):
            if "\n" in value.strip():
                count += 1
                notes.append(f"[{count}] {header} of row {number}:")
                notes.extend(f"    {line}".rstrip() for line in value.strip("\n").splitlines())
                value = f"[{count}]"
            out.append(value)
        kept.append(out)
    return kept, "\n".join(notes)


def _overhead(count: int) -> int:
    """Columns a table of ``count`` columns spends between its columns."""
    return 2 * (count - 1)  # SIMPLE_HEAD, no edges, right padding 1: two spaces between columns


#: (header breaks, value breaks), tried in turn until the columns fit
_LEVELS: Final = ((None, None), (_HEADER_BREAKS, None), (_HEADER_BREAKS, _SOFT_BREAKS))
_Breaks = tuple[re.Pattern[str] | None, re.Pattern[str] | None]


def _min_widths(
    rows: Sequence[Sequence[str]], headers: Sequence[str], breaks: _Breaks
) -> list[int]:
    return [
        max(_longest(header, breaks[0]), *(_longest(row[i], breaks[1]) for row in rows), 1)
        for i, header in enumerate(headers)
    ]


def _table_widths(
    rows: Sequence[Sequence[str]], headers: Sequence[str], width: int
) -> tuple[list[int], _Breaks] | None:
    natural = [
        max(_length(header), *(max(map(_length, row[i].splitlines() or [""])) for row in rows))
        for i, header in enumerate(headers)
    ]
    available = width - _overhead(len(headers))
    for breaks in _LEVELS:
        widths = fit_widths(natural, _min_widths(rows, headers, breaks), available)
        if widths is not None:
            return widths, breaks
    return None


def _lines(text: str, width: int | None, breaks: re.Pattern[str] | None) -> str:
    return "\n".join(wrap(text, width, breaks=breaks) if width else text.splitlines())


def render_table(rows: Sequence[Sequence[str]], headers: Sequence[str], width: int | None) -> str:
    """``rows`` under ``headers`` as text at most ``width`` columns wide (None: natural width),
    or as `records` when the columns cannot fit; multi-line cells follow as notes."""
    from rich import box
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    rows, notes = _notes(rows, headers)
    fitted = _table_widths(rows, headers, width) if width and headers else None
    if width and headers and fitted is None:
        text = records([(None, list(zip(headers, row, strict=True))) for row in rows], width)
        return text + (f"\n\n{notes}" if notes else "")
    widths: Sequence[int | None] = [None] * len(headers)  # natural widths
    breaks: _Breaks = (None, None)
    if fitted is not None:
        widths, breaks = fitted
    table = Table(
        box=box.SIMPLE_HEAD,
        show_edge=False,
        pad_edge=False,
        padding=(0, 1, 0, 0),
        header_style="bold",
    )
    for header, size in zip(headers, widths, strict=True):
        label = Text(_lines(header, size, breaks[0]))  # Text: a cell is never console markup
        table.add_column(label, width=size, no_wrap=True, overflow="ignore")
    for row in rows:
        table.add_row(*(Text(_lines(v, n, breaks[1])) for v, n in zip(row, widths, strict=True)))
    console = Console(width=width or 1_000_000, highlight=False, color_system=None)
    with console.capture() as capture:
        console.print(table)
    text = "\n".join(line.rstrip() for line in capture.get().splitlines()).strip("\n")
    return text + (f"\n\n{notes}" if notes else "")


def records(
    blocks: Sequence[tuple[str | None, Sequence[tuple[str, str]]]], width: int | None
) -> str:
    """Each ``(title, [(label, value), ...])`` block as its title and ``label  value`` lines
    (indented under a title), values wrapped beside their labels; a blank line between blocks."""
    out: list[str] = []
    for title, fields in blocks:
        if out:
            out.append("")
        indent = "  " if title is not None else ""
        if title is not None:
            out.extend(wrap(title, width) if width else [title])
        key = max((_length(label) for label, _value in fields), default=0) + _GAP
        room = max((width or 0) - len(indent) - key, 10)
        for label, value in fields:
            lines = wrap(value, room) if width else value.splitlines() or [""]
            out.append(f"{indent}{label}{' ' * (key - _length(label))}{lines[0]}".rstrip())
            out.extend(f"{indent}{' ' * key}{line}".rstrip() for line in lines[1:])
    return "\n".join(out)


def print_rows(
    rows: Sequence[Mapping[str, Any]],
    columns: Sequence[str],
    output: str,
    *,
    labels: Mapping[str, str] | None = None,
) -> None:
    """Rows as a table (``pretty``, headers from ``labels``), a JSON array (``json``) or CSV
    with a header row (``csv``)."""
    if output == "json":
        click.echo(json.dumps(list(rows), indent=2))
    elif output == "csv":
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(columns)
        writer.writerows([cell(row.get(column)) for column in columns] for row in rows)
    else:
        headers = [(labels or {}).get(column, column) for column in columns]
        cells = [[cell(row.get(column)) for column in columns] for row in rows]
        click.echo(render_table(cells, headers, output_width()))
