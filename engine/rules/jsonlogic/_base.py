"""Limits, the error type and the shared sentinels of the JsonLogic package."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, Final, Protocol

MAX_DEPTH: Final = 64
"""Maximum JSON nesting of a rule (every object and array is one level)."""
MAX_NODES: Final = 10_000
"""Maximum number of JSON values (objects, arrays and scalars) in a rule."""
MAX_RESULT_LENGTH: Final = 1_000_000
"""Maximum length of a string built by ``cat`` or an array built by ``merge``."""
MAX_VALUE_DEPTH: Final = 256
"""Maximum nesting of a value that evaluation has to walk (stringify, result clean-up)."""

_MAX_SAFE_INT: Final = 2**53
_INF: Final = math.inf
_NAN: Final = math.nan
_NUM: Final = frozenset({int, float})
_SCALARS: Final = frozenset({str, int, float, bool, type(None)})
# JS WhiteSpace + LineTerminator (String.prototype.trim, Number("  1 ")).
_JS_WS: Final = "\t\n\v\f\r \u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"

Fn = Callable[[Any], Any]


class JsonLogicError(ValueError):
    """The rule is invalid (unknown operator, bad arity, over budget) or evaluation ran away."""


class CompiledLogic(Protocol):
    def __call__(self, data: Any, /) -> Any: ...


class _Missing:
    __slots__ = ()

    def __repr__(self) -> str:
        return "<missing>"


_MISSING: Final = _Missing()
