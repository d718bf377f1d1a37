"""The offline wheel builder: valid, deterministic wheels that real uv installs with no network."""

from __future__ import annotations

import base64
import hashlib
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from uv import find_uv_bin

from tests.wheels import FIXTURE_PACKAGES, build_wheel, build_wheelhouse

ALL_FOUR = ("pm_alpha", "pm_beta", "pm_beta_2", "pm_gamma")


def uv_env(tmp_path: Path) -> dict[str, str]:
    """The caller's env minus uv/venv/pip settings, with a private uv cache and no downloads."""
    dropped = ("UV_", "PIP_", "VIRTUAL_ENV", "PYTHONPATH", "CONDA_PREFIX")
    env = {name: value for name, value in os.environ.items() if not name.startswith(dropped)}
    env.update(UV_CACHE_DIR=str(tmp_path / "uv-cache"), UV_PYTHON_DOWNLOADS="never")
    return env


def uv(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    command = [find_uv_bin(), "--no-config", *args]
    done = subprocess.run(
        command, env=uv_env(tmp_path), capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, f"{command} failed:\n{done.stdout}\n{done.stderr}"
    return done


def install_offline(tmp_path: Path, wheelhouse: Path, *requirements: str) -> Path:
    """Create a fresh venv with uv and install ``requirements`` from ``wheelhouse`` only."""
    venv = tmp_path / "venv"
    uv(tmp_path, "venv", "--offline", "--python", sys.executable, str(venv))
    python = venv / "bin" / "python"
    uv(
        tmp_path,
        "pip",
        "install",
        "--python",
        str(python),
        "--offline",
        "--no-index",
        "--find-links",
        str(wheelhouse),
        *requirements,
    )
    return python


def run_python(python: Path, code: str) -> str:
    done = subprocess.run(
        [str(python), "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    return done.stdout.strip()


def test_wheel_names_and_metadata(tmp_path: Path) -> None:
    wheel = build_wheel(FIXTURE_PACKAGES / "pm_alpha", tmp_path)
    assert wheel.name == "pm_alpha-1.0.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel) as archive:
        assert archive.namelist() == [
            "pm_alpha/__init__.py",
            "pm_alpha-1.0.0.dist-info/METADATA",
            "pm_alpha-1.0.0.dist-info/WHEEL",
            "pm_alpha-1.0.0.dist-info/RECORD",
        ]
        metadata = archive.read("pm_alpha-1.0.0.dist-info/METADATA").decode()
        wheel_file = archive.read("pm_alpha-1.0.0.dist-info/WHEEL").decode()
    assert "Metadata-Version: 2.1\nName: pm-alpha\nVersion: 1.0.0\n" in metadata
    assert "Requires-Python: >=3.8\n" in metadata
    assert "Requires-Dist: pm-beta>=1.0\n" in metadata
    assert "Wheel-Version: 1.0\n" in wheel_file
    assert "Root-Is-Purelib: true\nTag: py3-none-any\n" in wheel_file


def test_record_lists_every_file_with_its_hash_and_size(tmp_path: Path) -> None:
    wheel = build_wheel(FIXTURE_PACKAGES / "pm_beta", tmp_path)
    with zipfile.ZipFile(wheel) as archive:
        record = archive.read("pm_beta-1.0.0.dist-info/RECORD").decode().splitlines()
        rows = [line.split(",") for line in record]
        assert sorted(row[0] for row in rows) == sorted(archive.namelist())
        for name, digest, size in rows:
            if name.endswith("/RECORD"):
                assert (digest, size) == ("", "")
                continue
            data = archive.read(name)
            expected = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
            assert (digest, size) == (f"sha256={expected.decode()}", str(len(data)))


def test_builds_are_byte_identical_whatever_the_mtimes(tmp_path: Path) -> None:
    first = build_wheel(FIXTURE_PACKAGES / "pm_alpha", tmp_path / "one").read_bytes()
    second = build_wheel(FIXTURE_PACKAGES / "pm_alpha", tmp_path / "two").read_bytes()
    copy = tmp_path / "copy"
    shutil.copytree(FIXTURE_PACKAGES / "pm_alpha", copy)
    (copy / "pm_alpha" / "__pycache__").mkdir()
    (copy / "pm_alpha" / "__pycache__" / "x.pyc").write_bytes(b"junk")
    os.utime(copy / "pm_alpha" / "__init__.py", (2_000_000_000, 2_000_000_000))
    third = build_wheel(copy, tmp_path / "three").read_bytes()
    assert first == second == third


def test_missing_import_package_is_reported(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "pm-x"\nversion = "1"\n')
    with pytest.raises(FileNotFoundError, match=r"pm_x/__init__\.py"):
        build_wheel(tmp_path, tmp_path / "out")


def test_wheelhouse_defaults(tmp_path: Path) -> None:
    house = build_wheelhouse(tmp_path / "wheels")
    assert sorted(path.name for path in house.iterdir()) == [
        "pm_alpha-1.0.0-py3-none-any.whl",
        "pm_beta-1.0.0-py3-none-any.whl",
        "pm_gamma-0.1.0-py3-none-any.whl",
    ]


def test_uv_installs_alpha_and_its_dependency_offline(tmp_path: Path) -> None:
    house = build_wheelhouse(tmp_path / "wheels")
    python = install_offline(tmp_path, house, "pm-alpha")
    assert run_python(python, "import pm_alpha; print(pm_alpha.greet())") == "alpha+beta-1.0"


def test_uv_installs_the_pinned_second_version(tmp_path: Path) -> None:
    house = build_wheelhouse(tmp_path / "wheels", ALL_FOUR)
    python = install_offline(tmp_path, house, "pm-beta==2.0.0", "pm-gamma")
    code = "import pm_beta, pm_gamma; print(pm_beta.VALUE, pm_gamma.VALUE)"
    assert run_python(python, code) == "beta-2.0 gamma"
