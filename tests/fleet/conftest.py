"""A fleet of three real ``pluginmgr serve`` nodes on loopback, started once per module, and
helpers to write fleet files and plugins beside them."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import NO_INDEX
from tests.server.server_helpers import Served, serve

__all__ = ["FleetNodes"]

#: the roles of the three nodes, in order
ROLES = ("ingest", "query", "process")


@dataclass
class FleetNodes:
    """The nodes' URLs and plugin directories (what an operator could edit by hand)."""

    served: list[Served]
    plugin_dirs: list[Path]
    #: the wheels the nodes install from (``--find-links``, ``--no-index``)
    wheels: Path

    @property
    def urls(self) -> list[str]:
        return [s.url for s in self.served]


def _node_env(uv_cache: Path) -> dict[str, str]:
    """The environment of a node process: no developer settings, uv offline-safe."""
    scrubbed = ("INFLUXDB3_", "PLUGINMGR_", "UV_", "PIP_", "HTTP_PROXY", "HTTPS_PROXY")
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith(scrubbed)}
    env.update(
        UV_CACHE_DIR=str(uv_cache),
        UV_NO_CONFIG="1",
        UV_PYTHON_DOWNLOADS="never",
        UV_INDEX_URL=NO_INDEX,
        PIP_INDEX_URL=NO_INDEX,
        UV_HTTP_RETRIES="0",
    )
    return env


@pytest.fixture(scope="module")
def fleet_nodes(
    tmp_path_factory: pytest.TempPathFactory, dep_wheels: Path, uv_cache: Path
) -> Iterator[FleetNodes]:
    root = tmp_path_factory.mktemp("fleet-nodes")
    env = _node_env(uv_cache)
    with contextlib.ExitStack() as stack:
        served, dirs = [], []
        for role in ROLES:
            plugin_dir = root / role / "plugins"
            plugin_dir.mkdir(parents=True)
            args = ["--node-id", role, "--object-store", "memory"]
            args += ["--find-links", str(dep_wheels), "--no-index"]
            served.append(stack.enter_context(serve(plugin_dir, root / role, *args, env=env)))
            dirs.append(plugin_dir)
        yield FleetNodes(served, dirs, dep_wheels)
