"""`SealedType`: classes a plugin cannot patch with a plain assignment (plugins share them)."""

from __future__ import annotations

__all__ = ["SealedType"]


class SealedType(type):
    """A class whose attributes cannot be assigned or deleted once it is made.

    Stops a plugin's plain ``TokenStore.lookup = ...`` or ``PluginApi.write = ...``;
    ``type.__setattr__`` still gets through, which is why the request path also keeps its own
    references (closures made at start).
    """

    def __setattr__(cls, name: str, value: object) -> None:
        message = f"{cls.__name__}.{name} cannot be changed: the server and every trigger share it"
        raise AttributeError(message)

    def __delattr__(cls, name: str) -> None:
        message = f"{cls.__name__}.{name} cannot be deleted: the server and every trigger share it"
        raise AttributeError(message)
