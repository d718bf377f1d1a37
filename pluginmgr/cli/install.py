"""``install package`` and ``install deps``: into the plugin venv, or through a running server.

With a plugin directory both are changes to the node's one resolved set (``pluginmgr deps``):
``install package PKG`` adds PKG to ``PLUGIN_DIR/requirements.in``, ``install deps REF`` pins
REF; then every plugin's requirements are re-resolved together into ``PLUGIN_DIR/pylock.toml``
and the venv is synced to it. With only ``--virtual-env-location`` (no plugin directory) the
packages are installed into that venv directly, as before there were locks.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Final

import click

from ..errors import InstallError
from ..installers import PACKAGE_MANAGERS, InstallOptions, disabled_error
from ..venv import EnsureResult, InstallResult, PluginEnv, default_venv_path
from ._common import emit_json, manager_from, pass_options, settings_options

__all__ = [
    "env_options",
    "install",
    "install_options_from",
    "plugin_env_from",
    "venv_location_option",
]

_FORMATS: Final = click.Choice(["pretty", "json"])
_INSTALL_PATH: Final = "/api/v3/configure/plugin_environment/"
_HOST_ENV: Final = "INFLUXDB3_HOST_URL"  # client.HOST_ENV; client is imported only when used

#: the plugin venv's location, for the commands that read or change it
venv_location_option: Final = click.option(
    "--virtual-env-location",
    type=click.Path(file_okay=False),
    default=None,
    help="The plugin venv. [default: PLUGIN_DIR/venv]",
)
_ENV_OPTIONS: Final = [
    venv_location_option,
    click.option(
        "--python",
        "python",
        type=click.Path(dir_okay=False, exists=True),
        default=None,
        help="Interpreter for the venv. [default: the one running pluginmgr]",
    ),
    click.option(
        "--package-manager",
        type=click.Choice(PACKAGE_MANAGERS),
        default="uv",
        envvar="INFLUXDB3_PACKAGE_MANAGER",
        show_default=True,
        help="uv, pip (python -m pip), or disabled. [env: INFLUXDB3_PACKAGE_MANAGER]",
    ),
    click.option("--find-links", multiple=True, help="Directory or URL of wheels (repeatable)."),
    click.option(
        "--no-index", is_flag=True, help="Ignore the package index; use --find-links only."
    ),
    click.option("--index-url", default=None, help="Package index to use instead of PyPI."),
    click.option("--require-hashes", is_flag=True, help="Require a --hash for every requirement."),
    click.option(
        "--allow-build",
        is_flag=True,
        help="Let an sdist be built when no wheel fits (runs its build backend); "
        "by default only wheels are installed.",
    ),
    click.option("--format", "output", type=_FORMATS, default="pretty", show_default=True),
]


def env_options(func: Any) -> Any:
    """The venv and package-source options of the install and deps commands."""
    for option in reversed(_ENV_OPTIONS):
        func = option(func)
    return func


@click.group()
def install() -> None:
    """Install Python packages into the plugin venv."""


def plugin_env_from(options: dict[str, Any], plugin_dir: str | None) -> PluginEnv:
    """The plugin venv the command's options name (pops them)."""
    location = options.pop("virtual_env_location")
    if location is None and plugin_dir is None:
        message = "no plugin directory: pass --plugin-dir DIR, --virtual-env-location DIR or -H URL"
        raise InstallError(message, hint="the venv lives at PLUGIN_DIR/venv")
    venv = Path(location) if location else default_venv_path(Path(plugin_dir or "."))
    python = options.pop("python")
    return PluginEnv(
        venv,
        python=Path(python) if python else None,
        package_manager=options.pop("package_manager"),
    )


def install_options_from(options: dict[str, Any], *, offline: bool) -> InstallOptions:
    """Where packages come from, from the command's options (pops them)."""
    return InstallOptions(
        find_links=tuple(options.pop("find_links")),
        index_url=options.pop("index_url"),
        no_index=options.pop("no_index"),
        offline=offline,
        require_hashes=options.pop("require_hashes"),
        allow_build=options.pop("allow_build"),
    ).from_caller()  # relative paths are the caller's: uv runs in other directories


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
    help="Ask the server at this URL to install instead. "
    "[env: INFLUXDB3_HOST_URL, used when --plugin-dir is not given]",
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
    host = options.pop("host")
    if not host and not options["plugin_dir"] and os.environ.get(_HOST_ENV):
        from .client import note_env_host

        host = os.environ[_HOST_ENV]
        note_env_host(host)
    if host:
        _install_remote(host, options.pop("token"), packages, files, output=options.pop("output"))
        return
    plugin_dir, offline = options["plugin_dir"], options["offline"]
    from_files = [req for path in files for req in _read_requirements(path)]
    if plugin_dir and not options["virtual_env_location"]:
        _add_to_set(options, [*packages, *from_files])
        return
    env = plugin_env_from(options, plugin_dir)
    install_options = install_options_from(options, offline=offline)
    result = env.install(
        packages, requirement_files=files, file_requirements=from_files, options=install_options
    )
    _show(result, env, options.pop("output"), extra={})


def _add_to_set(options: dict[str, Any], specs: list[str]) -> None:
    output = options.pop("output")
    if options["package_manager"] == "disabled":
        raise disabled_error()  # before reading a plugin or starting uv
    from .deps import dependency_set, progress, render_apply

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
    from ..declared_deps import parse_requirements  # only -r needs the parser

    def include(name: str) -> bytes | None:
        target = path.parent / name
        return target.read_bytes() if target.is_file() else None

    requirements, _hashes = parse_requirements(
        path.read_text(encoding="utf-8"), location=str(path), read_include=include
    )
    return requirements


def _install_remote(
    host: str, token: str | None, packages: list[str], files: list[Path], *, output: str
) -> None:
    """The server's install endpoints (bodies as InfluxDB 3's client sends them); then what the
    server installed (a pluginmgr server answers it; upstream answers an empty body)."""
    import httpx  # only this path talks HTTP; a local install should not load it

    headers = {"Authorization": f"Bearer {token}"} if token else {}
    calls: list[tuple[str, dict[str, Any]]] = []
    if packages:
        calls.append(("install_packages", {"packages": packages}))
    calls += [("install_requirements", {"requirements_location": str(f)}) for f in files]
    answers: list[tuple[dict[str, Any], Any]] = []
    with httpx.Client(timeout=httpx.Timeout(900.0, connect=10.0)) as client:
        for endpoint, body in calls:
            url = host.rstrip("/") + _INSTALL_PATH + endpoint
            try:
                response = client.post(url, json=body, headers=headers)
            except httpx.TransportError as exc:
                message = f"cannot reach the server at {host}: {exc}"
                raise InstallError(
                    message, hint="check -H/--host and that the server runs"
                ) from exc
            if response.status_code >= 300:
                status = f"{response.status_code} {response.reason_phrase}"
                message = f"server responded with error [{status}]: {response.text.strip()}"
                raise InstallError(message, hint=_remote_hint(host, response.status_code))
            answers.append((body, _json_or_none(response.text)))
    _show_remote(host, answers, output)


def _remote_hint(host: str, status: int) -> str | None:
    if status != 401:
        return None
    from .client import auth_hint

    return auth_hint(host)


def _json_or_none(text: str) -> Any:
    try:
        return json.loads(text) if text.strip() else None
    except ValueError:
        return None


def _show_remote(host: str, answers: list[tuple[dict[str, Any], Any]], output: str) -> None:
    """What the server installed: its ``changed``/``removed``, else what was asked of it."""
    changed: dict[str, str] = {}
    removed: list[str] = []
    lines: list[str] = []
    for body, answer in answers:
        if isinstance(answer, dict) and isinstance(answer.get("changed"), dict):
            changed.update({str(k): str(v) for k, v in answer["changed"].items()})
            removed += [str(name) for name in answer.get("removed") or ()]
        elif "packages" in body:  # an upstream server says nothing about what it did
            count = len(body["packages"])
            noun = "package" if count == 1 else "packages"
            lines.append(f"installed {count} {noun} on the server at {host}")
        else:
            where = body["requirements_location"]
            lines.append(f"installed the requirements of {where} on the server at {host}")
    if output == "json":
        requested = [r for body, _a in answers for r in body.get("packages", [])]
        files = [body["requirements_location"] for body, _a in answers if "packages" not in body]
        emit_json(
            {
                "server": host,
                "requested": requested,
                "requirements_files": files,
                "changed": dict(sorted(changed.items())),
                "removed": sorted(removed),
            }
        )
        return
    lines = (
        [f"installed: {name} {version}" for name, version in sorted(changed.items())]
        + [f"removed: {name}" for name in sorted(removed)]
        + lines
    )
    click.echo(
        "\n".join(lines)
        or f"nothing to install on the server at {host}: every requirement is already satisfied"
    )


@install.command("deps")
@click.argument("ref")
@env_options
@settings_options
@pass_options
def deps(options: dict[str, Any]) -> None:
    """Install the Python dependencies REF declares (manifest.toml, PEP 723, requirements.txt)."""
    ref, output = options.pop("ref"), options.pop("output")
    plugin_dir, offline = options["plugin_dir"], options["offline"]  # manager_from pops them
    from ..plugin_deps import plugin_requirements  # loads the fetcher; only `deps` needs it

    with manager_from(options) as manager:
        declared = plugin_requirements(manager, manager.fetch(ref))  # pins REF: now in the set
        extra = {"ref": ref, "declared_in": declared.source, "shadowed": list(declared.shadowed)}
        for other in declared.shadowed:
            click.echo(
                f"note: {ref}: {other} is ignored, {declared.source} takes precedence", err=True
            )
        if manager.settings.plugin_dir is not None and not options["virtual_env_location"]:
            from .deps import dependency_set, progress, render_apply

            ds = dependency_set(manager, options)
            if output != "json":
                click.echo(f"{ref}: {_declaration(declared.requirements, declared.source)}")
            with progress("resolving every plugin's requirements together…"):
                plan, synced = ds.apply()
            render_apply(
                ds, plan, synced, output, {**extra, "requested": list(declared.requirements)}
            )
            return
    env = plugin_env_from(options, plugin_dir)
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
