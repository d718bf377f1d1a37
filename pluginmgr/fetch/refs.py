"""Plugin references: parse and validate, before anything touches the network or the disk.

Grammar (the first matching prefix wins; prefixes are case-sensitive, like upstream)::

    gh:PATH                          a file on the plugin repository (--plugin-repo)
    git+URL[@REV]#path=PATH          a file or package directory in a git repository at REV
    registry:NAME[SPECIFIER]         a plugin from a registry index (registry:downsampler>=1.4,<2)
    anything else                    a path relative to --plugin-dir (file or package directory)

``gh:`` URLs are built byte for byte as InfluxDB 3 builds them (engine-behavior.md §1.1): base plus
path, with one ``/`` added only when the base lacks a trailing slash. Unlike upstream, a path that
could leave the repository (``..``, absolute, backslashes, empty segments, percent-encoded dots or
slashes, ``?``/``#``) or that carries control characters is refused.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Final
from urllib.parse import unquote, urlsplit

from packaging.specifiers import InvalidSpecifier, SpecifierSet

from ..errors import InvalidReferenceError

__all__ = [
    "GhRef",
    "GitRef",
    "LocalRef",
    "PluginRef",
    "RegistryRef",
    "gh_url",
    "is_valid_git_rev",
    "parse_ref",
    "validate_repo_base",
]

GH_PREFIX: Final = "gh:"
GIT_PREFIX: Final = "git+"
REGISTRY_PREFIX: Final = "registry:"
REPO_SCHEMES: Final = ("http", "https", "file")
GIT_SCHEMES: Final = ("http", "https", "ssh", "git", "file")
# SDK registry names (registries-and-mirrors.md §6): 1-64 ASCII, starting with a letter
_REGISTRY_NAME: Final = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,63}")
_GIT_REV: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/+-]{0,254}")
_EXAMPLE_GH: Final = "gh:influxdata/downsampler/downsampler.py"


@dataclass(frozen=True, slots=True)
class GhRef:
    """``gh:PATH``: a file on the configured plugin repository."""

    text: str
    path: str


@dataclass(frozen=True, slots=True)
class GitRef:
    """``git+URL[@REV]#path=PATH``; ``rev`` is ``None`` for the remote's default branch."""

    text: str
    url: str
    rev: str | None
    path: str


@dataclass(frozen=True, slots=True)
class RegistryRef:
    """``registry:NAME[SPECIFIER]``; resolved against a registry index."""

    text: str
    name: str
    specifier: SpecifierSet


@dataclass(frozen=True, slots=True)
class LocalRef:
    """A path relative to ``--plugin-dir``, checked later against the real directory."""

    text: str
    path: str


PluginRef = GhRef | GitRef | RegistryRef | LocalRef


def _bad(text: str, reason: str, hint: str) -> InvalidReferenceError:
    return InvalidReferenceError(
        f"invalid plugin reference {text!r}: {reason}", ref=text, hint=hint
    )


def _control_char(value: str) -> str | None:
    for ch in value:
        if unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp"):
            return repr(ch)
    return None


def validate_repo_path(text: str, path: str) -> str:
    """Check a repository-relative path (``gh:`` and ``git+…#path=``) and return it unchanged."""
    hint = f"use a path relative to the repository root, e.g. {_EXAMPLE_GH}"
    if not path:
        raise _bad(text, "the path is empty", hint)
    if (bad := _control_char(path)) is not None:
        raise _bad(text, f"control character {bad} in the path", hint)
    if "\\" in path:
        raise _bad(text, "backslashes are not allowed", "use '/' between path segments")
    if "?" in path or "#" in path:
        raise _bad(text, "'?' and '#' are not allowed in a plugin path", hint)
    decoded = unquote(path)
    # a percent-encoded NUL or newline reaches the filesystem (or a log line) decoded
    if (bad := _control_char(decoded)) is not None:
        raise _bad(text, f"percent-encoded control character {bad} in the path", hint)
    if decoded.startswith("/") or re.match(r"[A-Za-z]:", decoded):
        raise _bad(text, "absolute paths are not allowed", hint)
    if "\\" in decoded or "?" in decoded or "#" in decoded:
        raise _bad(text, "percent-encoded separators are not allowed", hint)
    for segment in decoded.split("/"):
        if segment in ("..", "."):
            raise _bad(text, f"{segment!r} segments are not allowed", hint)
        if segment == "":
            raise _bad(text, "empty path segments ('//' or a trailing '/') are not allowed", hint)
    return path


def validate_repo_base(base: str) -> str:
    """Check a ``--plugin-repo`` value: an http, https or file URL. Returns it unchanged."""
    scheme = urlsplit(base).scheme.lower()
    if scheme not in REPO_SCHEMES or _control_char(base) is not None:
        message = (
            f"unsupported plugin repository {base!r}: it must be an http://, https:// or "
            "file:// URL"
        )
        raise InvalidReferenceError(message, hint="set --plugin-repo or INFLUXDB3_PLUGIN_REPO")
    return base


def gh_url(base: str, path: str) -> str:
    """Upstream's URL construction, byte for byte: ``base + path``, one ``/`` added if missing."""
    if base.endswith("/"):
        return f"{base}{path}"
    return f"{base}/{path}"


def is_valid_git_rev(rev: str) -> bool:
    """A commit sha, tag or branch name that git can never read as an option, refspec or range."""
    return bool(_GIT_REV.fullmatch(rev)) and ".." not in rev and not rev.endswith((".lock", "/"))


def _parse_git(text: str) -> GitRef:
    body = text[len(GIT_PREFIX) :]
    hint = "write git+URL[@REV]#path=PATH, e.g. git+https://github.com/org/repo@v1.0#path=p/p.py"
    location, sep, fragment = body.partition("#")
    if not sep or not fragment.startswith("path="):
        raise _bad(text, "a git reference needs '#path=PATH'", hint)
    if (bad := _control_char(body)) is not None:
        raise _bad(text, f"control character {bad}", hint)
    path = validate_repo_path(text, fragment[len("path=") :])
    parts = urlsplit(location)
    if parts.scheme.lower() not in GIT_SCHEMES or not (parts.netloc or parts.scheme == "file"):
        raise _bad(text, f"unsupported git URL {location!r}", hint)
    if "::" in location or location.startswith("-"):
        raise _bad(text, "transport helpers ('::') and option-like URLs are refused", hint)
    url, rev = location, None
    # the revision is the last '@' in the URL path, so ssh://git@host/repo keeps its user
    if "@" in parts.path:
        repo_path, _, rev = parts.path.rpartition("@")
        url = parts._replace(path=repo_path).geturl()
        if not is_valid_git_rev(rev):
            raise _bad(text, f"invalid git revision {rev!r}", "use a commit sha, tag or branch")
    return GitRef(text=text, url=url, rev=rev, path=path)


def _parse_registry(text: str) -> RegistryRef:
    body = text[len(REGISTRY_PREFIX) :].strip()
    hint = "write registry:NAME or registry:NAME<SPECIFIER>, e.g. registry:downsampler>=1.4,<2"
    match = re.match(r"[A-Za-z0-9_-]*", body)
    name = match.group(0) if match else ""
    if not _REGISTRY_NAME.fullmatch(name):
        raise _bad(text, f"invalid plugin name {name!r}", hint)
    spec_text = body[len(name) :].strip()
    try:
        specifier = SpecifierSet(spec_text)
    except InvalidSpecifier:
        raise _bad(text, f"invalid version specifier {spec_text!r}", hint) from None
    return RegistryRef(text=text, name=name, specifier=specifier)


def parse_ref(text: str) -> PluginRef:
    """Parse a reference string; raise `InvalidReferenceError` with a fix-it hint if invalid."""
    if text.startswith(GH_PREFIX):
        return GhRef(text=text, path=validate_repo_path(text, text[len(GH_PREFIX) :]))
    if text.startswith(GIT_PREFIX):
        return _parse_git(text)
    if (bad := _control_char(text)) is not None:
        # a NUL crashes path calls and a newline forges log lines, whatever the reference kind
        raise _bad(text, f"control character {bad}", "remove it from the reference")
    if text.startswith(REGISTRY_PREFIX):
        return _parse_registry(text)
    if not text.strip():
        raise _bad(
            text, "the reference is empty", f"give a file under --plugin-dir or {_EXAMPLE_GH}"
        )
    return LocalRef(text=text, path=text.rstrip("/"))
