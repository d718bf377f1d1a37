"""``write`` and ``query``: line protocol in, SQL results out (InfluxDB 3's endpoints).

``write`` says what happened: ``wrote N lines to DB`` (N counts the lines sent that are neither
blank nor ``#`` comments), or the server's error with one line per rejected line (its number,
the line, the problem). ``query --format pretty`` renders the JSON answer as a compact table
that fits the terminal; the other formats are the server's bytes, verbatim.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

import click

from ..errors import ServerError
from .client import ServerClient, database_option, server_options
from .tables import columns_of, print_rows

__all__ = ["count_lines", "query", "write"]

_WRITE_PATH: Final = "/api/v3/write_lp"
#: the endpoint of each query language, as InfluxDB 3's CLI uses them
_QUERY_PATHS: Final = {"sql": "/api/v3/query_sql", "influxql": "/api/v3/query_influxql"}
_MAX_LINE: Final = 100  # characters of a rejected line shown in its error
_PRECISIONS: Final = {
    "auto": "auto",
    "nanosecond": "nanosecond",
    "ns": "nanosecond",
    "n": "nanosecond",
    "microsecond": "microsecond",
    "us": "microsecond",
    "u": "microsecond",
    "millisecond": "millisecond",
    "ms": "millisecond",
    "second": "second",
    "s": "second",
}


def _line_protocol(text: str | None, file: str | None) -> bytes:
    if text is not None and file is not None:
        raise click.UsageError("pass LINE_PROTOCOL or --file F, not both")
    if file is not None:
        return Path(file).read_bytes()
    if text is None:
        raise click.UsageError("pass LINE_PROTOCOL, --file F, or - to read standard input")
    return sys.stdin.buffer.read() if text == "-" else text.encode()


def count_lines(body: bytes) -> int:
    """The lines of line protocol in ``body``: neither blank nor ``#`` comments."""
    lines = body.decode("utf-8", errors="replace").splitlines()
    return sum(1 for line in lines if line.strip() and not line.lstrip().startswith("#"))


def _plural(count: int) -> str:
    return f"{count} line" if count == 1 else f"{count} lines"


def _rejected(data: Any) -> list[str]:
    """The server's rejected lines (``[{"line_number", "original_line", "error_message"}]``)
    as ``line N `LINE`: PROBLEM``, one each."""
    if not isinstance(data, list):
        return []
    out = []
    for item in data:
        if not isinstance(item, dict):
            continue
        line = str(item.get("original_line", ""))
        if len(line) > _MAX_LINE:
            line = line[: _MAX_LINE - 3] + "..."
        out.append(f"line {item.get('line_number', '?')} `{line}`: {item.get('error_message')}")
    return out


def _write_error(exc: ServerError, *, sent: int, database: str) -> ServerError:
    """``exc`` with the count of rejected lines and one explanation line per rejected line."""
    lines = _rejected(exc.data)
    if not lines:
        return exc
    rejected = len(lines)
    if exc.message.startswith("partial write"):  # the other lines were written
        written = max(sent - rejected, 0)
        what = f"{rejected} of {_plural(sent)} rejected, {written} written to {database}"
    else:
        what = f"nothing was written to {database}"
    message = f"{exc.message}: {what}"
    return ServerError(message, status=exc.status, data=exc.data, explanation="\n".join(lines))


@click.command()
@click.argument("line_protocol", required=False)
@database_option(required=True)
@click.option(
    "-f",
    "--file",
    type=click.Path(exists=True, dir_okay=False),
    default=None,
    help="File of line protocol to write.",
)
@click.option(
    "--precision",
    type=click.Choice(list(_PRECISIONS)),
    default=None,
    help="Timestamp precision. [server default: auto]",
)
@click.option(
    "--accept-partial/--no-accept-partial",
    default=True,
    show_default=True,
    help="Write the valid lines even if some lines are rejected.",
)
@click.option("--no-sync", is_flag=True, help="Answer before the write is persisted.")
@server_options
def write(**options: Any) -> None:
    """Write LINE_PROTOCOL (or --file F, or - for stdin) to the database."""
    body = _line_protocol(options["line_protocol"], options["file"])
    database = options["database"]
    params = {"db": database}
    if options["precision"]:
        params["precision"] = _PRECISIONS[options["precision"]]
    if not options["accept_partial"]:
        params["accept_partial"] = "false"
    if options["no_sync"]:
        params["no_sync"] = "true"
    headers = {"Content-Type": "text/plain; charset=utf-8"}
    sent = count_lines(body)
    try:
        with ServerClient(options["host"], options["token"]) as client:
            client.request("POST", _WRITE_PATH, params=params, content=body, headers=headers)
    except ServerError as exc:
        raise _write_error(exc, sent=sent, database=database) from exc
    click.echo(f"wrote {_plural(sent)} to {database}")


def _query_params(items: Sequence[str]) -> dict[str, str]:
    params: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            message = f'invalid value {item!r} for --param: must be formatted as "key=value"'
            raise click.UsageError(message)
        params[key] = value
    return params


@click.command()
@click.argument("sql", metavar="QUERY")
@database_option(required=True)
@click.option(
    "--language",
    "-l",
    type=click.Choice(["sql", "influxql"]),
    default="sql",
    show_default=True,
    help="The query's language.",
)
@click.option(
    "--format",
    "output",
    type=click.Choice(["pretty", "json", "jsonl", "csv"]),
    default="pretty",
    show_default=True,
)
@click.option("--param", "params", multiple=True, metavar="K=V", help="Query parameter $K.")
@server_options
def query(**options: Any) -> None:
    """Run the query (SQL, or InfluxQL with -l influxql) on the database and print the result."""
    output, params = options["output"], _query_params(options["params"])
    # pretty is rendered here from JSON; the other formats come from the server verbatim
    wire = "json" if output == "pretty" else output
    path = _QUERY_PATHS[options["language"]]
    with ServerClient(options["host"], options["token"]) as client:
        if params:
            body = {"db": options["database"], "q": options["sql"], "format": wire}
            response = client.request("POST", path, json_body={**body, "params": params})
        else:
            fields = {"db": options["database"], "q": options["sql"], "format": wire}
            response = client.request("GET", path, params=fields)
    if output != "pretty":
        click.echo(response.text, nl=not response.text.endswith("\n"))
        return
    try:
        rows = response.json()
    except ValueError as exc:
        raise ServerError(f"the server answered the query with invalid JSON: {exc}") from exc
    if not isinstance(rows, list) or not all(isinstance(row, dict) for row in rows):
        raise ServerError("the server answered the query with something other than rows")
    if rows:
        print_rows(rows, columns_of(rows), "pretty")
