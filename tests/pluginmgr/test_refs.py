"""Reference parsing: upstream's gh: URL construction, and everything we refuse."""

from __future__ import annotations

import pytest

from pluginmgr import GhRef, GitRef, InvalidReferenceError, LocalRef, RegistryRef, gh_url, parse_ref
from pluginmgr.fetch.refs import validate_repo_base
from pluginmgr.settings import DEFAULT_PLUGIN_REPO

# engine-behavior.md §1.1 item 7: the upstream unit tests, byte for byte
UPSTREAM_URLS = [
    (
        DEFAULT_PLUGIN_REPO,
        "my_plugin.py",
        "https://raw.githubusercontent.com/influxdata/influxdb3_plugins/main/my_plugin.py",
    ),
    (
        "https://custom-repo.example.com/plugins/",
        "my_plugin.py",
        "https://custom-repo.example.com/plugins/my_plugin.py",
    ),
    (
        "https://custom-repo.example.com/plugins",
        "my_plugin.py",
        "https://custom-repo.example.com/plugins/my_plugin.py",
    ),
]


@pytest.mark.parametrize(("base", "path", "expected"), UPSTREAM_URLS)
def test_gh_url_matches_upstream(base: str, path: str, expected: str) -> None:
    ref = parse_ref(f"gh:{path}")
    assert isinstance(ref, GhRef)
    assert gh_url(base, ref.path) == expected


def test_gh_path_is_used_literally() -> None:
    ref = parse_ref("gh:influxdata/notifier/notifier_plugin.py")
    assert ref == GhRef(
        "gh:influxdata/notifier/notifier_plugin.py", "influxdata/notifier/notifier_plugin.py"
    )


def test_gh_prefix_is_case_sensitive() -> None:
    assert isinstance(parse_ref("GH:x.py"), LocalRef)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("gh:../x.py", "'..' segments are not allowed"),
        ("gh:influxdata/../../other/x.py", "'..' segments are not allowed"),
        ("gh:/etc/passwd", "absolute paths are not allowed"),
        ("gh:C:/x.py", "absolute paths are not allowed"),
        ("gh:a\\b.py", "backslashes are not allowed"),
        ("gh:", "the path is empty"),
        ("gh:a/\x00b.py", "control character '\\x00' in the path"),
        ("gh:a/b\n.py", "control character '\\n' in the path"),
        ("gh:a//b.py", "empty path segments"),
        ("gh:a/b/", "empty path segments"),
        ("gh:%2e%2e/x.py", "'..' segments are not allowed"),
        ("gh:a%2f..%2fb.py", "'..' segments are not allowed"),
        ("gh:x.py?raw=1", "'?' and '#' are not allowed"),
        ("gh:./x.py", "'.' segments are not allowed"),
    ],
)
def test_gh_rejects_unsafe_paths(text: str, reason: str) -> None:
    with pytest.raises(InvalidReferenceError) as info:
        parse_ref(text)
    message = str(info.value)
    assert message.startswith(f"invalid plugin reference {text!r}: {reason}")
    assert "hint:" in message
    assert "\n" not in message.replace("\\n", "")


def test_git_reference_with_tag() -> None:
    ref = parse_ref("git+https://github.com/org/repo@v1.0#path=plugins/p.py")
    assert ref == GitRef(
        "git+https://github.com/org/repo@v1.0#path=plugins/p.py",
        "https://github.com/org/repo",
        "v1.0",
        "plugins/p.py",
    )


def test_git_reference_keeps_ssh_user_and_defaults_rev() -> None:
    ref = parse_ref("git+ssh://git@github.com/org/repo.git#path=x.py")
    assert isinstance(ref, GitRef)
    assert (ref.url, ref.rev, ref.path) == ("ssh://git@github.com/org/repo.git", None, "x.py")


def test_git_reference_with_commit_and_file_url() -> None:
    sha = "a" * 40
    ref = parse_ref(f"git+file:///srv/repo@{sha}#path=pkg")
    assert isinstance(ref, GitRef)
    assert (ref.url, ref.rev, ref.path) == ("file:///srv/repo", sha, "pkg")


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("git+https://github.com/org/repo", "a git reference needs '#path=PATH'"),
        ("git+https://github.com/org/repo#file=x.py", "a git reference needs '#path=PATH'"),
        ("git+https://github.com/org/repo#path=../x.py", "'..' segments are not allowed"),
        ("git+ftp://host/repo#path=x.py", "unsupported git URL 'ftp://host/repo'"),
        ("git+ext::sh -c touch#path=x.py", "unsupported git URL"),
        ("git+https://github.com/org/repo@-upload-pack=x#path=x.py", "invalid git revision"),
        ("git+https://github.com/org/repo@a..b#path=x.py", "invalid git revision"),
        ("git+https://github.com/org/repo@#path=x.py", "invalid git revision ''"),
    ],
)
def test_git_rejects_bad_references(text: str, reason: str) -> None:
    with pytest.raises(InvalidReferenceError, match="invalid plugin reference") as info:
        parse_ref(text)
    assert reason in str(info.value)


def test_registry_reference() -> None:
    ref = parse_ref("registry:downsampler>=1.4,<2")
    assert isinstance(ref, RegistryRef)
    assert ref.name == "downsampler"
    assert "1.5.0" in ref.specifier
    assert "2.0.0" not in ref.specifier
    bare = parse_ref("registry:notifier")
    assert isinstance(bare, RegistryRef)
    assert str(bare.specifier) == ""


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("registry:1abc", "invalid plugin name '1abc'"),
        ("registry:", "invalid plugin name ''"),
        ("registry:" + "a" * 65, "invalid plugin name"),
        ("registry:downsampler>>1", "invalid version specifier '>>1'"),
        ("registry:down sampler", "invalid version specifier 'sampler'"),
    ],
)
def test_registry_rejects_bad_references(text: str, reason: str) -> None:
    with pytest.raises(InvalidReferenceError) as info:
        parse_ref(text)
    assert reason in str(info.value)


def test_local_reference_trims_trailing_slash_like_upstream() -> None:
    assert parse_ref("my_plugin/") == LocalRef("my_plugin/", "my_plugin")


def test_empty_reference_is_refused() -> None:
    with pytest.raises(InvalidReferenceError, match="the reference is empty"):
        parse_ref("  ")


@pytest.mark.parametrize("base", ["ftp://mirror/plugins/", "/srv/plugins", "plugins"])
def test_plugin_repo_must_be_http_https_or_file(base: str) -> None:
    with pytest.raises(
        InvalidReferenceError, match="it must be an http://, https:// or file:// URL"
    ):
        validate_repo_base(base)


@pytest.mark.parametrize("base", ["http://h/", "https://h/p", "file:///srv/mirror/"])
def test_plugin_repo_accepts_supported_schemes(base: str) -> None:
    assert validate_repo_base(base) == base
