"""InfluxDB 3's last-value and distinct-value caches: definitions kept in the catalog, filled
from every acknowledged write, read with the ``last_cache()`` and ``distinct_cache()`` SQL
table functions and listed in ``system.last_caches`` and ``system.distinct_caches``.

`ValueCaches` (in `engine_runtime.value_caches.registry`) is what the engine holds; this
package's ``__init__`` imports nothing, so the catalog can read definitions without pyarrow.
"""

from __future__ import annotations

__all__: list[str] = []
