"""Fixtures of the CLI tests: one real node per module (`tests.node_helpers`), copied for
each test that changes it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.node_helpers import Node, running_node


@pytest.fixture(scope="module")
def node_template(
    tmp_path_factory: pytest.TempPathFactory, dep_wheels: Path, uv_cache: Path
) -> Iterator[Node]:
    with running_node(tmp_path_factory, dep_wheels, uv_cache) as node:
        yield node


@pytest.fixture
def node(node_template: Node, tmp_path: Path) -> Node:
    """A private copy of the module's node (tests change it)."""
    return node_template.copy_to(tmp_path / "node")
