"""The one `{{path}}` templating engine: rule action messages, URLs and payloads
(`engine.rules.actions`) and workflow activity configs (`engine.workflows.interpreter.decisions`).
Pure: workflow code uses it.

The rules (one set, every caller):

- A placeholder is `{{ expression }}` (spaces inside the braces are ignored). What an expression
  names is the caller's `resolve` function's business (a path into a context, `now`, `env.X`, ...);
  `lookup` is the path resolver both callers use: dot paths `a.b.0.c` and brackets `items[0].qty`
  into dicts and lists. `__proto__`, `constructor` and `prototype` never resolve (the guard the
  reference keeps against prototype walks).
- **Missing** (the path does not resolve): the placeholder is kept verbatim, `{{a.b}}`.
- A string that is **exactly one placeholder** (surrounding spaces allowed) becomes the typed value
  it names (number, bool, list, object, or `null`), copied.
- Inside text a value is stringified: **`null` renders as the empty string**, `true`/`false`, numbers
  as JavaScript prints them (`3.0` → `3`), lists and objects as compact JSON.
- Dict keys are never rendered; the input is never modified.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from engine.rules.jsonlogic import to_js_string


class _Missing:
    """Marks a path that does not resolve (JSON `null` is a real value)."""

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()
FORBIDDEN_SEGMENTS = frozenset({"__proto__", "constructor", "prototype"})
PLACEHOLDER = re.compile(r"\{\{\s*([^{}]*?)\s*\}\}")
_BRACKET = re.compile(r"\[([^\]]*)\]")

Resolver = Callable[[str], Any]


def lookup(data: Any, path: str) -> Any:
    """The value at `a.b.0.c` / `a.b[0].c` in dicts and lists, or `MISSING`."""
    if not path:
        return MISSING
    current = data
    for segment in _BRACKET.sub(r".\1", path).strip(".").split("."):
        if segment in FORBIDDEN_SEGMENTS:
            return MISSING
        if isinstance(current, Mapping):
            if segment not in current:
                return MISSING
            current = current[segment]
        elif isinstance(current, Sequence) and not isinstance(current, str) and segment.isdigit():
            index = int(segment)
            if index >= len(current):
                return MISSING
            current = current[index]
        else:
            return MISSING
    return current


def stringify(value: Any) -> str:
    """A value as it appears inside text (`null` → empty)."""
    if value is None:
        return ""
    if isinstance(value, Mapping | list | tuple):
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str)
    return to_js_string(value)


def interpolate(text: str, resolve: Resolver) -> str:
    """Every placeholder in `text` stringified (missing ones kept verbatim)."""
    if "{{" not in text:
        return text

    def substitute(match: re.Match[str]) -> str:
        value = resolve(match.group(1))
        return match.group(0) if value is MISSING else stringify(value)

    return PLACEHOLDER.sub(substitute, text)


def render(value: Any, resolve: Resolver) -> Any:
    """Deep templating of a JSON value (see the module docstring)."""
    if isinstance(value, str):
        whole = PLACEHOLDER.fullmatch(value.strip())
        if whole is not None:
            resolved = resolve(whole.group(1))
            return value if resolved is MISSING else copy.deepcopy(resolved)
        return interpolate(value, resolve)
    if isinstance(value, Mapping):
        return {key: render(item, resolve) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [render(item, resolve) for item in value]
    return value


def path_resolver(context: Any) -> Resolver:
    """Placeholders as paths into `context` (the rule actions' namespace)."""
    return lambda expression: lookup(context, expression)
