"""The ``pluginmgr`` command line. `main` is the one place errors are caught."""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence

import click

from ..errors import PluginManagerError
from . import install, plugins
from ._common import stderr

__all__ = ["cli", "main"]

_LOGGER = logging.getLogger("pluginmgr")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-v", "--verbose", is_flag=True, help="Log what happens (and tracebacks) to stderr.")
@click.version_option(package_name="pluginmgr")
def cli(verbose: bool) -> None:
    """Fetch, pin and verify InfluxDB 3 Processing Engine plugins."""
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


plugins.register(cli)
install.register(cli)


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
        stderr.print(f"error: {exc}", markup=False)
        return 1
    except click.exceptions.Exit as exc:
        return int(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except click.Abort:
        stderr.print("aborted", markup=False)
        return 130
    return status if isinstance(status, int) else 0


if __name__ == "__main__":
    sys.exit(main())
