"""`RunningTrigger`: a started trigger as the runner sees it — its definition, entry point, code
source, worker, stop flag and the recent deaths of hosts that ran it.

Apart from `engine_runtime.runner` because the trigger set builds and indexes these while the
runner only runs their events; both import it, neither imports the other for it.
"""

from __future__ import annotations

import collections
import threading
from typing import TYPE_CHECKING, Final, final

if TYPE_CHECKING:
    from .dispatch import TriggerWorker
    from .plugins.loader import PluginSource
    from .trigger_definition import TriggerDefinition

__all__ = ["ENTRY_POINTS", "HOST_DEATH_LIMIT", "HOST_DEATH_WINDOW", "RunningTrigger"]

#: plugin type -> (entry point, the context upstream's log lines name)
ENTRY_POINTS: Final = {
    "WalRows": ("process_writes", "wal plugin"),
    "Schedule": ("process_scheduled_call", "schedule plugin"),
    "Request": ("process_request", "request plugin"),
}


#: a trigger whose runs saw this many host deaths within `HOST_DEATH_WINDOW` seconds is failed
HOST_DEATH_LIMIT: Final = 3


HOST_DEATH_WINDOW: Final = 300.0


@final
class RunningTrigger:
    """A started trigger: its definition, its code source and the worker that drains its queue."""

    __slots__ = (
        "args",
        "context",
        "deaths",
        "definition",
        "function",
        "key",
        "kind",
        "label",
        "source",
        "stop",
        "worker",
    )

    def __init__(
        self, definition: TriggerDefinition, source: PluginSource, worker: TriggerWorker
    ) -> None:
        self.definition = definition
        self.key = (definition.database, definition.trigger_name)
        #: ``db/trigger``, how log lines and threads name it
        self.label = f"{definition.database}/{definition.trigger_name}"
        self.kind = definition.spec.plugin_type
        self.function, self.context = ENTRY_POINTS[self.kind]
        self.args = None if definition.arguments is None else dict(definition.arguments)
        self.source = source
        self.worker = worker
        self.stop = threading.Event()
        #: when its runs saw a host die (``time.monotonic()``) and which (its pid), the recent
        #: ones; a death seen by several runs at once is one
        self.deaths: collections.deque[tuple[float, int | None]] = collections.deque(
            maxlen=HOST_DEATH_LIMIT
        )
