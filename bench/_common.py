"""What the bench scripts share: realistic line protocol, filler words, percentiles, checks.

Imported as ``from _common import ...``: the scripts run as ``python bench/NAME.py``, which puts
this directory first on ``sys.path``.
"""

from __future__ import annotations

from typing import Final

__all__ = [
    "AGENT_MEASUREMENTS",
    "BATCH",
    "MAX_SIZE",
    "MIN_SIZE",
    "WORDS",
    "BenchError",
    "check",
    "count_text",
    "machine_line",
    "make_agent_batch",
    "make_batch",
    "percentile",
]

#: lines per write batch
BATCH = 10_000
#: generated plugin files are this many bytes, give or take a function
MIN_SIZE, MAX_SIZE = 10_000, 70_000
#: filler for generated plugin code
WORDS = (
    "measurement field tag window point series bucket database trigger batch threshold alert "
    "downsample aggregate interval schedule payload record table value timestamp cache"
).split()


class BenchError(RuntimeError):
    """A run did not do the complete job, so its timing would mean nothing."""


def check(condition: bool, message: str) -> None:
    """Raise `BenchError` with ``message`` unless ``condition``."""
    if not condition:
        raise BenchError(message)


def make_batch(start: int, count: int = BATCH) -> str:
    """Realistic lines: 2 tags, 3 fields (float, int, float), distinct timestamps 1 s apart."""
    lines = [
        f"cpu,host=server{i % 20:02d},region=region{i % 4} usage_user={i % 97 + 0.25},"
        f"processes={i % 311}i,usage_idle={(i * 7) % 100 + 0.5} {i * 1_000_000_000}"
        for i in range(start, start + count)
    ]
    return "\n".join(lines)


#: the measurements of an agent batch, with their fields (as Telegraf's inputs write them)
AGENT_MEASUREMENTS: Final = {
    "cpu": "usage_user={a}.25,usage_system={b}.5,usage_idle={c}.75",
    "mem": "used={a}i,available={b}i,used_percent={c}.5",
    "disk": "used={a}i,free={b}i,used_percent={c}.25",
    "net": "bytes_recv={a}i,bytes_sent={b}i,err_in=0i",
    "system": "load1={a}.5,load5={b}.25,n_cpus=8i",
}


def make_agent_batch(index: int, count: int = BATCH) -> str:
    """Batch ``index`` as a metrics agent writes it: ``count`` lines, one per series (host and
    measurement), every series at the batch's one timestamp (10 s after the previous batch's)."""
    stamp = 1_700_000_000_000_000_000 + index * 10_000_000_000
    hosts = count // len(AGENT_MEASUREMENTS)
    lines = [
        f"{name},host=host{h:05d},region=region{h % 8} "
        f"{fields.format(a=(h * 7 + index) % 1000, b=(h * 13 + index) % 500, c=h % 100)} {stamp}"
        for name, fields in AGENT_MEASUREMENTS.items()
        for h in range(hosts)
    ]
    return "\n".join(lines)


def percentile(values: list[float], q: float) -> float:
    """The ``q`` quantile (0..1) of ``values``, nearest rank."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def count_text(value: float) -> str:
    """A count with thousands separators; one decimal when it is not whole (a median)."""
    return f"{value:,.0f}" if value == int(value) else f"{value:,.1f}"


def machine_line(load: float) -> str:
    """The footer every table ends with: the interpreter, the cores and the load around it."""
    import os
    import sys

    return (
        f"(Python {sys.version.split()[0]}, {os.cpu_count()} CPUs; 1-minute load average "
        f"{load:.2f} at the start, {os.getloadavg()[0]:.2f} at the end)"
    )
