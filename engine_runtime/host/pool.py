"""`HostPool`: which plugin host runs a trigger, and the hosts' lifetimes.

All triggers of a node share one host, as InfluxDB 3 runs every plugin in one interpreter
(module state shared between plugins stays as upstream has it). Its interpreter is
``<PLUGIN_DIR>/venv/bin/python``; until that venv exists, the server's base interpreter with the
standard library only (what an empty venv offers). A trigger set to ``isolated`` gets a host of
its own on ``<PLUGIN_DIR>/envs/<trigger>/venv/bin/python``. Hosts start with their first run
(`warm` starts one ahead) and stop with the engine.
"""

from __future__ import annotations

import os
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Final, final

from ..environments import isolated_env_dir, isolated_python
from .channel import PluginHostError
from .host import DEFAULT_GRACE, PluginHost
from .messages import HostCallbacks

if TYPE_CHECKING:
    from ..trigger_definition import TriggerDefinition

__all__ = ["SHARED", "HostPool", "base_interpreter", "venv_python"]

#: the key of the node's shared host
SHARED: Final = ""


def venv_python(venv: Path) -> Path:
    """A venv's interpreter."""
    return venv / "bin" / "python"


def base_interpreter() -> Path:
    """The interpreter this server's venv was made from (never the venv's own packages)."""
    return Path(getattr(sys, "_base_executable", None) or sys.executable)


@final
class HostPool:
    """The shared host and the isolated triggers' hosts of one engine.

    :param plugin_dir: the node's plugin directory (its ``venv`` and ``envs``); None: plugins
        come from elsewhere and run on the base interpreter.
    :param cache_dir: where each host saves its plugin cache (``cache.pickle`` for the shared
        host, ``cache-<trigger>.pickle`` for an isolated one) and restores it when it starts;
        None: caches are not kept across restarts.
    :param venv: the shared host's venv instead of ``<plugin_dir>/venv``.
    :param memory_limit: bytes of address space each host may use; None: unbounded.
    :param grace: seconds an interrupted run has to stop before its host is replaced.
    """

    def __init__(
        self,
        plugin_dir: Path | None,
        callbacks: HostCallbacks,
        *,
        cache_dir: Path | None = None,
        venv: Path | None = None,
        memory_limit: int | None = None,
        grace: float = DEFAULT_GRACE,
    ) -> None:
        self.plugin_dir = plugin_dir
        self.cache_dir = cache_dir
        self.callbacks = callbacks
        self.venv = venv
        self.memory_limit = memory_limit
        self.grace = grace
        self._lock = threading.Lock()
        self._hosts: dict[str, PluginHost] = {}
        self._closed = False
        # built once: `_shared_interpreter` runs before every run
        shared_venv = venv if venv is not None or plugin_dir is None else plugin_dir / "venv"
        self._venv_python = None if shared_venv is None else venv_python(shared_venv)
        self._base_python = base_interpreter()

    def host_for(self, definition: TriggerDefinition) -> PluginHost:
        """The host ``definition``'s runs go to (started on its first run)."""
        if definition.settings.isolated:
            return self._host(definition.trigger_name, *self._isolated_interpreter(definition))
        return self._host(SHARED, *self._shared_interpreter())

    def _host(self, key: str, python: Path, site_packages: list[Path] | None) -> PluginHost:
        with self._lock:
            if self._closed:
                raise PluginHostError("the engine is shutting down: no plugin runs")
            host = self._hosts.get(key)
            if host is not None and host.python == python:
                return host
            if host is not None:  # the venv appeared (or went) since: a fresh host
                host.recycle()
            cache_name = "cache.pickle" if key == SHARED else f"cache-{key}.pickle"
            host = PluginHost(
                python,
                self.plugin_dir,
                site_packages,
                self.callbacks,
                memory_limit=self.memory_limit,
                grace=self.grace,
                cache_file=None if self.cache_dir is None else self.cache_dir / cache_name,
            )
            self._hosts[key] = host
            return host

    def shared(self) -> PluginHost:
        """The node's shared host (dry runs use it too, as upstream's test runs share the
        engine's interpreter)."""
        return self._host(SHARED, *self._shared_interpreter())

    def warm(self, definition: TriggerDefinition) -> None:
        """Start ``definition``'s host in the background if none runs, so its first event
        does not wait for an interpreter to start."""
        try:
            host = self.host_for(definition)
        except PluginHostError:
            return  # reported by the first run
        threading.Thread(target=host.ensure_started, name="plugin-host-start", daemon=True).start()

    def cancel(self, definition: TriggerDefinition, trigger: str) -> int:
        """Interrupt the runs of ``trigger`` (``KeyboardInterrupt`` in the plugin)."""
        key = definition.trigger_name if definition.settings.isolated else SHARED
        with self._lock:
            host = self._hosts.get(key)
        return 0 if host is None else host.cancel(trigger)

    def release(self, definition: TriggerDefinition) -> None:
        """A trigger stopped: the processes its runs started end (in the shared host), or its
        host stops too (isolated), and its whole process group with it."""
        if not definition.settings.isolated:
            label = f"{definition.database}/{definition.trigger_name}"
            with self._lock:
                shared = self._hosts.get(SHARED)
            if shared is not None:
                shared.tell({"action": "end_children", "trigger": label})
            return
        with self._lock:
            host = self._hosts.pop(definition.trigger_name, None)
        if host is not None:
            host.save_cache()  # its file must not bring back a cache dropped a moment ago
            host.close()

    def recycle(self) -> None:
        """New runs start fresh hosts (after an install); running ones finish where they are."""
        with self._lock:
            hosts = list(self._hosts.values())
        for host in hosts:
            host.recycle()

    def save_caches(self) -> list[tuple[str, str, str]]:
        """Have every running host save its cache; the entries skipped: (namespace, key, why)."""
        with self._lock:
            hosts = list(self._hosts.values())
        skipped: list[tuple[str, str, str]] = []
        for host in hosts:
            skipped.extend(host.save_cache())
        return skipped

    def drop_cache(self, database: str, trigger: str) -> None:
        """Forget a trigger's cache (disabled or deleted) in whichever host holds it."""
        with self._lock:
            hosts = list(self._hosts.values())
        for host in hosts:
            host.tell({"action": "drop_trigger", "database": database, "trigger": trigger})

    def pids(self) -> dict[str, int]:
        """The running hosts' pids by key (``""``: the shared host)."""
        with self._lock:
            hosts = dict(self._hosts)
        return {key: pid for key, host in hosts.items() if (pid := host.pid) is not None}

    def close(self) -> None:
        """Stop every host; later runs are refused."""
        with self._lock:
            self._closed = True
            hosts, self._hosts = list(self._hosts.values()), {}
        for host in hosts:
            host.close()

    def _isolated_interpreter(
        self, definition: TriggerDefinition
    ) -> tuple[Path, list[Path] | None]:
        """An isolated trigger's interpreter (its venv's site-packages are the host's)."""
        if self.plugin_dir is None:
            raise PluginHostError(
                f"trigger {definition.trigger_name} is isolated but the node has no plugin "
                "directory for its environment"
            )
        env = isolated_env_dir(self.plugin_dir, definition.trigger_name)
        python = isolated_python(self.plugin_dir, definition.trigger_name)
        if not python.exists():
            raise PluginHostError(
                f"trigger {definition.trigger_name} is isolated but its environment "
                f"{env} has no venv",
                hint="create the trigger again with --isolated, or install its packages",
            )
        return python, None

    def _shared_interpreter(self) -> tuple[Path, list[Path] | None]:
        """The shared host's interpreter and site-packages (None: its venv's own; ``[]``: the
        base interpreter's standard library only, until the venv exists)."""
        if self._venv_python is not None and os.path.exists(self._venv_python):
            return self._venv_python, None
        return self._base_python, []
