"""``pluginmgr serve``: the durable store, the processing engine and the HTTP API in one process.

Boot: the store replays its write-ahead log, the catalog's triggers start (one whose plugin
cannot be loaded is reported in its log and in ``show triggers``; the server serves anyway),
then uvicorn listens. SIGTERM or Ctrl-C: stop accepting, let running plugins finish, save the
cache, flush the WAL.
"""

from __future__ import annotations

import signal
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import click

from ..errors import PluginManagerError
from ._common import manager_from, pass_options, settings_options

if TYPE_CHECKING:
    import uvicorn

    from ..installers import InstallOptions
    from ..manager import PluginManager
    from ..venv import PluginEnv

__all__ = ["serve"]

_DEFAULT_BIND: Final = "127.0.0.1:8181"


class _ServeError(PluginManagerError):
    """A serve option that cannot work."""


def _bind(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        message = f"invalid --http-bind {text!r}: use HOST:PORT, e.g. {_DEFAULT_BIND}"
        raise _ServeError(message)
    return host.strip("[]") or "0.0.0.0", int(port)  # noqa: S104 - ":8181" means every interface


def _seconds(option: str, text: str | None) -> float | None:
    from engine_runtime import parse_duration

    if text is None:
        return None
    try:
        return parse_duration(text) / 1e9
    except ValueError as exc:
        raise _ServeError(f"invalid {option} {text!r}: {exc} (e.g. 1s, 250ms)") from None


@click.command("serve")
@settings_options
@click.option(
    "--data-dir",
    envvar="PLUGINMGR_DATA_DIR",
    default=str(Path.home() / ".pluginmgr" / "data"),
    show_default=True,
    help="WAL, snapshots, catalog, tokens and the saved cache. [env: PLUGINMGR_DATA_DIR]",
)
@click.option(
    "--http-bind",
    envvar="INFLUXDB3_HTTP_BIND_ADDR",
    default=_DEFAULT_BIND,
    show_default=True,
    help="HOST:PORT to listen on. [env: INFLUXDB3_HTTP_BIND_ADDR]",
)
@click.option("--without-auth", is_flag=True, help="Serve every endpoint without a token.")
@click.option(
    "--wal-flush-interval",
    default="1s",
    show_default=True,
    help="How often the write-ahead log is flushed and fsynced (writes wait for it).",
)
@click.option(
    "--execution-timeout",
    default=None,
    help="Interrupt a plugin run after this long (e.g. 30s). [default: no limit]",
)
@click.option(
    "--max-http-request-size",
    envvar="INFLUXDB3_MAX_HTTP_REQUEST_SIZE",
    type=click.IntRange(min=1),
    default=10 * 1024 * 1024,
    show_default=True,
    help="Largest request body in bytes, as sent and once gzip is inflated (larger: 413). "
    "[env: INFLUXDB3_MAX_HTTP_REQUEST_SIZE]",
)
@click.option("--find-links", multiple=True, help="Wheels for plugin dependencies (repeatable).")
@click.option(
    "--no-index", is_flag=True, help="Install plugin dependencies from --find-links only."
)
@pass_options
def serve(options: dict[str, Any]) -> int:
    """Run the processing engine with its HTTP API (InfluxDB 3's paths and bodies)."""
    import uvicorn

    from engine_runtime import Catalog, DurableStore, ProcessingEngine, activate

    from ..installers import InstallOptions
    from ..server.app import ServerState, create_app
    from ..server.auth import TokenStore
    from ..server.front import FlightFront
    from ..triggers import source_factory
    from ..venv import PluginEnv, default_venv_path

    host, port = _bind(options.pop("http_bind"))
    flush = _seconds("--wal-flush-interval", options.pop("wal_flush_interval")) or 1.0
    timeout = _seconds("--execution-timeout", options.pop("execution_timeout"))
    data_dir = Path(options.pop("data_dir")).expanduser()
    without_auth = options.pop("without_auth")
    max_request_bytes = options.pop("max_http_request_size")
    install = InstallOptions(
        find_links=tuple(options.pop("find_links")),
        no_index=options.pop("no_index"),
        offline=bool(options.get("offline")),
    )
    with manager_from(options) as manager:
        plugin_dir = manager.settings.plugin_dir
        if plugin_dir is None:
            raise _ServeError("no plugin directory", hint="pass --plugin-dir DIR")
        data_dir.mkdir(parents=True, exist_ok=True)
        env = PluginEnv(default_venv_path(plugin_dir))
        _check_dependency_lock(manager, env, plugin_dir, install)
        _warn_foreign_venv(env, plugin_dir, install)
        activate(env.site_packages)  # the venv's packages import in plugins, now and later
        store = DurableStore(data_dir / "store", flush_interval=flush)
        engine = ProcessingEngine(
            Catalog(data_dir / "catalog.json"),
            store=store,
            source_for=source_factory(manager, env, sources=install),
            plugin_dir=plugin_dir,
            data_dir=data_dir,
            execution_timeout=timeout,
        )
        tokens = None if without_auth else TokenStore(data_dir / "tokens.json")
        if tokens is not None and not tokens.has_admin():
            click.echo(
                "warning: no admin token yet: every request will be refused until you run "
                f"`pluginmgr create token --admin --data-dir {data_dir}` or POST "
                "/api/v3/configure/token/admin (open, without a token, until one exists)",
                err=True,
            )
        state = ServerState(
            engine=engine,
            manager=manager,
            plugin_dir=plugin_dir,
            env=env,
            install_options=install,
            tokens=tokens,
            max_request_bytes=max_request_bytes,
        )
        flight = FlightFront(state)  # Arrow Flight queries, on the same port
        config = uvicorn.Config(
            create_app(state), host=host, port=port, log_level="warning", http=flight.protocol
        )
        server = uvicorn.Server(config)
        stopping = _quiet_signals(server)
        try:
            engine.start()
            click.echo(
                f"pluginmgr serving HTTP and Flight on http://{host}:{port} (data in {data_dir})",
                err=True,
            )
            sys.stderr.flush()
            if not stopping.is_set():
                server.run()  # returns on SIGINT / SIGTERM, requests drained
        finally:
            flight.close()  # running Flight queries finish
            engine.shutdown()  # running plugins finish, the cache is saved
            store.close()  # the WAL is flushed and a snapshot written
        click.echo("pluginmgr stopped cleanly", err=True)
    return 0


def _check_dependency_lock(
    manager: PluginManager, env: PluginEnv, plugin_dir: Path, sources: InstallOptions
) -> None:
    """A stale pylock.toml is reported, never used or re-resolved; a fresh one is synced (a
    no-op when the venv already matches). One stale only because Python was upgraded is
    re-resolved from the same declarations, with a warning. None of this stops the server."""
    from ..dependency_set import DependencySet

    deps = DependencySet(manager, env, plugin_dir, sources=sources)
    try:
        status = deps.status()
        if status.state == "stale" and not status.interpreter_only:
            click.echo(f"warning: {deps.lock_path} is stale, the venv is left as it is:", err=True)
            for change in status.changes:
                click.echo(f"  - {change}", err=True)
            click.echo("  run `pluginmgr deps lock` (then `deps sync`) to re-resolve", err=True)
        elif status.state != "missing" and env.installer is not None:
            result = deps.sync()  # a Python upgrade re-resolves the same declarations first
            if result.relocked:
                click.echo(f"warning: {result.relocked}: re-resolved {deps.lock_path}", err=True)
            if result.ran_installer:
                click.echo(f"synced {env.venv_path} to {deps.lock_path}", err=True)
    except PluginManagerError as exc:
        click.echo(f"warning: the plugin venv was not checked against pylock.toml: {exc}", err=True)


def _warn_foreign_venv(env: PluginEnv, plugin_dir: Path, sources: InstallOptions) -> None:
    """A venv made for another Python is named as such at start (a sync may have just rebuilt
    it), rather than surfacing later as every trigger's "missing dependencies"."""
    from ..venv import venv_python_mismatch, venv_rebuild_command

    problem = venv_python_mismatch(env.venv_path, sys.version_info[:2])
    if problem is not None:
        command = venv_rebuild_command(env.venv_path, plugin_dir, sources=sources)
        click.echo(f"warning: {problem}; rebuild it with `{command}`", err=True)


def _quiet_signals(server: uvicorn.Server) -> threading.Event:
    """SIGTERM/SIGINT set a flag (and ask ``server`` to exit) instead of killing the process.

    uvicorn installs its own handlers while it runs and, once it has shut down, re-raises the
    signal it caught against the handlers it found: ours, so the engine and the WAL still get
    their orderly shutdown and the process exits 0. A signal that arrives after the flag was
    checked but before uvicorn installed its handlers is not lost: ``should_exit`` makes uvicorn
    stop as soon as it has started.
    """
    stopping = threading.Event()

    def handle(signum: int, frame: object) -> None:
        stopping.set()
        server.should_exit = True

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, handle)
    return stopping
