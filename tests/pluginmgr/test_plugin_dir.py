"""Local plugins: upstream's traversal rules and error strings (engine-behavior.md §2.2-2.3)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pluginmgr import PathTraversalError, PluginManagerError, PluginNotFoundError
from pluginmgr.fetch.plugin_dir import find_local_plugin, validate_path_within_plugin_dir


def traversal(name: str) -> str:
    return (
        f"Path traversal detected: plugin filename '{name}' attempts to access files outside "
        "the plugin directory"
    )


@pytest.mark.parametrize("name", ["plugin.py", "my_plugin/utils.py", "new/dir/file.py"])
def test_paths_inside_are_accepted(plugin_dir: Path, name: str) -> None:
    assert validate_path_within_plugin_dir(plugin_dir, name) == plugin_dir / name


@pytest.mark.parametrize(
    "name", ["../evil.py", "/etc/passwd", "subdir/../../evil.py", "C:\\evil.py", "\\\\srv\\share"]
)
def test_traversal_is_refused_with_upstream_message(plugin_dir: Path, name: str) -> None:
    with pytest.raises(PathTraversalError) as info:
        validate_path_within_plugin_dir(plugin_dir, name)
    assert str(info.value) == traversal(name)


def test_symlink_escape_is_refused(plugin_dir: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "evil.py").write_text("x = 1\n")
    os.symlink(outside, plugin_dir / "link")
    with pytest.raises(PathTraversalError) as info:
        find_local_plugin(plugin_dir, "link/evil.py")
    assert str(info.value) == traversal("link/evil.py")
    # a dangling name below the escaping symlink is refused too (deepest existing ancestor)
    with pytest.raises(PathTraversalError):
        validate_path_within_plugin_dir(plugin_dir, "link/not_there/x.py")


def test_symlink_inside_is_fine(plugin_dir: Path) -> None:
    (plugin_dir / "real.py").write_text("x = 1\n")
    os.symlink(plugin_dir / "real.py", plugin_dir / "alias.py")
    assert find_local_plugin(plugin_dir, "alias.py").path == plugin_dir / "alias.py"


def test_missing_plugin_message(plugin_dir: Path) -> None:
    with pytest.raises(PluginNotFoundError) as info:
        find_local_plugin(plugin_dir, "nope.py")
    assert str(info.value) == f"reading plugin file: Plugin not found: {plugin_dir / 'nope.py'}"


def test_directory_plugin_needs_init(plugin_dir: Path) -> None:
    (plugin_dir / "multi").mkdir()
    (plugin_dir / "multi" / "utils.py").write_text("")
    with pytest.raises(PluginNotFoundError) as info:
        find_local_plugin(plugin_dir, "multi/")
    expected = "reading plugin file: Multi-file plugin directory must contain __init__.py: "
    assert str(info.value) == expected + str(plugin_dir / "multi")
    (plugin_dir / "multi" / "__init__.py").write_text("")
    found = find_local_plugin(plugin_dir, "multi/")
    assert found.is_directory and found.path == plugin_dir / "multi"


def test_no_plugin_dir_message() -> None:
    with pytest.raises(PluginManagerError) as info:
        find_local_plugin(None, "x.py")
    assert info.value.message == "Node not configured with plugin directory"


def test_missing_plugin_dir_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(PluginManagerError, match="cannot use plugin directory"):
        find_local_plugin(tmp_path / "absent", "x.py")


# -- absolute paths into the plugin directory (ours; upstream refuses every absolute path) ------


def test_an_absolute_path_inside_the_plugin_dir_is_the_relative_plugin(plugin_dir: Path) -> None:
    (plugin_dir / "a.py").write_text("x = 1\n")
    (plugin_dir / "pkg").mkdir()
    (plugin_dir / "pkg" / "__init__.py").write_text("")
    found = find_local_plugin(plugin_dir, str(plugin_dir / "a.py"))
    assert found == find_local_plugin(plugin_dir, "a.py")
    package = find_local_plugin(plugin_dir, f"{plugin_dir / 'pkg'}/")
    assert package.is_directory and package.path == plugin_dir / "pkg"


def test_an_absolute_path_through_a_symlinked_plugin_dir_is_accepted(tmp_path: Path) -> None:
    real = tmp_path / "real"
    real.mkdir()
    (real / "a.py").write_text("x = 1\n")
    link = tmp_path / "link"
    os.symlink(real, link)
    # the directory as configured, its canonical form, and another path to it all work
    assert find_local_plugin(link, str(link / "a.py")).path == link / "a.py"
    assert find_local_plugin(link, str(real / "a.py")).path == link / "a.py"
    other = tmp_path / "other"
    os.symlink(real, other)
    assert find_local_plugin(link, str(other / "a.py")).path == link / "a.py"


@pytest.mark.parametrize("outside", ["/etc/passwd", "{tmp}/elsewhere.py", "{plugins}/../x.py"])
def test_an_absolute_path_outside_is_refused_with_upstreams_message(
    plugin_dir: Path, tmp_path: Path, outside: str
) -> None:
    (tmp_path / "elsewhere.py").write_text("x = 1\n")
    (tmp_path / "x.py").write_text("x = 1\n")
    name = outside.format(tmp=tmp_path, plugins=plugin_dir)
    with pytest.raises(PathTraversalError) as info:
        find_local_plugin(plugin_dir, name)
    assert str(info.value) == traversal(name)


def test_an_absolute_path_escaping_through_a_symlink_is_refused(
    plugin_dir: Path, tmp_path: Path
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "evil.py").write_text("x = 1\n")
    os.symlink(outside, plugin_dir / "link")
    os.symlink(outside / "evil.py", plugin_dir / "evil.py")
    for name in (str(plugin_dir / "link" / "evil.py"), str(plugin_dir / "evil.py")):
        with pytest.raises(PathTraversalError) as info:
            find_local_plugin(plugin_dir, name)
        assert str(info.value) == traversal(name)


def test_uploads_still_refuse_every_absolute_path(plugin_dir: Path) -> None:
    name = str(plugin_dir / "a.py")
    with pytest.raises(PathTraversalError) as info:
        validate_path_within_plugin_dir(plugin_dir, name)
    assert str(info.value) == traversal(name)
