"""Shared CLI plumbing: settings options, the manager context, output helpers."""

from __future__ import annotations

import functools
import json
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Final, TypeVar

import click

from ..errors import PluginManagerError
from ..settings import (
    DEFAULT_CONNECT_TIMEOUT,
    DEFAULT_FETCH_DEADLINE,
    DEFAULT_MAX_FILE_BYTES,
    DEFAULT_READ_TIMEOUT,
    DEFAULT_RETRIES,
    Settings,
)

if TYPE_CHECKING:
    from rich.console import Console

    from ..fetch.manager import PluginManager

__all__ = [
    "JSON_FORMAT_VERSION",
    "ArgumentError",
    "WholeHelpGroup",
    "emit_json",
    "err_console",
    "manager_from",
    "parse_key_values",
    "python_option",
    "settings_options",
]

F = TypeVar("F", bound=Callable[..., Any])
JSON_FORMAT_VERSION: Final = 1


@functools.cache
def err_console() -> Console:
    """The rich console on stderr (progress bars); imported on first use, rich is slow to load."""
    from rich.console import Console

    return Console(stderr=True, highlight=False, soft_wrap=True)


_SETTINGS_OPTIONS: Final = [
    click.option(
        "--plugin-dir",
        envvar="INFLUXDB3_PLUGIN_DIR",
        default=None,
        help="Plugin directory (local references, plugins.lock). [env: INFLUXDB3_PLUGIN_DIR]",
    ),
    click.option(
        "--plugin-repo",
        envvar="INFLUXDB3_PLUGIN_REPO",
        default=None,
        help="Base URL for gh: references (http, https, file). [env: INFLUXDB3_PLUGIN_REPO]",
    ),
    click.option(
        "--plugin-registry",
        envvar="PLUGINMGR_PLUGIN_REGISTRY",
        default=None,
        help="Registry index.json URL for registry: references (http, https, file). "
        "[env: PLUGINMGR_PLUGIN_REGISTRY; default: the official registry release]",
    ),
    click.option(
        "--plugin-repo-token",
        envvar="INFLUXDB3_PLUGIN_REPO_TOKEN",
        default=None,
        help="Bearer token for a private plugin repository. [env: INFLUXDB3_PLUGIN_REPO_TOKEN]",
    ),
    click.option(
        "--cache-dir",
        envvar="PLUGINMGR_CACHE_DIR",
        default=None,
        help="Store for fetched plugins. [env: PLUGINMGR_CACHE_DIR; default ~/.cache/pluginmgr]",
    ),
    click.option("--lock-file", default=None, help="Lock file. [default: PLUGIN_DIR/plugins.lock]"),
    click.option(
        "--offline", is_flag=True, help="Use only the lock file and the store; never connect."
    ),
    click.option(
        "--ca-bundle",
        envvar="PLUGINMGR_CA_BUNDLE",
        default=None,
        type=click.Path(exists=True, dir_okay=False),
        help="PEM file of CAs to trust for https repositories. [env: PLUGINMGR_CA_BUNDLE]",
    ),
    click.option(
        "--max-file-size",
        type=click.IntRange(min=1),
        default=DEFAULT_MAX_FILE_BYTES,
        show_default=True,
        help="Largest plugin file to accept, in bytes.",
    ),
    click.option(
        "--connect-timeout",
        type=click.FloatRange(min=0.001),
        default=DEFAULT_CONNECT_TIMEOUT,
        show_default=True,
        help="Seconds to wait for a connection.",
    ),
    click.option(
        "--read-timeout",
        type=click.FloatRange(min=0.001),
        default=DEFAULT_READ_TIMEOUT,
        show_default=True,
        help="Seconds to wait for data.",
    ),
    click.option(
        "--fetch-deadline",
        type=click.FloatRange(min=0.001),
        default=DEFAULT_FETCH_DEADLINE,
        show_default=True,
        help="Seconds one file's download may take in total, retries included.",
    ),
    click.option(
        "--retries",
        type=click.IntRange(min=0, max=10),
        default=DEFAULT_RETRIES,
        show_default=True,
        help="Retries on connection errors, timeouts and 5xx.",
    ),
]


#: the interpreter the plugin venv is made with (install, deps and serve)
python_option: Final = click.option(
    "--python",
    "python",
    type=click.Path(dir_okay=False, exists=True),
    default=None,
    help="Interpreter the plugin venv is made with and locks are resolved for (plugins run on "
    "it). [default: the existing venv's, else the one running pluginmgr]",
)


def settings_options(func: F) -> F:
    """Add the options that build `Settings` to a command."""
    for option in reversed(_SETTINGS_OPTIONS):
        func = option(func)
    return func


@contextmanager
def manager_from(options: dict[str, Any]) -> Iterator[PluginManager]:
    """Build settings from the command's options (env already applied by click) and a manager."""
    from ..fetch.manager import PluginManager

    # the environment too, not only the flags click filled from it: the default cache dir
    # follows XDG_CACHE_HOME, which is no flag
    settings = Settings.from_sources(
        os.environ,
        plugin_dir=options.pop("plugin_dir"),
        plugin_repo=options.pop("plugin_repo"),
        plugin_registry=options.pop("plugin_registry"),
        plugin_repo_token=options.pop("plugin_repo_token"),
        cache_dir=options.pop("cache_dir"),
        lock_file=options.pop("lock_file"),
        ca_bundle=options.pop("ca_bundle"),
        offline=options.pop("offline"),
        max_file_bytes=options.pop("max_file_size"),
        connect_timeout=options.pop("connect_timeout"),
        read_timeout=options.pop("read_timeout"),
        fetch_deadline=options.pop("fetch_deadline"),
        retries=options.pop("retries"),
    )
    with PluginManager(settings) as manager:
        yield manager


def emit_json(payload: dict[str, Any]) -> None:
    """Print a versioned JSON envelope on stdout."""
    json.dump({"format_version": JSON_FORMAT_VERSION, **payload}, sys.stdout, indent=2)
    sys.stdout.write("\n")


def pass_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """Collect a command's keyword options into one dict argument named ``options``."""

    @functools.wraps(func)
    def wrapper(**kwargs: Any) -> Any:
        return func(kwargs)

    return wrapper


class ArgumentError(PluginManagerError):
    """A command-line argument that cannot be used (exit status 1, one line)."""


def parse_key_values(
    text: str | None, *, option: str = "--input-arguments"
) -> dict[str, str] | None:
    """``k=v,k2=v2`` as InfluxDB 3's CLI splits it: on ``,``, then on the first ``=``."""
    if text is None:
        return None
    values: dict[str, str] = {}
    for item in text.split(","):
        key, sep, value = item.partition("=")
        if not sep:
            message = f'invalid value {item!r} for {option}: must be formatted as "key=value"'
            raise ArgumentError(message)
        values[key] = value
    return values


class WholeHelpGroup(click.Group):
    """A command group whose command list shows each command's whole first sentence, wrapped
    to the terminal (click's own cuts each to one line)."""

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = []
        for name in self.list_commands(ctx):
            command = self.get_command(ctx, name)
            if command is not None and not command.hidden:
                rows.append((name, command.get_short_help_str(limit=10**6)))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)
