"""Checking a trigger's plugin at creation without running it: entry points, warnings."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from engine_runtime import PluginCode, check_trigger_plugin, parse_trigger_spec
from engine_runtime.errors import MissingEntryPointError

WRITES = "def process_writes(influxdb3_local, table_batches, args=None):\n    pass\n"
SCHEDULED = "def process_scheduled_call(influxdb3_local, call_time, args=None):\n    pass\n"
REQUEST = (
    "def process_request(influxdb3_local, query_parameters, request_headers, request_body, "
    "args=None):\n    return 'ok'\n"
)
SIGNATURES = {
    "process_writes": "process_writes(influxdb3_local, table_batches, args=None)",
    "process_scheduled_call": "process_scheduled_call(influxdb3_local, call_time, args=None)",
    "process_request": (
        "process_request(influxdb3_local, query_parameters, request_headers, request_body, "
        "args=None)"
    ),
}


def check(source: str, spec: str, *, database: str = "db") -> list[str]:
    code = PluginCode.from_source("a.py", textwrap.dedent(source))
    return check_trigger_plugin(code, parse_trigger_spec(spec), plugin="a.py", database=database)


@pytest.mark.parametrize(
    ("spec", "label", "function", "source"),
    [
        ("all_tables", "all_tables", "process_writes", REQUEST),
        ("table:cpu", "table:...", "process_writes", SCHEDULED),
        ("every:10s", "every:...", "process_scheduled_call", WRITES),
        ("cron:0 * * * * *", "cron:...", "process_scheduled_call", "x = 1\n"),
        ("request:x", "request:...", "process_request", WRITES),
    ],
)
def test_a_plugin_without_its_trigger_types_entry_point_is_refused(
    spec: str, label: str, function: str, source: str
) -> None:
    with pytest.raises(MissingEntryPointError) as info:
        check(source, spec)
    expected = f"plugin a.py has no {SIGNATURES[function]} for {label} triggers"
    assert info.value.message == expected
    assert function in (info.value.hint or "")


def test_the_refusal_names_what_the_plugin_defines() -> None:
    with pytest.raises(MissingEntryPointError) as info:
        check(WRITES, "request:x")
    assert str(info.value) == (
        f"plugin a.py has no {SIGNATURES['process_request']} for request:... triggers (hint: it "
        "defines process_writes (table:<TABLE> or all_tables triggers): use such a trigger, or "
        "define process_request)"
    )


@pytest.mark.parametrize(
    "source",
    [
        WRITES,
        "async def process_writes(a, b, args=None):\n    pass\n",
        "from helpers import process_writes\n",
        "import helpers as process_writes\n",
        "process_writes = make_handler()\n",
        "class process_writes:\n    pass\n",
        "try:\n    from fast import process_writes\nexcept ImportError:\n"
        "    def process_writes(a, b, args=None):\n        pass\n",
        "if True:\n    def process_writes(a, b, args=None):\n        pass\n",
        "def setup():\n    global process_writes\n    process_writes = print\nsetup()\n",
        # what the source cannot show is given the benefit of the doubt
        "from helpers import *\n",
        "globals()['process_writes'] = print\n",
        "exec('def process_writes(a, b, args=None): pass')\n",
        "def __getattr__(name):\n    return print\n",
    ],
)
def test_entry_points_bound_in_any_way_or_possibly_bound_are_accepted(source: str) -> None:
    assert check(source, "table:cpu") == []


def test_the_check_never_runs_the_plugin(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    source = f"open({str(marker)!r}, 'w').write('ran')\n{WRITES}"
    assert check(source, "table:cpu") == []
    with pytest.raises(MissingEntryPointError):
        check(f"open({str(marker)!r}, 'w').write('ran')\n", "table:cpu")
    assert not marker.exists()


def test_a_request_path_with_a_leading_slash_is_warned_about() -> None:
    (warning,) = check(REQUEST, "request:/x")
    assert "/api/v3/engine//x" in warning and "use request:x" in warning
    assert check(REQUEST, "request:x") == []


@pytest.mark.parametrize(
    "call",
    [
        "influxdb3_local.write(line)",
        "influxdb3_local.write_sync(line, no_sync=False)",
        "influxdb3_local.write_to_db('db', line)",
        "influxdb3_local.write_sync_to_db(db_name='db', line=line, no_sync=True)",
    ],
)
def test_an_all_tables_plugin_writing_to_its_own_database_is_warned_about(call: str) -> None:
    source = f"""
    def process_writes(influxdb3_local, table_batches, args=None):
        line = LineBuilder("out").int64_field("n", 1)
        {call}
    """
    (warning,) = check(source, "all_tables")
    assert warning.startswith("plugin a.py writes to db, its trigger's own database")
    assert "all_tables" in warning and "write_to_db" in warning
    assert check(source, "table:cpu") == []  # only all_tables sees every write


def test_the_api_argument_may_have_another_name_and_helpers_count() -> None:
    source = """
    def emit(api, line):
        api.write(line)

    def process_writes(api, table_batches, args=None):
        emit(api, LineBuilder("out").int64_field("n", 1))
    """
    assert len(check(source, "all_tables")) == 1


@pytest.mark.parametrize(
    "call",
    [
        "influxdb3_local.write_to_db('other', line)",
        "influxdb3_local.write_to_db(args['target'], line)",  # not known: not warned about
        "influxdb3_local.info('no writes')",
        "open('x').write('not the api')",
    ],
)
def test_writes_elsewhere_are_not_warned_about(call: str) -> None:
    source = f"""
    def process_writes(influxdb3_local, table_batches, args=None):
        line = LineBuilder("out").int64_field("n", 1)
        {call}
    """
    assert check(source, "all_tables") == []


def test_a_plugin_that_does_not_compile_is_warned_about_not_refused() -> None:
    (warning,) = check("def process_writes(:\n", "request:x")
    assert warning.startswith("plugin a.py does not compile (SyntaxError in a.py, line 1)")


def package(root: Path, init: str, **modules: str) -> PluginCode:
    path = root / "pkg"
    path.mkdir()
    (path / "__init__.py").write_text(textwrap.dedent(init))
    for name, text in modules.items():
        (path / f"{name}.py").write_text(textwrap.dedent(text))
    return PluginCode("pkg", "directory", path, None, "v1")


def test_a_package_is_checked_through_its_init_and_all_its_modules(tmp_path: Path) -> None:
    code = package(
        tmp_path,
        "from .core import process_writes\n",
        core="def process_writes(influxdb3_local, table_batches, args=None):\n"
        "    influxdb3_local.write(LineBuilder('x').int64_field('n', 1))\n",
    )
    all_tables = parse_trigger_spec("all_tables")
    (warning,) = check_trigger_plugin(code, all_tables, plugin="pkg", database="db")
    assert "writes to db" in warning
    with pytest.raises(MissingEntryPointError, match="plugin pkg has no process_request"):
        check_trigger_plugin(code, parse_trigger_spec("request:p"), plugin="pkg", database="db")
