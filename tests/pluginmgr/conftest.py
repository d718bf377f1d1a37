"""Fixtures shared by the mirror tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import WAL_PATH
from tests.registry_helpers import add_library_entry

__all__ = ["source_root"]


@pytest.fixture
def source_root(repo_root: Path) -> Path:
    """The fixture repository with wal_plugin listed in its library (it is not upstream)."""
    add_library_entry(repo_root, "wal_plugin", WAL_PATH, required=("notifier",))
    return repo_root
