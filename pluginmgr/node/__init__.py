"""One node as its operator sees it: what it holds (`inventory`, `plugin_info`), whether it can
run its triggers (`checks`, behind ``doctor``; `check` is one line of its report), the upgrade
plans of its pins (`pin_plan`), what the store still needs (`gc`), where its data lives
(`data_layout`), and its triggers: where their code comes from (`plugin_source`) and what
creating one does (`triggers`). It uses the dependency set, the mirror and the fetch layer;
the server and the CLI use it.
"""

from __future__ import annotations

__all__: list[str] = []
