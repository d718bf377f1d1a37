"""One line of ``pluginmgr doctor``'s report: the `Check` value every node check returns."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final, Literal, TypeAlias

if TYPE_CHECKING:
    from .errors import PluginManagerError

__all__ = ["Check", "Status", "count", "fix_from"]

Status: TypeAlias = Literal["ok", "warn", "fail"]

_COMMAND_IN_HINT: Final = re.compile(r"`([^`]+)`")


@dataclass(frozen=True, slots=True)
class Check:
    """One line of the report: what was checked, how it went, what was found, and the command
    (or step) that fixes it when it did not go well."""

    name: str
    status: Status
    detail: str
    fix: str | None = None


def fix_from(exc: PluginManagerError, default: str | None) -> str | None:
    """The command in the error's hint (``run `…` ``), else its hint, else ``default``."""
    if exc.hint:
        found = _COMMAND_IN_HINT.search(exc.hint)
        return found.group(1) if found else exc.hint
    return default


def count(number: int, noun: str) -> str:
    """``1 blob``, ``2 blobs``, ``2 dependencies``."""
    if number == 1:
        return f"{number} {noun}"
    return f"{number} {noun[:-1]}ies" if noun.endswith("y") else f"{number} {noun}s"
