"""`read_plugin_header`: JSON docstring headers read from raw text, never imported."""

from __future__ import annotations

from pathlib import Path

import pytest

from registry_index import ArgSpec, MetadataError, PluginHeader, read_plugin_header

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"


def _read(relative: str) -> PluginHeader | None:
    path = FIXTURES / relative
    return read_plugin_header(path.read_text(), path=relative)


def test_scheduled_fixture_header() -> None:
    header = _read("repo/influxdata/downsampler/downsampler.py")
    assert header is not None
    assert header.plugin_types == ("scheduled",)
    assert header.triggers == ("process_scheduled_call",)
    args = header.args_for("scheduled")
    assert [arg.name for arg in args] == ["source_measurement", "target_measurement", "interval"]
    assert args[0] == ArgSpec("source_measurement", "cpu", "Table to downsample.", required=True)


def test_header_without_args_and_after_pep723_block() -> None:
    assert _read("repo/influxdata/notifier/notifier_plugin.py") == PluginHeader(("http",))
    assert _read("repo/examples/greeter/greeter.py") == PluginHeader(("http",))


def test_header_with_two_types_and_int_example() -> None:
    header = _read("registry/threshold_check/threshold_check.py")
    assert header is not None
    assert header.triggers == ("process_writes", "process_scheduled_call")
    assert header.args_for("scheduled")[0].example == 5
    assert header.args_for("http") == ()


def test_every_fixture_plugin_header_parses() -> None:
    for path in sorted((FIXTURES / "repo").rglob("*.py")):
        assert read_plugin_header(path.read_text(), path=str(path)) is not None, path


def test_no_header_is_none() -> None:
    assert read_plugin_header("def process_writes(a, b, args=None):\n    pass\n", path="p") is None
    assert read_plugin_header('"""Just prose."""\n', path="p") is None
    assert _read("registry/threshold_check/helper.py") is None
    assert read_plugin_header("", path="p") is None


def test_raw_text_wins_over_unescaped_docstring() -> None:
    # signal_generator.py: `\"` in a non-raw docstring is valid JSON only in the raw text
    source = (
        '"""\n{"plugin_type": ["scheduled"], "scheduled_args_config": [{"name": "signals", '
        '"example": "[{\\"type\\": \\"sine\\"}]", "description": "d", "required": false}]}\n"""\n'
    )
    header = read_plugin_header(source, path="signal_generator.py")
    assert header is not None
    assert header.args_for("scheduled")[0].example == '[{"type": "sine"}]'


def test_unparsable_python_still_yields_header() -> None:
    source = '# comment\n"""\n{"plugin_type": ["http"]}\n"""\ndef broken(:\n'
    assert read_plugin_header(source, path="broken.py") == PluginHeader(("http",))


def test_header_is_not_executed() -> None:
    source = '"""{"plugin_type": ["http"]}"""\nraise SystemExit("executed")\n'
    assert read_plugin_header(source, path="p.py") == PluginHeader(("http",))


def test_undocumented_config_keys_are_kept() -> None:
    source = (
        '"""{"plugin_type": ["http"], "http_headers_config": [{"name": "X-Api-Key", '
        '"example": "k", "description": "key", "required": true}]}"""\n'
    )
    header = read_plugin_header(source, path="p.py")
    assert header is not None
    assert header.configs["http_headers_config"][0].name == "X-Api-Key"


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ('{"plugin_type": ["http"],}', "docstring header is not valid JSON"),
        ('{"plugin_type": "http"}', "plugin_type must be a list"),
        ('{"plugin_type": ["cron"]}', "plugin_type must be a non-empty list"),
        ('{"plugin_type": []}', "plugin_type must be a non-empty list"),
        ("{}", "missing required key plugin_type"),
        ('{"plugin_type": ["http"], "http_args_config": [{"example": "x"}]}', "missing required"),
        ('{"plugin_type": ["http"], "http_args_config": ["x"]}', "http_args_config[0] must be"),
        (
            '{"plugin_type": ["http"], "http_args_config": [{"name": "a", "required": "yes"}]}',
            "http_args_config[0].required must be true or false",
        ),
    ],
)
def test_malformed_header_names_file_and_reason(body: str, reason: str) -> None:
    with pytest.raises(MetadataError) as caught:
        read_plugin_header(f'"""\n{body}\n"""\n', path="plugins/p.py")
    assert caught.value.path == "plugins/p.py"
    assert reason in caught.value.reason
