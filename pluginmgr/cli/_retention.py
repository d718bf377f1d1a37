"""Retention periods from the command line, named as InfluxDB 3's CLI names them.

* ``create database NAME --retention-period 30d`` (`server_commands.create_database` takes the
  option from here);
* ``update database -d NAME --retention-period 60d`` sets it, ``--retention-period none``
  clears it (``PUT /api/v3/configure/database``; the command is in `update`);
* ``show retention [--database NAME]`` lists each database's period (``infinite`` when it has
  none, else its largest whole unit: ``30d``, ``36h``) from ``system.databases`` of
  ``_internal``, as upstream does.

A period is checked here before anything is sent, with the server's words for a bad one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final, TypeVar

import click

from .client import ServerClient, server_options
from .tables import print_rows

__all__ = ["NONE", "checked_period", "retention_period_option", "show_retention"]

F = TypeVar("F", bound=Callable[..., Any])

_QUERY_PATH: Final = "/api/v3/query_sql"
#: what ``--retention-period`` of ``update database`` takes to clear the period
NONE: Final = "none"
#: what ``show retention`` asks (upstream's query formats the period in SQL; it is formatted
#: here, with the same rule, `format_retention_period`)
_PERIOD_SQL: Final = "SELECT database_name, retention_period_ns FROM system.databases"


def checked_period(value: str) -> str:
    """``value`` unchanged when it is a period the server takes; click's error otherwise."""
    from engine_runtime.retention import InvalidRetentionPeriodError, parse_retention_period

    try:
        parse_retention_period(value)
    except InvalidRetentionPeriodError as exc:
        raise click.BadParameter(str(exc)) from None
    return value


def _period(_ctx: click.Context, _param: click.Parameter, value: str | None) -> str | None:
    return None if value is None else checked_period(value)


def retention_period_option(func: F) -> F:
    """``--retention-period DURATION`` of ``create database``."""
    return click.option(
        "--retention-period",
        callback=_period,
        default=None,
        help='The retention period as a duration, e.g. "30d", "24h": older rows are not '
        "returned and are dropped from storage.",
    )(func)


@click.command("retention")
@click.option("--database", default=None, help="Show only this database.")
@click.option("--format", "output", type=click.Choice(["pretty", "json", "csv"]), default="pretty")
@server_options
def show_retention(database: str | None, output: str, host: str, token: str | None) -> None:
    """Show each database's retention period ("infinite": rows are kept forever)."""
    sql = _PERIOD_SQL
    if database is not None:
        quoted = database.replace("'", "''")
        sql += f" WHERE database_name = '{quoted}'"
    sql += " ORDER BY database_name"
    body = {"db": "_internal", "q": sql, "format": "json"}
    with ServerClient(host, token) as client:
        rows = client.request("POST", _QUERY_PATH, json_body=body).json()
    from engine_runtime.retention import format_retention_period

    shown = [
        {
            "database_name": row["database_name"],
            "retention_period": format_retention_period(_seconds(row.get("retention_period_ns"))),
        }
        for row in rows
    ]
    print_rows(shown, ["database_name", "retention_period"], output)


def _seconds(nanoseconds: object) -> int | None:
    return nanoseconds // 1_000_000_000 if isinstance(nanoseconds, int) else None
