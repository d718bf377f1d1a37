"""The line protocol: `parse` (the parser and its errors; `_scan` the per-line scanner,
`_blocks` the column-wise block parser behind it, and `_types` the points, errors and blocks
they share). `LineBuilder`, which writes lines, is the plugin API's
(`engine_runtime.plugins.line_builder`)."""

from __future__ import annotations

__all__: list[str] = []
