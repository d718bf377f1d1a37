"""``update trigger``: change a trigger in place, as InfluxDB 3.11's ``influxdb3 update trigger``.

``--path REF`` points the trigger at another plugin the server has (a file or directory of its
plugin dir, or a ``gh:``/registry reference); with ``--upload`` PATH is a local file or
directory whose content replaces the trigger's plugin on the server (``PUT /api/v3/plugins/files``
or ``/directory``, upstream's 3.10 behaviour). The other changes, and the restart that makes a
running trigger pick everything up, are one ``PUT /api/v3/configure/processing_engine_trigger``.
A local path that is missing, or a directory without ``__init__.py``, stops the command before
anything is sent.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Final

import click

from .client import TRIGGER_PATH, ServerClient, database_option, server_options

__all__ = ["update_trigger"]

_FILES_PATH: Final = "/api/v3/plugins/files"
_DIRECTORY_PATH: Final = "/api/v3/plugins/directory"


def _upload_body(path: Path, trigger: str) -> tuple[str, dict[str, Any]]:
    """The endpoint and body that replace ``trigger``'s plugin with the local ``path``."""
    if not path.exists():
        raise click.UsageError(f"--path {path} does not exist (with --upload it is a local path)")
    if path.is_file():
        return _FILES_PATH, {"plugin_name": trigger, "content": path.read_text(encoding="utf-8")}
    if not (path / "__init__.py").is_file():
        raise click.UsageError(f"--path {path}: a plugin directory must contain __init__.py")
    files = [
        {"relative_path": file.relative_to(path).as_posix(), "content": file.read_text("utf-8")}
        for file in sorted(path.rglob("*.py"))
        if "__pycache__" not in file.relative_to(path).parts
    ]
    return _DIRECTORY_PATH, {"plugin_name": trigger, "files": files}


@click.command("trigger")
@click.argument("name", required=False)
@click.option("--trigger-name", "-t", default=None, help="The trigger (instead of NAME).")
@database_option(required=True)
@click.option(
    "--path",
    "-p",
    default=None,
    help="The plugin to run: a file or directory in the server's plugin dir, or a gh: or "
    "registry reference; with --upload, a local file or directory to send.",
)
@click.option("--upload", is_flag=True, help="Send the local --path as the trigger's plugin code.")
@click.option(
    "--trigger-arguments",
    default=None,
    metavar="K=V,...",
    help="Replace the trigger's arguments (an empty string clears them).",
)
@click.option("--enabled", "state", flag_value="enabled", help="Enable the trigger.")
@click.option("--disabled", "state", flag_value="disabled", help="Disable the trigger.")
@click.option(
    "--error-behavior",
    type=click.Choice(["log", "retry", "disable"]),
    default=None,
    help="What to do when the plugin raises.",
)
@click.option(
    "--ignore-database-version",
    is_flag=True,
    help="Accept a plugin whose manifest excludes the server's InfluxDB version.",
)
@server_options
def update_trigger(**options: Any) -> None:
    """Change a trigger's plugin, arguments, state or error behavior; it restarts with them."""
    from ._common import parse_key_values

    name = options["name"] or options["trigger_name"]
    if not name or (options["name"] and options["trigger_name"]):
        raise click.UsageError("name the trigger once: NAME or --trigger-name")
    path, upload = options["path"], options["upload"]
    if upload and path is None:
        raise click.UsageError("--upload sends --path: give --path LOCAL_FILE_OR_DIR")
    body: dict[str, Any] = {"db": options["database"], "trigger_name": name}
    if path is not None and not upload:
        body["plugin_filename"] = path
    arguments = options["trigger_arguments"]
    if arguments is not None:
        cleared = not arguments.strip()
        parsed = None if cleared else parse_key_values(arguments, option="--trigger-arguments")
        body["trigger_arguments"] = parsed
    if options["state"] is not None:
        body["disabled"] = options["state"] == "disabled"
    if options["error_behavior"] is not None:
        body["trigger_settings"] = {"error_behavior": options["error_behavior"]}
    if len(body) == 2 and not upload:
        message = "nothing to update: give --path, --trigger-arguments, --enabled or --disabled, "
        raise click.UsageError(message + "or --error-behavior")
    if options["ignore_database_version"]:
        body["ignore_database_version"] = True
    upload_request = _upload_body(Path(path), name) if upload else None
    with ServerClient(options["host"], options["token"]) as client:
        if upload_request is not None:
            endpoint, upload_body = upload_request
            client.request("PUT", endpoint, json_body=upload_body)
        answer = client.request("PUT", TRIGGER_PATH, json_body=body)
    warnings = answer.json().get("warnings", []) if answer.content else []
    for warning in warnings:
        click.echo(f"warning: {warning}", err=True)
    click.echo(f"Trigger {name} updated successfully")
