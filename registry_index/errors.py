"""Errors raised by `registry_index`.

Every error is a `RegistryIndexError`. Subclasses follow what the caller can do about it::

    RegistryIndexError
    ├── MetadataError       a manifest.toml, docstring header or plugin_library.json is malformed
    └── IndexFormatError    a registry index.json does not follow schema 2.0/2.1

Both carry the offending file (or index source) so a caller can print one useful line.
"""

from __future__ import annotations

__all__ = ["IndexFormatError", "MetadataError", "RegistryIndexError"]


class RegistryIndexError(Exception):
    """Root of every error `registry_index` raises."""


class MetadataError(RegistryIndexError):
    """Plugin metadata (manifest, docstring header, library file) is malformed."""

    def __init__(self, *, path: str, reason: str) -> None:
        self.path = path
        self.reason = reason
        message = f"{path}: {reason}"
        super().__init__(message)


class IndexFormatError(RegistryIndexError):
    """A registry index does not follow its schema."""

    def __init__(self, *, source: str, reason: str, entry: str | None = None) -> None:
        self.source = source
        self.reason = reason
        self.entry = entry
        where = f"{source} (plugin {entry})" if entry else source
        message = f"{where}: {reason}"
        super().__init__(message)
