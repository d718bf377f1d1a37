"""Sizes and durations given on the command line: ``512MiB``, ``2G``, ``1048576``; ``10m``,
``250ms``, ``0`` (no limit)."""

from __future__ import annotations

import re
from typing import Final

from ._serve_options import ServeError

__all__ = ["parse_seconds", "parse_size"]

_UNITS: Final = {
    "": 1,
    "b": 1,
    "k": 10**3,
    "kb": 10**3,
    "kib": 2**10,
    "m": 10**6,
    "mb": 10**6,
    "mib": 2**20,
    "g": 10**9,
    "gb": 10**9,
    "gib": 2**30,
    "t": 10**12,
    "tb": 10**12,
    "tib": 2**40,
}
_SIZE: Final = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*")


def parse_size(option: str, text: str) -> int:
    """``text`` in bytes; raises `ServeError` naming ``option`` for anything else."""
    match = _SIZE.fullmatch(text)
    unit = None if match is None else _UNITS.get(match.group(2).lower())
    if match is None or unit is None:
        raise ServeError(
            f"invalid {option} {text!r}: use a size such as 512MiB, 2GiB or a number of bytes"
        )
    size = int(float(match.group(1)) * unit)
    if size < 16 * 2**20:
        raise ServeError(f"invalid {option} {text!r}: a plugin host needs at least 16MiB")
    return size


def parse_seconds(option: str, text: str | None) -> float | None:
    """A duration option in seconds; None when unset or ``0`` (no limit)."""
    from engine_runtime import parse_duration

    if text is None or text.strip() == "0":
        return None
    try:
        return parse_duration(text) / 1e9
    except ValueError as exc:
        raise ServeError(f"invalid {option} {text!r}: {exc} (e.g. 1s, 250ms)") from None
