"""The ``pluginmgr`` command line. `main` is the one place errors are caught."""

from __future__ import annotations

import importlib
import logging
import sys
import time
from collections.abc import Sequence
from typing import Final

import click

from engine_runtime.errors import EngineError

from ..errors import DependencyConflictError, PluginManagerError

__all__ = ["cli", "main"]

_LOGGER = logging.getLogger("pluginmgr")


#: command -> module of `pluginmgr.cli` that defines it (``module:attribute`` when the function
#: is not named after the command); imported only when the command runs, so
#: `install package` never pays for httpx, rich and the store (startup is most of a no-op install)
_COMMANDS: Final = {
    "fetch": "plugins",
    "versions": "plugins",
    "lock": "lifecycle",
    "outdated": "lifecycle",
    "rollback": "lifecycle",
    "remove": "lifecycle",
    "gc": "lifecycle",
    "why": "lifecycle",
    "verify": "plugins",
    "list": "inventory:list_command",  # a module-level `list` would shadow the builtin
    "doctor": "doctor",
    "install": "install",
    "deps": "deps",
    "test": "plugin_test",
    "create": "server_commands",
    "enable": "server_commands",
    "disable": "server_commands",
    "delete": "server_commands",
    "show": "show",
    "write": "data",
    "query": "data",
    "serve": "serve",
    "index": "registry",
    "search": "registry",
    "mirror": "mirror",
    "store": "store_repair:store",
}


class _LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(_COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        where = _COMMANDS.get(cmd_name)
        if where is None:
            return None
        module, _, attribute = where.partition(":")
        loaded = importlib.import_module(f"{__name__}.{module}", __name__)
        command = getattr(loaded, attribute or cmd_name)
        assert isinstance(command, click.Command)  # noqa: S101 - a wrong table entry is a bug
        return command


@click.group(cls=_LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-v", "--verbose", is_flag=True, help="Log what happens (and tracebacks) to stderr.")
@click.version_option(package_name="pluginmgr")
@click.pass_context
def cli(ctx: click.Context, verbose: bool) -> None:
    """Fetch, pin and verify InfluxDB 3 Processing Engine plugins."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_log_formatter(serving=ctx.invoked_subcommand == "serve", verbose=verbose))
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, handlers=[handler])


def _log_formatter(*, serving: bool, verbose: bool) -> logging.Formatter:
    """Log lines for people: ``LEVEL message`` (a plugin's lines start ``db/trigger:``); the
    server's carry a UTC timestamp, as upstream's do; ``-v`` adds the logger's name."""
    where = "%(name)s: " if verbose else ""
    if not serving:
        return logging.Formatter(f"%(levelname)s {where}%(message)s")
    formatter = logging.Formatter(f"%(asctime)s %(levelname)s {where}%(message)s")
    formatter.converter = time.gmtime  # 2026-12-02T19:33:44.123Z
    formatter.default_time_format, formatter.default_msec_format = "%Y-%m-%dT%H:%M:%S", "%s.%03dZ"
    return formatter


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; return the exit status (0 ok, 1 failure, 2 usage error)."""
    try:
        # without standalone mode click returns (not raises) the code of click.exceptions.Exit
        status = cli.main(
            args=list(argv) if argv is not None else None,
            prog_name="pluginmgr",
            standalone_mode=False,
        )
    except PluginManagerError as exc:
        _LOGGER.debug("failed", exc_info=True)
        click.echo(f"error: {exc}", err=True)
        if isinstance(exc, DependencyConflictError):
            lines = exc.shown_lines()  # a long derivation: its head, then the log file
        else:
            lines = getattr(exc, "explanation", "").splitlines()
        for line in lines:
            click.echo(f"  {line}", err=True)  # the resolver's derivation, under our summary
        return 1
    except EngineError as exc:  # e.g. serve on a damaged store: the same one line, no traceback
        _LOGGER.debug("failed", exc_info=True)
        click.echo(f"error: {exc}", err=True)
        return 1
    except click.exceptions.Exit as exc:
        return int(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except click.Abort:
        click.echo("aborted", err=True)
        return 130
    return status if isinstance(status, int) else 0


if __name__ == "__main__":
    sys.exit(main())
