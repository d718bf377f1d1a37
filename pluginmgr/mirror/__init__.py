"""The air-gapped mirror: a self-contained copy of a plugin repository (files, registry indexes,
git sources, the wheels its locks name) that nodes without the internet resolve from.

`sync.sync_mirror` and `sync.verify_mirror` are the entry points; `plan` decides what to copy,
`fetch` copies it (conditional requests, immutable artifacts skipped), `git` reads git sources,
`pylock` (choosing with `pylock_plan`) and `wheels` bring the packages the plugins' locks name,
and `state` keeps DEST's ``SHA256SUMS`` and ``mirror.json``. It uses the fetch layer
(transports, settings) and reads registry indexes; nothing here is used by the fetch or
dependency layers.
"""

from __future__ import annotations

__all__: list[str] = []
