"""Plugins as the engine sees them: the plugin API (`api`, `line_builder`, `responses`,
`sealed`), reading and checking a plugin's code (`source`, `check`), loading it in-process
(`loader`, `package`: what dry runs and benchmarks compare the plugin host with), and
``pluginmgr test`` (`dry_run`, which runs the plugin in a plugin host). The plugin host itself
is `engine_runtime.host`.
"""

from __future__ import annotations

__all__: list[str] = []
