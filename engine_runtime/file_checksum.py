"""The checksum a JSON file of the node's data carries about itself.

The files whose word decides what a node keeps or deletes (the store's ``files.json``, a
snapshot's ``manifest.json``, ``catalog.json`` and ``tokens.json``) hold one more top-level
field, written with the rest in one atomic replace::

    "checksum": "sha256:<hex>"

where ``<hex>`` is the SHA-256 of the canonical JSON of every *other* field: keys sorted, no
whitespace (``separators=(",", ":")``), every non-ASCII character escaped (``ensure_ascii``), so
the value does not depend on how the file is indented or in which order its keys were written.
One changed digit of a ``wal_seq`` or one changed character of a name no longer matches, and
the reader refuses the file before it acts on it.

A file without the field was written before checksums existed: it is read as before, once,
and its owner (the server, at start) rewrites it with one (`check_checksum` says None then).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any, Final

__all__ = ["CHECKSUM_FIELD", "check_checksum", "document_checksum", "with_checksum"]

#: the top-level field that holds the checksum
CHECKSUM_FIELD: Final = "checksum"
_PREFIX: Final = "sha256:"


def document_checksum(document: Mapping[str, Any]) -> str:
    """``sha256:<hex>`` of the canonical JSON of ``document`` without its checksum field."""
    rest = {key: value for key, value in document.items() if key != CHECKSUM_FIELD}
    canonical = json.dumps(rest, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return _PREFIX + hashlib.sha256(canonical.encode("ascii")).hexdigest()


def with_checksum(document: Mapping[str, Any]) -> dict[str, Any]:
    """``document`` with its checksum field set (last, after the fields it covers)."""
    rest = {key: value for key, value in document.items() if key != CHECKSUM_FIELD}
    return {**rest, CHECKSUM_FIELD: document_checksum(rest)}


def check_checksum(document: Mapping[str, Any]) -> bool | None:
    """Whether ``document`` matches its checksum: True; False when it does not (or the field
    is not a checksum); None when it has none (written before checksums)."""
    if CHECKSUM_FIELD not in document:
        return None
    found = document[CHECKSUM_FIELD]
    return isinstance(found, str) and found == document_checksum(document)
