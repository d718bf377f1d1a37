"""The ``influxdb3 serve`` options `pluginmgr serve` takes, resolved and checked before it binds.

* ``--node-id`` (``INFLUXDB3_NODE_IDENTIFIER_PREFIX``): this node's name, shown at start and in
  ``/ping``; its WAL and catalog live in ``DATA_DIR/NODE_ID/`` (`pluginmgr.node.data_layout`). The
  host name by default.
* ``--object-store file|memory|s3`` (``INFLUXDB3_OBJECT_STORE``): ``file`` keeps the WAL,
  catalog, tokens and cache under ``--data-dir`` (``INFLUXDB3_DB_DIR``, alias
  ``PLUGINMGR_DATA_DIR``) and needs it when given explicitly; ``memory`` (and
  ``memory-throttled``) keeps nothing after exit; ``s3`` moves the store's persisted files to a
  bucket and needs ``--data-dir`` for the rest (`_serve_s3`). ``google`` and ``azure`` are
  refused. Not given: ``file`` under the default data dir.
* ``--mode`` (``INFLUXDB3_ENTERPRISE_MODE`` or ``INFLUXDB3_MODE``): Enterprise's comma-separated
  ``all``, ``ingest``, ``query``, ``compact``, ``process``. One pluginmgr node does everything;
  ``process`` needs ``--plugin-dir``.
* ``--virtual-env-location`` (``VIRTUAL_ENV``, as upstream): the plugin venv. ``VIRTUAL_ENV``
  naming the venv pluginmgr itself runs in is not taken for it (installs would change the
  runtime); plugins then get ``PLUGIN_DIR/venv``.
* ``--python PATH``: the interpreter a missing plugin venv is made with (an existing venv of
  another interpreter is refused with a hint).
* ``--package-manager uv|pip|disabled`` (``INFLUXDB3_PACKAGE_MANAGER``; upstream's ``discover``
  means uv): ``disabled`` refuses every install, over HTTP (403) and at trigger creation.
* ``INFLUXDB3_UNSET_VARS``: names, separated by commas or spaces, removed from the environment
  before any option reads it, as upstream's Docker entrypoint does; so
  ``INFLUXDB3_UNSET_VARS=INFLUXDB3_PLUGIN_DIR`` turns the Processing Engine off.
* The upstream flags in `IGNORED_FLAGS` (cluster id, other object stores, tuning) are
  accepted and ignored, with one warning each; their environment variables are not read.

`startup_lines` is what serve prints once it listens: the URL, then the node id, plugin dir,
venv, data dir (or ``memory``), the files' bucket with ``s3``, the unset variables and the auth
mode, one line each.
"""

from __future__ import annotations

import os
import re
import socket
import sys
from collections.abc import Callable, MutableMapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, TypeVar

import click
from click.core import ParameterSource

from ..deps.installers import PACKAGE_MANAGERS
from ..deps.venv import default_venv_path
from ..errors import PluginManagerError
from ..node.data_layout import check_node_id
from ._common import python_option
from ._serve_s3 import S3_OPTIONS, S3Settings, s3_settings

if TYPE_CHECKING:
    from ..server.app import ServerState

__all__ = [
    "ENV_UNSET_VARS",
    "IGNORED_FLAGS",
    "MODES",
    "OBJECT_STORES",
    "ServeCommand",
    "ServeError",
    "ServeOptions",
    "ignored_flag_warnings",
    "serve_options",
    "startup_lines",
    "unset_environment",
]

F = TypeVar("F", bound=Callable[..., Any])

ENV_UNSET_VARS: Final = "INFLUXDB3_UNSET_VARS"
#: ``--mode`` values (InfluxDB 3 Enterprise); ``all`` is the default
MODES: Final = ("all", "ingest", "query", "compact", "process")
#: ``--object-store`` values: all but the last two are served
OBJECT_STORES: Final = ("file", "memory", "memory-throttled", "s3", "google", "azure")
_UNSET_SEPARATORS: Final = re.compile(r"[,\s]+")
_UNSET_META: Final = "pluginmgr.serve.unset"
_STORE_WHY: Final = "no google or azure object store"
_TUNE_WHY: Final = "no such object store tuning"
_TUNING_WHY: Final = "no such tuning"
_LICENSE_WHY: Final = "no license"
#: upstream ``influxdb3 serve`` flags that do not apply: (flag, takes a value, why)
IGNORED_FLAGS: Final = (
    ("--cluster-id", True, "one node, no cluster"),
    ("--aws-credentials-file", True, "pass --aws-access-key-id and --aws-secret-access-key"),
    ("--google-service-account", True, _STORE_WHY),
    ("--azure-storage-account", True, _STORE_WHY),
    ("--azure-storage-access-key", True, _STORE_WHY),
    ("--azure-endpoint", True, _STORE_WHY),
    ("--azure-allow-http", False, _STORE_WHY),
    ("--object-store-connection-limit", True, _TUNE_WHY),
    ("--object-store-http2-only", False, _TUNE_WHY),
    ("--object-store-http2-max-frame-size", True, _TUNE_WHY),
    ("--object-store-max-retries", True, _TUNE_WHY),
    ("--object-store-retry-timeout", True, _TUNE_WHY),
    ("--object-store-cache-endpoint", True, _TUNE_WHY),
    ("--license-email", True, _LICENSE_WHY),
    ("--license-type", True, _LICENSE_WHY),
    ("--num-cores", True, _TUNING_WHY),
    ("--wal-snapshot-size", True, _TUNING_WHY),
    ("--wal-max-write-buffer-size", True, _TUNING_WHY),
    ("--snapshotted-wal-files-to-keep", True, _TUNING_WHY),
    ("--log-filter", True, "it logs warnings to stderr"),
    ("--disable-telemetry-upload", False, "no telemetry"),
    ("--telemetry-endpoint", True, "no telemetry"),
)


class ServeError(PluginManagerError):
    """A serve option that cannot work."""


def _ignored_key(flag: str) -> str:
    return "ignored_" + flag.removeprefix("--").replace("-", "_")


def unset_environment(environ: MutableMapping[str, str]) -> tuple[str, ...]:
    """Remove the variables ``INFLUXDB3_UNSET_VARS`` names (commas or spaces between them).

    :returns: the names that were set and are now removed, in the order given.
    """
    removed: list[str] = []
    for name in _UNSET_SEPARATORS.split(environ.get(ENV_UNSET_VARS, "")):
        if name and name in environ:
            del environ[name]
            removed.append(name)
    return tuple(removed)


class ServeCommand(click.Command):
    """``serve``: applies ``INFLUXDB3_UNSET_VARS`` before click reads any option's variable."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        ctx.meta[_UNSET_META] = unset_environment(os.environ)
        return super().parse_args(ctx, args)


_OPTIONS: Final = [
    click.option(
        "--node-id",
        envvar="INFLUXDB3_NODE_IDENTIFIER_PREFIX",
        default=None,
        help="This node's name. [env: INFLUXDB3_NODE_IDENTIFIER_PREFIX; default: the host name]",
    ),
    click.option(
        "--object-store",
        envvar="INFLUXDB3_OBJECT_STORE",
        type=click.Choice(OBJECT_STORES, case_sensitive=False),
        default=None,
        help="file (in --data-dir), memory (lost at exit) or s3 (the persisted files in --bucket, "
        "the WAL in --data-dir). [env: INFLUXDB3_OBJECT_STORE; default: file]",
    ),
    click.option(
        "--data-dir",
        envvar=["INFLUXDB3_DB_DIR", "PLUGINMGR_DATA_DIR"],
        default=None,
        help="WAL, persisted files, catalog, tokens and the saved cache. [env: INFLUXDB3_DB_DIR or "
        "PLUGINMGR_DATA_DIR; default: ~/.pluginmgr/data]",
    ),
    click.option(
        "--mode",
        envvar=["INFLUXDB3_ENTERPRISE_MODE", "INFLUXDB3_MODE"],
        default="all",
        show_default=True,
        help="Comma-separated all, ingest, query, compact, process: one node does them all; "
        "process needs --plugin-dir. [env: INFLUXDB3_ENTERPRISE_MODE]",
    ),
    click.option(
        "--virtual-env-location",
        envvar="VIRTUAL_ENV",
        type=click.Path(file_okay=False),
        default=None,
        help="The plugin venv. [env: VIRTUAL_ENV; default: PLUGIN_DIR/venv]",
    ),
    python_option,
    *S3_OPTIONS,
    click.option(
        "--package-manager",
        envvar="INFLUXDB3_PACKAGE_MANAGER",
        type=click.Choice(PACKAGE_MANAGERS),
        default="uv",
        show_default=True,
        help="uv, pip, or disabled (every install refused). [env: INFLUXDB3_PACKAGE_MANAGER]",
    ),
    *(
        click.option(flag, _ignored_key(flag), default=None, hidden=True)
        if takes_value
        else click.option(flag, _ignored_key(flag), is_flag=True, default=False, hidden=True)
        for flag, takes_value, _why in IGNORED_FLAGS
    ),
]


def serve_options(func: F) -> F:
    """Add the ``influxdb3 serve`` options (taken and ignored ones) to a command."""
    for option in reversed(_OPTIONS):
        func = option(func)
    return func


def ignored_flag_warnings(options: dict[str, Any]) -> list[str]:
    """One warning per ignored flag given (pops them all from ``options``)."""
    warnings = []
    for flag, _takes_value, why in IGNORED_FLAGS:
        value = options.pop(_ignored_key(flag))
        if value not in (None, False):
            warnings.append(f"warning: {flag} does not apply to pluginmgr ({why}); ignored")
    return warnings


def _modes(text: str) -> tuple[str, ...]:
    modes = tuple(part.strip().lower() for part in text.split(",") if part.strip())
    unknown = [mode for mode in modes if mode not in MODES]
    if unknown or not modes:
        message = f"invalid --mode {text!r}: use {', '.join(MODES)} (comma-separated)"
        raise ServeError(message)
    return modes


def _default_node_id() -> str:
    return socket.gethostname().split(".")[0] or "pluginmgr"


def _optional_path(value: str | None) -> Path | None:
    return None if value is None else Path(value)


def _venv_location(value: str | None, ctx: click.Context) -> tuple[Path | None, str]:
    """The venv the option names and where it came from; VIRTUAL_ENV naming the runtime's
    own venv does not count (installing there would change pluginmgr itself)."""
    if value is None:
        return None, "default"
    path = Path(value).expanduser()
    if ctx.get_parameter_source("virtual_env_location") != ParameterSource.ENVIRONMENT:
        return path, "flag"
    if path.resolve() == Path(sys.prefix).resolve():
        return None, "default"
    return path, "env:VIRTUAL_ENV"


@dataclass(frozen=True, slots=True)
class ServeOptions:
    """The ``influxdb3 serve`` options, resolved.

    :param data_dir: where everything is kept; None with ``--object-store memory``.
    :param s3: with ``--object-store s3``, where the store's files are kept instead.
    :param venv_source: ``"flag"``, ``"env:VIRTUAL_ENV"`` or ``"default"``.
    :param python: ``--python``: the interpreter a missing venv is made with.
    :param unset: the variables ``INFLUXDB3_UNSET_VARS`` removed.
    :param warnings: one line each, printed once the server listens.
    """

    node_id: str
    object_store: str
    data_dir: Path | None
    modes: tuple[str, ...]
    venv_location: Path | None
    venv_source: str
    python: Path | None
    package_manager: str
    unset: tuple[str, ...]
    warnings: tuple[str, ...]
    s3: S3Settings | None = None

    @property
    def in_memory(self) -> bool:
        return self.data_dir is None

    @classmethod
    def from_options(cls, options: dict[str, Any], *, plugin_dir: str | None) -> ServeOptions:
        """Resolve (and pop) the options `serve_options` added; `ServeError` when they cannot
        work together (``plugin_dir`` is the ``--plugin-dir`` value, None when unset)."""
        ctx = click.get_current_context()
        warnings = ignored_flag_warnings(options)
        modes = _modes(options.pop("mode"))
        if "process" in modes and plugin_dir is None:
            message = "--mode process runs plugins, and there is no plugin directory"
            raise ServeError(message, hint="pass --plugin-dir DIR or set INFLUXDB3_PLUGIN_DIR")
        if set(modes) - {"all", "process"}:
            warnings.append(
                f"warning: --mode {','.join(modes)}: a pluginmgr node does every role "
                "(ingest, query, process); serving all"
            )
        given_dir = options.pop("data_dir")
        store_name = options.pop("object_store")
        s3, s3_warnings = s3_settings(options, (store_name or "file").lower())
        warnings += s3_warnings
        store, data_dir = _object_store(store_name, given_dir)
        if store == "memory":
            warnings.append(
                "warning: --object-store memory: nothing is written to disk; every database, "
                "trigger and token is lost at exit"
            )
            if given_dir is not None:
                warnings.append("warning: --data-dir is not used with --object-store memory")
        venv, venv_source = _venv_location(options.pop("virtual_env_location"), ctx)
        if venv is not None and plugin_dir is None:
            warnings.append("warning: --virtual-env-location is not used: no plugin directory")
        node_id = (options.pop("node_id") or "").strip() or _default_node_id()
        check_node_id(node_id)  # before the bind: nothing is created for a bad one
        return cls(
            node_id=node_id,
            object_store=store,
            data_dir=data_dir,
            modes=modes,
            venv_location=venv,
            venv_source=venv_source,
            python=_optional_path(options.pop("python", None)),
            package_manager=options.pop("package_manager"),
            unset=ctx.meta.get(_UNSET_META, ()),
            warnings=tuple(warnings),
            s3=s3,
        )


def _object_store(store: str | None, data_dir: str | None) -> tuple[str, Path | None]:
    """(``"file"``, ``"s3"`` or ``"memory"``, the data dir or None)."""
    kind = (store or "file").lower()
    if kind in ("google", "azure"):
        message = f"--object-store {kind} is not supported by pluginmgr"
        hint = "use --object-store s3 --bucket NAME, file --data-dir DIR, or memory"
        raise ServeError(message, hint=hint)
    if kind.startswith("memory"):
        return "memory", None
    if data_dir is None and store is not None:
        what = "a data directory" if kind == "file" else "a data directory for its WAL"
        message = f"--object-store {kind} needs {what}"
        raise ServeError(message, hint="pass --data-dir DIR or set INFLUXDB3_DB_DIR")
    default = Path.home() / ".pluginmgr" / "data"
    return kind, Path(data_dir).expanduser() if data_dir else default


def _venv_text(state: ServerState, serving: ServeOptions) -> str:
    plugin_dir = state.plugin_dir
    if plugin_dir is None:
        return "none"
    path = serving.venv_location or default_venv_path(plugin_dir)
    if state.env is None:
        return f"{path} (package installs disabled)"
    manager = "uv" if serving.package_manager == "discover" else serving.package_manager
    origin = "; from VIRTUAL_ENV" if serving.venv_source == "env:VIRTUAL_ENV" else ""
    return f"{path} ({manager}{origin})"


def startup_lines(state: ServerState, serving: ServeOptions, *, url: str) -> list[str]:
    """What serves where: one line each, aligned under the first; auth comes last."""
    plugin_dir = state.plugin_dir
    rows = [
        ("node id", serving.node_id),
        (
            "plugin dir",
            str(plugin_dir)
            if plugin_dir is not None
            else "none: the Processing Engine is off (--plugin-dir DIR turns it on)",
        ),
        ("venv", _venv_text(state, serving)),
        (
            "data dir",
            str(serving.data_dir / serving.node_id)  # this node's part of the data dir
            if serving.data_dir is not None
            else "memory (lost at exit)",
        ),
    ]
    if serving.s3 is not None:
        rows.append(("files", serving.s3.describe(serving.node_id)))
    if serving.unset:
        rows.append(("unset env", ", ".join(serving.unset)))
    open_paths = ", ".join(sorted(state.authz_disabled))
    auth = "token required" + (f" (except {open_paths}: --disable-authz)" if open_paths else "")
    rows.append(("auth", "none (--without-auth)" if state.tokens is None else auth))
    lines = [f"pluginmgr serving HTTP and Flight on {url}"]
    lines += [f"  {label + ':':<12}{value}" for label, value in rows]
    return lines
