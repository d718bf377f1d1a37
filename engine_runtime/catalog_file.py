"""The catalog's file, ``<data_dir>/catalog.json``: its format (``format_version``,
``next_trigger_id``, ``databases``, ``triggers`` with the spec in its canonical string form,
``retention_periods``: database -> whole seconds, absent in files written before them),
reading it with a clear error for a damaged or newer file, and writing it atomically.

It carries its own ``checksum`` (`engine_runtime.file_checksum`), checked at every read: a file
that does not match (one changed character of a database name, say) is refused, never read as
another catalog. A file written before checksums is read as before, once; its owner (the
server's `Catalog`, ``reseal=True``) rewrites it with one.

Apart from `engine_runtime.catalog` so the catalog's rules and the bytes on disk can be read
(and changed) one at a time; the catalog hands whole `CatalogState` values across.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Final, TypedDict, TypeVar, cast

from ._atomic import write_atomic
from .errors import CatalogError, CatalogFileError
from .file_checksum import check_checksum, with_checksum
from .trigger_definition import TriggerDefinition, TriggerSettings, freeze_arguments
from .triggers import TriggerSpecError, parse_trigger_spec
from .value_caches.definitions import CacheDefinition, dump_cache, load_cache

__all__ = ["FORMAT_VERSION", "CatalogState", "read_catalog_file", "write_catalog_file"]

#: version of the catalog file written by this code; newer files are refused
FORMAT_VERSION: Final = 1


_T = TypeVar("_T")


class _RawTriggerOptional(TypedDict, total=False):
    failure: str  # only written for a failed trigger


@dataclass(frozen=True, slots=True)
class CatalogState:
    """Everything the catalog holds; replaced as a whole on every change."""

    next_id: int = 1
    databases: tuple[str, ...] = ()
    triggers: tuple[TriggerDefinition, ...] = ()
    #: database -> retention period in whole seconds (databases without one are absent)
    retention: Mapping[str, int] = field(default_factory=dict)
    #: last-value and distinct-value caches (`engine_runtime.value_caches`)
    caches: tuple[CacheDefinition, ...] = ()


class _RawTrigger(_RawTriggerOptional):
    trigger_id: int
    trigger_name: str
    plugin_filename: str
    database: str
    trigger_specification: str
    settings: dict[str, Any]  # TriggerSettings' fields
    arguments: dict[str, str] | None
    disabled: bool


class _RawCatalogOptional(TypedDict, total=False):
    retention_periods: dict[str, int]  # written since retention periods exist
    caches: list[dict[str, Any]]  # absent in files written before caches existed


class _RawCatalog(_RawCatalogOptional):
    format_version: int
    next_trigger_id: int
    databases: list[str]
    triggers: list[_RawTrigger]


def _dump_trigger(trigger: TriggerDefinition) -> _RawTrigger:
    raw = _RawTrigger(
        trigger_id=trigger.trigger_id,
        trigger_name=trigger.trigger_name,
        plugin_filename=trigger.plugin_filename,
        database=trigger.database,
        trigger_specification=str(trigger.spec),
        settings=asdict(trigger.settings),
        arguments=None if trigger.arguments is None else dict(trigger.arguments),
        disabled=trigger.disabled,
    )
    if trigger.failure is not None:
        raw["failure"] = trigger.failure
    return raw


def _load_trigger(raw: _RawTrigger) -> TriggerDefinition:
    return TriggerDefinition(
        _typed(raw["trigger_id"], int),
        _typed(raw["trigger_name"], str),
        _typed(raw["plugin_filename"], str),
        _typed(raw["database"], str),
        parse_trigger_spec(_typed(raw["trigger_specification"], str)),
        TriggerSettings(**raw["settings"]),
        freeze_arguments(raw["arguments"]),
        _typed(raw["disabled"], bool),
        None if raw.get("failure") is None else _typed(raw.get("failure"), str),
    )


def _typed(value: object, kind: type[_T]) -> _T:
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise TypeError(f"expected {kind.__name__}, got {value!r}")
    return value


def read_catalog_file(path: Path, *, reseal: bool = False) -> CatalogState:
    """The catalog in ``path``; ``reseal`` rewrites a file written before checksums with one
    (only the file's owner may: a reader's rewrite could undo the owner's change).

    :raises CatalogFileError: it cannot be read, does not match its checksum, or is too new.
    """
    state, checked = _read(path)
    if reseal and checked is None:
        write_catalog_file(path, state)
    return state


def _read(path: Path) -> tuple[CatalogState, bool | None]:
    try:
        raw: Any = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        msg = f"cannot read the catalog file {path}: {exc}"
        raise CatalogFileError(msg, hint=_RESTORE_HINT) from exc
    version = raw.get("format_version") if isinstance(raw, dict) else None
    if isinstance(version, int) and version > FORMAT_VERSION:
        msg = f"the catalog file {path} was written by a newer version (format_version {version})"
        raise CatalogFileError(msg, hint="upgrade pluginmgr to open it")
    if version != FORMAT_VERSION:
        msg = f"the catalog file {path} has an unsupported format_version {version!r}"
        raise CatalogFileError(msg, hint=_RESTORE_HINT)
    checked = check_checksum(raw)
    if checked is False:
        msg = f"the catalog file {path} does not match its checksum: it was changed or damaged"
        raise CatalogFileError(msg, hint=_CHANGED_HINT)
    try:
        catalog = cast(_RawCatalog, raw)
        databases = tuple(_typed(name, str) for name in catalog["databases"])
        triggers = tuple(_load_trigger(item) for item in catalog["triggers"])
        next_id = max(
            [_typed(catalog["next_trigger_id"], int)] + [t.trigger_id + 1 for t in triggers]
        )
        raw_retention = catalog.get("retention_periods", {})
        retention = {_typed(db, str): _typed(seconds, int) for db, seconds in raw_retention.items()}
        caches = tuple(load_cache(item) for item in catalog.get("caches", []))
        state = CatalogState(next_id, databases, triggers, retention=retention, caches=caches)
    except (KeyError, TypeError, AttributeError, ValueError, CatalogError, TriggerSpecError) as exc:
        msg = f"the catalog file {path} is malformed: {exc!r}"
        raise CatalogFileError(msg, hint=_RESTORE_HINT) from exc
    return state, checked


_RESTORE_HINT: Final = "restore it from a backup, or move it aside to start with an empty catalog"
_CHANGED_HINT: Final = (
    "restore it from a backup of the data dir; the server did not start and changed nothing"
)


def write_catalog_file(path: Path, state: CatalogState) -> None:
    """Write ``state`` to ``path`` atomically; `CatalogFileError` when it cannot be written."""
    try:
        document = _RawCatalog(
            format_version=FORMAT_VERSION,
            next_trigger_id=state.next_id,
            databases=list(state.databases),
            triggers=[_dump_trigger(trigger) for trigger in state.triggers],
        )
        if state.retention:
            document["retention_periods"] = dict(sorted(state.retention.items()))
        if state.caches:
            document["caches"] = [dump_cache(cache) for cache in state.caches]
        path.parent.mkdir(parents=True, exist_ok=True)
        text = json.dumps(with_checksum(document), indent=2, ensure_ascii=False)
        write_atomic(path, text.encode("utf-8"))
    except OSError as exc:
        msg = f"cannot write the catalog file {path}: {exc}"
        raise CatalogFileError(msg, hint="check the data directory's permissions") from exc
