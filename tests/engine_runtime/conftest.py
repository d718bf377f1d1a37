"""Fixtures of the engine tests: `make_engine` starts real engines and shuts them down;
`open_store` opens durable stores, abandoned at the end if still open."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from engine_runtime import Catalog, DurableStore, ProcessingEngine
from engine_runtime.host import PluginHost

from .host_helpers import StoreCallbacks, make_host_venv


@pytest.fixture
def make_engine(tmp_path: Path, plugin_dir: Path) -> Iterator[Callable[..., ProcessingEngine]]:
    engines: list[ProcessingEngine] = []

    def make(*, persist_cache: bool = False, **kwargs: Any) -> ProcessingEngine:
        data = tmp_path / "data"
        data.mkdir(exist_ok=True)
        if persist_cache:
            kwargs["data_dir"] = data
        catalog = Catalog(data / "catalog.json")
        engine = ProcessingEngine(catalog, plugin_dir=plugin_dir, **kwargs)
        engine.start()
        engine.create_database("db")  # every test's database (a no-op after a restart)
        engines.append(engine)
        return engine

    yield make
    for engine in engines:
        engine.shutdown()


@pytest.fixture
def opened() -> Iterator[list[DurableStore]]:
    """Stores a test opened; whatever is still open at the end is abandoned (no files left busy)."""
    stores: list[DurableStore] = []
    yield stores
    for store in stores:
        if not store._closed:
            store._abandon()


@pytest.fixture
def open_store(tmp_path: Path, opened: list[DurableStore]) -> Callable[..., DurableStore]:
    """Open a `DurableStore` (default ``tmp_path/store``), flushing every 10 ms, no timed
    snapshots."""

    def factory(data_dir: Path | None = None, **options: Any) -> DurableStore:
        options.setdefault("flush_interval", 0.01)
        options.setdefault("persist_interval", 3600.0)
        store = DurableStore(data_dir or tmp_path / "store", **options)
        opened.append(store)
        return store

    return factory


# --- the plugin host -----------------------------------------------------------------------


@pytest.fixture(scope="session")
def host_python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_host_venv(tmp_path_factory.mktemp("host-venv"))


@pytest.fixture
def callbacks() -> StoreCallbacks:
    return StoreCallbacks()


@pytest.fixture
def host(host_python: Path, plugin_dir: Path, callbacks: StoreCallbacks) -> Iterator[PluginHost]:
    plugin_host = PluginHost(host_python, plugin_dir, None, callbacks)
    yield plugin_host
    plugin_host.close()
