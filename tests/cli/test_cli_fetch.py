"""The command line: fetch, versions, lock, verify, against a real loopback repository."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pluginmgr.testing import RepoServer
from tests.conftest import FIXTURES, NOTIFIER, WAL_PATH, WAL_PLUGIN
from tests.helpers import repo_args, run_cli


@pytest.fixture
def base_args(repo_server: RepoServer, plugin_dir: Path, tmp_path: Path) -> list[str]:
    return repo_args(repo_server.url, plugin_dir, tmp_path / "cache")


def test_fetch_prints_source_sha_and_path(
    capsys: pytest.CaptureFixture[str], base_args: list[str], repo_server: RepoServer
) -> None:
    result = run_cli(capsys, "fetch", WAL_PLUGIN, *base_args)
    assert result.code == 0, result.err
    lines = result.out.splitlines()
    assert lines[0] == WAL_PLUGIN
    assert lines[1] == f"  source  {repo_server.url}{WAL_PATH}"
    assert lines[2].startswith("  sha256  ") and len(lines[2].split()[1]) == 64
    assert Path(lines[3].split(maxsplit=1)[1]).is_file()
    assert lines[4].startswith("  status  downloaded, file, ")


def test_fetch_json_and_lock_and_verify(
    capsys: pytest.CaptureFixture[str], base_args: list[str], plugin_dir: Path
) -> None:
    result = run_cli(capsys, "fetch", WAL_PLUGIN, NOTIFIER, "--format", "json", *base_args)
    assert result.code == 0, result.err
    data = json.loads(result.out)
    assert data["format_version"] == 1 and data["errors"] == []
    assert {p["ref"] for p in data["plugins"]} == {WAL_PLUGIN, NOTIFIER}
    assert (plugin_dir / "plugins.lock").is_file()

    locked = run_cli(capsys, "lock", "--format", "json", *base_args)
    assert locked.code == 0, locked.err
    assert {p["origin"] for p in json.loads(locked.out)["plugins"]} == {"locked"}

    verified = run_cli(capsys, "verify", *base_args)
    assert verified.code == 0
    assert "ok: every stored blob and pinned reference verified" in verified.out


def test_fetch_failure_exits_1_with_one_line_error(
    capsys: pytest.CaptureFixture[str], base_args: list[str], repo_server: RepoServer
) -> None:
    result = run_cli(capsys, "fetch", "gh:nope.py", WAL_PLUGIN, *base_args)
    assert result.code == 1
    assert result.out.startswith(WAL_PLUGIN), "the good reference is still fetched"
    assert result.err == (
        f"error: error fetching plugin from repository: 404 Not Found {repo_server.url}nope.py\n"
    )


def test_bad_reference_is_a_usage_level_error(
    capsys: pytest.CaptureFixture[str], base_args: list[str]
) -> None:
    result = run_cli(capsys, "fetch", "gh:../etc/passwd", *base_args)
    assert result.code == 1
    assert result.err.startswith("error: invalid plugin reference 'gh:../etc/passwd': ")
    assert result.err.count("\n") == 1


def test_versions_lists_each_content(
    capsys: pytest.CaptureFixture[str], base_args: list[str], repo_root: Path
) -> None:
    assert run_cli(capsys, "fetch", WAL_PLUGIN, *base_args).code == 0
    (repo_root / WAL_PATH).write_text("# changed\n")
    assert run_cli(capsys, "lock", "--upgrade", *base_args).code == 0
    result = run_cli(capsys, "versions", WAL_PLUGIN, "--format", "json", *base_args)
    versions = json.loads(result.out)["versions"]
    assert len(versions) == 2
    assert versions[1]["size"] == len("# changed\n")
    pretty = run_cli(capsys, "versions", WAL_PLUGIN, *base_args)
    assert versions[0]["sha256"][:20] in pretty.out.replace("\n", "") or "sha256" in pretty.out


def test_offline_fetch_names_the_missing_reference(
    capsys: pytest.CaptureFixture[str], base_args: list[str]
) -> None:
    result = run_cli(capsys, "fetch", NOTIFIER, "--offline", *base_args)
    assert result.code == 1
    assert result.err.startswith(f"error: {NOTIFIER} is not pinned in ")


def test_verify_reports_tampering_and_exits_1(
    capsys: pytest.CaptureFixture[str], base_args: list[str]
) -> None:
    fetched = run_cli(capsys, "fetch", WAL_PLUGIN, "--format", "json", *base_args)
    path = Path(json.loads(fetched.out)["plugins"][0]["path"])
    path.chmod(0o644)
    path.write_text("tampered")
    result = run_cli(capsys, "verify", "--format", "json", *base_args)
    assert result.code == 1
    data = json.loads(result.out)
    assert data["ok"] is False and len(data["corrupted"]) == 1
    assert data["lock_problems"][0]["ref"] == WAL_PLUGIN


def test_unsupported_plugin_repo_is_refused(
    capsys: pytest.CaptureFixture[str], plugin_dir: Path, tmp_path: Path
) -> None:
    result = run_cli(
        capsys,
        "fetch",
        WAL_PLUGIN,
        "--plugin-repo",
        "ftp://mirror/",
        "--cache-dir",
        str(tmp_path / "c"),
        "--plugin-dir",
        str(plugin_dir),
    )
    assert result.code == 1
    assert "unsupported plugin repository 'ftp://mirror/'" in result.err


def test_env_vars_configure_repo_and_plugin_dir(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    repo_server: RepoServer,
    plugin_dir: Path,
) -> None:
    monkeypatch.setenv("INFLUXDB3_PLUGIN_REPO", repo_server.url.rstrip("/"))
    monkeypatch.setenv("INFLUXDB3_PLUGIN_DIR", str(plugin_dir))
    result = run_cli(capsys, "fetch", WAL_PLUGIN, "--format", "json")
    assert result.code == 0, result.err
    assert json.loads(result.out)["plugins"][0]["source"] == f"{repo_server.url}{WAL_PATH}"
    assert (plugin_dir / "plugins.lock").is_file()


def test_local_plugin_is_hashed_in_place_not_pinned(
    capsys: pytest.CaptureFixture[str], base_args: list[str], plugin_dir: Path
) -> None:
    (plugin_dir / "mine.py").write_text("def process_writes(a, b, args=None): pass\n")
    result = run_cli(capsys, "fetch", "mine.py", "--format", "json", *base_args)
    assert result.code == 0, result.err
    [plugin] = json.loads(result.out)["plugins"]
    assert plugin["origin"] == "local" and plugin["path"] == str(plugin_dir / "mine.py")
    assert not (plugin_dir / "plugins.lock").exists()


def test_registry_reference_through_a_file_registry_and_a_bad_scheme(
    capsys: pytest.CaptureFixture[str], base_args: list[str], tmp_path: Path
) -> None:
    from tests.registry_helpers import publish_registry

    registry = tmp_path / "registry"
    publish_registry(
        FIXTURES / "repo" / "influxdata",
        registry,
        artifacts_url=registry.as_uri() + "/",
        artifacts_dir=".",
    )
    index_url = (registry / "index.json").as_uri()
    ref = "registry:downsampler>=1.0,<2"
    result = run_cli(capsys, "fetch", ref, *base_args, "--plugin-registry", index_url)
    assert result.code == 0, result.err
    assert "downsampler" in result.out

    bad = run_cli(capsys, "fetch", ref, *base_args, "--plugin-registry", "ftp://x/index.json")
    assert bad.code == 1
    assert "unsupported plugin registry" in bad.err


def test_progress_bar_on_a_terminal_for_many_refs_and_large_files(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    base_args: list[str],
    repo_root: Path,
) -> None:
    import io

    from rich.console import Console

    from pluginmgr.cli import _fetch_output

    terminal = io.StringIO()
    console = Console(file=terminal, force_terminal=True, width=120)
    monkeypatch.setattr(_fetch_output, "err_console", lambda: console)
    (repo_root / "big.py").write_bytes(b"# padding\n" * 150_000)  # 1.5 MB
    refs = [
        WAL_PLUGIN,
        NOTIFIER,
        "gh:influxdata/downsampler/downsampler.py",
        "gh:examples/hello_request/hello_request.py",
        "gh:big.py",
    ]
    result = run_cli(capsys, "fetch", *refs, "--format", "json", *base_args)
    assert result.code == 0, result.err
    drawn = terminal.getvalue()
    assert "fetching 5 plugins" in drawn
    assert "gh:big.py" in drawn, "a file over 1 MiB gets its own bar"
    assert len(json.loads(result.out)["plugins"]) == 5, "stdout stays clean JSON"


def test_no_progress_bar_when_not_a_terminal(
    capsys: pytest.CaptureFixture[str], base_args: list[str]
) -> None:
    refs = [WAL_PLUGIN, NOTIFIER, "gh:influxdata/downsampler/downsampler.py"]
    result = run_cli(capsys, "fetch", *refs, *base_args)
    assert result.code == 0 and result.err == ""
