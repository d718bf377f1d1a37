"""Every subprocess goes through `run`: list arguments (never a shell), a scrubbed environment, a
timeout, and the output captured. `check` is the explicit post-check: upstream InfluxDB ignores
pip's exit status; we raise `InstallError` with the relevant lines and keep the full log.
"""

from __future__ import annotations

import logging
import os
import re
import shlex
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from .atomic import atomic_write
from .errors import InstallError

__all__ = ["ProcessResult", "check", "run"]

_LOGGER = logging.getLogger(__name__)
# variables that would make an installer act on another environment than the one we name
_SCRUBBED: Final = (
    "PYTHONPATH",
    "PYTHONHOME",
    "PYTHONSTARTUP",
    "__PYVENV_LAUNCHER__",
    "VIRTUAL_ENV",
    "CONDA_PREFIX",
    "PIP_USER",
    "PIP_TARGET",
    "PIP_PREFIX",
    "PIP_REQUIRE_VIRTUALENV",
    "UV_SYSTEM_PYTHON",
    "UV_PYTHON",
)
# lines of uv / pip output that explain a failure
_RELEVANT: Final = re.compile(
    # uv prints "error: …" then "  cause: …" (older: a "\u00d7 …" / "\u2570\u2500\u25b6 …" tree)
    r"^\s*(?:error|ERROR|cause|hint|help|Because|Caused by|fatal)\b|^\s*[\u00d7\u2570]"
)
_MAX_LINES: Final = 6
# our message already says it failed; "error: " again would only stutter
_ERROR_PREFIX: Final = re.compile(r"^(?:error|ERROR):\s*")


@dataclass(frozen=True, slots=True)
class ProcessResult:
    """A finished command."""

    command: list[str]
    returncode: int
    stdout: str
    stderr: str
    seconds: float

    @property
    def output(self) -> str:
        return "\n".join(part for part in (self.stdout.strip(), self.stderr.strip()) if part)


def run(
    command: Sequence[str | Path],
    *,
    env_overrides: Mapping[str, str] | None = None,
    timeout: float = 900.0,
    cwd: Path | None = None,
) -> ProcessResult:
    """Run ``command`` to completion without a shell; a timeout or a missing program is an error."""
    argv = [str(part) for part in command]
    env = {k: v for k, v in os.environ.items() if k not in _SCRUBBED}
    env.update(env_overrides or {})
    _LOGGER.info("running %s", shlex.join(argv))
    start = time.perf_counter()
    try:
        done = subprocess.run(
            argv, capture_output=True, text=True, env=env, timeout=timeout, cwd=cwd, check=False
        )
    except FileNotFoundError as exc:
        raise InstallError(f"cannot run {argv[0]!r}: not found", command=argv) from exc
    except subprocess.TimeoutExpired as exc:
        message = f"{shlex.join(argv[:3])} … did not finish within {timeout:g}s"
        raise InstallError(
            message, command=argv, hint="check the network or raise the timeout"
        ) from exc
    return ProcessResult(
        argv, done.returncode, done.stdout, done.stderr, time.perf_counter() - start
    )


def relevant_lines(output: str) -> list[str]:
    """The lines that explain a failure: ``error:``/``cause:`` lines and uv's tree."""
    lines = [
        _ERROR_PREFIX.sub("", line.strip())
        for line in output.splitlines()
        if _RELEVANT.search(line)
    ]
    if not lines:
        lines = [line.strip() for line in output.splitlines() if line.strip()][-3:]
    return lines[:_MAX_LINES]


def check(result: ProcessResult, *, what: str, log_dir: Path | None = None) -> ProcessResult:
    """Return ``result`` if it succeeded; else raise `InstallError` with the relevant output.

    :param what: what was being done, for the message (``"installing pm-alpha"``).
    :param log_dir: where to keep the full output of a failure.
    """
    if result.returncode == 0:
        return result
    tool = Path(result.command[0]).name
    detail = "; ".join(relevant_lines(result.output)) or "no output"
    message = f"{what} failed ({tool} exit status {result.returncode}): {detail}"
    log_path = None
    if log_dir is not None:
        log = log_dir / f"pluginmgr-install-{time.strftime('%Y%m%dT%H%M%S')}-{os.getpid()}.log"
        body = f"$ {shlex.join(result.command)}\n{result.stdout}\n{result.stderr}"
        try:
            atomic_write(log, body.encode())
            log_path = str(log)
        except OSError:
            _LOGGER.warning("could not write %s", log)
    hint = f"full output in {log_path}" if log_path else None
    raise InstallError(
        message, command=result.command, output=result.output, log_path=log_path, hint=hint
    )
