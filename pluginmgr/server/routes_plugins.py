"""Plugin files, the plugin venv and dry runs: ``/api/v3/plugins/files``,
``/api/v3/plugins/directory``, ``/api/v3/configure/plugin_environment/install_*``,
``/api/v3/plugin_test/wal|schedule`` (engine-behavior.md §2.5, §3.6, §6).

Every path a client names is checked against the plugin directory (no ``..``, no absolute path,
no symlink out, no control character). A directory is replaced by writing a sibling temporary
directory, then swapping it in; on failure the old directory is put back and nothing temporary
is left behind. An install answers 200 only when the installer succeeded (upstream answers 200
when pip failed), 404 for a package the index does not have, and 403 with upstream's message,
whatever the body, when installs are disabled (``env`` None). With ``Accept:
application/x-ndjson`` an install streams its progress instead (`streaming`).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from engine_runtime import DryRunner

from ..atomic import atomic_write
from ..deps.installers import disabled_error
from ..deps.venv import parse_requirement
from ..errors import InstallError, PluginManagerError
from ..fetch.hashes import has_control_chars
from ..fetch.plugin_dir import validate_path_within_plugin_dir
from ..fetch.refs import LocalRef, parse_ref
from ..node.plugin_policy import refuse_outside_plugin_dir
from ..node.plugin_source import FetchedPluginSource
from .routes_common import (
    ENGINE_OFF_MESSAGE,
    ApiError,
    blocking,
    endpoint,
    get_str,
    merged_params,
    read_json,
    server_state,
)
from .streaming import answer_with_progress

if TYPE_CHECKING:
    from collections.abc import Callable

    from starlette.requests import Request

    from ..deps.sync import SyncResult
    from ..deps.venv import PluginEnv
    from .app import ServerState

__all__ = ["routes"]

_ENV_PATH: Final = "/api/v3/configure/plugin_environment"


# -- the plugin venv --------------------------------------------------------------------------


def _install_body(requested: list[str], result: SyncResult) -> dict[str, Any]:
    changed = {name: new for name, (_old, new) in sorted(result.plan.install.items())}
    return {
        "requested": requested,
        "changed": changed,
        "removed": sorted(result.plan.remove),
        "ran_installer": result.ran_installer,
    }


def _read_requirements(path: Path, plugin_dir: Path) -> list[str]:
    """The requirements ``path`` lists (``-r`` includes followed inside the plugin dir only)."""
    from ..deps.requirements_file import parse_requirements

    root = plugin_dir.resolve()

    def include(name: str) -> bytes | None:
        target = (path.parent / name).resolve()
        inside = target.is_relative_to(root)
        return target.read_bytes() if inside and target.is_file() else None

    requirements, _hashes = parse_requirements(
        path.read_text(encoding="utf-8"), location=str(path), read_include=include
    )
    return list(requirements)


def _plugin_dir(state: ServerState) -> Path:
    """The plugin directory; `app.create_app` routes here only when there is one."""
    if state.plugin_dir is None:
        raise ApiError(500, ENGINE_OFF_MESSAGE)
    return state.plugin_dir


def _install_env(state: ServerState) -> PluginEnv:
    """The venv installs go into; upstream's 403 when installs are disabled."""
    if state.env is None or state.env.installer is None:
        raise disabled_error()  # before the body is read: nothing to validate it for
    return state.env


def _install(
    state: ServerState, specs: list[str], progress: Callable[[str], None] | None
) -> dict[str, Any]:
    """Add ``specs`` to the node's requirements.in, re-resolve every plugin together, sync."""
    from ..deps.dependency_set import DependencySet

    env = _install_env(state)
    deps = DependencySet(
        state.manager, env, _plugin_dir(state), sources=state.install_options, progress=progress
    )
    _plan, result = deps.add_requirements(specs)
    state.engine.hosts.recycle()  # the next plugin run sees what was installed, no restart
    return _install_body(specs, result)


@endpoint
async def install_packages(request: Request) -> Response:
    """``POST …/install_packages {"packages": [...]}``: 200 once installed."""
    _install_env(server_state(request))
    body = await merged_params(request)
    packages = body.get("packages")
    if isinstance(packages, str):
        packages = [p for p in packages.split(",") if p.strip()]
    if not isinstance(packages, list) or not packages:
        raise ApiError(400, "field 'packages' must be a non-empty list of requirement strings")
    if not all(isinstance(p, str) and p.strip() for p in packages):
        raise ApiError(400, "field 'packages' must hold only non-empty strings")
    for package in packages:
        try:
            parse_requirement(package)
        except InstallError as exc:
            raise ApiError(400, f"field 'packages': {exc}") from None
    state = server_state(request)
    return await answer_with_progress(request, lambda tell: _install(state, packages, tell))


def _requirements_file(plugin_dir: Path, location: str) -> Path:
    path = Path(location)
    if path.is_absolute():
        # our CLI sends the path it was given; accept it when it is inside the plugin dir
        with contextlib.suppress(ValueError):
            location = str(path.resolve().relative_to(plugin_dir.resolve()))
    target = validate_path_within_plugin_dir(plugin_dir, location)
    if not target.is_file():
        message = f"requirements file not found: {location} (relative to the plugin directory)"
        raise ApiError(404, message)
    return target


@endpoint
async def install_requirements(request: Request) -> Response:
    """``POST …/install_requirements {"requirements_location": "<path in the plugin dir>"}``."""
    state = server_state(request)
    _install_env(state)
    body = await merged_params(request)
    location = get_str(body, "requirements_location")
    plugin_dir = _plugin_dir(state)
    target = _requirements_file(plugin_dir, location)
    specs = _read_requirements(target, plugin_dir)
    if not specs:
        raise ApiError(400, f"{location} lists no requirements")
    return await answer_with_progress(request, lambda tell: _install(state, specs, tell))


# -- dry runs ---------------------------------------------------------------------------------


def _runner(state: ServerState, app_state: Any) -> DryRunner:
    runner: DryRunner | None = getattr(app_state, "dry_runner", None)
    if runner is None:
        # in the node's shared host, as upstream tests in the engine's interpreter: test
        # caches persist across calls, and the plugin sees what triggers see
        host = state.engine.hosts.shared()
        runner = DryRunner(store=state.engine.store, plugin_dir=state.plugin_dir, host=host)
        app_state.dry_runner = runner
    runner.host = state.engine.hosts.shared()  # a fresh one after an install
    return runner


def _test_inputs(body: dict[str, Any]) -> tuple[str, str, dict[str, str] | None, str | None]:
    filename, database = get_str(body, "filename"), get_str(body, "database")
    arguments = body.get("input_arguments")
    if arguments is not None and (
        not isinstance(arguments, dict) or not all(isinstance(v, str) for v in arguments.values())
    ):
        raise ApiError(400, "field 'input_arguments' must be a JSON object of string values")
    cache_name = body.get("cache_name")
    if cache_name is not None and not isinstance(cache_name, str):
        raise ApiError(400, "field 'cache_name' must be a string or null")
    return filename, database, arguments, cache_name


def _dry_run(state: ServerState, runner: DryRunner, kind: str, body: dict[str, Any]) -> Any:
    filename, database, arguments, cache_name = _test_inputs(body)
    if state.plugin_dir_only:
        refuse_outside_plugin_dir(filename)
    source = FetchedPluginSource(state.manager, filename)
    source.load()  # a plugin that cannot be read is an HTTP error, not a report (§6)
    kwargs: dict[str, Any] = {"args": arguments, "cache_name": cache_name}
    if kind == "wal":
        kwargs["lp"] = get_str(body, "input_lp", required=False)
    else:
        schedule = body.get("schedule")
        if schedule is not None and not isinstance(schedule, str):
            raise ApiError(400, "field 'schedule' must be a cron expression string or null")
        if schedule:
            kwargs["schedule"] = schedule
    # a plugin's print() must not mix with the server's stdout
    with contextlib.redirect_stdout(sys.stderr):
        return runner.run(kind, source, database, **kwargs)


@endpoint
async def dry_run_wal(request: Request) -> Response:
    """``POST /api/v3/plugin_test/wal``: ``{"log_lines", "database_writes", "errors"}``."""
    body = await read_json(request)
    state = server_state(request)
    runner = _runner(state, request.app.state)
    return JSONResponse(await blocking(_dry_run, state, runner, "wal", body))


@endpoint
async def dry_run_schedule(request: Request) -> Response:
    """``POST /api/v3/plugin_test/schedule``: also ``trigger_time``."""
    body = await read_json(request)
    state = server_state(request)
    runner = _runner(state, request.app.state)
    return JSONResponse(await blocking(_dry_run, state, runner, "schedule", body))


# -- plugin files -----------------------------------------------------------------------------


def _is_fetched(filename: str) -> bool:
    """True for ``gh:``, ``git+`` and ``registry:`` plugins: they live in the store, not here."""
    try:
        return not isinstance(parse_ref(filename), LocalRef)
    except PluginManagerError:
        return False  # validate_path_within_plugin_dir names what is wrong with it


def _check_file_name(field: str, name: str) -> str:
    """Refuse control characters: a newline in a name would forge a tree manifest line."""
    if has_control_chars(name):
        message = (
            f"invalid plugin file name {name!r} in field '{field}': control characters "
            "(newline, NUL, ...) are not allowed; use a plain relative path"
        )
        raise ApiError(400, message)
    return name


def _content(body: dict[str, Any]) -> str:
    content = body.get("content")
    if not isinstance(content, str):
        raise ApiError(400, "field 'content' must be the file's text")
    return content


@endpoint
async def create_plugin_file(request: Request) -> Response:
    """``POST /api/v3/plugins/files {"plugin_name": "<relative path>", "content"}``."""
    body = await read_json(request)
    name, content = get_str(body, "plugin_name"), _content(body)
    _check_file_name("plugin_name", name)
    target = validate_path_within_plugin_dir(_plugin_dir(server_state(request)), name)
    if target.is_dir():
        raise ApiError(400, f"{name} is a directory: use PUT /api/v3/plugins/directory")
    await blocking(atomic_write, target, content.encode(), mode=0o600)
    return Response(status_code=200)


def _trigger_target(state: ServerState, trigger_name: str) -> Path:
    """The local plugin of the first trigger called ``trigger_name`` (upstream's order)."""
    for trigger in state.engine.catalog.triggers():
        if trigger.trigger_name == trigger_name:
            filename = trigger.plugin_filename.rstrip("/")
            if _is_fetched(filename):
                message = (
                    f"trigger {trigger_name} runs the fetched plugin {filename}: "
                    "upload a local plugin and create a trigger for it instead"
                )
                raise ApiError(400, message)
            return validate_path_within_plugin_dir(_plugin_dir(state), filename)
    raise ApiError(404, f"Plugin not found: {trigger_name}")


@endpoint
async def update_plugin_file(request: Request) -> Response:
    """``PUT /api/v3/plugins/files {"plugin_name": "<trigger name>", "content"}``."""
    body = await read_json(request)
    name, content = get_str(body, "plugin_name"), _content(body)
    target = _trigger_target(server_state(request), name)
    if target.is_dir():
        target = target / "__init__.py"
    await blocking(atomic_write, target, content.encode(), mode=0o600)
    return Response(status_code=200)


def _files(body: dict[str, Any]) -> list[tuple[str, str]]:
    files = body.get("files")
    if not isinstance(files, list) or not files:
        message = "field 'files' must be a non-empty list of {relative_path, content}"
        raise ApiError(400, message)
    found: list[tuple[str, str]] = []
    for index, item in enumerate(files):
        if not isinstance(item, dict):
            raise ApiError(400, f"field 'files[{index}]' must be an object")
        path = item.get("relative_path")
        if not isinstance(path, str) or not path.strip():
            raise ApiError(400, f"field 'files[{index}].relative_path' must be a non-empty string")
        content = item.get("content")
        if not isinstance(content, str):
            raise ApiError(400, f"field 'files[{index}].content' must be a string")
        found.append((_check_file_name(f"files[{index}].relative_path", path), content))
    return found


def _replace_directory(target: Path, files: list[tuple[str, str]]) -> None:
    """Write ``files`` into a temporary sibling, then swap it in for ``target``."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fresh = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".new", dir=target.parent))
    old: Path | None = None
    try:
        for relative, content in files:
            path = validate_path_within_plugin_dir(fresh, relative)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(content, encoding="utf-8")
        if target.exists():
            old = Path(
                tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".old", dir=target.parent)
            )
            os.replace(target, old / target.name)
        try:
            os.replace(fresh, target)
        except OSError:
            if old is not None:
                os.replace(old / target.name, target)  # roll back
            raise
    finally:
        shutil.rmtree(fresh, ignore_errors=True)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)


@endpoint
async def replace_plugin_directory(request: Request) -> Response:
    """``PUT /api/v3/plugins/directory {"plugin_name": "<trigger>", "files": [...]}``."""
    body = await read_json(request)
    name, files = get_str(body, "plugin_name"), _files(body)
    state = server_state(request)
    target = _trigger_target(state, name)
    if target.is_file():
        message = f"trigger {name} runs the single-file plugin {target.name}: use PUT …/files"
        raise ApiError(400, message)
    if target.is_dir():
        for relative, _ in files:  # refuse before touching the disk
            validate_path_within_plugin_dir(target, relative)
    await blocking(_replace_directory, target, files)
    return Response(status_code=200)


routes: Final = [
    Route(f"{_ENV_PATH}/install_packages", install_packages, methods=["POST"]),
    Route(f"{_ENV_PATH}/install_requirements", install_requirements, methods=["POST"]),
    Route("/api/v3/plugin_test/wal", dry_run_wal, methods=["POST"]),
    Route("/api/v3/plugin_test/schedule", dry_run_schedule, methods=["POST"]),
    Route("/api/v3/plugins/files", create_plugin_file, methods=["POST"]),
    Route("/api/v3/plugins/files", update_plugin_file, methods=["PUT"]),
    Route("/api/v3/plugins/directory", replace_plugin_directory, methods=["PUT"]),
]
