"""The docstring JSON header of a plugin file (plugin-library.md §2.1).

The module docstring of an official plugin is a JSON object::

    {"plugin_type": ["scheduled", "onwrite"],
     "scheduled_args_config": [{"name", "example", "description", "required"}, ...], ...}

The plugin is never imported or executed: `ast` locates the docstring and the JSON is read from
the *raw* file text first, because real headers hold `\\"` in non-raw docstrings that Python
would unescape into invalid JSON (signal_generator.py). When the file does not parse as Python, a
small scanner finds the first triple-quoted string instead.
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final

from registry_index._fields import FieldError, get_bool, get_list, get_str
from registry_index.errors import MetadataError

__all__ = ["PLUGIN_TYPES", "ArgSpec", "PluginHeader", "read_plugin_header"]

#: the docstring `plugin_type` vocabulary (plugin-library.md §2.2)
PLUGIN_TYPES: Final = frozenset({"scheduled", "onwrite", "http"})
#: docstring plugin_type -> manifest trigger (plugin-library.md §2.2)
_TRIGGERS: Final = {
    "onwrite": "process_writes",
    "scheduled": "process_scheduled_call",
    "http": "process_request",
}
_CONFIG_SUFFIX: Final = "_config"
# comments, blank lines and an encoding/shebang line may precede the docstring
_LEAD = re.compile(r"(?:\s+|#[^\n]*)*")
_OPEN = re.compile(r"([rRuUbBfF]{0,2})(\"\"\"|''')")

Example = str | int | float | bool | None


@dataclass(frozen=True, slots=True)
class ArgSpec:
    """One trigger argument declared in a header: `{name, example, description, required}`."""

    name: str
    example: Example = None
    description: str = ""
    required: bool = False


@dataclass(frozen=True, slots=True)
class PluginHeader:
    """A parsed docstring header.

    `configs` maps each `*_config` key (`scheduled_args_config`, `http_body_config`, ...) to its
    argument list, in file order.
    """

    plugin_types: tuple[str, ...]
    configs: dict[str, tuple[ArgSpec, ...]] = field(default_factory=dict)

    @property
    def triggers(self) -> tuple[str, ...]:
        """The header's plugin types in the manifest vocabulary (`process_writes`, ...)."""
        return tuple(_TRIGGERS[kind] for kind in self.plugin_types)

    def args_for(self, plugin_type: str) -> tuple[ArgSpec, ...]:
        """The arguments declared for one plugin type (`scheduled`, `onwrite` or `http`)."""
        return self.configs.get(f"{plugin_type}_args{_CONFIG_SUFFIX}", ())


def read_plugin_header(source: str, *, path: str) -> PluginHeader | None:
    """Read the JSON header of a plugin's source text; `path` names the file in errors.

    Returns None when the file has no docstring or its docstring is not a JSON object; raises
    `MetadataError` when the docstring looks like JSON (starts with `{`) but is malformed.
    """
    candidates = _docstring_candidates(source)
    if not candidates or not candidates[0].lstrip().startswith("{"):
        return None
    data: object = None
    first_error: json.JSONDecodeError | None = None
    for text in candidates:
        try:
            data = json.loads(text)
            break
        except json.JSONDecodeError as exc:
            first_error = first_error or exc
    else:
        reason = f"docstring header is not valid JSON: {first_error}"
        raise MetadataError(path=path, reason=reason)
    try:
        return _header_from(data)
    except FieldError as exc:
        raise MetadataError(path=path, reason=f"docstring header: {exc}") from None


def _docstring_candidates(source: str) -> list[str]:
    """The docstring as raw text, then as Python evaluates it (deduplicated)."""
    try:
        module = ast.parse(source)
    except (SyntaxError, ValueError):
        raw = _scan_first_string(source)
        return [] if raw is None else [raw]
    if ast.get_docstring(module, clean=False) is None:
        return []
    node = module.body[0]
    if not (isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)):
        return []  # unreachable: get_docstring found one
    evaluated = str(node.value.value)
    segment = ast.get_source_segment(source, node.value)
    raw = _scan_first_string(segment) if segment else None
    return [raw, evaluated] if raw is not None and raw != evaluated else [evaluated]


def _scan_first_string(source: str) -> str | None:
    """The body of the first triple-quoted string, if only comments and blanks precede it."""
    start = _LEAD.match(source)
    position = start.end() if start else 0
    opening = _OPEN.match(source, position)
    if opening is None:
        return None
    quote = opening.group(2)
    body_start = opening.end()
    index = body_start
    while True:
        index = source.find(quote, index)
        if index < 0:
            return None
        if _escaped(source, index):
            index += 1
            continue
        return source[body_start:index]


def _escaped(text: str, index: int) -> bool:
    backslashes = 0
    while index - backslashes - 1 >= 0 and text[index - backslashes - 1] == "\\":
        backslashes += 1
    return backslashes % 2 == 1


def _header_from(data: object) -> PluginHeader:
    if not isinstance(data, Mapping):
        raise FieldError("the JSON must be an object")
    kinds = get_list(data, "plugin_type", where="", required=True)
    unknown = [kind for kind in kinds if kind not in PLUGIN_TYPES]
    if unknown or not kinds:
        allowed = ", ".join(sorted(PLUGIN_TYPES))
        raise FieldError(f"plugin_type must be a non-empty list of {allowed}; got {kinds!r}")
    configs: dict[str, tuple[ArgSpec, ...]] = {}
    for key in data:
        if key.endswith(_CONFIG_SUFFIX):
            items = get_list(data, key, where="")
            configs[key] = tuple(_arg_from(item, f"{key}[{i}]") for i, item in enumerate(items))
    return PluginHeader(plugin_types=tuple(str(kind) for kind in kinds), configs=configs)


def _arg_from(item: object, where: str) -> ArgSpec:
    if not isinstance(item, Mapping):
        raise FieldError(f"{where} must be an object with name, example, description, required")
    at = f"{where}."
    example = item.get("example")
    if example is not None and not isinstance(example, str | int | float | bool):
        raise FieldError(f"{at}example must be a string or a number, got {example!r}")
    description = item.get("description", "")
    if not isinstance(description, str):
        raise FieldError(f"{at}description must be a string, got {description!r}")
    return ArgSpec(
        name=get_str(item, "name", where=at),
        example=example,
        description=description,
        required=get_bool(item, "required", where=at, default=False),
    )
