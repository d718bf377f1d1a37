"""``--python``: the plugin venv made by another interpreter than the server's, with two real
interpreters of this machine, locks resolved for the venv's Python, offline from local wheels.

The second interpreter is the first of `OTHER_PYTHONS` whose minor version differs from the
running one; without one the tests are skipped, saying which paths were looked at.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Final

import pytest

from pluginmgr.deps.pylock import read_pylock
from pluginmgr.deps.venv import PluginEnv, bundled_python, default_venv_path
from tests.dep_wheels import declare, use
from tests.helpers import installed, run_cli
from tests.helpers import run_offline as deps
from tests.wheels import build_wheel

#: interpreters of this machine, tried in order
OTHER_PYTHONS: Final = (
    Path("/root/.pyenv/versions/3.12.1/bin/python3.12"),
    Path("/root/.pyenv/versions/3.13.0/bin/python3.13"),
    Path("/root/.pyenv/versions/3.10.13/bin/python3.10"),
    Path("/usr/bin/python3.12"),
    Path("/usr/bin/python3.13"),
)


def _minor(python: Path) -> tuple[int, int] | None:
    try:
        done = subprocess.run(
            [str(python), "-c", "import sys; print(*sys.version_info[:2])"],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    major, minor = done.stdout.split()
    return int(major), int(minor)


def _other_python() -> tuple[Path, tuple[int, int]] | None:
    for python in OTHER_PYTHONS:
        found = _minor(python) if python.is_file() else None
        if found is not None and found != sys.version_info[:2]:
            return python, found
    return None


OTHER: Final = _other_python()
pytestmark = [
    pytest.mark.usefixtures("uv_sandbox"),
    pytest.mark.skipif(
        OTHER is None,
        reason="needs a second Python interpreter of another minor version than the running "
        f"one; looked at {', '.join(map(str, OTHER_PYTHONS))}",
    ),
]


def _other() -> tuple[Path, str]:
    assert OTHER is not None
    python, (major, minor) = OTHER
    return python, f"{major}.{minor}"


def _project(root: Path, name: str, version: str, requires_python: str | None) -> Path:
    folder = root / f"{name}-{version}"
    (folder / name.replace("-", "_")).mkdir(parents=True)
    (folder / name.replace("-", "_") / "__init__.py").write_text(f'VERSION = "{version}"\n')
    floor = f'requires-python = "{requires_python}"\n' if requires_python else ""
    text = f'[project]\nname = "{name}"\nversion = "{version}"\n{floor}dependencies = []\n'
    (folder / "pyproject.toml").write_text(text)
    return folder


@pytest.fixture
def wheels(tmp_path: Path) -> Path:
    """pm-new 2.0 needs the other interpreter's Python (or newer), 1.0 any; pm-old is any."""
    _python, version = _other()
    out = tmp_path / "wheels"
    for name, release, floor in (
        ("pm-new", "1.0", None),
        ("pm-new", "2.0", f">={version}"),
        ("pm-old", "1.0", None),
    ):
        build_wheel(_project(tmp_path / "projects", name, release, floor), out)
    return out


def _plugin(plugin_dir: Path) -> None:
    """A plugin in use that needs pm-new, and pm-old only below the other interpreter's Python."""
    _python, version = _other()
    declare(plugin_dir, "p.py", ["pm-new", f"pm-old; python_version < '{version}'"], "pep723")
    use(plugin_dir, "p.py")


def _cfg_version(plugin_dir: Path) -> str:
    cfg = (default_venv_path(plugin_dir) / "pyvenv.cfg").read_text()
    line = next(line for line in cfg.splitlines() if line.startswith("version_info"))
    return ".".join(line.split("=")[1].strip().split(".")[:2])


def test_the_venv_and_its_lock_are_for_the_python_given(
    capsys: pytest.CaptureFixture[str], plugin_dir: Path, wheels: Path
) -> None:
    python, version = _other()
    _plugin(plugin_dir)
    done = deps(
        capsys, "deps", "lock", "--python", str(python), plugin_dir=plugin_dir, wheels=wheels
    )
    assert done.code == 0, done.err
    lock = read_pylock(plugin_dir / "pylock.toml")
    assert lock is not None
    assert lock.python == version and lock.requires_python == f">={version}"
    # pm-new 2.0 requires that Python; pm-old's marker is false for it
    assert {p.name: p.version for p in lock.packages} == {"pm-new": "2.0"}
    synced = deps(
        capsys, "deps", "sync", "--python", str(python), plugin_dir=plugin_dir, wheels=wheels
    )
    assert synced.code == 0, synced.err
    assert _cfg_version(plugin_dir) == version
    assert installed(plugin_dir) == {"pm-new": "2.0"}
    venv_python = default_venv_path(plugin_dir) / "bin" / "python"
    said = subprocess.run(
        [str(venv_python), "-c", "import sys, pm_new; print(sys.version_info[1], pm_new.VERSION)"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert said.stdout.split() == [version.split(".")[1], "2.0"]

    # commands without --python keep the venv's interpreter: nothing is rebuilt or re-resolved
    again = deps(capsys, "deps", "sync", "--format", "json", plugin_dir=plugin_dir, wheels=wheels)
    assert again.code == 0, again.err
    assert '"ran_installer": false' in again.out and '"relocked": null' in again.out
    assert _cfg_version(plugin_dir) == version
    env = PluginEnv(default_venv_path(plugin_dir))
    assert env.python_source == "the venv's" and env.interpreter.version_text == version
    assert env.unsatisfied(["pm-new>=2", f"pm-old; python_version < '{version}'"]) == []


def test_the_same_plugin_locks_otherwise_for_the_servers_python(
    capsys: pytest.CaptureFixture[str], plugin_dir: Path, wheels: Path
) -> None:
    _python, version = _other()
    _plugin(plugin_dir)
    done = deps(capsys, "install", "deps", "p.py", plugin_dir=plugin_dir, wheels=wheels)
    assert done.code == 0, done.err
    lock = read_pylock(plugin_dir / "pylock.toml")
    assert lock is not None
    ours = f"{sys.version_info[0]}.{sys.version_info[1]}"
    assert lock.python == ours and lock.requires_python == f">={ours}"
    expected = {"pm-new": "1.0"} if ours < version else {"pm-new": "2.0"}
    if ours < version:
        expected["pm-old"] = "1.0"
    assert {p.name: p.version for p in lock.packages} == expected
    assert installed(plugin_dir) == expected


def test_python_naming_another_interpreter_than_the_venvs_is_refused(
    capsys: pytest.CaptureFixture[str], plugin_dir: Path, wheels: Path
) -> None:
    python, version = _other()
    _plugin(plugin_dir)
    assert deps(capsys, "install", "deps", "p.py", plugin_dir=plugin_dir, wheels=wheels).code == 0
    lock_before = (plugin_dir / "pylock.toml").read_bytes()
    cfg_before = (default_venv_path(plugin_dir) / "pyvenv.cfg").read_bytes()
    refused = deps(
        capsys, "deps", "lock", "--python", str(python), plugin_dir=plugin_dir, wheels=wheels
    )
    assert refused.code == 1
    venv = default_venv_path(plugin_dir)
    (line,) = refused.err.splitlines()
    assert line.startswith(f"error: {venv} was made by ")
    assert f"not by --python {python} (" in line and f"Python {version})" in line
    assert line.endswith(
        f"(hint: remove it to remake it with that interpreter (rm -rf {venv}), or drop --python)"
    )
    assert (plugin_dir / "pylock.toml").read_bytes() == lock_before
    assert (venv / "pyvenv.cfg").read_bytes() == cfg_before
    # the same interpreter by another path (the venv's own python) is no mismatch
    same = deps(
        capsys,
        "deps",
        "sync",
        "--python",
        str(venv / "bin" / "python"),
        plugin_dir=plugin_dir,
        wheels=wheels,
    )
    assert same.code == 0, same.err


def test_doctor_says_which_python_the_venv_runs(
    capsys: pytest.CaptureFixture[str], plugin_dir: Path, wheels: Path, tmp_path: Path
) -> None:
    python, version = _other()
    _plugin(plugin_dir)
    args = ["--python", str(python)]
    assert (
        deps(capsys, "install", "deps", "p.py", *args, plugin_dir=plugin_dir, wheels=wheels).code
        == 0
    )
    result = run_cli(
        capsys,
        "doctor",
        "--plugin-dir",
        str(plugin_dir),
        "--offline",
        "--format",
        "json",
        "--cache-dir",
        str(tmp_path / "cache"),
    )
    found = {c["name"]: c for c in json.loads(result.out)["checks"]}
    assert found["venv-python"]["status"] == "ok"
    assert f"runs Python {version}" in found["venv-python"]["detail"]
    assert found["pylock"]["status"] == "ok", found["pylock"]
    assert found["venv-sync"]["status"] == "ok", found["venv-sync"]
    assert found["imports:p.py"]["status"] == "ok", found["imports:p.py"]


# -- bad input -----------------------------------------------------------------------------------


def test_a_python_that_is_missing_or_not_an_interpreter_is_refused_leaving_nothing(
    capsys: pytest.CaptureFixture[str], plugin_dir: Path, wheels: Path, tmp_path: Path
) -> None:
    before = sorted(p.name for p in plugin_dir.iterdir())
    absent = deps(
        capsys,
        "install",
        "package",
        "pm-new",
        "--python",
        str(tmp_path / "nope"),
        plugin_dir=plugin_dir,
        wheels=wheels,
    )
    assert absent.code == 2 and "'--python': File" in absent.err and "does not exist" in absent.err
    text = tmp_path / "not-python.txt"
    text.write_text("hello\n")
    script = tmp_path / "fake-python"
    script.write_text("#!/bin/sh\necho not a python\n")
    script.chmod(0o755)
    for bad, why in ((text, "cannot be run"), (script, "is not a Python 3 interpreter")):
        refused = deps(
            capsys,
            "install",
            "package",
            "pm-new",
            "--python",
            str(bad),
            plugin_dir=plugin_dir,
            wheels=wheels,
        )
        assert refused.code == 1, refused.err
        (line,) = refused.err.splitlines()
        assert line.startswith(f"error: --python {bad} {why}"), line
        assert line.endswith(
            "(hint: pass the path of a Python 3 executable, e.g. /usr/bin/python3.11)"
        )
        assert sorted(p.name for p in plugin_dir.iterdir()) == before  # no venv, no files
    assert bundled_python().is_file()


def test_a_trigger_runs_on_the_venvs_python_not_the_servers(
    capsys: pytest.CaptureFixture[str], plugin_dir: Path, wheels: Path, tmp_path: Path
) -> None:
    from starlette.testclient import TestClient

    from pluginmgr.deps.installers import InstallOptions
    from pluginmgr.server import create_app
    from tests.server.server_helpers import TRIGGER, build_state, trigger_body

    python, version = _other()
    answer = (
        "import sys, pm_new\n\n\n"
        "def process_request(influxdb3_local, query, headers, body, args=None):\n"
        "    return {'python': '%d.%d' % sys.version_info[:2], 'pm_new': pm_new.VERSION}\n"
    )
    (plugin_dir / "p.py").write_text(f'# /// script\n# dependencies = ["pm-new"]\n# ///\n{answer}')
    made = deps(
        capsys,
        "install",
        "deps",
        "p.py",
        "--python",
        str(python),
        plugin_dir=plugin_dir,
        wheels=wheels,
    )
    assert made.code == 0, made.err
    options = InstallOptions(find_links=(str(wheels),), no_index=True, offline=True)
    state, close = build_state(tmp_path, plugin_dir, install_options=options)
    try:
        with TestClient(create_app(state)) as client:
            assert client.post("/api/v3/configure/database", json={"db": "db"}).status_code < 300
            created = client.post(TRIGGER, json=trigger_body("p", "p.py", "request:p"))
            assert created.status_code == 200, created.text
            ran = client.get("/api/v3/engine/p")
    finally:
        close()
    assert ran.status_code == 200, ran.text
    assert ran.json() == {"python": version, "pm_new": "2.0"}
    assert _cfg_version(plugin_dir) == version  # the server kept the venv's interpreter
