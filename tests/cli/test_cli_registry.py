"""``pluginmgr index build`` and ``pluginmgr search`` on the fixture plugins."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from registry_index import read_index
from tests.conftest import FIXTURES
from tests.helpers import run_cli


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "plugins"
    shutil.copytree(FIXTURES / "repo" / "influxdata", root)
    return root


def test_index_build_is_deterministic_and_search_finds_plugins(
    capsys: pytest.CaptureFixture[str], tree: Path, tmp_path: Path
) -> None:
    outputs = []
    for run in ("a", "b"):
        target = tmp_path / run / "index.json"
        result = run_cli(
            capsys, "index", "build", str(tree), "-o", str(target),
            "--published-at", "2026-11-23T00:00:00+00:00",
        )  # fmt: skip
        assert result.code == 0, result.err
        outputs.append(target)
    first, second = (p.read_bytes() for p in outputs)
    assert first == second  # same tree, same index and hashes
    built = read_index(first.decode(), source="index.json")
    names = {entry.name for entry in built.plugins}
    assert {"downsampler", "notifier"} <= names
    for entry in built.plugins:
        artifact = outputs[0].parent / entry.artifact_name
        assert (outputs[1].parent / entry.artifact_name).read_bytes() == artifact.read_bytes()

    found = run_cli(capsys, "search", "down", "--index", str(outputs[0]), "--format", "json")
    assert found.code == 0, found.err
    rows = json.loads(found.out)
    assert [row["name"] for row in rows] == ["downsampler"]
    assert rows[0]["triggers"]


def test_bad_metadata_and_missing_index(
    capsys: pytest.CaptureFixture[str], tree: Path, tmp_path: Path
) -> None:
    (tree / "downsampler" / "manifest.toml").write_text("this is = not [toml", encoding="utf-8")
    result = run_cli(capsys, "index", "build", str(tree), "-o", str(tmp_path / "i.json"))
    assert result.code == 1
    assert "manifest.toml" in result.err
    missing = run_cli(capsys, "search", "x", "--index", str(tmp_path / "nope.json"))
    assert missing.code == 1
    assert missing.err.startswith("error: cannot read the index ")
