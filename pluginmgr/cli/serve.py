"""``pluginmgr serve``: the durable store, the processing engine and the HTTP API in one process.

Start, in this order: the options are checked (``_serve_options`` takes upstream's
``influxdb3 serve`` flags), then the HTTP port is bound; a port in use is one ``error:`` line
naming HOST:PORT and exit 1, with nothing printed or created before it. Then a missing plugin
directory is created, the plugin venv is created if missing (unless ``--package-manager
disabled``; a failure is a warning), the store replays its write-ahead log, the catalog's
triggers start (one whose plugin cannot be loaded is reported in its log and in ``show
triggers``; the server serves anyway), and one line each names the URL, the node id, the plugin
dir, the venv, the data dir (or ``memory``), the files' bucket (``s3``) and the auth mode. With
``--object-store s3`` the bucket is reached before any directory is created (`_serve_s3`).

Without a plugin directory (unset, or ``INFLUXDB3_PLUGIN_DIR=""``) the Processing Engine is off,
as upstream: writes and queries are served, and what needs the engine answers upstream's
``Node not configured with plugin directory``.

SIGTERM or Ctrl-C: stop accepting, let running plugins finish, save the cache, flush the WAL.
"""

from __future__ import annotations

import contextlib
import signal
import socket
import sys
import tempfile
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import click

from ._common import manager_from, pass_options, settings_options
from ._listen import address_text, listen_on
from ._plugin_policy import plugin_policy_options, trigger_types
from ._quantities import parse_seconds, parse_size
from ._serve_auth import auth_options, auth_settings, recovery_socket, start_recovery, warn_no_admin
from ._serve_engine import build_engine, server_state
from ._serve_env import plugin_env, record_trigger_plugins
from ._serve_options import ServeCommand, ServeError, ServeOptions, serve_options, startup_lines
from ._serve_plugin_flags import PluginFlags, plugin_flags_options
from ._store_options import store_options, store_settings

if TYPE_CHECKING:
    import uvicorn

    from engine_runtime import Store

    from ..server.app import ServerState

__all__ = ["serve"]

_DEFAULT_BIND: Final = "127.0.0.1:8181"
_BACKLOG: Final = 2048  # uvicorn's default


def _bind(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        message = f"invalid --http-bind {text!r}: use HOST:PORT, e.g. {_DEFAULT_BIND}"
        raise ServeError(message)
    return host.strip("[]") or "0.0.0.0", int(port)  # noqa: S104 - ":8181" means every interface


def _listen(host: str, port: int) -> socket.socket:
    """The listening socket, bound before anything else starts (uvicorn serves on it); early
    clients wait in its backlog while the engine starts."""
    hint = "stop what listens there, or pass another --http-bind HOST:PORT"
    return listen_on(host, port, backlog=_BACKLOG, hint=hint)


def _plugin_dir_option(value: str | None) -> Path | None:
    if not value:
        return None  # unset or empty: the Processing Engine is off
    path = Path(value).expanduser()
    if path.exists() and not path.is_dir():
        raise ServeError(f"the plugin directory {path} is a file", hint="pass a directory")
    return path


@click.command("serve", cls=ServeCommand)
@settings_options
@serve_options
@click.option(
    "--http-bind",
    envvar="INFLUXDB3_HTTP_BIND_ADDR",
    default=_DEFAULT_BIND,
    show_default=True,
    help="HOST:PORT to listen on. [env: INFLUXDB3_HTTP_BIND_ADDR]",
)
@auth_options
@store_options
@plugin_policy_options
@plugin_flags_options
@click.option(
    "--execution-timeout",
    default="60s",
    show_default=True,
    help="Interrupt a plugin run after this long (e.g. 30s); 0: no limit. A trigger's "
    "execution_timeout setting overrides it.",
)
@click.option(
    "--plugin-memory-limit",
    default=None,
    help="Memory (address space) each plugin host may use, e.g. 2GiB; a plugin past it gets "
    "MemoryError or its host is replaced. Default: unbounded.",
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
@click.option(
    "--query-timeout",
    envvar="INFLUXDB3_QUERY_TIMEOUT",
    default="60s",
    show_default=True,
    help="Stop a SQL or InfluxQL query after this long (500); 0: no limit. "
    "[env: INFLUXDB3_QUERY_TIMEOUT]",
)
@click.option("--find-links", multiple=True, help="Wheels for plugin dependencies (repeatable).")
@click.option(
    "--no-index", is_flag=True, help="Install plugin dependencies from --find-links only."
)
@click.option(
    "--index-url", default=None, help="Package index for plugin dependencies instead of PyPI."
)
@click.option(
    "--allow-build",
    is_flag=True,
    help="Let an sdist be built when no wheel fits (its build backend locked and run); by "
    "default plugin dependencies are installed from wheels only.",
)
@pass_options
def serve(options: dict[str, Any]) -> int:
    """Run the processing engine with its HTTP API (InfluxDB 3's paths and bodies).

    Takes `influxdb3 serve`'s --node-id, --object-store (file, memory or s3 with --bucket and
    --aws-*), --data-dir, --mode, --virtual-env-location and --package-manager; its flags that do
    not apply here (--cluster-id, --google-*, --azure-*, --object-store-*, ...) are ignored with
    a warning.
    INFLUXDB3_UNSET_VARS names variables to remove from the environment first.
    """
    from ..deps.installers import InstallOptions

    host, port = _bind(options.pop("http_bind"))
    durable = store_settings(options)
    allowed_triggers = trigger_types(options)
    flags = PluginFlags.from_options(options)  # before ServeOptions: it may disable installs
    timeout = parse_seconds("--execution-timeout", options.pop("execution_timeout"))
    memory_text = options.pop("plugin_memory_limit")
    memory = None if memory_text is None else parse_size("--plugin-memory-limit", memory_text)
    plugin_dir = _plugin_dir_option(options["plugin_dir"])
    serving = ServeOptions.from_options(options, plugin_dir=str(plugin_dir) if plugin_dir else None)
    auth = auth_settings(options)
    max_request_bytes = options.pop("max_http_request_size")
    query_timeout = parse_seconds("--query-timeout", options.pop("query_timeout"))
    install = InstallOptions(
        find_links=tuple(options.pop("find_links")),
        index_url=options.pop("index_url"),
        no_index=options.pop("no_index"),
        offline=bool(options.get("offline")),
        allow_build=options.pop("allow_build"),
    ).from_caller()  # relative paths are the caller's: the server's installs run elsewhere
    sock = _listen(host, port)
    with contextlib.ExitStack() as stack:
        stack.callback(sock.close)
        recovery = recovery_socket(auth.recovery)
        if recovery is not None:
            stack.callback(recovery.close)
        for line in (*serving.warnings, *flags.warnings):
            click.echo(line, err=True)
        # the bucket is reached before anything is created: a wrong one fails in one line
        files = None if serving.s3 is None else serving.s3.location(serving.node_id)
        token_dir, node_root = _make_dirs(stack, plugin_dir, serving)
        manager = stack.enter_context(manager_from(options))
        record_trigger_plugins(manager, node_root)  # before the lock is checked against them
        env = plugin_env(manager, serving, install)
        tokens = auth.token_store(token_dir)
        if tokens is not None:
            tokens.check_file()  # a damaged token file refuses the start
        engine, store = build_engine(
            manager,
            env,
            node_root,
            install,
            durable=durable,
            timeout=timeout,
            memory=memory,
            files=files,
            flags=flags,
        )
        state = server_state(
            engine,
            manager,
            env,
            install,
            tokens,
            max_request_bytes=max_request_bytes,
            node_id=serving.node_id,
            query_timeout=query_timeout,
            allowed_triggers=allowed_triggers,
            plugin_dir_only=flags.plugin_dir_only,
            authz_disabled=auth.authz_disabled,
        )
        url = f"http://{address_text(host, port)}"
        _run(state, store, sock, serving, url=url, recovery=recovery)
    click.echo("pluginmgr stopped cleanly", err=True)
    return 0


def _make_dirs(
    stack: contextlib.ExitStack, plugin_dir: Path | None, serving: ServeOptions
) -> tuple[Path, Path | None]:
    """Create a missing plugin directory and the node's data directory; return where tokens
    live (with ``--object-store memory``, a directory removed at exit) and the node's data
    (None in memory)."""
    from ..atomic import private_dir
    from ..node.data_layout import open_node_data
    from ..node.owner_lock import hold_for_serve

    if plugin_dir is not None and not plugin_dir.exists():
        private_dir(plugin_dir)  # code the server runs: 0700, whatever the umask
        click.echo(f"created the plugin directory {plugin_dir}", err=True)
    if serving.data_dir is None:
        temp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="pluginmgr-")))
        return temp, None
    stack.enter_context(hold_for_serve(serving.data_dir, serving.node_id))  # one owner
    node, notice = open_node_data(serving.data_dir, serving.node_id)
    if notice is not None:
        click.echo(notice, err=True)
    return node.tokens.parent, node.root


def _run(
    state: ServerState,
    store: Store,
    sock: socket.socket,
    serving: ServeOptions,
    *,
    url: str,
    recovery: socket.socket | None = None,
) -> None:
    """Start the engine, say what serves where, serve on ``sock`` until a signal."""
    import uvicorn

    from ..server.app import cancel_queries_on_exit, create_app
    from ..server.front import FlightFront

    flight = FlightFront(state)  # Arrow Flight queries, on the same port
    config = uvicorn.Config(create_app(state), log_level="warning", http=flight.protocol)
    server = uvicorn.Server(config)
    cancel_queries_on_exit(server, state)
    stopping = _quiet_signals(server)
    recovering = None
    try:
        state.engine.start()
        for line in startup_lines(state, serving, url=url):
            click.echo(line, err=True)
        warn_no_admin(state.tokens)
        recovering = start_recovery(state.tokens, recovery)
        sys.stderr.flush()
        if not stopping.is_set():
            server.run(sockets=[sock])  # returns on SIGINT / SIGTERM, requests drained
    finally:
        if recovering is not None:
            recovering.stop()
        flight.close()  # running Flight queries finish
        state.engine.shutdown()  # running plugins finish, the cache is saved
        closer = getattr(store, "close", None)
        if closer is not None:
            closer()  # the WAL is flushed and the buffer persisted


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
