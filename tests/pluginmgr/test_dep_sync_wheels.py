"""``deps sync`` installs wheels only; building needs ``--allow-build``, and then the build
backends are locked too. A file whose hash does not match is refused by name, never built
around. Real uv (and pip) runs against local folders and a loopback index, offline."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import shutil
import tomllib
import zipfile
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest

from pluginmgr.deps.pylock import parse_pylock
from pluginmgr.deps.pylock_writer import dump_pylock
from pluginmgr.deps.venv import PluginEnv, default_venv_path
from pluginmgr.testing import RepoServer
from tests.dep_wheels import declare, use
from tests.helpers import CliResult, run_cli
from tests.wheels import build_sdist

pytestmark = pytest.mark.usefixtures("uv_sandbox")


@pytest.fixture
def wheels(buildable_wheels: Path) -> Path:
    return buildable_wheels


def deps(capsys: pytest.CaptureFixture[str], plugin_dir: Path, *args: str, links: str) -> CliResult:
    sources = ["--no-index", "--find-links", links]
    if not links.startswith("http"):
        sources.append("--offline")
    return run_cli(capsys, "deps", *args, "--plugin-dir", str(plugin_dir), *sources)


def installed(plugin_dir: Path) -> dict[str, str]:
    return PluginEnv(default_venv_path(plugin_dir)).installed()


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def tamper(wheel: Path) -> None:
    """Replace ``wheel`` with another valid wheel of the same name (one file added)."""
    with zipfile.ZipFile(wheel, "a") as archive:
        archive.writestr("evil.py", "print('not what was locked')\n")


# -- sdists: refused by name, built only with --allow-build and a locked backend -------------


def test_an_sdist_only_package_is_refused_by_name_at_lock(
    capsys: pytest.CaptureFixture[str], plugin_dir: Path, wheels: Path
) -> None:
    declare(plugin_dir, "a.py", ["pm-source"], "pep723")
    use(plugin_dir, "a.py")
    refused = deps(capsys, plugin_dir, "lock", links=str(wheels))
    assert refused.code == 1
    assert "pm-source has no wheel for this interpreter" in refused.err
    assert "nothing was locked" in refused.err and "--allow-build" in refused.err
    assert "no set of packages satisfies" not in refused.err  # not a conflict of plugins
    assert not (plugin_dir / "pylock.toml").exists()


def test_allow_build_locks_the_backend_and_sync_builds_with_it_only(
    capsys: pytest.CaptureFixture[str], plugin_dir: Path, wheels: Path
) -> None:
    declare(plugin_dir, "a.py", ["pm-source", "pm-libx"], "pep723")
    use(plugin_dir, "a.py")
    locked = deps(capsys, plugin_dir, "lock", "--allow-build", links=str(wheels))
    assert locked.code == 0, locked.err
    data = tomllib.loads((plugin_dir / "pylock.toml").read_text())
    source = next(p for p in data["packages"] if p["name"] == "pm-source")
    assert "wheels" not in source and source["sdist"]["path"].endswith("pm_source-1.0.0.tar.gz")
    assert source["tool"]["pluginmgr"]["build-requires"] == ["pm-backend>=1.0"]
    backend = sha256(wheels / "pm_backend-1.0.0-py3-none-any.whl")
    pins = data["tool"]["pluginmgr"]["build-constraints"]
    assert pins == [f"pm-backend==1.0.0 --hash=sha256:{backend}"]
    again = deps(capsys, plugin_dir, "lock", "--allow-build", links=str(wheels))
    assert again.code == 0, again.err  # uv re-resolves with the pinned backend as a constraint
    assert "(no change)" in again.out

    refused = deps(capsys, plugin_dir, "sync", links=str(wheels))
    assert refused.code == 1
    assert "pm-source 1.0.0 in pylock.toml has no wheel (only the sdist" in refused.err
    assert "--allow-build" in refused.err
    assert installed(plugin_dir) == {}

    built = deps(capsys, plugin_dir, "sync", "--allow-build", links=str(wheels))
    assert built.code == 0, built.err
    assert installed(plugin_dir) == {"pm-libx": "2.0", "pm-source": "1.0.0"}
    marker = next(default_venv_path(plugin_dir).glob("lib/python*/site-packages/pm_source"))
    assert "built-by-pm-backend-1.0.0" in (marker / "_built_by.py").read_text()


def test_a_build_backend_other_than_the_locked_one_is_refused(
    capsys: pytest.CaptureFixture[str],
    plugin_dir: Path,
    wheels: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    declare(plugin_dir, "a.py", ["pm-source"], "pep723")
    use(plugin_dir, "a.py")
    assert deps(capsys, plugin_dir, "lock", "--allow-build", links=str(wheels)).code == 0
    tamper(wheels / "pm_backend-1.0.0-py3-none-any.whl")
    monkeypatch.setenv("UV_CACHE_DIR", str(tmp_path / "another-node-cache"))  # nothing built yet
    refused = deps(capsys, plugin_dir, "sync", "--allow-build", links=str(wheels))
    assert refused.code == 1
    assert (
        "pm-backend 1.0.0: its wheel (a build backend pylock.toml pins) does not match"
        in refused.err
    )
    assert installed(plugin_dir) == {}


# -- hash mismatches from an index: one error, by name; the sdist beside it is never built ----


@pytest.fixture
def index(tmp_path: Path, wheels: Path) -> RepoServer:
    """A loopback flat index: the locked wheels, pm-liby's replaced by another valid wheel
    of the same name, and a buildable pm-liby sdist beside it (what a fallback would build)."""
    root = Path(shutil.copytree(wheels, tmp_path / "served"))
    tamper(root / "pm_liby-1.0-py3-none-any.whl")
    project = tmp_path / "pm_liby_src"
    (project / "pm_liby").mkdir(parents=True)
    (project / "pm_liby" / "__init__.py").write_text("BUILT = True\n")
    (project / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["pm-backend"]\nbuild-backend = "pm_backend"\n'
        '[project]\nname = "pm-liby"\nversion = "1.0"\ndependencies = ["pm-libx>=2"]\n'
    )
    build_sdist(project, root)
    links = "".join(f'<a href="{p.name}">{p.name}</a>\n' for p in sorted(root.iterdir()))
    page = f"<html><body>\n{links}</body></html>\n".encode()

    def html(handler: BaseHTTPRequestHandler) -> None:  # pip reads only text/html pages
        handler.send_response(200)
        handler.send_header("Content-Type", "text/html")
        handler.send_header("Content-Length", str(len(page)))
        handler.end_headers()
        handler.wfile.write(page)

    server = RepoServer(root)
    server.overrides["/links.html"] = html
    return server


@pytest.mark.parametrize("manager", ["uv", "pip"])
def test_a_hash_mismatch_from_an_index_is_one_error_by_name(
    capsys: pytest.CaptureFixture[str],
    plugin_dir: Path,
    wheels: Path,
    index: RepoServer,
    manager: str,
) -> None:
    declare(plugin_dir, "a.py", ["pm-liby"], "pep723")
    use(plugin_dir, "a.py")
    assert deps(capsys, plugin_dir, "lock", links=str(wheels)).code == 0
    expected = sha256(wheels / "pm_liby-1.0-py3-none-any.whl")
    got = sha256(index.root / "pm_liby-1.0-py3-none-any.whl")
    with index:
        links = f"{index.url}links.html"
        refused = deps(capsys, plugin_dir, "sync", "--package-manager", manager, links=links)
    assert refused.code == 1
    first = refused.err.splitlines()[0]
    assert first.startswith("error: pm-liby 1.0: pm_liby-1.0-py3-none-any.whl does not match")
    assert f"expected sha256 {expected[:16]}…, got {got[:16]}…" in first
    assert "nothing was built instead" in first
    assert "pm-liby" not in installed(plugin_dir)
    assert not any(r.path.endswith(".tar.gz") for r in index.requests)  # no sdist was fetched


# -- a PEP 691 JSON index: what PyPI answers, upload-time and size included -------------------


def json_index(root: Path, hashes: dict[str, str] | None = None) -> RepoServer:
    """Serve ``root``'s wheels and sdists as a PEP 691 JSON simple index (``/simple/NAME/``),
    each file with its ``upload-time`` and ``size``; ``hashes`` overrides a file's advertised
    sha256 (an index that lists another file than the lock)."""
    server = RepoServer(root)
    by_project: dict[str, list[Path]] = {}
    for path in sorted(root.iterdir()):
        name = path.name.split("-")[0].replace("_", "-")
        by_project.setdefault(name, []).append(path)
    for name, paths in by_project.items():
        files = []
        for path in paths:
            entry = {
                "filename": path.name,
                "url": f"/{path.name}",
                "hashes": {"sha256": (hashes or {}).get(path.name, sha256(path))},
                "upload-time": "2026-11-12T12:33:34.123456Z",
                "size": path.stat().st_size,
            }
            if path.suffix == ".whl":  # PEP 658: the METADATA beside it (uv reads no range)
                metadata = _wheel_metadata(path)
                server.overrides[f"/{path.name}.metadata"] = _answer(metadata, "text/plain")
                entry["core-metadata"] = {"sha256": hashlib.sha256(metadata).hexdigest()}
            files.append(entry)
        body = json.dumps({"meta": {"api-version": "1.1"}, "name": name, "files": files})
        server.overrides[f"/simple/{name}/"] = _answer(body.encode())
    return server


def _wheel_metadata(wheel: Path) -> bytes:
    with zipfile.ZipFile(wheel) as archive:
        name = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
        return archive.read(name)


def _answer(
    body: bytes, content_type: str = "application/vnd.pypi.simple.v1+json"
) -> Callable[[BaseHTTPRequestHandler], None]:
    def handler(request: BaseHTTPRequestHandler) -> None:
        request.send_response(200)
        request.send_header("Content-Type", content_type)
        request.send_header("Content-Length", str(len(body)))
        request.end_headers()
        request.wfile.write(body)

    return handler


def test_a_lock_from_an_index_keeps_upload_time_and_size(
    capsys: pytest.CaptureFixture[str], plugin_dir: Path, wheels: Path
) -> None:
    declare(plugin_dir, "a.py", ["pm-liby"], "pep723")
    use(plugin_dir, "a.py")
    with json_index(wheels) as index:
        simple = f"{index.url}simple/"
        result = run_cli(
            capsys, "deps", "lock", "--plugin-dir", str(plugin_dir), "--index-url", simple
        )
        assert result.code == 0, result.err
        text = (plugin_dir / "pylock.toml").read_text()
        data = tomllib.loads(text)
        liby = next(p for p in data["packages"] if p["name"] == "pm-liby")
        wheel = liby["wheels"][0]  # uv keeps whole seconds of upload-time, and no `index`
        assert wheel["upload-time"] == dt.datetime(2026, 11, 12, 12, 33, 34, tzinfo=dt.UTC)
        assert wheel["url"] == f"{index.url}pm_liby-1.0-py3-none-any.whl"
        assert wheel["size"] == (wheels / "pm_liby-1.0-py3-none-any.whl").stat().st_size
        assert "upload-time = 2026-11-12T12:33:34Z" in text
        assert dump_pylock(parse_pylock(text)) == text  # read and written back unchanged
        synced = run_cli(
            capsys, "deps", "sync", "--plugin-dir", str(plugin_dir), "--index-url", simple
        )
    assert synced.code == 0, synced.err
    assert installed(plugin_dir) == {"pm-libx": "2.0", "pm-liby": "1.0"}


def test_an_index_listing_another_hash_is_refused_by_name_not_built(
    capsys: pytest.CaptureFixture[str], plugin_dir: Path, wheels: Path, index: RepoServer
) -> None:
    declare(plugin_dir, "a.py", ["pm-liby"], "pep723")
    use(plugin_dir, "a.py")
    assert deps(capsys, plugin_dir, "lock", links=str(wheels)).code == 0
    root = index.root  # pm-liby's wheel replaced, a buildable sdist beside it
    tampered = sha256(root / "pm_liby-1.0-py3-none-any.whl")
    with json_index(root, {"pm_liby-1.0-py3-none-any.whl": tampered}) as served:
        simple = f"{served.url}simple/"
        refused = run_cli(
            capsys, "deps", "sync", "--plugin-dir", str(plugin_dir), "--index-url", simple
        )
    assert refused.code == 1
    first = refused.err.splitlines()[0]
    assert first.startswith("error: pm-liby 1.0: "), first
    assert "nothing was installed" in first and "nothing was built" in first
    assert "pm-liby" not in installed(plugin_dir)
    assert not any(r.path.endswith(".tar.gz") for r in served.requests)


def test_the_pip_installer_refuses_to_build_with_unenforced_backend_pins(
    capsys: pytest.CaptureFixture[str], plugin_dir: Path, wheels: Path
) -> None:
    declare(plugin_dir, "a.py", ["pm-source"], "pep723")
    use(plugin_dir, "a.py")
    assert deps(capsys, plugin_dir, "lock", "--allow-build", links=str(wheels)).code == 0
    pip = ("--package-manager", "pip", "--allow-build")
    refused = deps(capsys, plugin_dir, "sync", *pip, links=str(wheels))
    assert refused.code == 1
    assert "which the pip installer cannot enforce" in refused.err
    assert "--package-manager uv" in refused.err
    assert "pm-source" not in installed(plugin_dir)
