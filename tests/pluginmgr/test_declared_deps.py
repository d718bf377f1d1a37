"""Declared dependencies: manifest.toml > PEP 723 > requirements.txt, and each parser alone."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pytest

from pluginmgr.deps.declared import (
    DeclaredDeps,
    SiblingReader,
    declared_deps,
    declared_deps_for_path,
    parse_pep723,
)
from pluginmgr.deps.requirements_file import parse_requirements
from pluginmgr.errors import DependencyDeclarationError, PluginNotFoundError

SHA_A = "sha256:" + "a" * 64
SHA_B = "sha256:" + "b" * 64

MANIFEST = """\
manifest_schema_version = "1.2"

[plugin]
name = "demo"
version = "1.0.0"

[dependencies]
database_version = ">=3.0.0"
python = ["requests >= 2.31", "pint"]
"""
SCRIPT = """\
# /// script
# requires-python = ">=3.11"
# dependencies = ["rich", "httpx<1"]
# ///
def process_writes(influxdb3_local, table_batches, args=None):
    pass
"""
PLAIN = "def process_writes(influxdb3_local, table_batches, args=None):\n    pass\n"


def files_reader(files: Mapping[str, str | bytes], asked: list[str] | None = None) -> SiblingReader:
    """A SiblingReader over an in-memory directory; records every name asked for."""

    def read(name: str) -> bytes | None:
        if asked is not None:
            asked.append(name)
        content = files.get(name)
        return content.encode() if isinstance(content, str) else content

    return read


def deps(text: str = PLAIN, **files: str | bytes) -> DeclaredDeps:
    renamed = {name.replace("__", "/").replace("_", "."): body for name, body in files.items()}
    return declared_deps("demo.py", text, files_reader(renamed))


def manifest_with(python: str) -> str:
    return f'manifest_schema_version = "1.3"\n\n[dependencies]\npython = {python}\n'


def raises(match: str) -> pytest.RaisesExc[DependencyDeclarationError]:
    return pytest.raises(DependencyDeclarationError, match=match)


# -- each source alone ----------------------------------------------------------------------------


def test_manifest_alone() -> None:
    result = deps(manifest_toml=MANIFEST)
    assert result == DeclaredDeps("manifest.toml", "manifest.toml", ("requests>=2.31", "pint"))


def test_pep723_alone_reads_requires_python() -> None:
    result = deps(SCRIPT)
    assert result.source == "pep723"
    assert result.location == "demo.py"
    assert result.requirements == ("rich", "httpx<1")
    assert result.requires_python == ">=3.11"
    assert result.shadowed == ()


def test_requirements_txt_alone() -> None:
    result = deps(requirements_txt="requests>=2\npint\n")
    assert result == DeclaredDeps("requirements.txt", "requirements.txt", ("requests>=2", "pint"))


def test_nothing_declared() -> None:
    assert deps() == DeclaredDeps("none", None, ())


# -- precedence -----------------------------------------------------------------------------------


def test_all_three_manifest_wins_and_lists_the_others() -> None:
    result = deps(SCRIPT, manifest_toml=MANIFEST, requirements_txt="other\n")
    assert result.source == "manifest.toml"
    assert result.requirements == ("requests>=2.31", "pint")
    assert result.shadowed == ("pep723", "requirements.txt")


def test_empty_python_list_in_manifest_is_a_declaration_that_wins() -> None:
    result = deps(SCRIPT, manifest_toml=manifest_with("[]"))
    assert result == DeclaredDeps("manifest.toml", "manifest.toml", (), shadowed=("pep723",))


def test_pep723_beats_requirements_txt() -> None:
    result = deps(SCRIPT, requirements_txt="other\n")
    assert (result.source, result.shadowed) == ("pep723", ("requirements.txt",))


@pytest.mark.parametrize(
    "manifest",
    ['name = "x"\n', '[dependencies]\ndatabase_version = ">=3.0.0"\n'],
    ids=["no-dependencies-table", "no-python-key"],
)
def test_manifest_without_python_list_falls_through(manifest: str) -> None:
    result = deps(SCRIPT, manifest_toml=manifest, requirements_txt="other\n")
    assert result.source == "pep723"
    assert result.shadowed == ("requirements.txt",)


def test_shadowed_sources_are_not_parsed() -> None:
    broken_script = "# /// script\n# dependencies = [\n# ///\n"
    result = deps(broken_script, manifest_toml=MANIFEST, requirements_txt="-c pins.txt\n")
    assert result.source == "manifest.toml"
    assert result.shadowed == ("pep723", "requirements.txt")


def test_reader_is_only_asked_for_sibling_names() -> None:
    asked: list[str] = []
    reader = files_reader({"requirements.txt": "-r base.txt\n", "base.txt": "pint\n"}, asked)
    result = declared_deps("gh:examples/demo/demo.py", PLAIN, reader)
    assert result.requirements == ("pint",)
    assert asked == ["manifest.toml", "requirements.txt", "base.txt"]


def test_duplicates_are_removed_in_order() -> None:
    result = deps(manifest_toml=manifest_with('["b", "a>=1", "b", "a >= 1"]'))
    assert result.requirements == ("b", "a>=1")


# -- manifest.toml errors -------------------------------------------------------------------------


def test_malformed_manifest_toml_names_the_file_and_tomllib_message() -> None:
    with raises(r"manifest\.toml \(plugin 'demo\.py'\): invalid TOML: .*\(at line 2") as info:
        deps(manifest_toml="[dependencies]\npython = [1 2]\n")
    assert info.value.path == "manifest.toml"


@pytest.mark.parametrize("python", ['"requests"', '["ok", 3]', "{a = 1}"])
def test_manifest_python_must_be_a_list_of_strings(python: str) -> None:
    with raises(r"manifest\.toml .*\[dependencies\] python: must be a list of requirement strings"):
        deps(manifest_toml=manifest_with(python))


def test_manifest_dependencies_must_be_a_table() -> None:
    with raises(r"\[dependencies\] must be a table"):
        deps(manifest_toml='dependencies = ["x"]\n')


def test_manifest_bad_requirement_names_the_string() -> None:
    with raises(r"manifest\.toml .*invalid requirement 'pkg==': Expected"):
        deps(manifest_toml=manifest_with('["ok", "pkg=="]'))


# -- PEP 723 --------------------------------------------------------------------------------------


def test_pep723_missing_dependencies_reads_as_empty() -> None:
    assert parse_pep723('# /// script\n# requires-python = ">=3.11"\n# ///\n') == ([], ">=3.11")


def test_pep723_absent_block_is_none() -> None:
    assert parse_pep723(PLAIN) is None


def test_pep723_dependencies_must_be_a_list() -> None:
    with raises(r"plug\.py: PEP 723 .* line 1: dependencies: must be a list"):
        parse_pep723('# /// script\n# dependencies = "rich"\n# ///\n', location="plug.py")


def test_pep723_two_script_blocks_is_an_error() -> None:
    text = f"{SCRIPT}\n# /// script\n# dependencies = []\n# ///\n"
    with raises(r"demo\.py: 2 PEP 723 `# /// script` blocks \(at lines 1, 8\)"):
        deps(text)


def test_pep723_ignores_other_block_types_and_bare_hash_lines() -> None:
    text = (
        "# /// other\n# x = 1\n# ///\n\n"
        '# /// script\n# dependencies = [\n#\n#   "rich",\n# ]\n# ///\n'
    )
    assert parse_pep723(text) == (["rich"], None)


def test_pep723_invalid_toml_names_block_line() -> None:
    text = '"""doc"""\n# /// script\n# dependencies = [\n# ///\n'
    with raises(r"p\.py: PEP 723 `# /// script` block at line 2: invalid TOML"):
        parse_pep723(text, location="p.py")


def test_pep723_invalid_requires_python() -> None:
    with raises(r"invalid requires-python 'three'"):
        parse_pep723('# /// script\n# requires-python = "three"\n# ///\n')


def test_pep723_crlf_line_endings() -> None:
    assert parse_pep723(SCRIPT.replace("\n", "\r\n")) == (["rich", "httpx<1"], ">=3.11")


# -- requirements.txt -----------------------------------------------------------------------------


def test_requirements_comments_blanks_continuations_and_markers() -> None:
    text = (
        "# full-line comment\n"
        "\n"
        "requests>=2  # trailing comment\n"
        "pint \\\n"
        '    >=0.24 ; python_version >= "3.11"\n'
        "wheel @ https://example.invalid/wheel-1.0-py3-none-any.whl#sha256=abc\n"
    )
    found, hashes = parse_requirements(text, location="requirements.txt")
    assert found == [
        "requests>=2",
        'pint>=0.24; python_version >= "3.11"',
        "wheel @ https://example.invalid/wheel-1.0-py3-none-any.whl#sha256=abc",
    ]
    assert hashes == {}


def test_comment_line_inside_a_continuation_ends_it_like_pip() -> None:
    found, _ = parse_requirements("pint \\\n# note\nrich\n", location="r.txt")
    assert found == ["pint", "rich"]


def test_bad_requirement_reports_the_first_physical_line() -> None:
    text = "ok\n\nbad \\\n  ==\n"
    with raises(r"^r\.txt line 3: invalid requirement 'bad ==': Expected") as info:
        parse_requirements(text, location="r.txt")
    assert info.value.path == "r.txt"


@pytest.mark.parametrize(
    ("line", "option"),
    [
        ("-c constraints.txt", "-c"),
        ("--constraint=constraints.txt", "--constraint"),
        ("--index-url https://pypi.example/simple", "--index-url"),
        ("-i https://pypi.example/simple", "-i"),
        ("--extra-index-url=https://pypi.example/simple", "--extra-index-url"),
        ("--find-links ./wheels", "--find-links"),
        ("-e ./local", "-e"),
        ("--pre", "--pre"),
    ],
)
def test_option_lines_are_refused_with_their_line_number(line: str, option: str) -> None:
    text = f"# header\nrequests\n\n{line}\n"
    with raises(rf"^r\.txt line 4: option '{option}' is not supported") as info:
        parse_requirements(text, location="r.txt")
    assert "pluginmgr install package" in str(info.value)


def test_hashes_are_stripped_and_collected_by_canonical_name() -> None:
    text = (
        f"Foo_Bar==1.0 --hash={SHA_A} \\\n    --hash {SHA_B.upper().replace('SHA256', 'sha256')}\n"
        f"foo-bar==1.0 --hash={SHA_A}\n"
        "plain==2\n"
    )
    found, hashes = parse_requirements(text, location="r.txt")
    assert found == ["Foo_Bar==1.0", "foo-bar==1.0", "plain==2"]
    assert hashes == {"foo-bar": (SHA_A, SHA_B)}


def test_hashes_reach_declared_deps() -> None:
    result = deps(requirements_txt=f"pint==0.24 --hash={SHA_A}\n")
    assert result.requirements == ("pint==0.24",)
    assert dict(result.hashes) == {"pint": (SHA_A,)}


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("pint==1 --hash=md5:abcd", r"invalid --hash value 'md5:abcd'"),
        ("pint==1 --hash", r"invalid --hash value None"),
        ("pint==1 --config-settings=x=y", r"option '--config-settings' on a requirement line"),
    ],
)
def test_bad_requirement_options(line: str, message: str) -> None:
    with raises(rf"^r\.txt line 1: {message}"):
        parse_requirements(line, location="r.txt")


# -- includes -------------------------------------------------------------------------------------


def test_includes_resolve_relative_to_the_including_file() -> None:
    files = {
        "reqs/base.txt": "pint\n--requirement=../common.txt\n",
        "common.txt": "rich  # shared\n-rreqs/extra.txt\n",
        "reqs/extra.txt": "httpx\n",
    }
    found, _ = parse_requirements(
        "requests\n-r reqs/base.txt\n",
        location="requirements.txt",
        read_include=files_reader(files),
    )
    assert found == ["requests", "pint", "rich", "httpx"]


def test_include_cycle_is_caught() -> None:
    files = {"a.txt": "-r b.txt\n", "b.txt": "pint\n-r a.txt\n"}
    with raises(r"^b\.txt line 2: include cycle: requirements\.txt -> a\.txt -> b\.txt -> a\.txt"):
        parse_requirements(
            "-r a.txt\n", location="requirements.txt", read_include=files_reader(files)
        )


def test_include_depth_is_bounded() -> None:
    files = {f"{n}.txt": f"-r {n + 1}.txt\n" for n in range(10)}
    with raises(r"includes nested deeper than 5 levels at '5\.txt'"):
        parse_requirements(
            "-r 0.txt\n", location="requirements.txt", read_include=files_reader(files)
        )


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("../outside.txt", r"include '\.\./outside\.txt' escapes the plugin's directory"),
        ("/etc/reqs.txt", r"include '/etc/reqs\.txt' must be a relative path"),
        ("https://example.invalid/r.txt", r"include 'https:.*' must be a relative path"),
        ("C:/reqs.txt", r"include 'C:/reqs\.txt' must be a relative path"),
    ],
)
def test_unsafe_includes_are_refused(target: str, message: str) -> None:
    reader = files_reader({})
    with raises(rf"^r\.txt line 1: {message}"):
        parse_requirements(f"-r {target}\n", location="r.txt", read_include=reader)


def test_missing_include_names_file_and_line() -> None:
    with raises(r"^requirements\.txt \(plugin 'demo\.py'\) line 2: included file 'x\.txt' not"):
        deps(requirements_txt="pint\n-r x.txt\n")


def test_include_without_a_reader_is_refused() -> None:
    with raises(r"^r\.txt line 1: cannot follow include 'x\.txt' here"):
        parse_requirements("-r x.txt\n", location="r.txt")


def test_non_utf8_requirements_is_an_error() -> None:
    with raises(r"requirements\.txt \(plugin 'demo\.py'\): not valid UTF-8"):
        deps(requirements_txt=b"pint\n\xff\n")


# -- local paths ----------------------------------------------------------------------------------


def test_local_file_plugin_location_is_the_real_file(tmp_path: Path) -> None:
    plugin = tmp_path / "demo.py"
    plugin.write_text(PLAIN)
    (tmp_path / "requirements.txt").write_text("pint\n")
    result = declared_deps_for_path(plugin)
    assert result.source == "requirements.txt"
    assert result.location == str(tmp_path / "requirements.txt")


def test_directory_plugin_looks_inside_first_then_beside(tmp_path: Path) -> None:
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text(PLAIN)
    (tmp_path / "manifest.toml").write_text(manifest_with('["beside"]'))
    assert declared_deps_for_path(package).location == str(tmp_path / "manifest.toml")
    (package / "manifest.toml").write_text(manifest_with('["inside"]'))
    result = declared_deps_for_path(package)
    assert (result.requirements, result.location) == (("inside",), str(package / "manifest.toml"))


def test_directory_plugin_reads_pep723_from_init(tmp_path: Path) -> None:
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text(SCRIPT)
    (tmp_path / "requirements.txt").write_text("other\n")
    result = declared_deps_for_path(package)
    assert (result.source, result.location) == ("pep723", str(package / "__init__.py"))
    assert result.shadowed == ("requirements.txt",)


def test_directory_plugin_includes_follow_requirements_found_beside(tmp_path: Path) -> None:
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text(PLAIN)
    (package / "base.txt").write_text("wrong\n")
    (tmp_path / "requirements.txt").write_text("-r base.txt\n")
    (tmp_path / "base.txt").write_text("right\n")
    assert declared_deps_for_path(package).requirements == ("right",)


def test_local_error_path_names_the_real_file(tmp_path: Path) -> None:
    plugin = tmp_path / "demo.py"
    plugin.write_text(PLAIN)
    (tmp_path / "requirements.txt").write_text("pint\n--index-url https://x.invalid\n")
    with raises(r"requirements\.txt \(plugin '.*demo\.py'\) line 2: option '--index-url'") as info:
        declared_deps_for_path(plugin)
    assert info.value.path == str(tmp_path / "requirements.txt")


def test_missing_local_plugin(tmp_path: Path) -> None:
    (tmp_path / "pkg").mkdir()
    with pytest.raises(PluginNotFoundError, match=r"pkg' has no entry point") as info:
        declared_deps_for_path(tmp_path / "pkg")
    assert "top-level modules: none" in str(info.value) and "__init__.py" in str(info.value)


def test_includes_are_read_relative_to_the_root_files_directory_whatever_its_location() -> None:
    asked: list[str] = []
    reader = files_reader({"sub/more.txt": "pint\nbad==\n"}, asked)
    with raises(r"^/srv/app/sub/more\.txt line 2: invalid requirement 'bad=='") as info:
        parse_requirements("-r sub/more.txt\n", location="/srv/app/r.txt", read_include=reader)
    assert asked == ["sub/more.txt"]
    assert info.value.path == "/srv/app/sub/more.txt"
