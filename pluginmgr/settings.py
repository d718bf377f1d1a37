"""One frozen `Settings` value built from flags and the environment, in one place.

Nothing reads the environment at import time; `Settings.from_sources` is the only reader, and every
value records where it came from (flag, env or default) so `--verbose` output can say why.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

__all__ = [
    "DEFAULT_FETCH_DEADLINE",
    "DEFAULT_PLUGIN_REGISTRY",
    "DEFAULT_PLUGIN_REPO",
    "Settings",
    "default_log_dir",
    "resolve_setting",
]

#: under the cache dir: the full output of failed installs (never in the plugin dir)
_LOG_DIR_NAME: Final = "logs"

#: upstream default (engine-behavior.md §1.1)
DEFAULT_PLUGIN_REPO: Final = "https://raw.githubusercontent.com/influxdata/influxdb3_plugins/main/"
#: the official registry release (registries-and-mirrors.md §1.7), for ``registry:`` references
DEFAULT_PLUGIN_REGISTRY: Final = (
    "https://github.com/influxdata/influxdb3_plugins/releases/download/registry/index.json"
)
DEFAULT_MAX_FILE_BYTES: Final = 10 * 1024 * 1024
DEFAULT_CONNECT_TIMEOUT: Final = 10.0
DEFAULT_READ_TIMEOUT: Final = 30.0
#: seconds one file's download may take in total: the read timeout restarts with every byte
DEFAULT_FETCH_DEADLINE: Final = 120.0
DEFAULT_RETRIES: Final = 3
MAX_REDIRECTS: Final = 5
LOCK_FILE_NAME: Final = "plugins.lock"

ENV_PLUGIN_DIR: Final = "INFLUXDB3_PLUGIN_DIR"
ENV_PLUGIN_REPO: Final = "INFLUXDB3_PLUGIN_REPO"
ENV_PLUGIN_REPO_TOKEN: Final = "INFLUXDB3_PLUGIN_REPO_TOKEN"  # noqa: S105 - a variable name
ENV_PLUGIN_REGISTRY: Final = "PLUGINMGR_PLUGIN_REGISTRY"
ENV_CACHE_DIR: Final = "PLUGINMGR_CACHE_DIR"
ENV_CA_BUNDLE: Final = "PLUGINMGR_CA_BUNDLE"


def resolve_setting(
    flag: str | None, env: Mapping[str, str], env_name: str, default: str | None
) -> tuple[str | None, str]:
    """Pick a value by precedence flag > environment > default.

    :returns: the value and where it came from (``"flag"``, ``"env:NAME"`` or ``"default"``).
    """
    if flag is not None:
        return flag, "flag"
    # upstream treats an empty INFLUXDB3_PLUGIN_DIR as set; we treat empty as unset everywhere,
    # which is what users who write `VAR= cmd` mean
    value = env.get(env_name)
    if value:
        return value, f"env:{env_name}"
    return default, "default"


def _default_cache_dir(env: Mapping[str, str]) -> Path:
    xdg = env.get("XDG_CACHE_HOME")
    base = Path(xdg) if xdg else Path.home() / ".cache"
    return base / "pluginmgr"


def default_log_dir(env: Mapping[str, str] | None = None) -> Path:
    """`Settings.log_dir` for code that has no `Settings`: ``$PLUGINMGR_CACHE_DIR/logs``, else
    ``$XDG_CACHE_HOME/pluginmgr/logs`` (``~/.cache/pluginmgr/logs``)."""
    env = os.environ if env is None else env
    cache = env.get(ENV_CACHE_DIR)
    return (Path(cache) if cache else _default_cache_dir(env)) / _LOG_DIR_NAME


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything the fetch pipeline needs to know, resolved once.

    :param plugin_dir: `--plugin-dir`; local references resolve under it and the lock file lives
        in it. ``None`` means local references fail with upstream's "not configured" message.
    :param plugin_repo: base URL for ``gh:`` references (http, https or file).
    :param plugin_registry: the registry ``index.json`` URL for ``registry:`` references (http,
        https or file).
    :param lock_path: the lock file; ``<plugin_dir>/plugins.lock`` or ``./plugins.lock``.
    :param fetch_deadline: seconds one file's download may take in total, retries included
        (`read_timeout` only bounds each wait for data).
    """

    plugin_dir: Path | None
    plugin_repo: str = DEFAULT_PLUGIN_REPO
    plugin_repo_token: str | None = field(default=None, repr=False)
    cache_dir: Path = Path(".pluginmgr-cache")
    lock_path: Path = Path(LOCK_FILE_NAME)
    offline: bool = False
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT
    read_timeout: float = DEFAULT_READ_TIMEOUT
    fetch_deadline: float = DEFAULT_FETCH_DEADLINE
    retries: int = DEFAULT_RETRIES
    retry_backoff: float = 0.25
    ca_bundle: Path | None = None
    plugin_registry: str = DEFAULT_PLUGIN_REGISTRY
    sources: Mapping[str, str] = field(default_factory=dict, compare=False)

    @property
    def log_dir(self) -> Path:
        """Where a failed install keeps uv's or pip's full output: ``<cache dir>/logs``, outside
        the plugin directory (which operators commit)."""
        return self.cache_dir / _LOG_DIR_NAME

    @classmethod
    def from_sources(
        cls,
        env: Mapping[str, str] | None = None,
        *,
        plugin_dir: str | None = None,
        plugin_repo: str | None = None,
        plugin_repo_token: str | None = None,
        cache_dir: str | None = None,
        lock_file: str | None = None,
        ca_bundle: str | None = None,
        offline: bool = False,
        max_file_bytes: int = DEFAULT_MAX_FILE_BYTES,
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
        read_timeout: float = DEFAULT_READ_TIMEOUT,
        fetch_deadline: float = DEFAULT_FETCH_DEADLINE,
        retries: int = DEFAULT_RETRIES,
        plugin_registry: str | None = None,
    ) -> Settings:
        """Build settings from flags (``None`` = not given) and an environment mapping."""
        env = os.environ if env is None else env
        sources: dict[str, str] = {}

        def pick(name: str, flag: str | None, env_name: str, default: str | None) -> str | None:
            value, source = resolve_setting(flag, env, env_name, default)
            sources[name] = source
            return value

        pdir = pick("plugin_dir", plugin_dir, ENV_PLUGIN_DIR, None)
        repo = pick("plugin_repo", plugin_repo, ENV_PLUGIN_REPO, DEFAULT_PLUGIN_REPO)
        registry = pick(
            "plugin_registry", plugin_registry, ENV_PLUGIN_REGISTRY, DEFAULT_PLUGIN_REGISTRY
        )
        token = pick("plugin_repo_token", plugin_repo_token, ENV_PLUGIN_REPO_TOKEN, None)
        cache = pick("cache_dir", cache_dir, ENV_CACHE_DIR, str(_default_cache_dir(env)))
        ca = pick("ca_bundle", ca_bundle, ENV_CA_BUNDLE, None)
        plugin_path = Path(pdir) if pdir else None
        if lock_file is not None:
            lock, sources["lock_path"] = Path(lock_file), "flag"
        elif plugin_path is not None:
            lock, sources["lock_path"] = plugin_path / LOCK_FILE_NAME, "plugin_dir"
        else:
            lock, sources["lock_path"] = Path(LOCK_FILE_NAME), "default"
        return cls(
            plugin_dir=plugin_path,
            plugin_repo=repo or DEFAULT_PLUGIN_REPO,
            plugin_repo_token=token,
            cache_dir=Path(cache or _default_cache_dir(env)),
            lock_path=lock,
            offline=offline,
            max_file_bytes=max_file_bytes,
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            fetch_deadline=fetch_deadline,
            retries=retries,
            ca_bundle=Path(ca) if ca else None,
            plugin_registry=registry or DEFAULT_PLUGIN_REGISTRY,
            sources=sources,
        )
