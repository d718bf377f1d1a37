"""pylock.toml is read and written losslessly: what uv, pip or a person wrote comes back.

"Unchanged" is semantic: ``tomllib.loads(dump(parse(x)))`` equals ``tomllib.loads(x)`` once
pluginmgr's own parts are set aside (its ``tool.pluginmgr`` tables and ``created-by``, which is
``"pluginmgr"`` by design) and packages are put in name order (the writer sorts them).
"""

from __future__ import annotations

import datetime as dt
import math
import os
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from packaging.utils import canonicalize_name
from packaging.version import Version

from pluginmgr.deps.installers import find_uv
from pluginmgr.deps.pylock import (
    LockedFile,
    LockedPackage,
    PyLock,
    Requester,
    parse_pylock,
)
from pluginmgr.deps.pylock_local import absolute_files, python_floor, relative_files
from pluginmgr.deps.pylock_writer import dump_pylock
from pluginmgr.deps.toml_writer import toml_lines, toml_value
from pluginmgr.errors import LockfileError
from tests.wheels import FIXTURE_PACKAGES, build_wheel

EVERY_FIELD = Path(__file__).resolve().parents[2] / "fixtures" / "pylock" / "every-field.toml"


def _theirs(data: dict[str, Any]) -> dict[str, Any]:
    """``data`` without pluginmgr's parts, packages in name order."""
    data = dict(data)
    data.pop("created-by", None)
    tool = {k: v for k, v in data.pop("tool", {}).items() if k != "pluginmgr"}
    if tool:
        data["tool"] = tool
    packages = []
    for raw in data.pop("packages", []):
        package = dict(raw)
        ptool = {k: v for k, v in package.pop("tool", {}).items() if k != "pluginmgr"}
        if ptool:
            package["tool"] = ptool
        packages.append(package)
    data["packages"] = sorted(packages, key=lambda p: canonicalize_name(p["name"]))
    return data


def assert_lossless(text: str) -> str:
    dumped = dump_pylock(parse_pylock(text))
    assert _theirs(tomllib.loads(dumped)) == _theirs(tomllib.loads(text))
    assert dump_pylock(parse_pylock(dumped)) == dumped  # a fixed point: no churn in review
    return dumped


def test_every_field_pep_751_defines_survives_a_round_trip() -> None:
    text = EVERY_FIELD.read_text(encoding="utf-8")
    dumped = assert_lossless(text)
    data = tomllib.loads(dumped)
    attrs = next(p for p in data["packages"] if p["name"] == "attrs")
    assert attrs["wheels"][0]["upload-time"] == dt.datetime(
        2025, 3, 13, 11, 10, 21, 123456, tzinfo=dt.UTC
    )
    offset = dt.timezone(-dt.timedelta(hours=5, minutes=30))
    assert attrs["wheels"][2]["upload-time"] == dt.datetime(
        2025, 3, 13, 11, 10, 21, 500000, tzinfo=offset
    )
    assert "name" not in attrs["wheels"][1]  # no name was written where none was read
    assert attrs["tool"]["uv"]["checked"] == dt.datetime(1979, 5, 27, 7, 32)  # local date-time
    assert data["tool"]["uv"]["sources"][0]["when"] == dt.date(2025, 1, 2)
    assert data["tool"]["uv"]["settings"]["nested"]["deep"][4] is True


def test_created_by_is_ours_and_the_resolver_is_kept() -> None:
    lock = parse_pylock(EVERY_FIELD.read_text(encoding="utf-8"))
    assert lock.resolved_by == "uv"
    data = tomllib.loads(dump_pylock(lock))
    assert data["created-by"] == "pluginmgr"
    assert data["tool"]["pluginmgr"]["resolved-by"] == "uv"
    assert parse_pylock(dump_pylock(lock)).resolved_by == "uv"


def test_pluginmgr_facts_survive_beside_the_other_tools() -> None:
    lock = parse_pylock(EVERY_FIELD.read_text(encoding="utf-8"))
    again = parse_pylock(dump_pylock(lock))
    assert again.by_name()["attrs"].required_by == ("plugin_a.py",)
    assert [(r.name, r.location) for r in again.requesters] == [("plugin_a.py", "plugin_a.py")]
    assert again.constraints == ("attrs<26",)
    assert again.by_name()["local-project"].version == ""  # PEP 751: version is optional
    assert again.by_name()["sdist-only"].marker == ""


@pytest.mark.usefixtures("uv_sandbox")
def test_uvs_own_output_survives(tmp_path: Path, dep_wheels: Path, wheelhouse: Path) -> None:
    extras = build_wheel(FIXTURE_PACKAGES / "pm_extras", tmp_path / "extras").parent
    (tmp_path / "req.in").write_text("pm-extras[all]\npm-liby\npm-utils<0.4; python_version>'3'\n")
    command = [str(find_uv()[0]), "pip", "compile", "--format", "pylock.toml"]
    command += ["--generate-hashes", "--offline", "--no-index", "-q", "--no-config"]
    for folder in (dep_wheels, wheelhouse, extras):
        command += ["--find-links", str(folder)]
    command += ["req.in", "-o", "pylock.toml"]
    subprocess.run(command, cwd=tmp_path, check=True, capture_output=True, timeout=120)
    text = (tmp_path / "pylock.toml").read_text(encoding="utf-8")
    assert 'created-by = "uv"' in text
    dumped = assert_lossless(text)
    assert len(tomllib.loads(dumped)["packages"]) == len(tomllib.loads(text)["packages"]) >= 5


def test_pips_own_output_survives(tmp_path: Path, wheelhouse: Path) -> None:
    import pip

    if Version(pip.__version__) < Version("25.1"):
        pytest.skip(f"pip {pip.__version__} has no `pip lock` (25.1 has)")
    command = [sys.executable, "-m", "pip", "lock", "--no-index", "--find-links", str(wheelhouse)]
    command += ["--disable-pip-version-check", "--no-cache-dir", "pm-alpha", "-o", "pylock.toml"]
    env = {**os.environ, "PIP_CONFIG_FILE": os.devnull}
    subprocess.run(command, cwd=tmp_path, env=env, check=True, capture_output=True, timeout=120)
    text = (tmp_path / "pylock.toml").read_text(encoding="utf-8")
    assert 'created-by = "pip"' in text and "[[packages.wheels]]" in text  # tables, not inline
    dumped = assert_lossless(text)
    assert parse_pylock(dumped).resolved_by == "pip"


@pytest.mark.parametrize(
    ("bad", "problem"),
    [
        ('wheels = [{ url = "https://x/a-1-py3-none-any.whl" }]', "no hashes"),
        ('wheels = [{ url = "https://x/a.whl", size = -1, hashes = { sha256 = "0" } }]', "size"),
        ('wheels = [{ url = "https://x/a.whl", size = "1", hashes = { sha256 = "0" } }]', "size"),
        ("tool = 3", "expected a table"),
    ],
)
def test_a_damaged_entry_is_one_error_naming_where(bad: str, problem: str) -> None:
    text = f'lock-version = "1.0"\n[[packages]]\nname = "a"\nversion = "1"\n{bad}\n'
    with pytest.raises(LockfileError, match=problem) as caught:
        parse_pylock(text, source="p/pylock.toml")
    assert caught.value.message.startswith("p/pylock.toml: packages[0]")


@pytest.mark.parametrize(
    ("uv_wrote", "floor"),
    [
        (">=3.11.7", ">=3.11"),
        (">=3.12.0rc1", ">=3.12"),
        (">=3.11", ">=3.11"),
        (">=3.11.2,<4", ">=3.11.2,<4"),
        ("==3.11.7", "==3.11.7"),
        (None, None),
    ],
)
def test_requires_python_is_the_major_minor_floor(uv_wrote: str | None, floor: str | None) -> None:
    assert python_floor(uv_wrote) == floor


# -- properties ---------------------------------------------------------------------------------

_OFFSETS = st.integers(min_value=-23 * 60 - 59, max_value=23 * 60 + 59).map(
    lambda minutes: dt.timezone(dt.timedelta(minutes=minutes))
)
_SCALARS = st.one_of(
    st.text(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=False),
    st.booleans(),
    st.datetimes(timezones=st.none() | _OFFSETS | st.just(dt.UTC)),
    st.dates(),
    st.times(),
)
_VALUES = st.recursive(
    _SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


@given(_VALUES)
@settings(max_examples=300, deadline=None)
@example({"0\n": ""})  # a key ending in a newline is not bare (a regex `$` once said it was)
def test_every_toml_value_reads_back_equal(value: Any) -> None:
    assert tomllib.loads(f"k = {toml_value(value)}")["k"] == value


@given(st.floats(allow_nan=True, allow_infinity=True))
def test_floats_read_back_equal_nan_included(value: float) -> None:
    back = tomllib.loads(f"k = {toml_value(value)}")["k"]
    assert math.isnan(back) if math.isnan(value) else back == value


_TABLES = st.dictionaries(st.text(min_size=1), _VALUES, max_size=4)


@given(package_extra=_TABLES, file_extra=_TABLES, tools=_TABLES)
@settings(max_examples=100, deadline=None)
def test_unknown_keys_and_tool_tables_survive(
    package_extra: dict[str, Any], file_extra: dict[str, Any], tools: dict[str, Any]
) -> None:
    reserved = {"name", "version", "marker", "wheels", "sdist", "tool", "hashes", "url", "path"}
    package_extra = {k: v for k, v in package_extra.items() if k not in reserved}
    file_extra = {k: v for k, v in file_extra.items() if k not in {*reserved, "size"}}
    tools = {k: v for k, v in tools.items() if k != "pluginmgr"}
    wheel = {"url": "https://x/a-1-py3-none-any.whl", "hashes": {"sha256": "00"}, **file_extra}
    package = {"name": "a", "version": "1", **package_extra, "wheels": [wheel], "tool": tools}
    document = {"lock-version": "1.0", "packages": [package], "tool": tools}
    assert_lossless("\n".join(toml_lines(document)) + "\n")


def test_local_files_and_locations_are_relative_to_the_lock(tmp_path: Path) -> None:
    lock_dir = tmp_path / "node" / "plugins"
    wheel = tmp_path / "node" / "wheels" / "a-1-py3-none-any.whl"
    local = wheel.as_uri()
    remote = LockedFile("b-1-py3-none-any.whl", {"sha256": "b"}, url="https://x/b.whl")
    lock = PyLock(
        packages=(
            LockedPackage("a", "1", wheels=(LockedFile(wheel.name, {"sha256": "a"}, url=local),)),
            LockedPackage("b", "1", wheels=(remote,)),
        ),
        requesters=(
            Requester("x.py", "pep723", ("a",), str(lock_dir / "ops" / "x.py")),
            Requester("gh:d/p", "manifest.toml", ("b",), str(tmp_path / "store" / "p")),
            Requester("gh:d/q.py", "manifest.toml", ("b",), "manifest.toml"),
        ),
    )
    relative = relative_files(lock, lock_dir)
    assert relative.packages[0].wheels[0].path == "../wheels/a-1-py3-none-any.whl"
    assert relative.packages[0].wheels[0].url is None
    assert relative.packages[1].wheels[0] == remote  # an index's file keeps its url
    assert [r.location for r in relative.requesters] == ["ops/x.py", None, "manifest.toml"]
    back = absolute_files(relative, lock_dir)
    assert back.packages[0].wheels[0].url == wheel.as_uri()
