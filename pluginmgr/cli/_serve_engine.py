"""What ``serve`` builds once its options are checked: the engine over its store (the node's
checksummed files checked first, the query pool and catalog limits applied), and the state the
HTTP app serves from. Apart from `serve` so the command reads as its order of start-up."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path

    from engine_runtime import FileLocation, ProcessingEngine, Store

    from ..deps.installers import InstallOptions
    from ..deps.venv import PluginEnv
    from ..fetch.manager import PluginManager
    from ..server.app import ServerState
    from ..server.auth import TokenStore
    from ._serve_plugin_flags import PluginFlags
    from ._store_options import StoreSettings

__all__ = ["build_engine", "server_state"]


def build_engine(
    manager: PluginManager,
    env: PluginEnv | None,
    data_dir: Path | None,
    install: InstallOptions,
    *,
    durable: StoreSettings,
    timeout: float | None,
    memory: int | None,
    files: FileLocation | None = None,
    flags: PluginFlags,
) -> tuple[ProcessingEngine, Store]:
    """The engine over a durable store in the node's ``data_dir`` (its persisted files in
    ``files`` when given: an object store) or one in memory (None); without a plugin
    directory no trigger can start (each is reported as failed)."""
    from engine_runtime import Catalog, DurableStore, MemoryStore, ProcessingEngine
    from engine_runtime.cache import check_cache_files
    from engine_runtime.store.memory import QUERY_MEMORY_BYTES

    # the node's files that carry a checksum are checked before the store deletes anything
    catalog = Catalog(None if data_dir is None else data_dir / "catalog.json", reseal=True)
    if data_dir is not None:
        check_cache_files(data_dir)
    pool = QUERY_MEMORY_BYTES if flags.query_memory is None else flags.query_memory
    opened = (
        MemoryStore(query_memory_bytes=pool)
        if data_dir is None
        else DurableStore(
            data_dir / "store",
            flush_interval=durable.flush_interval,
            gen1_duration=durable.gen1_duration,
            buffer_limit=durable.buffer_limit,
            files=files,
            query_memory_bytes=pool,
        )
    )
    opened.limits = flags.limits  # after the log's replay, which keeps what it holds
    store: Store = opened
    plugin_dir = manager.settings.plugin_dir
    engine = ProcessingEngine(
        catalog,
        store=store,
        source_for=None if plugin_dir is None else flags.source_for(manager, env, install),
        plugin_dir=plugin_dir,
        data_dir=data_dir,
        execution_timeout=timeout,
        venv=None if env is None else env.venv_path,
        plugin_memory_limit=memory,
        max_async=flags.async_limit,
    )
    return engine, store


def server_state(
    engine: ProcessingEngine,
    manager: PluginManager,
    env: PluginEnv | None,
    install: InstallOptions,
    tokens: TokenStore | None,
    *,
    max_request_bytes: int,
    node_id: str,
    query_timeout: float | None,
    allowed_triggers: frozenset[str] | None,
    plugin_dir_only: bool = False,
    authz_disabled: frozenset[str] = frozenset(),
) -> ServerState:
    from ..server.app import ServerState

    return ServerState(
        engine=engine,
        manager=manager,
        plugin_dir=manager.settings.plugin_dir,
        # no venv to install into: nothing is installed, over HTTP or at trigger creation
        env=env if env is not None and env.installer is not None else None,
        install_options=install,
        tokens=tokens,
        max_request_bytes=max_request_bytes,
        node_id=node_id,
        query_timeout=query_timeout or None,
        allowed_triggers=allowed_triggers,
        plugin_dir_only=plugin_dir_only,
        authz_disabled=authz_disabled,
    )
