"""Reachability probes for ``pluginmgr doctor``: one cheap, timed request to each source a pin
comes from (not with --offline)::

    repo       --plugin-repo, if a gh: reference is pinned (GET of a pinned file)
    registry   --plugin-registry, if a registry: reference is pinned (GET of the index)
    git:URL    every pinned git URL (``git ls-remote URL HEAD``)
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Final
from urllib.parse import urlsplit

from ..check import Check
from ..check import fix_from as _fix
from ..errors import PluginManagerError, TooLargeError
from .lockfile import read_lock
from .refs import GhRef, GitRef, RegistryRef, gh_url, parse_ref

if TYPE_CHECKING:
    from ..settings import Settings

__all__ = ["source_checks"]


def _ms(start: float) -> int:
    return round((time.perf_counter() - start) * 1000)


def _probe_file(name: str, base: str, *, directory: bool) -> Check:
    from .transports import file_url_to_path

    start = time.perf_counter()
    try:
        path = file_url_to_path(base)
    except PluginManagerError as exc:
        return Check(name, "fail", exc.message, _fix(exc, None))
    found = path.is_dir() if directory else path.is_file()
    if not found:
        what = "directory" if directory else "file"
        return Check(name, "fail", f"{base}: no such {what} {path}", _SOURCE_FIX[name])
    return Check(name, "ok", f"{base} exists ({_ms(start)} ms)")


_SOURCE_FIX: Final = {
    "repo": "check --plugin-repo (INFLUXDB3_PLUGIN_REPO) and the network",
    "registry": "check --plugin-registry (PLUGINMGR_PLUGIN_REGISTRY) and the network",
}


def _probe_http(name: str, base: str, url: str, settings: Settings, token: str | None) -> Check:
    from ..settings import MAX_REDIRECTS
    from .transports import FetchRequest, HTTPTransport

    transport = HTTPTransport(
        connect_timeout=settings.connect_timeout,
        read_timeout=settings.read_timeout,
        retries=0,  # one request: the time it takes is part of the answer
        ca_bundle=settings.ca_bundle,
        max_redirects=MAX_REDIRECTS,
    )
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    start = time.perf_counter()
    try:
        response = transport.handle(FetchRequest(url, settings.max_file_bytes, headers))
    except TooLargeError:
        return Check(name, "ok", f"{base} answered in {_ms(start)} ms (GET {url})")
    except PluginManagerError as exc:
        detail = f"cannot reach {base} ({_ms(start)} ms): {exc.message}"
        return Check(name, "fail", detail, _SOURCE_FIX[name])
    finally:
        transport.close()
    answered = f"{base} answered in {_ms(start)} ms (GET {url}: {response.status})"
    if response.ok:
        return Check(name, "ok", answered)
    if response.status in (401, 403):
        fix = "pass --plugin-repo-token (INFLUXDB3_PLUGIN_REPO_TOKEN) with a valid token"
        return Check(name, "fail", f"{answered}: access refused", fix)
    if response.status == 404:
        return Check(name, "warn", f"{answered}: reachable, but the pinned file is not there")
    return Check(name, "fail", f"{answered} {response.reason}", _SOURCE_FIX[name])


def _probe(name: str, base: str, url: str, settings: Settings, token: str | None) -> Check:
    scheme = urlsplit(url).scheme.lower()
    if scheme == "file":
        return _probe_file(name, base, directory=name == "repo")
    if scheme in ("http", "https"):
        return _probe_http(name, base, url, settings, token)
    return Check(name, "fail", f"{base}: unsupported URL scheme {scheme!r}", _SOURCE_FIX[name])


def _probe_git(url: str, settings: Settings) -> Check:
    from ..process import run

    name, timeout = f"git:{url}", settings.connect_timeout + settings.read_timeout
    start = time.perf_counter()
    try:
        done = run(
            ["git", "ls-remote", "--quiet", url, "HEAD"],
            env_overrides={"GIT_TERMINAL_PROMPT": "0"},  # never wait for a password
            timeout=timeout,
        )
    except PluginManagerError as exc:
        return Check(name, "fail", f"git ls-remote {url}: {exc.message}", _fix(exc, None))
    if done.returncode != 0:
        reason = "; ".join(done.stderr.strip().splitlines()[-2:]) or f"exit {done.returncode}"
        detail = f"cannot reach {url} ({_ms(start)} ms): {reason}"
        return Check(name, "fail", detail, "check the URL, the network and git's credentials")
    return Check(name, "ok", f"{url} answered git ls-remote in {_ms(start)} ms")


def source_checks(settings: Settings) -> list[Check]:
    """One probe per source the pins of ``settings.lock_path`` come from; none when it cannot
    be read (the store check reports that)."""
    try:
        refs = [parse_ref(ref) for ref in sorted(read_lock(settings.lock_path))]
    except PluginManagerError:
        return []  # the store check reported the unreadable lock file
    checks = []
    gh = next((ref for ref in refs if isinstance(ref, GhRef)), None)
    if gh is not None:
        url = gh_url(settings.plugin_repo, gh.path)
        checks.append(
            _probe("repo", settings.plugin_repo, url, settings, settings.plugin_repo_token)
        )
    if any(isinstance(ref, RegistryRef) for ref in refs):
        index = settings.plugin_registry
        checks.append(_probe("registry", index, index, settings, None))
    for url in sorted({ref.url for ref in refs if isinstance(ref, GitRef)}):
        checks.append(_probe_git(url, settings))
    return checks
