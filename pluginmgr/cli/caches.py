"""``create``/``delete`` ``last_cache`` and ``distinct_cache``: InfluxDB 3's cache commands, with
upstream's flags (``-t/--table``, ``--key-columns``, ``--value-columns``, ``--count``,
``--ttl``; ``--columns``, ``--max-cardinality``, ``--max-age``; the cache name as the last
argument) and outputs (``new cache created: <definition as JSON>``, ``last cache deleted
successfully``). Added to the ``create`` and ``delete`` groups of `server_commands`.
"""

from __future__ import annotations

import json
from typing import Any, Final

import click

from .client import ServerClient, database_option, server_options

__all__ = [
    "create_distinct_cache",
    "create_last_cache",
    "delete_distinct_cache",
    "delete_last_cache",
]

_LAST: Final = "/api/v3/configure/last_cache"
_DISTINCT: Final = "/api/v3/configure/distinct_cache"


def _columns(_ctx: click.Context, param: click.Parameter, value: str | None) -> list[str] | None:
    """A comma-separated list of column names (upstream's ``value_delimiter = ','``)."""
    if value is None:
        return None
    names = [name.strip() for name in value.split(",")]
    if not all(names):
        raise click.BadParameter(f"{value!r} has an empty column name: use NAME,NAME,...")
    return names


def _seconds(_ctx: click.Context, param: click.Parameter, value: str) -> int:
    """A humantime duration (``4 hours``, ``1d``, ``90s``) in whole seconds."""
    from engine_runtime import parse_duration

    try:
        return parse_duration(value) // 1_000_000_000
    except ValueError as exc:
        raise click.BadParameter(f"{exc}: use a duration such as 10s, 1min 30sec or 4h") from None


def _created(answer: Any) -> str:
    """The definition in the server's answer (upstream's ``OrderedCatalogBatch``), as JSON."""
    try:
        ops = answer["catalog_batch"]["Database"]["ops"]
        definition = next(iter(ops[0].values()))
    except (KeyError, IndexError, TypeError, StopIteration, AttributeError):
        definition = answer
    return json.dumps(definition, indent=2)


def _table_option(func: Any) -> Any:
    return click.option("-t", "--table", required=True, help="The table the cache is on.")(func)


@click.command("last_cache")
@click.argument("cache_name", required=False)
@database_option(required=True)
@_table_option
@click.option(
    "--key-columns",
    callback=_columns,
    metavar="COL,...",
    help="Columns whose values key the cache (default: the table's tags).",
)
@click.option(
    "--value-columns",
    callback=_columns,
    metavar="COL,...",
    help="Columns cached for each key (default: every other column, new ones included).",
)
@click.option(
    "--count",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Rows kept per key.",
)
@click.option(
    "--ttl",
    default="4 hours",
    show_default=True,
    callback=_seconds,
    help="How long a row stays in the cache, e.g. 10s, 1min 30sec, 3 hours.",
)
@server_options
def create_last_cache(**options: Any) -> None:
    """Create a last-value cache on a table; the name is made up when not given."""
    body: dict[str, Any] = {"db": options["database"], "table": options["table"]}
    if options["cache_name"]:
        body["name"] = options["cache_name"]
    for field in ("key_columns", "value_columns"):
        if options[field] is not None:
            body[field] = options[field]
    body["count"], body["ttl"] = options["count"], options["ttl"]
    with ServerClient(options["host"], options["token"]) as client:
        answer = client.request("POST", _LAST, json_body=body).json()
    click.echo(f"new cache created: {_created(answer)}")


@click.command("distinct_cache")
@click.argument("cache_name", required=False)
@database_option(required=True)
@_table_option
@click.option(
    "--columns",
    required=True,
    callback=_columns,
    metavar="COL,...",
    help="Tag or string columns whose distinct values are cached, top level first.",
)
@click.option(
    "--max-cardinality",
    type=click.IntRange(min=1),
    default=100_000,
    show_default=True,
    help="Most value combinations kept.",
)
@click.option(
    "--max-age",
    default="1d",
    show_default=True,
    callback=_seconds,
    help="How long a combination not seen again stays, e.g. 30d, 24h.",
)
@server_options
def create_distinct_cache(**options: Any) -> None:
    """Create a distinct-value cache on a table; the name is made up when not given."""
    body: dict[str, Any] = {
        "db": options["database"],
        "table": options["table"],
        "columns": options["columns"],
        "max_cardinality": options["max_cardinality"],
        "max_age": options["max_age"],
    }
    if options["cache_name"]:
        body["name"] = options["cache_name"]
    with ServerClient(options["host"], options["token"]) as client:
        answer = client.request("POST", _DISTINCT, json_body=body).json()
    click.echo(f"new cache created: {_created(answer)}")


def _delete(path: str, options: dict[str, Any]) -> None:
    body = {"db": options["database"], "table": options["table"], "name": options["cache_name"]}
    with ServerClient(options["host"], options["token"]) as client:
        client.request("DELETE", path, json_body=body)


@click.command("last_cache")
@click.argument("cache_name")
@database_option(required=True)
@_table_option
@server_options
def delete_last_cache(**options: Any) -> None:
    """Delete the last-value cache CACHE_NAME of a table."""
    _delete(_LAST, options)
    click.echo("last cache deleted successfully")


@click.command("distinct_cache")
@click.argument("cache_name")
@database_option(required=True)
@_table_option
@server_options
def delete_distinct_cache(**options: Any) -> None:
    """Delete the distinct-value cache CACHE_NAME of a table."""
    _delete(_DISTINCT, options)
    click.echo("distinct cache deleted successfully")
