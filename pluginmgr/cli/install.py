"""``install package`` and ``install deps``: into the plugin venv, or through a running server.

With a plugin directory both are changes to the node's one resolved set (``pluginmgr deps``):
``install package PKG`` adds PKG to ``PLUGIN_DIR/requirements.in``, ``install deps REF`` pins
REF (a local REF is recorded in ``PLUGIN_DIR/plugins.in`` as added); then the requirements of
the plugins in use are re-resolved together into ``PLUGIN_DIR/pylock.toml`` and the venv is
synced to it (a failure puts both files back). With only ``--virtual-env-location`` (no
plugin directory) the packages are installed into that venv directly, as before there were
locks. With neither, ``install package`` asks a server: ``-H URL``, else
``INFLUXDB3_HOST_URL``, else the local one (``http://127.0.0.1:8181``), as ``influxdb3 install
package`` does; the server's progress is printed on stderr as it comes (`progress_stream`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Final

import click

from ..deps.installers import disabled_error
from ..deps.venv import EnsureResult, InstallResult, PluginEnv
from ..settings import ENV_CACHE_DIR, default_log_dir
from ._common import WholeHelpGroup, emit_json, manager_from, pass_options, settings_options
from ._deps_common import (
    dependency_set,
    env_options,
    install_options_from,
    plugin_env_from,
    progress,
    render_apply,
)

__all__ = ["install"]

_HOST_ENV: Final = "INFLUXDB3_HOST_URL"  # client.HOST_ENV; client is imported only when used


@click.group(cls=WholeHelpGroup)
def install() -> None:
    """Install Python packages into the plugin venv."""


def _report_environment(env: PluginEnv, done: EnsureResult) -> None:
    if done.created:
        click.echo(f"created {env.venv_path} (Python {env.python})", err=True)
    if done.rebuilt:
        click.echo(f"warning: rebuilt {env.venv_path}: {done.reason}", err=True)
    if done.warning:
        click.echo(f"warning: {done.warning}", err=True)


def _show(result: InstallResult, env: PluginEnv, output: str, *, extra: dict[str, Any]) -> None:
    _report_environment(env, result.environment)
    if output == "json":
        emit_json(
            {
                "venv": str(env.venv_path),
                "package_manager": env.package_manager,
                "requested": list(result.requested),
                "satisfied": list(result.satisfied),
                "changed": dict(result.changed),
                "ran_installer": result.ran_installer,
                "seconds": round(result.seconds, 3),
                **extra,
            }
        )
        return
    for req in result.satisfied:
        click.echo(f"already satisfied: {req}")
    for name, version in sorted(result.changed.items()):
        click.echo(f"installed: {name} {version}")
    if not result.ran_installer:
        click.echo("nothing to install: every requirement is already satisfied")
    elif not result.changed:
        click.echo("nothing changed")


@install.command("package")
@click.argument("packages", nargs=-1)
@click.option(
    "-r",
    "--requirements",
    "requirement_files",
    multiple=True,
    type=click.Path(dir_okay=False, exists=True),
    help="Requirements file (repeatable).",
)
@click.option(
    "-H",
    "--host",
    default=None,
    help="Ask the server at this URL to install instead. [env: INFLUXDB3_HOST_URL; "
    "without --plugin-dir the default is http://127.0.0.1:8181]",
)
@click.option(
    "--token",
    envvar="INFLUXDB3_AUTH_TOKEN",
    default=None,
    help="Token for the server. [env: INFLUXDB3_AUTH_TOKEN]",
)
@env_options
@settings_options
@pass_options
def package(options: dict[str, Any]) -> None:
    """Install PACKAGES (and -r files) into the plugin venv, skipping what is satisfied."""
    packages, files = (
        list(options.pop("packages")),
        [Path(f) for f in options.pop("requirement_files")],
    )
    if not packages and not files:
        raise click.UsageError("name at least one package or pass -r FILE")
    host, implied = _server_for(options)
    if host:
        from .install_remote import install_remote  # only this path talks HTTP

        token, output = options.pop("token"), options.pop("output")
        install_remote(host, token, packages, files, output=output, implied=implied)
        return
    plugin_dir, offline = options["plugin_dir"], options["offline"]
    from_files = [req for path in files for req in _read_requirements(path)]
    if plugin_dir and not options["virtual_env_location"]:
        _add_to_set(options, [*packages, *from_files])
        return
    cache_dir = options.get("cache_dir")
    log_dir = default_log_dir({ENV_CACHE_DIR: cache_dir}) if cache_dir else None
    env = plugin_env_from(options, plugin_dir, log_dir=log_dir)
    install_options = install_options_from(options, offline=offline)
    result = env.install(
        packages, requirement_files=files, file_requirements=from_files, options=install_options
    )
    _show(result, env, options.pop("output"), extra={})


def _server_for(options: dict[str, Any]) -> tuple[str | None, bool]:
    """The server to install on (pops ``host``): ``-H``; else, with no local target (no
    --plugin-dir, INFLUXDB3_PLUGIN_DIR or --virtual-env-location), ``INFLUXDB3_HOST_URL`` or
    the local server, as ``influxdb3 install package`` does. :returns: (host, whether the user
    left it to the default)."""
    host = options.pop("host")
    if host or options["plugin_dir"] or options["virtual_env_location"]:
        return host, False
    from .client import DEFAULT_HOST, note_env_host

    if os.environ.get(_HOST_ENV):
        note_env_host(os.environ[_HOST_ENV])
        return os.environ[_HOST_ENV], False
    return DEFAULT_HOST, True


def _add_to_set(options: dict[str, Any], specs: list[str]) -> None:
    output = options.pop("output")
    if options["package_manager"] == "disabled":
        raise disabled_error()  # before reading a plugin or starting uv

    with manager_from(options) as manager:
        ds = dependency_set(manager, options)
        with progress("resolving every plugin's requirements with the new ones…"):
            plan, result = ds.add_requirements(specs)
    render_apply(
        ds,
        plan,
        result,
        output,
        {"requested": specs, "requirements_file": str(ds.requirements_path)},
    )


def _read_requirements(path: Path) -> list[str]:
    from ..deps.requirements_file import parse_requirements  # only -r needs the parser

    def include(name: str) -> bytes | None:
        target = path.parent / name
        return target.read_bytes() if target.is_file() else None

    requirements, _hashes = parse_requirements(
        path.read_text(encoding="utf-8"), location=str(path), read_include=include
    )
    return requirements


@install.command("deps")
@click.argument("ref")
@env_options
@settings_options
@pass_options
def deps(options: dict[str, Any]) -> None:
    """Install the Python dependencies REF declares (manifest.toml, PEP 723, requirements.txt)."""
    ref, output = options.pop("ref"), options.pop("output")
    plugin_dir, offline = options["plugin_dir"], options["offline"]  # manager_from pops them
    from ..deps.plugin_deps import plugin_requirements  # loads the fetcher; only `deps` needs it

    with manager_from(options) as manager:
        declared = plugin_requirements(manager, manager.fetch(ref))  # pins REF: now in the set
        extra = {"ref": ref, "declared_in": declared.source, "shadowed": list(declared.shadowed)}
        for other in declared.shadowed:
            click.echo(
                f"note: {ref}: {other} is ignored, {declared.source} takes precedence", err=True
            )
        if manager.settings.plugin_dir is not None and not options["virtual_env_location"]:
            from ..atomic import restored_on_error
            from ..deps.plugins_in import ADDED, PLUGINS_IN_NAME, record_plugins

            ds = dependency_set(manager, options)
            if output != "json":
                click.echo(f"{ref}: {_declaration(declared.requirements, declared.source)}")
            with (
                restored_on_error(ds.plugin_dir / PLUGINS_IN_NAME),
                progress("resolving the requirements of the plugins in use together…"),
            ):
                record_plugins(ds.plugin_dir, [ref], reason=ADDED)  # a local REF: now in use
                plan, synced = ds.apply()
            render_apply(
                ds, plan, synced, output, {**extra, "requested": list(declared.requirements)}
            )
            return
    env = plugin_env_from(options, plugin_dir, log_dir=manager.settings.log_dir)
    # --offline means no network at all: neither for the plugin nor for its packages
    install_options = install_options_from(options, offline=offline)
    if not declared.requirements:
        if output == "json":
            emit_json({"venv": str(env.venv_path), "requested": [], "satisfied": [], **extra})
        else:
            click.echo(f"{ref} declares no dependencies")
        return
    if output != "json":
        click.echo(f"{ref}: {_declaration(declared.requirements, declared.source)}")
    result = env.install(list(declared.requirements), options=install_options)
    _show(result, env, output, extra=extra)


def _declaration(requirements: tuple[str, ...], source: str) -> str:
    if not requirements:
        return "declares no dependencies"
    noun = "requirement" if len(requirements) == 1 else "requirements"
    return f"{len(requirements)} {noun} from {source}"
