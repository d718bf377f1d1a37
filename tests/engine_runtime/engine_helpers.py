"""Shared by the engine tests: writing a plugin file."""

from __future__ import annotations

import textwrap
from pathlib import Path


def plugin(plugin_dir: Path, name: str, code: str) -> str:
    (plugin_dir / name).write_text(textwrap.dedent(code), encoding="utf-8")
    return name
