"""The plugins' Python dependencies: what each plugin declares, the set of all of them resolved
together into ``pylock.toml``, and the venv synced to it.

Reading declarations (`declared`, with `requirements_file` for ``requirements.txt`` and
`declaration_syntax` for the checks they share; `plugin_deps`, `plugins_in`), the inputs of a
resolution (`inputs`) and uv's resolution (`resolver`, `uv_compile`); the lock file (`pylock`,
`pylock_writer`, `pylock_local`, `toml_writer`, `build_lock`); the set as a whole
(`dependency_set`, `isolated` for triggers with an environment of their own) and how it
explains itself (`conflict`, `culprit`, `probe`, `explain`, `age`, `status`); the venv and
its interpreter (`venv`, `venv_record` for what was asked of it, `venv_repair` for a venv
plugins cannot run in, `interpreter`, `sync`, `requirement_check`, `imports`) and the
installers that write it (`installers`: uv, pip). It uses the fetch layer (to read a
plugin's content); the mirror, the node and the server use it.
"""

from __future__ import annotations

__all__: list[str] = []
