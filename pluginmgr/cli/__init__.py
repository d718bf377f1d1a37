"""The ``pluginmgr`` command line. `main` is the one place errors are caught.

Starting the CLI is most of what a no-op command costs, so this module imports click and
nothing else of weight: command modules load when their command runs, ``--help`` lists them
from `_SUMMARIES`, and ``--version`` reads the version from the installed metadata's directory
name.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Final

import click

if TYPE_CHECKING:
    import logging

__all__ = ["cli", "main"]

_DIST: Final = "pluginmgr"


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
    "why": "deps:why",
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
    "update": "update",
    "write": "data",
    "query": "data",
    "serve": "serve",
    "index": "registry",
    "search": "registry",
    "mirror": "mirror",
    "store": "store_repair:store",
    "fleet": "fleet",
}

#: command -> its short help (the first sentence of its docstring, as click shortens it), so
#: ``pluginmgr --help`` imports no command module (the server's pulls in pyarrow and
#: DataFusion); a test checks each entry against the command's own docstring
_SUMMARIES: Final = {
    "create": "Create a database, a trigger, a cache or an API token.",
    "delete": "Delete a database, a trigger, a cache or a token.",
    "deps": "Resolve the Python requirements of the plugins in use together, lock them, sync.",
    "disable": "Disable a trigger.",
    "doctor": "Check this node: venv, pylock.toml, each trigger's plugin and packages, "
    "repositories, the store and disk space.",
    "enable": "Enable a trigger.",
    "fetch": "Fetch plugin references, pin them in plugins.lock and print where they are.",
    "fleet": "Keep the plugins and triggers of many InfluxDB 3 nodes as one fleet file says.",
    "gc": "Delete store content that plugins.lock does not pin and that is not among the "
    "--keep newest versions of any reference (history entries of deleted content go too).",
    "index": "Build registry indexes (SDK index.json, schema 2.1).",
    "install": "Install Python packages into the plugin venv.",
    "list": "List every plugin (pinned and local) with the triggers using it, and the venv's "
    "packages.",
    "lock": "Pin REFS (default: every pinned reference) and make sure their content is in the "
    "store.",
    "mirror": "Copy a plugin repository into a directory any node (or static web server) can use.",
    "outdated": "Which pinned plugins' sources now serve other content (newest matching "
    "version for registry plugins), and which locked packages have newer allowed versions.",
    "query": "Run the query (SQL, or InfluxQL with -l influxql) on the database and print the "
    "result.",
    "remove": "Unpin REFS (with the siblings and registry dependencies only they need), or drop "
    "local ones from PLUGIN_DIR/plugins.in; drop their requirements from the dependency set and "
    "sync the venv (orphaned packages leave it).",
    "rollback": "Pin REF to an earlier content the store still holds (see `pluginmgr versions "
    "REF`); the dependency set is re-resolved if its declarations differ.",
    "search": "Plugins of an index whose name, description or triggers contain TERM.",
    "serve": "Run the processing engine with its HTTP API (InfluxDB 3's paths and bodies).",
    "show": "Show databases, tokens, triggers, the plugins they run, or a summary.",
    "store": "Inspect and repair a node's durable store (the WAL and the persisted files).",
    "test": "Run a plugin once, offline, and print its logs, writes and errors as JSON.",
    "update": "Update a database's retention period or a trigger.",
    "verify": "Re-hash every stored plugin and check every pinned reference; exit 1 on any "
    "problem.",
    "versions": "List every distinct content seen for REF: time, sha256, size, source.",
    "why": "Which plugins (their declarations, and why each is in the set) need PACKAGE, directly "
    "or through what.",
    "write": "Write LINE_PROTOCOL (or --file F, or - for stdin) to the database.",
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
        from ._examples import with_examples

        return with_examples(command, cmd_name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The commands and their whole summaries, wrapped to the width, from `_SUMMARIES`
        (no command module loads; click itself would cut each to one line)."""
        names = self.list_commands(ctx)
        with formatter.section("Commands"):
            formatter.write_dl([(name, _SUMMARIES[name]) for name in names])


def _version() -> str:
    """This distribution's version, from the name of its ``.dist-info`` directory on
    ``sys.path`` (what installers write, and what `importlib.metadata` would read, without
    importing it and the email parser); `importlib.metadata` when no name says it."""
    import os

    prefix = f"{_DIST}-"
    for entry in sys.path:
        try:
            names = os.listdir(entry or ".")
        except OSError:
            continue
        for name in names:
            if name.startswith(prefix) and name.endswith(".dist-info"):
                found = name[len(prefix) : -len(".dist-info")]
                if found and "-" not in found:
                    return found
    from importlib import metadata

    return metadata.version(_DIST)


def _print_version(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if not value or ctx.resilient_parsing:
        return
    click.echo(f"{_DIST}, version {_version()}")
    ctx.exit()


@click.group(cls=_LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-v", "--verbose", is_flag=True, help="Log what happens (and tracebacks) to stderr.")
@click.option(
    "--version",
    is_flag=True,
    expose_value=False,
    is_eager=True,
    callback=_print_version,
    help="Show the version and exit.",
)
@click.pass_context
def cli(ctx: click.Context, verbose: bool) -> None:
    """Fetch, pin and verify InfluxDB 3 Processing Engine plugins."""
    import logging

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_log_formatter(serving=ctx.invoked_subcommand == "serve", verbose=verbose))
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, handlers=[handler])


def _log_formatter(*, serving: bool, verbose: bool) -> logging.Formatter:
    """Log lines for people: ``LEVEL message`` (a plugin's lines start ``db/trigger:``); the
    server's carry a UTC timestamp, as upstream's do; ``-v`` adds the logger's name."""
    import logging
    import time

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
    except click.exceptions.Exit as exc:
        return int(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except click.Abort:
        click.echo("aborted", err=True)
        return 130
    except Exception as exc:  # ours are reported in one line; the error modules load only now
        from engine_runtime.errors import EngineError

        from ..errors import PluginManagerError

        if not isinstance(exc, PluginManagerError | EngineError):
            raise
        return _report(exc)
    return status if isinstance(status, int) else 0


def _report(exc: Any) -> int:
    """One line for a `PluginManagerError` (with the resolver's derivation under it) or an
    `EngineError` (e.g. serve on a damaged store), no traceback unless ``-v``."""
    import logging

    logging.getLogger("pluginmgr").debug("failed", exc_info=True)
    click.echo(f"error: {exc}", err=True)
    from ..errors import DependencyConflictError

    if isinstance(exc, DependencyConflictError):
        lines = exc.shown_lines()  # a long derivation: its head, then the log file
    else:
        lines = getattr(exc, "explanation", "").splitlines()
    for line in lines:
        click.echo(f"  {line}", err=True)  # the resolver's derivation, under our summary
    return 1


if __name__ == "__main__":
    sys.exit(main())
