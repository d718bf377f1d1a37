"""The loader: upstream's single-file and directory plugin semantics, plus hot reload.

Every plugin is a real file under ``tmp_path``; nothing is mocked. Cases named after upstream tests
follow engine-behavior.md §8.1/§8.2.
"""

from __future__ import annotations

import os
import sys
import textwrap
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from engine_runtime.errors import MissingEntryPointError, PluginLoadError
from engine_runtime.plugins.loader import (
    Loader,
    LocalPluginSource,
    PluginCode,
    directory_version,
    format_plugin_exception,
    plugin_traceback,
)
from engine_runtime.plugins.package import PACKAGE_ROOT, package_module_name

WRITES = "process_writes"
SCHEDULED = "process_scheduled_call"


def write(path: Path, text: str) -> Path:
    """Write dedented ``text`` to ``path`` (creating parents) and return the path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def touch_later(path: Path) -> None:
    """Move the mtime forward, so a rewrite is seen even on a coarse-mtime filesystem."""
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 2_000_000_000))


def file_plugin(tmp_path: Path, name: str, text: str) -> LocalPluginSource:
    write(tmp_path / name, text)
    return LocalPluginSource(tmp_path, name)


def modules_under(module_name: str) -> list[str]:
    return [m for m in sys.modules if m == module_name or m.startswith(module_name + ".")]


@pytest.fixture
def loader() -> Loader:
    return Loader()


# ---------------------------------------------------------------------------- single file


def test_plugin_namespace_isolation(tmp_path: Path, loader: Loader) -> None:
    first = file_plugin(
        tmp_path,
        "a.py",
        """
        def helper_only_in_a():
            return 1
        def process_writes(influxdb3_local, table_batches, args=None):
            return helper_only_in_a()
        """,
    )
    second = file_plugin(
        tmp_path,
        "b.py",
        """
        import __main__
        def process_writes(influxdb3_local, table_batches, args=None):
            return ("helper_only_in_a" in globals(), hasattr(__main__, "helper_only_in_a"))
        """,
    )
    assert loader.entry_point(first.load(), WRITES)(None, []) == 1
    assert loader.entry_point(second.load(), WRITES)(None, []) == (False, False)
    import __main__

    assert not hasattr(__main__, "helper_only_in_a")


def test_module_code_runs_in_fresh_globals_on_every_call(tmp_path: Path, loader: Loader) -> None:
    log = tmp_path / "runs.log"
    source = file_plugin(
        tmp_path,
        "counter.py",
        f"""
        with open({str(log)!r}, "a") as fh:
            fh.write("ran\\n")
        calls = []
        def process_writes(influxdb3_local, table_batches, args=None):
            calls.append(1)
            return len(calls)
        """,
    )
    results = [loader.entry_point(source.load(), WRITES)(None, []) for _ in range(3)]
    assert results == [1, 1, 1]
    assert log.read_text().count("ran") == 3


def test_name_resolves_to_builtins_and_main_block_never_runs(
    tmp_path: Path, loader: Loader
) -> None:
    source = file_plugin(
        tmp_path,
        "names.py",
        """
        class Thing:
            pass
        if __name__ == "__main__":
            raise SystemExit("must not run")
        def process_writes(influxdb3_local, table_batches, args=None):
            return __name__, Thing.__module__, "__name__" in globals()
        """,
    )
    assert loader.entry_point(source.load(), WRITES)(None, []) == ("builtins", "builtins", False)


def test_line_builder_is_a_builtin_before_module_code_runs(tmp_path: Path, loader: Loader) -> None:
    source = file_plugin(
        tmp_path,
        "lb.py",
        """
        LineBuilder = LineBuilder
        def build(line: LineBuilder) -> str:
            return line.build()
        def process_writes(influxdb3_local, table_batches, args=None):
            return build(LineBuilder("cpu").tag("host", "a").int64_field("x", 1))
        """,
    )
    assert loader.entry_point(source.load(), WRITES)(None, []) == "cpu,host=a x=1i"


@pytest.mark.parametrize("future", ["", "from __future__ import annotations\n"])
def test_module_level_dataclasses_work(tmp_path: Path, loader: Loader, future: str) -> None:
    body = """
        from dataclasses import dataclass, field
        @dataclass(frozen=True)
        class Point:
            x: int
            tags: list = field(default_factory=list)
        @dataclass(slots=True)
        class Box:
            point: Point
        def process_writes(influxdb3_local, table_batches, args=None):
            return Box(Point(1)), Point.__module__
        """
    source = file_plugin(tmp_path, "dc.py", future + textwrap.dedent(body))
    box, module = loader.entry_point(source.load(), WRITES)(None, [])
    assert repr(box) == "Box(point=Point(x=1, tags=[]))"
    assert module == "builtins"


def test_plugin_does_not_inherit_the_loaders_future_flags(tmp_path: Path, loader: Loader) -> None:
    source = file_plugin(
        tmp_path,
        "ann.py",
        """
        def process_writes(influxdb3_local, table_batches, args: int = None):
            return process_writes.__annotations__["args"]
        """,
    )
    assert loader.entry_point(source.load(), WRITES)(None, []) is int


def test_syntax_error_uses_upstreams_wording(tmp_path: Path, loader: Loader) -> None:
    source = file_plugin(tmp_path, "bad.py", "x = 1\n    y = 2\n")
    with pytest.raises(PluginLoadError) as info:
        loader.entry_point(source.load(), WRITES)
    assert info.value.message == "IndentationError: unexpected indent (<string>, line 2)"
    assert info.value.traceback is not None
    assert "IndentationError" in info.value.traceback
    assert "loader.py" not in info.value.traceback


def test_module_level_exception_is_a_load_error_with_plugin_traceback(
    tmp_path: Path, loader: Loader
) -> None:
    source = file_plugin(tmp_path, "boom.py", "x = 1\nvalue = 1 / 0\n")
    with pytest.raises(PluginLoadError) as info:
        loader.entry_point(source.load(), WRITES)
    assert info.value.message == "ZeroDivisionError: division by zero"
    trace = info.value.traceback or ""
    assert f'File "{tmp_path / "boom.py"}", line 2' in trace
    assert "value = 1 / 0" in trace
    assert "loader.py" not in trace


@pytest.mark.parametrize("text", ["x = 1\n", "process_writes = 3\n"])
def test_missing_function_gives_upstreams_message(
    tmp_path: Path, loader: Loader, text: str
) -> None:
    source = file_plugin(tmp_path, "nofn.py", text)
    with pytest.raises(MissingEntryPointError) as info:
        loader.entry_point(source.load(), WRITES)
    assert str(info.value) == (
        "the process_writes function is not present in the plugin. Should be defined as: "
        "process_writes(influxdb3_local, table_batches, args=None)"
    )


def test_file_is_compiled_once_per_version_and_hot_reloaded(tmp_path: Path, loader: Loader) -> None:
    path = write(tmp_path / "hot.py", "def process_writes(a, b, args=None):\n    return 1\n")
    source = LocalPluginSource(tmp_path, "hot.py")
    first = source.load()
    assert source.load() is first  # unchanged stat: no re-read
    compiled = loader.code_object(first)
    assert loader.code_object(source.load()) is compiled
    assert loader.entry_point(first, WRITES)(None, []) == 1
    write(path, "def process_writes(a, b, args=None):\n    return 2\n")
    touch_later(path)
    second = source.load()
    assert second.version != first.version
    assert loader.code_object(second) is not compiled
    assert loader.entry_point(second, WRITES)(None, []) == 2


def test_code_cache_is_bounded() -> None:
    loader = Loader(code_cache_size=2)
    codes = [PluginCode.from_source("p", f"x = {i}\n") for i in range(3)]
    compiled = [loader.code_object(code) for code in codes]
    assert loader.code_object(codes[2]) is compiled[2]
    assert loader.code_object(codes[0]) is not compiled[0]  # evicted, compiled again


def test_in_memory_source_shows_its_lines_in_tracebacks(loader: Loader) -> None:
    code = PluginCode.from_source("gh:x/y.py", "def process_writes(a, b, args=None):\n    1 / 0\n")
    assert code.path is None
    with pytest.raises(ZeroDivisionError) as info:
        loader.entry_point(code, WRITES)(None, [])
    assert format_plugin_exception(info.value) == "ZeroDivisionError: division by zero"
    trace = plugin_traceback(info.value)
    assert 'File "<plugin gh:x/y.py>", line 2, in process_writes' in trace
    assert "1 / 0" in trace


def test_format_plugin_exception() -> None:
    assert format_plugin_exception(ValueError("bad value")) == "ValueError: bad value"
    assert format_plugin_exception(ValueError()) == "ValueError"
    assert format_plugin_exception(KeyError("k")) == "KeyError: 'k'"


# ---------------------------------------------------------------------------- local source


@pytest.mark.parametrize("name", ["../evil.py", "/etc/passwd", "subdir/../../evil.py", "C:\\x.py"])
def test_path_traversal_is_refused(tmp_path: Path, name: str) -> None:
    with pytest.raises(PluginLoadError) as info:
        LocalPluginSource(tmp_path, name).load()
    assert str(info.value) == (
        f"Path traversal detected: plugin filename '{name}' attempts to access files outside "
        "the plugin directory"
    )


def test_symlink_escape_is_refused(tmp_path: Path) -> None:
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    write(tmp_path / "outside.py", "x = 1\n")
    (plugins / "link.py").symlink_to(tmp_path / "outside.py")
    with pytest.raises(PluginLoadError, match="Path traversal detected"):
        LocalPluginSource(plugins, "link.py").load()


def test_nested_names_inside_the_plugin_dir_are_fine(tmp_path: Path) -> None:
    write(tmp_path / "my_plugin" / "utils.py", "x = 1\n")
    code = LocalPluginSource(tmp_path, "my_plugin/utils.py").load()
    assert (code.kind, code.source, code.name) == ("file", "x = 1\n", "my_plugin/utils.py")


def test_missing_plugin_names_its_path(tmp_path: Path) -> None:
    with pytest.raises(PluginLoadError) as info:
        LocalPluginSource(tmp_path, "nope.py").load()
    assert str(info.value) == f"reading plugin file: Plugin not found: {tmp_path / 'nope.py'}"


def test_missing_init_py(tmp_path: Path) -> None:
    write(tmp_path / "pkg" / "utils.py", "x = 1\n")
    with pytest.raises(PluginLoadError) as info:
        LocalPluginSource(tmp_path, "pkg").load()
    assert str(info.value) == (
        f"reading plugin file: Multi-file plugin directory must contain __init__.py: "
        f"{tmp_path / 'pkg'}"
    )


def test_non_utf8_file_is_a_read_error(tmp_path: Path) -> None:
    (tmp_path / "latin.py").write_bytes(b"x = '\xff'\n")
    with pytest.raises(PluginLoadError, match="reading plugin file"):
        LocalPluginSource(tmp_path, "latin.py").load()


def test_deleted_file_keeps_the_last_good_code(tmp_path: Path) -> None:
    path = write(tmp_path / "gone.py", "x = 1\n")
    source = LocalPluginSource(tmp_path, "gone.py")
    first = source.load()
    path.unlink()
    assert source.load() is first


def test_read_multifile_plugin(tmp_path: Path) -> None:
    write(tmp_path / "pkg" / "__init__.py", "x = 1\n")
    code = LocalPluginSource(tmp_path, "pkg/").load()
    assert (code.kind, code.path, code.source) == ("directory", tmp_path / "pkg", None)


def test_hot_reload_multifile_plugin_version(tmp_path: Path) -> None:
    write(tmp_path / "pkg" / "__init__.py", "x = 1\n")
    source = LocalPluginSource(tmp_path, "pkg")
    first = source.load()
    assert source.load() is first
    write(tmp_path / "pkg" / "new.py", "y = 2\n")
    assert source.load().version != first.version


def test_pycache_and_other_files_are_ignored(tmp_path: Path) -> None:
    write(tmp_path / "pkg" / "__init__.py", "x = 1\n")
    before = directory_version(tmp_path / "pkg")
    write(tmp_path / "pkg" / "__pycache__" / "mod.py", "stale = 1\n")
    write(tmp_path / "pkg" / "data.json", "{}")
    assert directory_version(tmp_path / "pkg") == before


# ---------------------------------------------------------------------------- directories


def package(root: Path, name: str, init: str, **modules: str) -> LocalPluginSource:
    """A package ``root/name`` with ``__init__.py`` and sibling modules (``a__b`` = ``a/b.py``)."""
    write(root / name / "__init__.py", init)
    for module, text in modules.items():
        write(root / name / (module.replace("__", "/") + ".py"), text)
    return LocalPluginSource(root, name)


RELATIVE_INIT = """
from . import utils
from .models.processor import Processor
def process_scheduled_call(influxdb3_local, call_time, args=None):
    return utils.VALUE, Processor().run(), __name__
"""


def test_multifile_plugin_with_relative_imports(tmp_path: Path, loader: Loader) -> None:
    source = package(
        tmp_path,
        "pkg",
        RELATIVE_INIT,
        utils="VALUE = 'u'\n",
        models____init__="",
        models__processor="class Processor:\n    def run(self):\n        return 'p'\n",
    )
    entry = loader.entry_point(source.load(), SCHEDULED)
    value, processed, name = entry(None, None)
    assert (value, processed) == ("u", "p")
    unique = package_module_name(tmp_path / "pkg")
    assert name == unique  # upstream: "pkg"; ours ends with it and never collides
    assert unique.startswith(PACKAGE_ROOT + ".") and unique.endswith(".pkg")
    assert sys.modules[unique].__dict__ is entry.__globals__
    assert not (tmp_path / "pkg" / "__pycache__").exists()


def test_concurrent_multifile_loads_with_distinct_parents_all_succeed(
    tmp_path: Path, loader: Loader
) -> None:
    # upstream's shape: each package imports a helper module that sits next to its folder
    sources = []
    for i in range(12):
        write(tmp_path / f"parent{i}" / f"helper_race_{i}.py", f"TAG = {i}\n")
        init = f"""
        import time
        time.sleep(0.02)
        import helper_race_{i}
        def process_scheduled_call(influxdb3_local, call_time, args=None):
            return helper_race_{i}.TAG
        """
        sources.append(package(tmp_path / f"parent{i}", f"pkg_race_{i}", init))
    barrier = threading.Barrier(12)

    def run(source: LocalPluginSource) -> object:
        barrier.wait()
        return loader.entry_point(source.load(), SCHEDULED)(None, None)

    with ThreadPoolExecutor(max_workers=12) as pool:
        assert list(pool.map(run, sources)) == list(range(12))


def test_same_named_packages_in_two_dirs_do_not_collide(tmp_path: Path, loader: Loader) -> None:
    init = """
    from .utils import WHERE
    def process_scheduled_call(influxdb3_local, call_time, args=None):
        return WHERE
    """
    left = package(tmp_path / "left", "plug", init, utils="WHERE = 'left'\n")
    right = package(tmp_path / "right", "plug", init, utils="WHERE = 'right'\n")
    assert loader.entry_point(left.load(), SCHEDULED)(None, None) == "left"
    assert loader.entry_point(right.load(), SCHEDULED)(None, None) == "right"


def test_multifile_plugin_added_after_first_import_loads(tmp_path: Path, loader: Loader) -> None:
    first = package(tmp_path, "first", "def process_scheduled_call(a, b, args=None):\n  return 1\n")
    assert loader.entry_point(first.load(), SCHEDULED)(None, None) == 1
    later = package(
        tmp_path, "later", "def process_scheduled_call(a, b, args=None):\n  return __name__\n"
    )
    name = loader.entry_point(later.load(), SCHEDULED)(None, None)
    assert name.rpartition(".")[2] == "later"


def test_package_top_level_runs_once_per_version_and_reloads_after_edit(
    tmp_path: Path, loader: Loader
) -> None:
    log = tmp_path / "runs.log"
    init = f"""
    with open({str(log)!r}, "a") as fh:
        fh.write("ran\\n")
    from . import utils
    def process_scheduled_call(influxdb3_local, call_time, args=None):
        return utils.VALUE
    """
    source = package(tmp_path, "reload", init, utils="VALUE = 1\n")
    assert [loader.entry_point(source.load(), SCHEDULED)(None, None) for _ in range(3)] == [1] * 3
    assert log.read_text().count("ran") == 1
    utils = write(tmp_path / "reload" / "utils.py", "VALUE = 2\n")  # same size: no stale .pyc
    touch_later(utils)
    assert loader.entry_point(source.load(), SCHEDULED)(None, None) == 2
    assert log.read_text().count("ran") == 2


def test_multifile_plugin_missing_dependency_does_not_rerun_top_level(
    tmp_path: Path, loader: Loader
) -> None:
    log = tmp_path / "runs.log"
    init = f"""
    with open({str(log)!r}, "a") as fh:
        fh.write("ran\\n")
    from . import helper
    import totally_missing_dep_xyz
    def process_scheduled_call(influxdb3_local, call_time, args=None):
        return 1
    """
    source = package(tmp_path, "needsdep", init, helper="X = 1\n")
    with pytest.raises(PluginLoadError) as info:
        loader.entry_point(source.load(), SCHEDULED)
    assert str(info.value) == (
        "Failed to import plugin module 'needsdep': "
        "ModuleNotFoundError: No module named 'totally_missing_dep_xyz'\n"
        "Hint: Check for syntax errors or missing dependencies in Python files."
    )
    assert log.read_text().count("ran") == 1
    assert modules_under(package_module_name(tmp_path / "needsdep")) == []
    trace = info.value.traceback or ""
    assert "import totally_missing_dep_xyz" in trace
    assert "engine_runtime" not in trace and "frozen importlib" not in trace


@pytest.mark.parametrize(
    ("init", "modules", "expected"),
    [
        ("import os\nos.this_attr_xyz_missing\n", {}, "AttributeError"),
        ("from . import utils\n", {"utils": "def broken(:\n  pass\n"}, "SyntaxError"),
        ("def broken(:\n  pass\n", {}, "SyntaxError"),
    ],
)
def test_multifile_import_errors_are_surfaced(
    tmp_path: Path, loader: Loader, init: str, modules: dict[str, str], expected: str
) -> None:
    source = package(tmp_path, "broken", init, **modules)
    with pytest.raises(PluginLoadError) as info:
        loader.entry_point(source.load(), SCHEDULED)
    message = str(info.value)
    assert message.startswith(f"Failed to import plugin module 'broken': {expected}: ")
    assert "engine_runtime" not in (info.value.traceback or "")
    assert "function is not present" not in message
    if expected == "AttributeError":
        assert "this_attr_xyz_missing" in message
    assert modules_under(package_module_name(tmp_path / "broken")) == []


def test_broken_package_loads_once_fixed(tmp_path: Path, loader: Loader) -> None:
    source = package(tmp_path, "fixme", "from . import utils\n", utils="VALUE = (\n")
    with pytest.raises(PluginLoadError):
        loader.entry_point(source.load(), SCHEDULED)
    write(
        tmp_path / "fixme" / "utils.py",
        "def process_scheduled_call(a, b, args=None):\n    return 'ok'\n",
    )
    write(tmp_path / "fixme" / "__init__.py", "from .utils import process_scheduled_call\n")
    touch_later(tmp_path / "fixme" / "utils.py")
    assert loader.entry_point(source.load(), SCHEDULED)(None, None) == "ok"


def test_multifile_missing_function_reports_generic_error(tmp_path: Path, loader: Loader) -> None:
    source = package(tmp_path, "nofn", "x = 1\n")
    with pytest.raises(MissingEntryPointError) as info:
        loader.entry_point(source.load(), SCHEDULED)
    assert "process_scheduled_call function is not present" in str(info.value)


def test_clear_drops_imported_packages(tmp_path: Path, loader: Loader) -> None:
    source = package(tmp_path, "temp", "def process_scheduled_call(a, b, args=None):\n  pass\n")
    loader.entry_point(source.load(), SCHEDULED)
    name = package_module_name(tmp_path / "temp")
    assert modules_under(name) == [name]
    loader.clear()
    assert modules_under(name) == []
