"""Every subprocess goes through `run`: list arguments (never a shell), a scrubbed environment, a
timeout, and the output captured. `check` is the explicit post-check: upstream InfluxDB ignores
pip's exit status; we raise `InstallError` with the relevant lines and keep the full log (the
last `KEPT_LOGS` logs of a directory are kept, older ones deleted).

Inside ``with streaming_to(sink):`` every command's stderr lines (uv's "Downloading …",
"Installed 3 packages …") are also handed to ``sink`` as they come, for a client waiting on a
long install. The sink is context-local (a `ContextVar`), so the installers and the venv in
between need no extra parameter, and a thread that did not ask for lines gets none.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import os
import re
import shlex
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from .atomic import atomic_write
from .errors import InstallError

__all__ = ["KEPT_LOGS", "LOG_PREFIX", "ProcessResult", "check", "run", "streaming_to"]

#: how many failure logs `check` keeps in a log directory
KEPT_LOGS: Final = 20
LOG_PREFIX: Final = "pluginmgr-install-"
_LOG_NUMBERS: Final = itertools.count()  # two failures in one second keep two logs
_SINK: ContextVar[Callable[[str], None] | None] = ContextVar("pluginmgr_line_sink", default=None)

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
    sink = _SINK.get()
    try:
        if sink is not None:
            done = _run_streamed(argv, env, timeout, cwd, sink)
        else:
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


@contextlib.contextmanager
def streaming_to(sink: Callable[[str], None] | None) -> Iterator[None]:
    """Hand every stderr line of the commands run inside (this context) to ``sink`` too."""
    token = _SINK.set(sink)
    try:
        yield
    finally:
        _SINK.reset(token)


def _run_streamed(
    argv: list[str],
    env: Mapping[str, str],
    timeout: float,
    cwd: Path | None,
    sink: Callable[[str], None],
) -> subprocess.CompletedProcess[str]:
    """`subprocess.run` with stderr read line by line, each non-blank one to ``sink`` until the
    first error line (the failure is reported once, by `check`)."""
    with subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=cwd
    ) as process:
        assert process.stdout is not None and process.stderr is not None  # noqa: S101 - PIPE
        out, err = process.stdout, process.stderr
        stdout: list[str] = []
        reader = threading.Thread(target=lambda: stdout.append(out.read()), daemon=True)
        reader.start()
        expired = threading.Event()

        def kill() -> None:
            expired.set()
            process.kill()

        timer = threading.Timer(timeout, kill)
        timer.start()
        errors: list[str] = []
        failing = False  # from uv's first error line on, `check` reports the rest
        try:
            for line in err:
                errors.append(line)
                failing = failing or bool(_RELEVANT.search(line))
                if line.strip() and not failing:
                    _tell(sink, line.rstrip())
            process.wait()
        finally:
            timer.cancel()
            reader.join()
        if expired.is_set():
            raise subprocess.TimeoutExpired(argv, timeout)
    return subprocess.CompletedProcess(argv, process.returncode, "".join(stdout), "".join(errors))


def _tell(sink: Callable[[str], None], line: str) -> None:
    try:
        sink(line)
    except Exception:  # a listener gone away must not stop the command or leave it blocked
        _LOGGER.debug("progress listener failed", exc_info=True)


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
    body = f"$ {shlex.join(result.command)}\n{result.stdout}\n{result.stderr}"
    log_path = keep_log(log_dir, LOG_PREFIX, body) if log_dir is not None else None
    hint = f"full output in {log_path}" if log_path else None
    raise InstallError(
        message, command=result.command, output=result.output, log_path=log_path, hint=hint
    )


def keep_log(log_dir: Path, prefix: str, body: str) -> str | None:
    """Write ``body`` to a new ``PREFIX<time>-<pid>-<n>.log`` in ``log_dir`` (atomically), keep
    the newest `KEPT_LOGS` of that prefix; the path, or None when it could not be written."""
    stamp = f"{time.strftime('%Y%m%dT%H%M%S')}-{os.getpid()}-{next(_LOG_NUMBERS):04d}"
    log = log_dir / f"{prefix}{stamp}.log"
    try:
        log_dir.mkdir(parents=True, exist_ok=True)
        atomic_write(log, body.encode())
        _prune_logs(log_dir, prefix)
    except OSError:
        _LOGGER.warning("could not write %s", log)
        return None
    return str(log)


def _prune_logs(log_dir: Path, prefix: str) -> None:
    """Keep the newest `KEPT_LOGS` logs of ``log_dir`` whose names start with ``prefix``."""
    logs = []
    for path in log_dir.glob(f"{prefix}*.log"):
        with contextlib.suppress(OSError):
            logs.append((path.stat().st_mtime_ns, path.name, path))
    for _mtime, _name, path in sorted(logs)[:-KEPT_LOGS]:
        with contextlib.suppress(OSError):
            path.unlink()
