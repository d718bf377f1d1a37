"""``system.tokens`` in the ``_internal`` database, as InfluxDB 3 Core lists its tokens.

Columns as upstream's ``TokenSystemTable``: ``token_id``, ``name``, ``hash`` (the first 9 hex
digits of the stored digest; left out on a server started ``--without-auth``), ``created_at``,
``description``, ``created_by_token_id``, ``updated_at``, ``updated_by_token_id``, ``expiry``
(null: never) and ``permissions`` (``*:*:*``, Core's only kind). Read from the token file at
query time, so a token made or deleted by another process shows at once.
``pluginmgr show tokens`` prints it: ``SELECT * FROM system.tokens`` on ``_internal``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

from engine_runtime.system_tables import publish_system_tables

if TYPE_CHECKING:
    from collections.abc import Mapping

    from engine_runtime import ProcessingEngine

    from .token_store import TokenStore

__all__ = ["TOKENS_TABLE", "publish_token_table", "token_rows"]

TOKENS_TABLE: Final = "tokens"
_DATABASE: Final = "_internal"
_HASH_DIGITS: Final = 9


def _schema(*, with_hash: bool) -> Any:
    import pyarrow as pa  # type: ignore[import-untyped]  # pyarrow ships no stubs

    stamp, text, number = pa.timestamp("ms"), pa.string(), pa.uint64()
    fields = [
        pa.field("token_id", number, nullable=False),
        pa.field("name", text, nullable=False),
        pa.field("hash", text, nullable=False),
        pa.field("created_at", stamp, nullable=False),
        pa.field("description", text),
        pa.field("created_by_token_id", number),
        pa.field("updated_at", stamp),
        pa.field("updated_by_token_id", number),
        pa.field("expiry", stamp),
        pa.field("permissions", text, nullable=False),
    ]
    return pa.schema([f for f in fields if with_hash or f.name != "hash"])


def _millis(seconds: float | None) -> int | None:
    return None if seconds is None else int(seconds * 1000)


def token_rows(tokens: TokenStore | None) -> list[dict[str, Any]]:
    """One row per stored token, oldest first; none without a store."""
    if tokens is None:
        return []
    return [
        {
            "token_id": record.id,
            "name": record.name,
            "hash": record.sha256[:_HASH_DIGITS],
            "created_at": _millis(record.created),
            "description": None,
            "created_by_token_id": None,
            "updated_at": _millis(record.updated),
            # upstream records the regenerated token itself as the updater
            "updated_by_token_id": None if record.updated is None else record.id,
            "expiry": _millis(record.expiry),
            "permissions": "*:*:*",
        }
        for record in tokens.records()
    ]


def publish_token_table(engine: ProcessingEngine, tokens: TokenStore | None) -> None:
    """Add ``system.tokens`` to the ``_internal`` database's system tables."""
    schema = _schema(with_hash=tokens is not None)

    def extra(database: str) -> Mapping[str, Any]:
        if database != _DATABASE:
            return {}
        return {TOKENS_TABLE: (schema, token_rows(tokens))}

    publish_system_tables(engine, extra=extra)
