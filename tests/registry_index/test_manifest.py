"""`read_manifest`: the fixtures, schema 1.2 and 1.3, and each malformed input with its reason."""

from __future__ import annotations

from pathlib import Path

import pytest

from registry_index import Dependencies, Manifest, MetadataError, PluginDependency, read_manifest

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
GOOD = """\
manifest_schema_version = "1.2"

[plugin]
name = "demo"
version = "1.0.0"
description = "A demo."
triggers = ["process_writes"]

[dependencies]
database_version = ">=3.0.0"
python = ["pint>=0.20"]
"""


def test_reads_schema_1_2_fixture() -> None:
    path = FIXTURES / "repo/influxdata/downsampler/manifest.toml"
    manifest = read_manifest(path.read_text(), path=str(path))
    assert manifest == Manifest(
        schema_version="1.2",
        name="downsampler",
        version="1.4.0",
        description="Downsample a table into fixed time buckets on a schedule.",
        triggers=("process_scheduled_call",),
        homepage="https://example.invalid/plugins/downsampler",
        exclude=("*.py", "!downsampler.py"),
        dependencies=Dependencies(database_version=">=3.0.0"),
    )
    assert manifest.artifact_name == "downsampler-1.4.0.tar.gz"
    assert str(manifest.parsed_version) == "1.4.0"


def test_reads_schema_1_3_plugin_dependencies() -> None:
    path = FIXTURES / "registry/threshold_check/manifest.toml"
    manifest = read_manifest(path.read_text(), path=str(path))
    assert manifest.schema_version == "1.3"
    assert manifest.triggers == ("process_writes", "process_scheduled_call")
    assert manifest.dependencies.python == (
        "requests>=2.31,<3",
        "pint>=0.20; python_version >= '3.10'",
    )
    (dep,) = manifest.dependencies.plugins
    assert dep == PluginDependency(
        name="notifier",
        version=">=1.0.0,<2.0.0",
        index_url="https://example.invalid/releases/download/registry/index.json",
    )
    assert dep.specifier.contains("1.2.0") and not dep.specifier.contains("2.0.0")


def test_every_fixture_manifest_reads() -> None:
    paths = sorted(FIXTURES.rglob("manifest.toml"))
    assert len(paths) >= 3
    for path in paths:
        read_manifest(path.read_text(), path=str(path))


def test_dependencies_table_is_optional() -> None:
    text = GOOD.split("[dependencies]")[0]
    assert read_manifest(text, path="m.toml").dependencies == Dependencies()


@pytest.mark.parametrize(
    ("old", "new", "reason"),
    [
        ('version = "1.0.0"', 'version = "one"', "plugin.version 'one' is not a valid version"),
        ('name = "demo"\n', "", "missing required key plugin.name"),
        ('description = "A demo."\n', "", "missing required key plugin.description"),
        ('triggers = ["process_writes"]\n', "", "missing required key plugin.triggers"),
        ('"1.2"', '"9.9"', "unknown manifest_schema_version '9.9'"),
        ('manifest_schema_version = "1.2"\n', "", "missing required key manifest_schema_version"),
        ('["process_writes"]', '["on_write"]', "unknown trigger(s) ['on_write']"),
        (
            '["pint>=0.20"]',
            '["pint>>0.20"]',
            "dependencies.python[0] 'pint>>0.20' is not a PEP 508",
        ),
        ('">=3.0.0"', '"newest"', "dependencies.database_version 'newest' is not a valid"),
        ('name = "demo"', 'name = "9demo"', "plugin.name '9demo' is not a valid plugin name"),
        ('name = "demo"', "name = 3", "plugin.name must be a string, got int"),
        ('triggers = ["process_writes"]', 'triggers = "x"', "plugin.triggers must be a list"),
        ("[plugin]\n", "", "plugin is missing"),
    ],
)
def test_malformed_manifest_names_file_and_reason(old: str, new: str, reason: str) -> None:
    assert old in GOOD
    with pytest.raises(MetadataError) as caught:
        read_manifest(GOOD.replace(old, new, 1), path="plugins/demo/manifest.toml")
    assert caught.value.path == "plugins/demo/manifest.toml"
    assert reason in caught.value.reason
    assert str(caught.value).startswith("plugins/demo/manifest.toml: ")


def test_bad_toml_reports_the_line() -> None:
    text = GOOD.replace('description = "A demo."', "description = A demo.")
    with pytest.raises(MetadataError, match=r"m\.toml: invalid TOML: .*line 6") as caught:
        read_manifest(text, path="m.toml")
    assert caught.value.path == "m.toml"


def test_plugin_dependencies_need_schema_1_3() -> None:
    text = GOOD + '\n[[dependencies.plugins]]\nname = "notifier"\nversion = ">=1"\n'
    with pytest.raises(MetadataError, match=r"dependencies\.plugins needs a newer schema"):
        read_manifest(text, path="m.toml")
    manifest = read_manifest(text.replace('"1.2"', '"1.3"'), path="m.toml")
    assert manifest.dependencies.plugins == (PluginDependency("notifier", ">=1"),)


@pytest.mark.parametrize(
    ("dep", "reason"),
    [
        ('version = ">=1"', "missing required key dependencies.plugins[0].name"),
        ('name = "notifier"', "missing required key dependencies.plugins[0].version"),
        ('name = "notifier"\nversion = "1..0"', "dependencies.plugins[0].version '1..0'"),
    ],
)
def test_bad_plugin_dependency(dep: str, reason: str) -> None:
    text = GOOD.replace('"1.2"', '"1.3"') + f"\n[[dependencies.plugins]]\n{dep}\n"
    with pytest.raises(MetadataError, match=r"m\.toml: ") as caught:
        read_manifest(text, path="m.toml")
    assert reason in caught.value.reason
