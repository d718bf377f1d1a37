"""``python -m pluginmgr``: the same entry point as the ``pluginmgr`` console script."""

from __future__ import annotations

import sys

from .cli import main

sys.exit(main())
