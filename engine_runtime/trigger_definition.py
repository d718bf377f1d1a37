"""What a stored trigger is: `TriggerDefinition` and its `TriggerSettings`, checked when built,
and the spec as upstream's JSON (``system.processing_engine_triggers``).

Apart from `engine_runtime.catalog` because these values travel further than the catalog: the
catalog's file, the runner and the plugin hosts all read them.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final, Literal, get_args

from .errors import InvalidTriggerError
from .triggers import TriggerSpec

__all__ = [
    "ErrorBehavior",
    "TriggerDefinition",
    "TriggerSettings",
    "freeze_arguments",
    "trigger_specification_json",
]

ErrorBehavior = Literal["log", "retry", "disable"]


_ERROR_BEHAVIORS: Final = get_args(ErrorBehavior)


def _check_seconds(name: str, value: object, *, allow_zero: bool) -> None:
    number = float(value) if isinstance(value, int | float) and not isinstance(value, bool) else -1
    if not math.isfinite(number) or number < 0 or (number == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        raise InvalidTriggerError(
            f"{name} must be a finite number of seconds {bound}, got {value!r}"
        )


@dataclass(frozen=True, slots=True)
class TriggerSettings:
    """How a trigger runs. ``retry_attempts`` bounds ``"retry"`` (upstream retries forever),
    ``retry_backoff`` is the first wait (s), doubled each time; ``execution_timeout`` (s) None is
    the engine's default; ``isolated``: the plugin runs in an environment and host of its own
    (`engine_runtime.environments.isolated_env_dir`), not the shared venv."""

    run_async: bool = False
    error_behavior: ErrorBehavior = "log"
    retry_attempts: int = 3
    retry_backoff: float = 0.5
    execution_timeout: float | None = None
    #: runs in a plugin host of its own, on its own environment (``envs/<trigger>``)
    isolated: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.run_async, bool):
            raise InvalidTriggerError(f"run_async must be true or false, got {self.run_async!r}")
        if not isinstance(self.isolated, bool):
            raise InvalidTriggerError(f"isolated must be true or false, got {self.isolated!r}")
        if self.error_behavior not in _ERROR_BEHAVIORS:
            msg = f"error_behavior must be one of {', '.join(_ERROR_BEHAVIORS)}, got "
            raise InvalidTriggerError(msg + repr(self.error_behavior))
        attempts = self.retry_attempts
        if isinstance(attempts, bool) or not isinstance(attempts, int) or attempts < 0:
            raise InvalidTriggerError(f"retry_attempts must be an integer >= 0, got {attempts!r}")
        _check_seconds("retry_backoff", self.retry_backoff, allow_zero=True)
        if self.execution_timeout is not None:
            _check_seconds("execution_timeout", self.execution_timeout, allow_zero=False)


@dataclass(frozen=True, slots=True)
class TriggerDefinition:
    """One stored trigger; ``arguments`` is None when none were given (plugins see ``None``)."""

    trigger_id: int
    trigger_name: str
    plugin_filename: str
    database: str
    spec: TriggerSpec
    settings: TriggerSettings = TriggerSettings()
    arguments: Mapping[str, str] | None = None
    disabled: bool = False
    #: why the engine failed it (disabled too) until it is enabled again; None: not failed
    failure: str | None = None


#: spec kind -> (serde variant, its one field), for the kinds holding ``spec.value``
_SPEC_JSON_KEYS: Final = {
    "table": ("single_table_wal_write", "table_name"),
    "cron": ("schedule", "schedule"),
    "request": ("request_path", "path"),
}


def trigger_specification_json(spec: TriggerSpec) -> str:
    """The spec as upstream's serde JSON, compact (``system.processing_engine_triggers``)."""
    value: object = "all_tables_wal_write"
    if spec.kind == "every":
        secs, nanos = divmod(spec.every_ns, 1_000_000_000)
        value = {"every": {"duration": {"secs": secs, "nanos": nanos}}}
    elif spec.kind in _SPEC_JSON_KEYS:
        variant, field_name = _SPEC_JSON_KEYS[spec.kind]
        value = {variant: {field_name: spec.value}}
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def freeze_arguments(arguments: Mapping[str, str] | None) -> Mapping[str, str] | None:
    """``arguments`` checked (strings to strings) and read-only; None stays None."""
    if arguments is None:
        return None
    for key, value in arguments.items():
        if not isinstance(key, str) or not isinstance(value, str):
            msg = f"trigger arguments must map strings to strings, got {key!r}: {value!r}"
            raise InvalidTriggerError(msg)
    return MappingProxyType(dict(arguments))
