"""The releases a package index (or a find-links folder) offers for some packages.

Asked the way uv and pip ask: the PEP 691 JSON simple API (``GET <index>/<name>/`` with
``Accept: application/vnd.pypi.simple.v1+json``), or the PEP 503 HTML page when that is what the
index answers. Every file counts with its version (from its name), ``upload-time`` (PEP 700, JSON
only), ``yanked`` and ``requires-python``; a local ``--find-links`` folder counts its file names.
The index is the one uv would use (`configured_index`: ``--index-url``, else
``UV_DEFAULT_INDEX``/``UV_INDEX_URL``, else uv's ``uv.toml``, else PyPI); none with
``--no-index``, and nothing is asked ``--offline``.

Requests are concurrent and bounded (a few at a time, one deadline for all); a package the
index does not answer in time is left out, never an error: this feeds warnings only.
"""

from __future__ import annotations

import datetime as dt
import html
import logging
import os
import re
import time
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import (
    InvalidSdistFilename,
    InvalidWheelFilename,
    canonicalize_name,
    parse_sdist_filename,
    parse_wheel_filename,
)
from packaging.version import Version

from ..fetch.transports import local_path

if TYPE_CHECKING:
    from .installers import InstallOptions

__all__ = [
    "DEFAULT_INDEX",
    "SYSTEM_UV_CONFIG",
    "Release",
    "configured_index",
    "index_url",
    "installable",
    "releases",
]

_LOGGER = logging.getLogger(__name__)

DEFAULT_INDEX: Final = "https://pypi.org/simple"
_ACCEPT: Final = "application/vnd.pypi.simple.v1+json, text/html;q=0.1"
_ANCHOR: Final = re.compile(r"<a\s+([^>]*)>([^<]+)</a>", re.IGNORECASE)
_ATTRIBUTE: Final = re.compile(r'([\w-]+)\s*=\s*"([^"]*)"')
_WORKERS: Final = 8


@dataclass(frozen=True, slots=True)
class Release:
    """One version of a package, as the index lists its files."""

    version: Version
    #: the earliest upload of its files (None: the source does not say)
    uploaded: dt.datetime | None
    #: every file of it is yanked
    yanked: bool
    #: the Requires-Python of its files (None: not given)
    requires_python: str | None
    #: why it was yanked, when the index says (PEP 592)
    yank_reason: str | None = None


#: uv's own variables for its default index, newest first
_INDEX_VARIABLES: Final = ("UV_DEFAULT_INDEX", "UV_INDEX_URL")
#: uv's system-wide settings file (its user file is under XDG_CONFIG_HOME)
SYSTEM_UV_CONFIG = "/etc/uv/uv.toml"


def configured_index(sources: InstallOptions) -> str | None:
    """The index uv uses, as given: ``--index-url``, else uv's variables, else its user or
    system ``uv.toml``; None: none of them names one (uv's default, PyPI)."""
    from_env = next((os.environ[k] for k in _INDEX_VARIABLES if os.environ.get(k)), None)
    return sources.index_url or from_env or _settings_index()


def _settings_index() -> str | None:
    """The default index of uv's user or system ``uv.toml`` (``index-url``, or the ``[[index]]``
    marked ``default = true``), which uv reads when no flag or variable names one; pluginmgr
    runs uv outside any project, so no project file counts."""
    config = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    for path in (os.path.join(config, "uv", "uv.toml"), SYSTEM_UV_CONFIG):
        try:
            with open(path, "rb") as handle:
                data = tomllib.load(handle)
        except (OSError, tomllib.TOMLDecodeError):
            continue
        pip = data.get("pip")
        for table in (data, pip if isinstance(pip, dict) else {}):
            if isinstance(table.get("index-url"), str):
                return str(table["index-url"])
        for index in data.get("index") or ():
            if isinstance(index, dict) and index.get("default") is True and index.get("url"):
                return str(index["url"])
    return None


def index_url(sources: InstallOptions) -> str | None:
    """The index uv would ask, or None (``--no-index``, ``--offline``)."""
    if sources.offline or sources.no_index:
        return None
    return (configured_index(sources) or DEFAULT_INDEX).rstrip("/")


def _parse(filename: str) -> tuple[str, Version] | None:
    """(canonical name, version) of a wheel or sdist file name."""
    try:
        if filename.endswith(".whl"):
            name, version, _build, _tags = parse_wheel_filename(filename)
        else:
            name, version = parse_sdist_filename(filename)
    except (InvalidWheelFilename, InvalidSdistFilename):
        return None
    return canonicalize_name(name), version


def _time(value: object) -> dt.datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def _collect(files: Iterable[Mapping[str, Any]]) -> list[Release]:
    """Releases from file entries (``filename``, ``upload-time``, ``yanked``,
    ``requires-python``)."""
    by_version: dict[Version, list[Mapping[str, Any]]] = {}
    for entry in files:
        parsed = _parse(str(entry.get("filename", "")))
        if parsed is not None:
            by_version.setdefault(parsed[1], []).append(entry)
    releases = []
    for version, entries in sorted(by_version.items()):
        times = [t for t in (_time(e.get("upload-time")) for e in entries) if t is not None]
        yanked = all(e.get("yanked") not in (None, False) for e in entries)
        python = next(
            (str(e["requires-python"]) for e in entries if e.get("requires-python")), None
        )
        reason = next((e["yanked"] for e in entries if isinstance(e.get("yanked"), str)), None)
        uploaded = min(times) if times else None
        releases.append(Release(version, uploaded, yanked, python, reason or None))
    return releases


def _from_html(text: str) -> list[dict[str, Any]]:
    files = []
    for attributes, name in _ANCHOR.findall(text):
        found = {k.lower(): html.unescape(v) for k, v in _ATTRIBUTE.findall(attributes)}
        yanked = found.get("data-yanked") or "data-yanked" in attributes.lower()
        python = found.get("data-requires-python")
        files.append({"filename": name.strip(), "yanked": yanked, "requires-python": python})
    return files


def _ask_index(client: Any, base: str, name: str) -> list[Release] | None:
    import httpx

    try:
        response = client.get(f"{base}/{name}/", headers={"Accept": _ACCEPT})
    except httpx.HTTPError as exc:
        where = re.sub(r"//[^/@]*@", "//", base)  # no credentials in the log
        _LOGGER.info("cannot ask %s about %s: %s", where, name, type(exc).__name__)
        return None
    if response.status_code != 200:
        return None
    if "json" in response.headers.get("content-type", ""):
        try:
            data = response.json()
        except ValueError:
            return None
        files = data.get("files", []) if isinstance(data, dict) else []
        return _collect(f for f in files if isinstance(f, dict))
    return _collect(_from_html(response.text))


def _find_links(folders: Sequence[str], names: set[str]) -> dict[str, list[dict[str, Any]]]:
    """File entries of ``names`` in local find-links folders (a URL one is not listed)."""
    found: dict[str, list[dict[str, Any]]] = {}
    for folder in folders:
        path = local_path(folder) if folder.startswith("file:") else Path(folder)
        if path is None or not path.is_dir():
            continue
        for file in path.iterdir():
            parsed = _parse(file.name)
            if parsed is not None and parsed[0] in names:
                found.setdefault(parsed[0], []).append({"filename": file.name})
    return found


def releases(
    names: Iterable[str], sources: InstallOptions, *, seconds: float = 10.0
) -> dict[str, list[Release]]:
    """Canonical name -> its releases, oldest first, from the index and the find-links folders;
    a package nothing answered for in ``seconds`` is missing."""
    wanted: set[str] = {canonicalize_name(n) for n in names}
    local = _find_links(sources.find_links, wanted)  # local folders are read even offline
    found = {name: _collect(entries) for name, entries in local.items()}
    base = index_url(sources)
    if base is None or not wanted:
        return found
    import httpx

    deadline = time.monotonic() + seconds
    timeout = httpx.Timeout(min(seconds, 10.0))
    pool = ThreadPoolExecutor(max_workers=_WORKERS)
    with httpx.Client(timeout=timeout, follow_redirects=True) as client:
        futures = {n: pool.submit(_ask_index, client, base, n) for n in sorted(wanted)}
        for name, future in futures.items():
            try:
                answer = future.result(timeout=max(0.0, deadline - time.monotonic()))
            except TimeoutError:
                continue
            if answer:
                found[name] = sorted({*found.get(name, ()), *answer}, key=_key)
        pool.shutdown(wait=False, cancel_futures=True)  # what did not answer in time is dropped
    return found


def _key(release: Release) -> tuple[Version, bool]:
    return release.version, release.yanked


def installable(release: Release, python: str) -> bool:
    """Not yanked, and its Requires-Python admits ``python`` (``3.11.2``)."""
    if release.yanked:
        return False
    if not release.requires_python:
        return True
    try:
        return SpecifierSet(release.requires_python).contains(python, prereleases=True)
    except InvalidSpecifier:
        return True
