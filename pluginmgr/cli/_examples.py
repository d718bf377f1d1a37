"""One or two example lines for every command, shown at the end of its ``--help``.

Kept in one table so they are written the same way, and so a test can parse each one against
the command it shows (a renamed option breaks the test, not the reader). `with_examples` sets a
command's epilog when the CLI loads it.
"""

from __future__ import annotations

import textwrap
from typing import Final

import click

__all__ = ["EXAMPLES", "with_examples"]

#: command path (as typed after ``pluginmgr``) -> its examples, each a whole command line
EXAMPLES: Final[dict[str, tuple[str, ...]]] = {
    "create database": (
        "pluginmgr create database metrics",
        "pluginmgr create database logs --retention-period 30d",
    ),
    "create distinct_cache": (
        "pluginmgr create distinct_cache -d metrics -t cpu --columns region,host",
        "pluginmgr create distinct_cache -d metrics -t cpu --columns host --max-age 7d hosts",
    ),
    "create last_cache": (
        "pluginmgr create last_cache -d metrics -t cpu --key-columns host",
        "pluginmgr create last_cache -d metrics -t cpu --value-columns usage --count 5 "
        "--ttl 1h cpu_usage",
    ),
    "create token": (
        'pluginmgr create token --admin --name ci --expiry 30d --token "$ADMIN_TOKEN"',
        "pluginmgr create token --admin --regenerate --data-dir ~/.pluginmgr/data",
    ),
    "create trigger": (
        "pluginmgr create trigger cpu_mad -d metrics --trigger-spec table:cpu "
        "--plugin-filename gh:influxdata/mad_check/mad_check_plugin.py",
        "pluginmgr create trigger hourly -d metrics --trigger-spec every:1h "
        "--plugin-filename downsample.py --trigger-arguments window=1h,target=cpu_1h",
        "pluginmgr create trigger fill -d metrics --trigger-spec every:10m "
        "--plugin-filename gapfill/gapfill.py --ignore-database-version",
    ),
    "delete database": ("pluginmgr delete database scratch --yes",),
    "delete distinct_cache": ("pluginmgr delete distinct_cache -d metrics -t cpu hosts",),
    "delete last_cache": ("pluginmgr delete last_cache -d metrics -t cpu cpu_usage",),
    "delete token": ("pluginmgr delete token --token-name ci --yes",),
    "delete trigger": ("pluginmgr delete trigger cpu_alerts -d metrics --force",),
    "deps constrain": (
        "pluginmgr deps constrain 'numpy<2'",
        "pluginmgr deps constrain --remove numpy",
    ),
    "deps lock": ("pluginmgr deps lock", "pluginmgr deps lock --upgrade-package pandas --dry-run"),
    "deps sync": ("pluginmgr deps sync",),
    "deps tree": ("pluginmgr deps tree",),
    "deps why": ("pluginmgr deps why urllib3",),  # the same command as `why`: its examples
    "disable trigger": ("pluginmgr disable trigger cpu_alerts -d metrics",),
    "doctor": ("pluginmgr doctor", "pluginmgr doctor --data-dir ~/.pluginmgr/data"),
    "enable trigger": ("pluginmgr enable trigger cpu_alerts -d metrics",),
    "fetch": ("pluginmgr fetch gh:influxdata/mad_check/mad_check_plugin.py",),
    "fleet apply": (
        "pluginmgr fleet apply fleet.toml",
        "pluginmgr fleet apply fleet.toml --target ingest-1 --parallel 2 --stop-on-error",
    ),
    "fleet plan": (
        "pluginmgr fleet plan fleet.toml",
        "pluginmgr fleet plan fleet.toml --format json",
    ),
    "fleet status": ("pluginmgr fleet status fleet.toml",),
    "gc": ("pluginmgr gc --dry-run", "pluginmgr gc --keep 2"),
    "index build": ("pluginmgr index build ./registry -o ./registry/index.json",),
    "install deps": ("pluginmgr install deps gh:influxdata/mad_check/mad_check_plugin.py",),
    "install package": (
        "pluginmgr install package humanize",
        "pluginmgr install package -r requirements.txt --no-index --find-links ./wheels",
    ),
    "list": ("pluginmgr list", "pluginmgr list --format json"),
    "lock": ("pluginmgr lock", "pluginmgr lock --upgrade --dry-run"),
    "mirror sync": (
        "pluginmgr mirror sync https://github.com/influxdata/influxdb3_plugins ./mirror",
        "pluginmgr mirror sync ./plugins-repo ./mirror --with-deps",
    ),
    "mirror verify": ("pluginmgr mirror verify ./mirror",),
    "outdated": ("pluginmgr outdated", "pluginmgr outdated --packages"),
    "query": (
        "pluginmgr query -d metrics 'SELECT host, max(usage) FROM cpu GROUP BY host'",
        "pluginmgr query -d metrics -l influxql 'SELECT mean(usage) FROM cpu'",
    ),
    "remove": ("pluginmgr remove gh:influxdata/mad_check/mad_check_plugin.py",),
    "rollback": ("pluginmgr rollback gh:influxdata/mad_check/mad_check_plugin.py --previous",),
    "search": ("pluginmgr search anomaly",),
    "serve": (
        "pluginmgr serve --node-id node0 --data-dir ~/.pluginmgr/data "
        "--plugin-dir ~/.pluginmgr/plugins",
        "pluginmgr serve --node-id node0 --object-store memory --without-auth",
    ),
    "show databases": ("pluginmgr show databases",),
    "show retention": ("pluginmgr show retention", "pluginmgr show retention --database logs"),
    "show plugins": ("pluginmgr show plugins -d metrics",),
    "show summary": ("pluginmgr show summary",),
    "show tokens": ("pluginmgr show tokens --format json",),
    "show triggers": ("pluginmgr show triggers -d metrics --format json",),
    "store repair": ("pluginmgr store repair --data-dir ~/.pluginmgr/data --truncate-at 4096",),
    "test request_plugin": ("pluginmgr test request_plugin hook.py -d metrics --query a=1",),
    "test schedule_plugin": ("pluginmgr test schedule_plugin report.py -d metrics",),
    "test wal_plugin": (
        "pluginmgr test wal_plugin alerts.py -d metrics --lp 'cpu,host=a usage=99'",
    ),
    "update trigger": (
        "pluginmgr update trigger hourly -d metrics --trigger-arguments window=2h,target=cpu_2h",
        "pluginmgr update trigger hourly -d metrics --path ./downsample.py --upload --enabled",
    ),
    "update database": (
        "pluginmgr update database -d logs --retention-period 60d",
        "pluginmgr update database -d logs --retention-period none",
    ),
    "verify": ("pluginmgr verify",),
    "versions": ("pluginmgr versions gh:influxdata/mad_check/mad_check_plugin.py",),
    "why": ("pluginmgr why requests",),  # also `deps why`
    "write": (
        "pluginmgr write -d metrics 'cpu,host=a usage=12.5'",
        "pluginmgr write -d metrics --file batch.lp --precision s",
    ),
}


def with_examples(command: click.Command, path: str) -> click.Command:
    """``command`` (and every command under it) with its examples as its epilog."""
    if isinstance(command, click.Group):
        for name, child in command.commands.items():
            with_examples(child, f"{path} {name}")
        return command
    lines = EXAMPLES.get(path)
    if lines and not command.epilog:
        # \b keeps click from re-wrapping the lines into one paragraph
        command.epilog = "Examples:\n\n\b\n" + "\n".join(map(_shown, lines))
    return command


def _shown(line: str) -> str:
    """An example indented, a long one broken into shell continuation lines (at spaces, never
    inside quotes: examples with quotes are kept short)."""
    if len(line) <= _WIDTH or "'" in line:
        return f"  {line}"
    parts = textwrap.wrap(line, _WIDTH - 4, break_long_words=False, break_on_hyphens=False)
    return "  " + " \\\n      ".join(parts)


#: an example's width in the help, indent included, within 80 columns
_WIDTH: Final = 76
