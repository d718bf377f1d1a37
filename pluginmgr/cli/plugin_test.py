"""``test wal_plugin``, ``test schedule_plugin``, ``test request_plugin``: run a plugin once,
offline, against a fresh embedded store, and print what InfluxDB 3's test endpoints return.

The plugin may be any reference the resolver accepts (local, ``gh:``, ``git+``); its venv
(``PLUGIN_DIR/venv``) is importable, as in the server.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import click

from ._common import (
    ArgumentError,
    WholeHelpGroup,
    manager_from,
    parse_key_values,
    pass_options,
    settings_options,
)

if TYPE_CHECKING:
    from engine_runtime import DryRunner

__all__ = ["parse_key_values", "test"]

_DEFAULT_SCHEDULE: Final = "* * * * * *"
_HOST_ENV: Final = "INFLUXDB3_HOST_URL"  # client.HOST_ENV; client is imported only when used
_TEST_OPTIONS: Final = [
    click.argument("ref"),
    click.option(
        "-d",
        "--database",
        envvar="INFLUXDB3_DATABASE_NAME",
        required=True,
        help="Database the plugin runs in. [env: INFLUXDB3_DATABASE_NAME]",
    ),
    click.option(
        "--input-arguments",
        default=None,
        metavar="K=V,...",
        help="Trigger arguments passed as `args` (a value cannot contain a comma).",
    ),
    click.option(
        "--cache-name",
        default=None,
        help="Cache namespace for this test run. [default: _shared_test]",
    ),
    click.option(
        "-H",
        "--host",
        default=None,
        help="Run the test on the server at this URL (InfluxDB 3's /api/v3/plugin_test). "
        "[env: INFLUXDB3_HOST_URL, used when --plugin-dir is not given]",
    ),
    click.option(
        "--token",
        envvar="INFLUXDB3_AUTH_TOKEN",
        default=None,
        help="Token for the server. [env: INFLUXDB3_AUTH_TOKEN]",
    ),
    click.option(
        "--seed-lp",
        type=click.Path(dir_okay=False, exists=True),
        default=None,
        help="Line protocol file written to the database before the run.",
    ),
]


def _test_options(func: Any) -> Any:
    for option in reversed(_TEST_OPTIONS):
        func = option(func)
    return settings_options(func)


def _emit(report: dict[str, Any]) -> int:
    json.dump(report, sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 1 if report.get("errors") else 0


def _run(options: dict[str, Any], trigger: str, **kwargs: Any) -> int:
    host, from_env = options.pop("host"), False
    if not host and not options["plugin_dir"] and os.environ.get(_HOST_ENV):
        host, from_env = os.environ[_HOST_ENV], True
    token = options.pop("token")
    if host:
        _local_only(trigger, options, host, from_env=from_env)
        if from_env:
            from .client import note_env_host

            note_env_host(host)
        return _emit(_run_remote(host, token, options, trigger, **kwargs))
    return _run_local(options, trigger, **kwargs)


def _local_only(trigger: str, options: dict[str, Any], host: str, *, from_env: bool) -> None:
    """Refuse what the server's test endpoints cannot do, naming where the host came from."""
    if trigger != "request" and not options.get("seed_lp"):
        return
    what = "test request_plugin" if trigger == "request" else "--seed-lp"
    if from_env:
        message = (
            f"{what} runs locally only, but {_HOST_ENV} is set ({host}) and no --plugin-dir "
            f"was given, so the test would go to that server"
        )
        hint = f"pass --plugin-dir DIR (the plugin directory) or unset {_HOST_ENV}"
    else:
        message = f"{what} runs locally only, not on the server given by -H/--host"
        hint = "drop -H/--host (and pass --plugin-dir DIR)"
    raise ArgumentError(message, hint=hint)


def _run_remote(
    host: str, token: str | None, options: dict[str, Any], trigger: str, **kwargs: Any
) -> dict[str, Any]:
    """Upstream's test endpoints: the server runs the plugin against its own data."""
    from .client import ServerClient

    body: dict[str, Any] = {
        "filename": options["ref"],
        "database": options["database"],
        "cache_name": options["cache_name"],
        "input_arguments": parse_key_values(options["input_arguments"]),
    }
    if trigger == "wal":
        body["input_lp"] = kwargs["lp"]
    else:
        body["schedule"] = kwargs["schedule"]
    with ServerClient(host, token) as client:
        response = client.request("POST", f"/api/v3/plugin_test/{trigger}", json_body=body)
    report: dict[str, Any] = response.json()
    return report


def _run_local(options: dict[str, Any], trigger: str, **kwargs: Any) -> int:
    from engine_runtime import DryRunner

    from ..deps.venv import PluginEnv, default_venv_path
    from ..node.plugin_source import FetchedPluginSource

    ref, database = options.pop("ref"), options.pop("database")
    arguments = parse_key_values(options.pop("input_arguments"))
    cache_name, seed = options.pop("cache_name"), options.pop("seed_lp")
    with manager_from(options) as manager:
        source = FetchedPluginSource(manager, ref)
        source.load()  # fetch (and verify) now: a bad reference is an error, not a report
        plugin_dir = manager.settings.plugin_dir
        site_packages = None
        if plugin_dir is not None:
            venv = PluginEnv(default_venv_path(plugin_dir))
            site_packages = venv.site_packages if venv.state().status == "ok" else None
        with DryRunner(plugin_dir=plugin_dir, site_packages=site_packages) as runner:
            if seed:
                _seed(runner, database, Path(seed))
            report = runner.run(
                trigger, source, database, args=arguments, cache_name=cache_name, **kwargs
            )
    return _emit(report)


def _seed(runner: DryRunner, database: str, path: Path) -> None:
    from engine_runtime import EngineError

    try:
        runner.seed(database, path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ArgumentError(f"unable to read --seed-lp file {path}: {exc}") from None
    except EngineError as exc:
        detail = "; ".join(getattr(exc, "errors", None) or [exc.message])
        message = f"--seed-lp {path} was not written: {detail}"
        raise ArgumentError(message, hint="fix the line protocol; nothing was written") from None


@click.group("test", cls=WholeHelpGroup)
def test() -> None:
    """Run a plugin once, offline, and print its logs, writes and errors as JSON."""


@test.command("wal_plugin")
@_test_options
@click.option("--lp", default=None, help="Line protocol to feed the plugin.")
@click.option("--file", "lp_file", default=None, help="File of line protocol to feed the plugin.")
@pass_options
def wal_plugin(options: dict[str, Any]) -> int:
    """Feed REF's process_writes the line protocol of --lp or --file."""
    lp, lp_file = options.pop("lp"), options.pop("lp_file")
    if lp is None and lp_file is None:
        raise click.UsageError("either --lp or --file must be provided")
    if lp is None:
        try:
            lp = Path(lp_file).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ArgumentError(f"unable to read input file {lp_file}: {exc}") from None
    return _run(options, "wal", lp=lp)


@test.command("schedule_plugin")
@_test_options
@click.option(
    "--schedule",
    default=_DEFAULT_SCHEDULE,
    show_default=True,
    help="A 6/7-field cron expression, or an every:/cron: trigger spec.",
)
@pass_options
def schedule_plugin(options: dict[str, Any]) -> int:
    """Call REF's process_scheduled_call with the schedule's next fire time."""
    return _run(options, "schedule", schedule=options.pop("schedule"))


@test.command("request_plugin")
@_test_options
@click.option("--method", default="POST", show_default=True, help="HTTP method.")
@click.option("--query", "query_string", default="", help="Query string, e.g. 'a=1&b=2'.")
@click.option(
    "--header", "headers", multiple=True, metavar="NAME:VALUE", help="Request header (repeatable)."
)
@click.option("--body", default=None, help="Request body.")
@click.option(
    "--body-file", type=click.Path(dir_okay=False, exists=True), default=None, help="Body file."
)
@pass_options
def request_plugin(options: dict[str, Any]) -> int:
    """Call REF's process_request and print the status, headers and body it would answer."""
    headers: list[tuple[str, str]] = []
    for header in options.pop("headers"):
        name, sep, value = header.partition(":")
        if not sep or not name.strip():
            raise ArgumentError(f"invalid --header {header!r}: use NAME:VALUE")
        headers.append((name.strip(), value.strip()))
    body_file, body = options.pop("body_file"), options.pop("body")
    data = Path(body_file).read_bytes() if body_file else (body or "").encode()
    return _run(
        options,
        "request",
        method=options.pop("method").upper(),
        query_string=options.pop("query_string"),
        headers=headers,
        body=data,
    )
