"""``pluginmgr doctor``: one report on whether this node can run its triggers, and what to run
when it cannot.

The checks themselves, and what each one looks at, are in `pluginmgr.node.checks`; this module
is the command and its report. The exit status is 1 when any check fails; warnings alone exit 0.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import click

from ..check import count
from ..node.checks import run_checks
from ._common import emit_json, manager_from, pass_options, settings_options
from ._deps_common import venv_location_option
from ._triggers import TriggerQuery, trigger_options

if TYPE_CHECKING:
    from ..check import Check

__all__ = ["doctor"]

_FORMATS: Final = click.Choice(["pretty", "json"])


def _report(checks: Sequence[Check], output: str) -> None:
    counts = {status: sum(c.status == status for c in checks) for status in ("ok", "warn", "fail")}
    if output == "json":
        emit_json(
            {"ok": not counts["fail"], "summary": counts, "checks": [asdict(c) for c in checks]}
        )
    else:
        for check in checks:
            fix = f"  -> fix: {check.fix}" if check.fix else ""
            click.echo(f"{check.status:<4}  {check.name}: {check.detail}{fix}")
        warnings, failures = count(counts["warn"], "warning"), count(counts["fail"], "failure")
        click.echo(f"{counts['ok']} ok, {warnings}, {failures}")
    if counts["fail"]:
        raise click.exceptions.Exit(1)


@click.command("doctor")
@click.option("--format", "output", type=_FORMATS, default="pretty", show_default=True)
@venv_location_option
@trigger_options
@settings_options
@pass_options
def doctor(options: dict[str, Any]) -> None:
    """Check this node: venv, pylock.toml, each trigger's plugin and packages, repositories,
    the store and disk space. One line per check, with the fix; exit 1 if any check fails.

    With --offline, repositories and registries are not contacted.
    """
    output, location = options.pop("output"), options.pop("virtual_env_location")
    query = TriggerQuery.from_options(options)
    probe = not options["offline"]
    options["offline"] = True  # the checks read the lock, the store and the plugin dir only
    with manager_from(options) as manager:
        venv = Path(location) if location else None
        checks = run_checks(manager, query, venv=venv, probe=probe)
    _report(checks, output)
