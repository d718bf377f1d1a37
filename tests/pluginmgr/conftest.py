"""Fixtures shared by the pluginmgr tests: the mirror's source repository, the culprit wheels."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import WAL_PATH
from tests.registry_helpers import add_library_entry

__all__ = ["culprit_wheels", "source_root"]


@pytest.fixture
def source_root(repo_root: Path) -> Path:
    """The fixture repository with wal_plugin listed in its library (it is not upstream)."""
    add_library_entry(repo_root, "wal_plugin", WAL_PATH, required=("notifier",))
    return repo_root


@pytest.fixture(scope="session")
def culprit_wheels(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheels of `tests.culprit_wheels.CULPRIT_PROJECTS`, built once (read-only for tests)."""
    from tests.culprit_wheels import build_culprit_wheels

    projects = tmp_path_factory.mktemp("culprit-projects")
    return build_culprit_wheels(projects, tmp_path_factory.mktemp("culprit-wheels"))
