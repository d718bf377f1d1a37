"""Fixtures of the engine tests: `make_engine` starts real engines and shuts them down."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from engine_runtime import Catalog, ProcessingEngine


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
