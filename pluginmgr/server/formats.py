"""Query results in InfluxDB 3's formats, and which format a request asked for.

Formats and the ``Content-Type`` each answers with, as upstream (``QueryFormat``):

=========== ===================================
``json``    ``application/json`` (an array of objects; the default)
``jsonl``   ``application/jsonl`` (one object a line; ``json_lines`` is upstream's name)
``csv``     ``text/csv`` (a header line, then the rows)
``pretty``  ``text/plain; charset=utf-8`` (an ASCII table)
``parquet`` ``application/vnd.apache.parquet`` (one Parquet file; Arrow types kept)
=========== ===================================

`choose_format`: the ``format`` parameter wins; without one, the ``Accept`` header picks
(`ACCEPT_TYPES`, in the client's order of preference, ``q=0`` excluded). No header, ``*/*``,
``application/*`` or a browser's ``text/html`` list mean JSON, as upstream. A header naming
only other types answers 400, as upstream does; unlike upstream, parameters (``; charset=``)
and lists are understood, and ``application/jsonl`` / ``application/x-ndjson`` choose ``jsonl``.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final

from starlette.responses import Response

from .routes_common import ApiError

if TYPE_CHECKING:
    import pyarrow as pa  # type: ignore[import-untyped]  # pyarrow ships no stubs

__all__ = [
    "ACCEPT_TYPES",
    "CONTENT_TYPES",
    "FORMAT_ALIASES",
    "QUERY_FORMATS",
    "choose_format",
    "parquet_bytes",
    "parquet_response",
    "render_rows",
]

#: every ``format`` value, by its name here
QUERY_FORMATS: Final = ("json", "jsonl", "csv", "pretty", "parquet")
#: other accepted spellings -> the name here (upstream's serde name for jsonl)
FORMAT_ALIASES: Final = {"json_lines": "jsonl"}
#: format -> the response's Content-Type (upstream's ``QueryFormat::as_content_type``)
CONTENT_TYPES: Final = {
    "json": "application/json",
    "jsonl": "application/jsonl",
    "csv": "text/csv",
    "pretty": "text/plain; charset=utf-8",
    "parquet": "application/vnd.apache.parquet",
}
#: ``Accept`` media type -> format
ACCEPT_TYPES: Final = {
    "application/json": "json",
    "application/jsonl": "jsonl",
    "application/x-ndjson": "jsonl",
    "text/csv": "csv",
    "text/plain": "pretty",
    "application/vnd.apache.parquet": "parquet",
    "*/*": "json",
    "application/*": "json",
}


def choose_format(params: Mapping[str, Any], headers: Mapping[str, str]) -> str:
    """The format a query asked for: ``params["format"]``, else the ``Accept`` header.

    :raises ApiError: 400 for an unknown format or an ``Accept`` header naming none of ours.
    """
    value = params.get("format")
    if value is None or value == "":
        return _from_accept(headers.get("accept", ""))
    if not isinstance(value, str):
        raise ApiError(400, f"field 'format' must be a string, got {json.dumps(value)}")
    output = FORMAT_ALIASES.get(value, value)
    if output not in QUERY_FORMATS:
        names = ", ".join([*QUERY_FORMATS, *FORMAT_ALIASES])
        raise ApiError(400, f"field 'format': unsupported format {value!r}: use {names}")
    return output


def _from_accept(header: str) -> str:
    if not header.strip():
        return "json"
    ranked: list[tuple[float, int, str]] = []
    for index, part in enumerate(header.split(",")):
        media, *options = part.split(";")
        quality = 1.0
        for option in options:
            name, _, number = option.partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(number)
                except ValueError:
                    quality = 0.0  # a malformed weight is no preference
        if quality > 0:
            ranked.append((-quality, index, media.strip().lower()))
    for _, _, media in sorted(ranked):
        if media in ACCEPT_TYPES:
            return ACCEPT_TYPES[media]
    if "text/html" in header:  # a browser: upstream answers JSON
        return "json"
    supported = ", ".join(t for t in ACCEPT_TYPES if "*" not in t)
    message = f"invalid mime type ({header}): accept one of {supported}, or pass format="
    raise ApiError(400, message)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _pretty(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "++\n++\n"
    columns = list(rows[0])
    cells = [[_cell(row.get(c)) for c in columns] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
    rule = "+" + "+".join("-" * (w + 2) for w in widths) + "+"

    def line(values: Sequence[str]) -> str:
        return "|" + "|".join(f" {v:<{w}} " for v, w in zip(values, widths, strict=True)) + "|"

    body = [line(r) for r in cells]
    return "\n".join([rule, line(columns), rule, *body, rule]) + "\n"


def render_rows(rows: list[dict[str, Any]], output: str) -> Response:
    """Rows (dicts in column order) as ``output``, one of `QUERY_FORMATS`.

    ``parquet`` infers the column types from the values; a query's own Arrow types are kept
    by `parquet_response` instead.
    """
    media_type = CONTENT_TYPES[output]
    if output == "json":
        return Response(json.dumps(rows, default=str), media_type=media_type)
    if output == "jsonl":
        text = "".join(json.dumps(row, default=str) + "\n" for row in rows)
        return Response(text, media_type=media_type)
    if output == "csv":
        buffer = io.StringIO()
        if rows:
            writer = csv.writer(buffer, lineterminator="\n")
            writer.writerow(list(rows[0]))
            writer.writerows([_cell(v) for v in row.values()] for row in rows)
        return Response(buffer.getvalue(), media_type=media_type)
    if output == "parquet":
        import pyarrow as pa

        return parquet_response(parquet_bytes(pa.Table.from_pylist(rows)))
    return Response(_pretty(rows), media_type=media_type)


def parquet_bytes(table: pa.Table) -> bytes:
    """``table`` as one Parquet file (its schema even when it has no rows)."""
    import pyarrow.parquet as pq  # type: ignore[import-untyped]  # pyarrow ships no stubs

    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    return buffer.getvalue()


def parquet_response(body: bytes) -> Response:
    """A Parquet file as upstream answers one."""
    return Response(body, media_type=CONTENT_TYPES["parquet"])
