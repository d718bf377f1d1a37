"""A real node for the ``list`` and ``doctor`` tests: a plugin dir with pinned and local
plugins, both locks and a synced venv, a store, and a server data dir with a catalog."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from engine_runtime import Catalog
from pluginmgr.cli import main
from pluginmgr.testing import RepoServer
from tests.conftest import FIXTURES, NOTIFIER, WAL_PLUGIN
from tests.dep_wheels import declare, use

TRIGGERS = [
    ("wal", WAL_PLUGIN, "all_tables"),
    ("mine", "a.py", "every:10s"),
    ("pkg", "./pkg", "request:pkg"),
]


@dataclass(frozen=True)
class Node:
    """A node's directories: plugin dir (plugins, both locks, venv), store, server data dir."""

    root: Path
    repo_url: str
    wheels: Path

    @property
    def plugin_dir(self) -> Path:
        return self.root / "plugins"

    @property
    def cache(self) -> Path:
        return self.root / "cache"

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def venv(self) -> Path:
        return self.plugin_dir / "venv"

    def args(self, *, repo: str | None = None) -> list[str]:
        return [
            "--plugin-dir",
            str(self.plugin_dir),
            "--cache-dir",
            str(self.cache),
            "--plugin-repo",
            repo or self.repo_url,
            "--retries",
            "0",
            "--connect-timeout",
            "2",
            "--read-timeout",
            "2",
        ]

    def copy_to(self, target: Path) -> Node:
        shutil.copytree(self.root, target, symlinks=True)
        return Node(target, self.repo_url, self.wheels)

    def uv_pip(self, *args: str) -> None:
        """Change the venv behind pluginmgr's back (needs the `uv_sandbox` fixture)."""
        from uv import find_uv_bin

        python = str(self.venv / "bin" / "python")
        command = [find_uv_bin(), "pip", *args, "--python", python]
        subprocess.run(command, check=True, capture_output=True, timeout=60)


def write_catalog(
    data_dir: Path, triggers: Iterable[tuple[str, str, str]], *, disabled: Iterable[str] = ()
) -> Path:
    """A server data dir whose catalog.json holds ``triggers`` (name, plugin, spec) in db."""
    data_dir.mkdir(parents=True, exist_ok=True)
    catalog = Catalog(data_dir / "catalog.json")
    catalog.create_database("db")
    off = set(disabled)
    for name, plugin, spec in triggers:
        catalog.create_trigger("db", name, plugin, spec, disabled=name in off)
    return data_dir


def build_node(root: Path, repo_url: str, wheels: Path) -> Node:
    """Two pinned plugins (one with a pinned manifest.toml), a local file declaring pm-liby, a
    local package, pylock.toml and a venv synced to it, and a catalog with three triggers."""
    node = Node(root, repo_url, wheels)
    node.plugin_dir.mkdir(parents=True)
    declare(node.plugin_dir, "a.py", ["pm-liby"], "pep723")
    (node.plugin_dir / "pkg").mkdir()
    (node.plugin_dir / "pkg" / "__init__.py").write_text(
        "def process_request(influxdb3_local, query_parameters, request_headers, request_body, "
        "args=None):\n    return {}\n"
    )
    sources = ["--no-index", "--find-links", str(wheels)]
    use(node.plugin_dir, "a.py", "./pkg", reason="trigger")  # as creating the triggers did
    assert main(["fetch", WAL_PLUGIN, NOTIFIER, *node.args()]) == 0
    assert main(["deps", "lock", *node.args(), *sources]) == 0  # pins the notifier's manifest
    assert main(["deps", "sync", "--offline", *node.args(), *sources]) == 0
    write_catalog(node.data_dir, TRIGGERS)
    return node


@contextmanager
def running_node(
    tmp_path_factory: pytest.TempPathFactory, dep_wheels: Path, uv_cache: Path
) -> Iterator[Node]:
    """`build_node` in a fresh directory, with uv sandboxed; its repository serves until exit."""
    repo = Path(shutil.copytree(FIXTURES / "repo", tmp_path_factory.mktemp("repo") / "repo"))
    root = tmp_path_factory.mktemp("node") / "node"
    with RepoServer(repo) as server:
        with pytest.MonkeyPatch.context() as env:
            for name in list(os.environ):
                if name.startswith(("INFLUXDB3_", "PLUGINMGR_", "UV_", "PIP_")):
                    env.delenv(name)
            env.setenv("UV_CACHE_DIR", str(uv_cache))
            env.setenv("UV_NO_CONFIG", "1")
            env.setenv("UV_PYTHON_DOWNLOADS", "never")
            env.setenv("PIP_CONFIG_FILE", os.devnull)
            env.setenv("XDG_CACHE_HOME", str(root.parent / "xdg"))
            node = build_node(root, server.url, dep_wheels)
        yield node
