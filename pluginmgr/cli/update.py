"""``update database``: set or clear a database's retention period, as InfluxDB 3's CLI does
(``PUT /api/v3/configure/database``; ``--retention-period none`` clears it); ``update trigger``
lives in `update_trigger`."""

from __future__ import annotations

import click

from ._common import WholeHelpGroup
from ._retention import NONE, checked_period
from .client import DATABASE_PATH, ServerClient, database_option, server_options
from .update_trigger import update_trigger

__all__ = ["update"]


@click.group(cls=WholeHelpGroup)
def update() -> None:
    """Update a database's retention period or a trigger."""


def _update_period(_ctx: click.Context, _param: click.Parameter, value: str | None) -> str | None:
    if value is None:
        raise click.UsageError("--retention-period is required for update database")
    return value if value.lower() == NONE else checked_period(value)


@update.command("database")
@database_option(required=True)
@click.option(
    "--retention-period",
    "-r",
    callback=_update_period,
    default=None,
    help='The retention period as a duration (e.g. "30d", "24h"), or "none" to clear it.',
)
@server_options
def update_database(database: str, retention_period: str, host: str, token: str | None) -> None:
    """Set or clear the retention period of a database."""
    period = None if retention_period.lower() == NONE else retention_period
    with ServerClient(host, token) as client:
        client.request("PUT", DATABASE_PATH, json_body={"db": database, "retention_period": period})
    click.echo(f'Database "{database}" updated successfully')


update.add_command(update_trigger)
