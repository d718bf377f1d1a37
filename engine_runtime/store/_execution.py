"""Internal: running one SQL query on DataFusion: the read-only session context
(`new_context`), planning it with its parameters (`plan`),
streaming its record batches under the query's guard (`batches`), and the error a failure
becomes (`execution_error`)."""

from __future__ import annotations

import ast
import asyncio
import os
import re
from collections.abc import Iterator
from typing import Any, Final, cast

import pyarrow as pa  # type: ignore[import-untyped]  # pyarrow ships no stubs
from datafusion import DataFrame, RuntimeEnvBuilder, SessionConfig, SessionContext, SQLOptions

from engine_runtime.errors import (
    QueryExecutionError,
)
from engine_runtime.python_source import parse_python
from engine_runtime.store._guard import QueryGuard

__all__ = [
    "ANSWER_VALUE_BYTES",
    "PARTITIONS",
    "SQL_OPTIONS",
    "batches",
    "clean_error",
    "execution_error",
    "new_context",
    "plan",
]


def plan(context: SessionContext, sql: str, values: dict[str, str] | None) -> DataFrame:
    """Plan and optimise ``sql``; any failure is a planning QueryExecutionError."""
    try:
        frame = context.sql_with_options(sql, SQL_OPTIONS, param_values=values)
        frame.optimized_logical_plan()  # type coercion and optimiser errors are planning too
    except Exception as exc:
        msg = f"error while planning query: {clean_error(exc)}"
        raise QueryExecutionError(msg) from exc
    return frame


def execution_error(exc: Exception) -> QueryExecutionError:
    return QueryExecutionError(f"error while executing query: {clean_error(exc)}")


def batches(stream: Any, guard: QueryGuard | None = None) -> Iterator[pa.RecordBatch]:
    """DataFusion's record batch stream as pyarrow batches; failures as `execution_error`.

    Without ``guard`` each batch is a blocking ``next``. With one, each batch is awaited on a
    private event loop and ``guard`` is checked every `_POLL_SECONDS` while DataFusion works:
    when it stops the query the pending batch is cancelled, which drops DataFusion's future at
    its next cooperative yield (a blocking ``next`` cannot be interrupted, and an aggregate
    over a cross join computes for minutes before its first batch), and the stream is dropped,
    which aborts its partitions still running.
    """
    if guard is None or _loop_running():
        yield from _blocking_batches(stream)
        return
    loop = asyncio.new_event_loop()
    try:
        while True:
            guard.check()
            batch = loop.run_until_complete(_next_batch(stream, guard))
            if batch is _STOPPED:
                # dropped before raising: the error's traceback must not keep it running
                stream = None
                guard.check()
            if batch is None:
                return
            arrow = batch.to_pyarrow()
            values = arrow.num_rows * arrow.num_columns
            guard.charge(max(arrow.nbytes, values * ANSWER_VALUE_BYTES))
            yield arrow
    finally:
        stream = None
        loop.close()


def _loop_running() -> bool:
    """Whether this thread runs an event loop (where a private one cannot run)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def _blocking_batches(stream: Any) -> Iterator[pa.RecordBatch]:
    try:
        while True:
            try:
                batch = next(stream, None)
            except Exception as exc:
                raise execution_error(exc) from exc
            if batch is None:
                return
            yield batch.to_pyarrow()
    finally:
        del stream


#: what one value of a result costs once it is an answer (a Python object in a row, its JSON
#: text): a guard's result budget counts this or the Arrow size, whichever is larger
ANSWER_VALUE_BYTES: Final = 64
#: how often a running query looks at its guard: a stopped query frees its CPU this soon
_POLL_SECONDS: Final = 0.05


_STOPPED: Final = object()


async def _next_batch(stream: Any, guard: QueryGuard) -> Any:
    """The stream's next batch, None at its end, `_STOPPED` as soon as ``guard`` stops."""
    pending = asyncio.ensure_future(stream.__anext__())
    while True:
        done, _ = await asyncio.wait({pending}, timeout=_POLL_SECONDS)
        if done:
            break
        if guard.expired() or guard.cancelled:
            pending.cancel()  # DataFusion drops the future at its next cooperative yield
            await asyncio.wait({pending})
            return _STOPPED
    try:
        return pending.result()
    except StopAsyncIteration:
        return None
    except Exception as exc:
        raise execution_error(exc) from exc


PARTITIONS: Final = max(1, os.cpu_count() or 1)


# Plugins may only read: no CREATE/INSERT/SET in a shared context.
SQL_OPTIONS: Final = (
    SQLOptions().with_allow_ddl(False).with_allow_dml(False).with_allow_statements(False)
)


def new_context(memory_bytes: int) -> SessionContext:
    config = (
        SessionConfig()
        .with_default_catalog_and_schema("public", "iox")
        .with_information_schema(True)
        .with_target_partitions(PARTITIONS)
    )
    runtime = RuntimeEnvBuilder().with_disk_manager_os().with_fair_spill_pool(memory_bytes)
    return SessionContext(config, runtime)


#: how DataFusion shows an exception raised by a Python callback (a table function)
_PY_ERR: Final = re.compile(
    r"(?:Execution error: )?PyErr \{ type: <class '[\w.]+'>, value: \w+\("
    r"(?P<message>'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\")\)(?:, traceback: .*)? \}$",
    re.DOTALL,
)


def clean_error(exc: Exception) -> str:
    text = str(exc)
    while text.startswith("DataFusion error: "):
        text = text.removeprefix("DataFusion error: ")
    callback = _PY_ERR.match(text)
    if callback is not None:  # the callback's own message, not its repr and traceback
        literal = cast("ast.Expr", parse_python(callback.group("message")).body[0])  # AST lock
        message: str = ast.literal_eval(literal.value)
        return message
    return text
