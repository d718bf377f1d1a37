"""``mirror sync`` / ``mirror verify`` through click (the group is not registered in `cli` yet)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from pluginmgr.cli.mirror import mirror
from pluginmgr.testing import RepoServer, reply
from tests.conftest import NOTIFIER_PATH
from tests.helpers import run_cli
from tests.registry_helpers import publish_registry


def test_sync_prints_a_summary_and_a_resync_changes_nothing(
    repo_server: RepoServer, tmp_path: Path
) -> None:
    dest = tmp_path / "mirror"
    runner = CliRunner()
    first = runner.invoke(mirror, ["sync", repo_server.url, str(dest), "--retries", "0"])
    assert first.exit_code == 0, first.output
    assert f"mirrored {repo_server.url} -> {dest}" in first.stdout
    assert "unchanged, 0 deleted" in first.stdout
    assert (dest / NOTIFIER_PATH).is_file()

    again = runner.invoke(
        mirror, ["sync", repo_server.url, str(dest), "--retries", "0", "--format", "json"]
    )
    assert again.exit_code == 0, again.output
    data = json.loads(again.stdout)["mirror"]
    assert data["ok"] is True and data["new"] == [] and data["updated"] == []
    assert data["bytes_downloaded"] == 0 and NOTIFIER_PATH in data["unchanged"]


def test_sync_exits_1_and_names_a_failed_file(repo_server: RepoServer, tmp_path: Path) -> None:
    repo_server.overrides["/" + NOTIFIER_PATH] = lambda handler: reply(handler, 503, b"down")
    dest = tmp_path / "mirror"
    result = CliRunner().invoke(
        mirror, ["sync", repo_server.url, str(dest), "--retries", "0", "--concurrency", "2"]
    )
    assert result.exit_code == 1
    assert f"failed  {NOTIFIER_PATH}" in result.stderr
    assert (dest / "influxdata/downsampler/downsampler.py").is_file()


def test_sync_plugins_filter_and_file_source(repo_root: Path, tmp_path: Path) -> None:
    dest = tmp_path / "mirror"
    result = CliRunner().invoke(
        mirror, ["sync", repo_root.as_uri(), str(dest), "--plugins", "notifier"]
    )
    assert result.exit_code == 0, result.output
    assert (dest / NOTIFIER_PATH).is_file()
    assert not (dest / "influxdata/downsampler").exists()


def test_sync_plugins_match_in_any_case_and_by_directory(
    repo_root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dest = tmp_path / "mirror"
    picked = "Notifier, influxdata/Downsampler/"
    done = run_cli(capsys, "mirror", "sync", repo_root.as_uri(), str(dest), "--plugins", picked)
    assert done.code == 0, done.err
    assert (dest / NOTIFIER_PATH).is_file()
    assert (dest / "influxdata/downsampler/downsampler.py").is_file()

    refused = run_cli(
        capsys, "mirror", "sync", repo_root.as_uri(), str(dest), "--plugins", "dwnsampler"
    )
    assert refused.code == 1 and len(refused.err.strip().splitlines()) == 1
    assert "no plugin named dwnsampler: did you mean downsampler?" in refused.err
    assert "(it has: downsampler, notifier)" in refused.err


def test_verify_passes_then_names_a_tampered_file(repo_server: RepoServer, tmp_path: Path) -> None:
    dest = tmp_path / "mirror"
    runner = CliRunner()
    synced = runner.invoke(mirror, ["sync", repo_server.url, str(dest), "--retries", "0"])
    assert synced.exit_code == 0, synced.output

    ok = runner.invoke(mirror, ["verify", str(dest)])
    assert ok.exit_code == 0, ok.output
    assert ok.stdout.startswith("ok: ")

    (dest / NOTIFIER_PATH).write_text("# tampered\n")
    bad = runner.invoke(mirror, ["verify", str(dest)])
    assert bad.exit_code == 1
    assert f"tampered  {NOTIFIER_PATH}" in bad.stderr

    as_json = runner.invoke(mirror, ["verify", str(dest), "--format", "json"])
    assert as_json.exit_code == 1
    assert json.loads(as_json.stdout)["tampered"] == [NOTIFIER_PATH]


def test_sync_a_registry_index_url_then_a_missing_one(
    repo_root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    artifacts = publish_registry(
        repo_root / "influxdata", repo_root, artifacts_url=".", artifacts_dir="."
    )
    dest, runner = tmp_path / "mirror", CliRunner()

    result = runner.invoke(mirror, ["sync", (repo_root / "index.json").as_uri(), str(dest)])

    assert result.exit_code == 0, result.output
    assert f"files   {len(artifacts) + 1} new, 0 updated" in result.stdout
    assert not (dest / NOTIFIER_PATH).exists()
    missing = run_cli(capsys, "mirror", "sync", (tmp_path / "none.json").as_uri(), str(dest))
    assert missing.code == 1 and len(missing.err.strip().splitlines()) == 1
    assert "cannot discover plugins at" in missing.err and "404 Not Found" in missing.err
