"""JsonLogic compiled into nested Python closures: compile a rule once, evaluate it many times.

Pure module (stdlib only, no I/O, no clock, no randomness, no eval/exec), so it is safe inside
Temporal workflow code. ``compile_logic(rule)`` validates the whole rule up front (unknown
operators, arity, nesting depth, node budget, unsafe regular expressions) and returns a plain
function ``data -> result``; cache it by rule id/version, compiling costs 3-65 µs per rule.

Semantics follow json-logic-js 2.x (the reference behind the official test suite, which passes
277/277). Values are JSON values: ``None`` is null, ``dict`` an object, ``list`` an array.
Python's own rules are *not* used where they differ from JavaScript:

==================================  ===============================================================
Question                            Decision (json-logic-js unless marked *)
==================================  ===============================================================
truthiness                          falsy: ``false``, ``null``, ``0``, ``NaN``, ``""``, ``[]``.
                                    ``{}`` is **truthy** (JS object), ``"0"`` is **truthy**.
``var`` default                     applied only when the path is *absent*; a present ``null`` is
                                    returned as ``null``. A path through a scalar or ``null`` is
                                    absent. Dotted paths index arrays (``"items.0.qty"``);
                                    ``"x.length"`` is the length of an array or string.
                                    ``""``/``null`` path = the whole data.
``missing``                         a key is missing when its value is absent, ``null`` **or**
                                    ``""``; ``missing_some`` uses the same test.
``==`` / ``!=``                     JS abstract equality: ``1 == "1"``, ``0 == ""``,
                                    ``false == "0"``, ``[1] == 1`` are true; ``null == 0`` is false;
                                    arrays/objects compare by identity.
``===`` / ``!==``                   type-strict: ``1 === true`` is false (bool is never a number),
                                    ``1 === 1.0`` is true.
``<`` ``<=`` ``>`` ``>=``           JS relational: two strings compare lexically (UTF-16 code
                                    units), so ``"2" < "10"`` is false; otherwise both sides become
                                    numbers (``null`` -> 0, ``"abc"`` -> NaN, and any comparison
                                    with NaN is false), so ``"2" < 10`` is true and
                                    ``null < 1`` is true. 3 arguments on ``<``/``<=`` = between.
``in``                              haystack string: substring test on the needle's JS string form
                                    (``{"in": [1, "a1b"]}`` is true; an empty haystack is false).
                                    Haystack array: strict equality (``1`` not in ``["1"]``).
                                    Anything else (``null``, numbers, objects): false.
``+`` ``*``                         ``parseFloat`` on each argument (``"1.5abc"`` -> 1.5,
                                    ``null``/``""``/bools -> NaN). ``*`` with one argument returns it
                                    unchanged, as json-logic-js does.
``-`` ``/`` ``%``                   ``Number()`` coercion; ``%`` takes the sign of the dividend
                                    (``-1 % 2 == -1``).
division by zero, NaN, Infinity     computed as in JS *during* evaluation (``1/0`` is Infinity, so
                                    ``{">": [{"/": [1, 0]}, 5]}`` is true), but a non-finite number
                                    that reaches the *result* is returned as ``null`` -- what
                                    ``JSON.stringify`` makes of it, and representable in JSON. *
``min`` / ``max``                   ``Number()`` of each argument; NaN if any is not numeric;
                                    ``{"max": [[1, 5]]}`` is NaN (no array unwrapping); no
                                    arguments -> Infinity/-Infinity, i.e. ``null`` in the result. *
number results                      integral floats within +-2**53 come back as ``int`` (``4/2`` is
                                    ``2``, not ``2.0``); ints beyond +-2**53 become floats, as
                                    JS doubles. *
``cat``                             JS ``Array.join``: ``null`` -> ``""``, ``true`` -> ``"true"``,
                                    ``1.0`` -> ``"1"``, ``[1,2]`` -> ``"1,2"``, objects ->
                                    ``"[object Object]"``. Elsewhere ``String(null)`` is ``"null"``.
``substr``                          JS ``substr`` with negative start/length; indexes count code
                                    points, not UTF-16 units (differs only for astral chars). *
``and`` / ``or``                    return the deciding operand (not a bool); ``[]`` -> ``null``.
``all`` / ``some`` / ``none``       over an array (or a string's characters); any other value,
                                    including ``null``, counts as empty: all -> false,
                                    some -> false, none -> true. ``all`` of ``[]`` is false.
``map``/``filter``/``reduce``       a non-array source gives ``[]`` (``reduce``: the initial value).
``log``                             returns its argument and prints nothing. *
objects with 0 or 2+ keys           literal data (never evaluated), as in json-logic-js. A one-key
                                    object is always an operator; an unknown one is an error. *
==================================  ===============================================================

Rejected at compile time with :class:`JsonLogicError` (json-logic-js would return junk or throw
at run time) *: unknown operators, wrong argument counts (e.g. ``{"==": [1]}``, ``{"*": []}``),
nesting deeper than ``MAX_DEPTH`` JSON levels, more than ``MAX_NODES`` JSON values, values that
are not JSON (tuples, sets, objects), and constant regular expressions that ``matches`` refuses.
Evaluation raises :class:`JsonLogicError` only when a ``cat``/``merge`` result would exceed
``MAX_RESULT_LENGTH`` or a value is nested deeper than ``MAX_VALUE_DEPTH`` (runaway ``reduce``).

Extra operators (not in json-logic-js; all return bools) back :func:`translate_condition_tree`,
which converts the reference's business-rule conditions (open-mercato-behaviour.md section 3.3)
into JsonLogic with the reference's own semantics:

=====================================  ===========================================================
Operator                               Meaning
=====================================  ===========================================================
``{"equals": [l, r]}``                 reference ``=``: both null -> true; one null -> false;
                                       either side a number -> ``Number(l) === Number(r)``;
                                       otherwise strict equality.
``{"order_gt"|"order_gte"|"order_lt"   reference ``>`` ``>=`` ``<`` ``<=``: null sorts below
|"order_lte": [l, r]}``                everything (two nulls are equal); two ``YYYY-MM-DD...``
                                       strings compare as instants (no offset = UTC; invalid ->
                                       false); two ``Number()``-coercible values compare
                                       numerically; otherwise a locale-like string order
                                       (accent- and case-insensitive first, approximating
                                       ``localeCompare``).
``{"in_list": [l, r]}``                ``r`` is an array with an element ``equals`` to ``l``;
                                       false when ``r`` is not an array.
``{"contains": [l, r]}``               ``l`` array: an element ``equals`` ``r``; ``l`` string:
                                       ``String(r)`` is a substring; otherwise false.
``{"starts_with"|"ends_with": [l, r]}``  prefix/suffix on ``String()`` of both; null -> false.
``{"matches": [l, pattern]}``          regular-expression search (JS syntax subset, see below).
``{"is_empty": [v]}``                  null, whitespace-only string, ``[]`` or ``{}``.
``{"preserve": value}``                ``value`` unevaluated (json-logic-engine's operator).
=====================================  ===========================================================

``matches`` runs on a small built-in engine that simulates the automaton (lazily built DFA), so
matching is linear in the input -- Python's ``re`` backtracks, and even ``.*.*x`` against 10 000
characters takes minutes there. Supported: literals, ``.``, classes ``[a-z]``/``[^...]``,
``\\d \\w \\s \\D \\W \\S \\b \\B``, ``^ $`` (no multiline), groups ``( )``/``(?: )``/
``(?<name> )``, ``|``, ``* + ? {n} {n,} {n,m}`` (lazy forms allowed). Refused: patterns longer
than 200 characters, backreferences, lookaround, flags, more than 100 repetitions, and nested
quantifiers the way the reference refuses ``(..+)+``: an unbounded repeat of anything quantified
(``(a+)+``, ``(a{2})*``, ``(\\w+\\.)+``) or a bounded repeat of something unbounded (``(a+){2}``);
``(?:\\d{3}-){2}`` is fine.
A constant pattern that is refused is a compile error; a pattern read from data that is refused,
an input over 10 000 characters, a non-string input or an exhausted work budget give ``false``
(the reference's "any problem -> false").
"""

from __future__ import annotations

import copy
import math
import operator
import re
import unicodedata
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any, Final, Protocol

__all__ = [
    "CONDITION_OPERATORS",
    "CONTEXT_KEY",
    "MAX_DEPTH",
    "MAX_NODES",
    "MAX_RESULT_LENGTH",
    "MAX_VALUE_DEPTH",
    "OPERATORS",
    "CompiledLogic",
    "JsonLogicError",
    "apply",
    "compile_logic",
    "loose_equals",
    "strict_equals",
    "to_js_string",
    "to_number",
    "translate_condition_tree",
    "truthy",
]

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


# --------------------------------------------------------------------------------------------
# JS value semantics
# --------------------------------------------------------------------------------------------


def truthy(value: Any) -> bool:
    """json-logic-js ``truthy``: JS truthiness, except that an empty array is falsy."""
    if value is True:
        return True
    if value is False or value is None:
        return False
    t = type(value)
    if t is dict:
        return True
    if t is float:
        return bool(value == value and value != 0.0)
    if isinstance(value, Mapping):
        return True
    return bool(value)


def _norm(x: int | float) -> int | float:
    """Arithmetic result as JSON wants it: integral floats as int, huge ints as float."""
    if isinstance(x, float):
        if x.is_integer() and -_MAX_SAFE_INT <= x <= _MAX_SAFE_INT:
            return int(x)
        return x
    if -_MAX_SAFE_INT <= x <= _MAX_SAFE_INT:
        return x
    return _int_to_float(x)


def _int_to_float(x: int) -> float:
    try:
        return float(x)
    except OverflowError:
        return _INF if x > 0 else -_INF


_DEC_LITERAL = re.compile(r"[+-]?(?:Infinity|(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?)")
_RADIX_LITERAL = re.compile(r"0([xX][0-9a-fA-F]+|[oO][0-7]+|[bB][01]+)")
_PARSE_FLOAT = re.compile(
    r"[\t\n\v\f\r \u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff]*"
    r"([+-]?(?:Infinity|(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?))"
)


def _literal_to_number(text: str) -> int | float:
    if text.endswith("Infinity"):
        return -_INF if text[0] == "-" else _INF
    return _norm(float(text))


def _str_to_number(s: str) -> int | float:
    s = s.strip(_JS_WS)
    if not s:
        return 0
    if _DEC_LITERAL.fullmatch(s):
        return _literal_to_number(s)
    m = _RADIX_LITERAL.fullmatch(s)
    if m:
        base = {"x": 16, "o": 8, "b": 2}[m.group(1)[0].lower()]
        return _norm(int(m.group(1)[1:], base))
    return _NAN


def to_number(value: Any) -> int | float:
    """JS ``Number(value)``."""
    t = type(value)
    if t is int or t is float:
        return value  # type: ignore[no-any-return]
    if t is str:
        return _str_to_number(value)
    if value is None:
        return 0
    if t is bool:
        return 1 if value else 0
    if isinstance(value, list):
        return _str_to_number(to_js_string(value))
    if isinstance(value, bool):
        return 1 if value else 0
    if isinstance(value, int | float):
        return _norm(value)
    return _NAN


def _parse_float(value: Any) -> int | float:
    """JS ``parseFloat(value)``: the longest numeric prefix of ``String(value)``."""
    t = type(value)
    if t is int or t is float:
        return value  # type: ignore[no-any-return]
    if t is str:
        text = value
    elif value is None or isinstance(value, bool):
        return _NAN
    elif isinstance(value, int | float):
        return _norm(value)
    else:
        text = to_js_string(value)
    m = _PARSE_FLOAT.match(text)
    if m is None:
        return _NAN
    return _literal_to_number(m.group(1))


def _float_to_js(x: float) -> str:
    """JS ``Number.prototype.toString()`` for a float (shortest round-trip digits)."""
    if x != x:
        return "NaN"
    if x == _INF:
        return "Infinity"
    if x == -_INF:
        return "-Infinity"
    if x == 0:
        return "0"
    if x < 0:
        return "-" + _float_to_js(-x)
    mantissa, _, exp_text = repr(x).partition("e")
    exp = int(exp_text) if exp_text else 0
    int_part, _, frac_part = mantissa.partition(".")
    if int_part.strip("0"):
        digits = (int_part + frac_part).lstrip("0")
        n = len(int_part.lstrip("0")) + exp
    else:
        stripped = frac_part.lstrip("0")
        n = exp - (len(frac_part) - len(stripped))
        digits = stripped
    digits = digits.rstrip("0") or "0"
    k = len(digits)
    if k <= n <= 21:
        return digits + "0" * (n - k)
    if 0 < n <= 21:
        return digits[:n] + "." + digits[n:]
    if -6 < n <= 0:
        return "0." + "0" * (-n) + digits
    e = n - 1
    head = digits[0] + ("." + digits[1:] if k > 1 else "")
    return f"{head}e{'+' if e >= 0 else '-'}{abs(e)}"


def to_js_string(value: Any, _depth: int = 0) -> str:
    """JS ``String(value)`` (arrays join with ``,`` and render null as empty, like JS)."""
    t = type(value)
    if t is str:
        return value  # type: ignore[no-any-return]
    if value is None:
        return "null"
    if t is bool:
        return "true" if value else "false"
    if t is int:
        if -_MAX_SAFE_INT <= value <= _MAX_SAFE_INT:
            return str(value)
        return _float_to_js(_int_to_float(value))  # JS numbers are doubles
    if t is float:
        return _float_to_js(value)
    if isinstance(value, list):
        if _depth >= MAX_VALUE_DEPTH:
            raise JsonLogicError(f"value nested deeper than {MAX_VALUE_DEPTH} levels")
        text = ",".join("" if v is None else to_js_string(v, _depth + 1) for v in value)
        if len(text) > MAX_RESULT_LENGTH:
            raise JsonLogicError(f"string longer than {MAX_RESULT_LENGTH} characters")
        return text
    if isinstance(value, Mapping):
        return "[object Object]"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return str(value)
    if isinstance(value, int | float):
        return to_js_string(_norm(value))
    return str(value)


def _to_primitive(value: Any) -> Any:
    """JS ToPrimitive (hint number) for JSON values: arrays/objects become strings."""
    if isinstance(value, list):
        return to_js_string(value)
    if isinstance(value, Mapping):
        return "[object Object]"
    return value


def _is_number(value: Any) -> bool:
    t = type(value)
    return t is int or t is float or (isinstance(value, int | float) and not isinstance(value, bool))


def loose_equals(a: Any, b: Any) -> bool:
    """JS ``a == b``."""
    ta = type(a)
    if ta is type(b) and ta is not list and ta is not dict:
        return bool(a == b)
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, bool):
        return loose_equals(1 if a else 0, b)
    if isinstance(b, bool):
        return loose_equals(a, 1 if b else 0)
    a_obj = isinstance(a, list | Mapping)
    b_obj = isinstance(b, list | Mapping)
    if a_obj and b_obj:
        return a is b
    if a_obj:
        return loose_equals(_to_primitive(a), b)
    if b_obj:
        return loose_equals(a, _to_primitive(b))
    if _is_number(a):
        return bool(a == (b if _is_number(b) else to_number(b)))
    if _is_number(b):
        return bool(to_number(a) == b)
    return bool(a == b)


def strict_equals(a: Any, b: Any) -> bool:
    """JS ``a === b`` (``True`` is not ``1``; ``1`` is ``1.0``; arrays/objects by identity)."""
    ta = type(a)
    tb = type(b)
    if ta is tb:
        if ta is list or ta is dict:
            return a is b
        return bool(a == b)
    if ta in _NUM and tb in _NUM:
        return bool(a == b)
    if _is_number(a) and _is_number(b):
        return bool(a == b)
    if isinstance(a, list | Mapping) or isinstance(b, list | Mapping):
        return a is b
    return False


def _str_less(a: str, b: str) -> bool:
    if a.isascii() and b.isascii():
        return a < b
    return a.encode("utf-16-be") < b.encode("utf-16-be")


def _js_lt(a: Any, b: Any) -> bool:
    """JS ``a < b``."""
    if type(a) in _NUM and type(b) in _NUM:
        return bool(a < b)
    a = _to_primitive(a)
    b = _to_primitive(b)
    if type(a) is str and type(b) is str:
        return _str_less(a, b)
    return bool(to_number(a) < to_number(b))


def _js_le(a: Any, b: Any) -> bool:
    """JS ``a <= b`` (false when either side is NaN)."""
    if type(a) in _NUM and type(b) in _NUM:
        return bool(a <= b)
    a = _to_primitive(a)
    b = _to_primitive(b)
    if type(a) is str and type(b) is str:
        return not _str_less(b, a)
    return bool(to_number(a) <= to_number(b))


def _js_gt(a: Any, b: Any) -> bool:
    return _js_lt(b, a)


def _js_ge(a: Any, b: Any) -> bool:
    return _js_le(b, a)


def _js_in(needle: Any, haystack: Any) -> bool:
    if type(haystack) is str:
        return haystack != "" and to_js_string(needle) in haystack
    if isinstance(haystack, list):
        if type(needle) is str or needle is None:
            return needle in haystack
        return any(strict_equals(needle, item) for item in haystack)
    return False


def _js_mod(a: int | float, b: int | float) -> int | float:
    if type(a) is int and type(b) is int:
        if b == 0:
            return _NAN
        r = abs(a) % abs(b)
        return _norm(-r if a < 0 else r)
    fa = float(a)
    fb = float(b)
    if fa != fa or fb != fb or fb == 0 or math.isinf(fa):
        return _NAN
    if math.isinf(fb):
        return _norm(a)
    return _norm(math.fmod(fa, fb))


def _js_div(a: int | float, b: int | float) -> int | float:
    if b == 0:
        if a != a or a == 0:
            return _NAN
        return _INF if (a > 0) == (math.copysign(1.0, b) > 0) else -_INF
    try:
        return _norm(a / b)
    except OverflowError:
        return _INF if (a > 0) == (b > 0) else -_INF


def _to_integer(value: Any) -> float:
    """JS ToIntegerOrInfinity."""
    n = to_number(value)
    if n != n:
        return 0
    if math.isinf(n):
        return n
    return math.trunc(n)


def _substr(text: str, start: float, count: Any = _MISSING) -> str:
    """JS ``String.prototype.substr`` with an already integer ``start``."""
    n = len(text)
    begin = max(n + start, 0) if start < 0 else min(start, n)
    end = n if count is _MISSING else min(begin + min(max(_to_integer(count), 0), n), n)
    return text[int(begin) : int(end)]


def _js_substr(source: Any, start: Any, length: Any = _MISSING) -> str:
    text = to_js_string(source)
    begin = _to_integer(start)
    if length is not _MISSING and _js_lt(length, 0):
        tail = _substr(text, begin)
        # json-logic-js: temp.substr(0, temp.length + end) -- and JS "+" concatenates strings.
        if isinstance(length, str | list | Mapping):
            count: Any = str(len(tail)) + to_js_string(_to_primitive(length))
        else:
            count = len(tail) + to_number(length)
        return _substr(tail, 0, count)
    return _substr(text, begin, length)


def _array_index(key: str) -> int | None:
    if key.isascii() and key.isdigit() and (key == "0" or key[0] != "0"):
        return int(key)
    return None


def _walk(data: Any, keys: tuple[str, ...]) -> Any:
    """Follow a dotted path the way json-logic-js ``var`` does; ``_MISSING`` when absent."""
    for key in keys:
        if data is None:
            return _MISSING
        if isinstance(data, dict):
            data = data.get(key, _MISSING)
        elif isinstance(data, list | str):
            if key == "length":
                data = len(data)
                continue
            idx = _array_index(key)
            if idx is None or idx >= len(data):
                return _MISSING
            data = data[idx]
        elif isinstance(data, Mapping):
            data = data.get(key, _MISSING)
        else:
            return _MISSING
        if data is _MISSING:
            return _MISSING
    return data


def _split_path(path: Any) -> tuple[str, ...] | None:
    """``None`` means "the whole data" (json-logic-js: path undefined, null or "")."""
    if path is None or (type(path) is str and path == ""):
        return None
    return tuple(to_js_string(path).split("."))


def _var_lookup(data: Any, path: Any) -> Any:
    """``{"var": path}`` evaluated at run time (null when absent)."""
    if isinstance(path, list):
        if not path:
            return data
        default = path[1] if len(path) > 1 else None
        path = path[0]
    else:
        default = None
    keys = _split_path(path)
    if keys is None:
        return data
    value = _walk(data, keys)
    return default if value is _MISSING else value


def _missing_keys(data: Any, keys: list[Any]) -> list[Any]:
    out = []
    for key in keys:
        value = _var_lookup(data, key)
        if value is None or (type(value) is str and value == ""):
            out.append(key)
    return out


def _json_safe(value: Any) -> Any:
    """Replace non-finite floats produced by evaluation with None (JSON.stringify does the same)."""
    t = type(value)
    if t is float:
        return value if math.isfinite(value) else None
    if t is list or t is dict:
        return _json_safe_container(value, {}, 0)
    return value


def _json_safe_container(value: Any, memo: dict[int, Any], depth: int) -> Any:
    key = id(value)
    if key in memo:
        return memo[key]
    if depth > MAX_VALUE_DEPTH:
        raise JsonLogicError(f"result nested deeper than {MAX_VALUE_DEPTH} levels")
    result: Any = value
    if isinstance(value, list):
        new_list: list[Any] | None = None
        for i, item in enumerate(value):
            t = type(item)
            if t is float:
                clean: Any = item if math.isfinite(item) else None
            elif t is list or t is dict:
                clean = _json_safe_container(item, memo, depth + 1)
            else:
                clean = item
            if clean is not item and new_list is None:
                new_list = list(value[:i])
            if new_list is not None:
                new_list.append(clean)
        if new_list is not None:
            result = new_list
    elif isinstance(value, dict):
        new_dict: dict[Any, Any] | None = None
        for k, item in value.items():
            t = type(item)
            if t is float:
                clean = item if math.isfinite(item) else None
            elif t is list or t is dict:
                clean = _json_safe_container(item, memo, depth + 1)
            else:
                clean = item
            if clean is not item:
                if new_dict is None:
                    new_dict = dict(value)
                new_dict[k] = clean
        if new_dict is not None:
            result = new_dict
    memo[key] = result
    return result


# --------------------------------------------------------------------------------------------
# Reference (open-mercato) condition semantics, used by the extra operators
# --------------------------------------------------------------------------------------------


def _ref_equals(left: Any, right: Any) -> bool:
    if left is None or right is None:
        return left is None and right is None
    if _is_number(left) or _is_number(right):
        return bool(to_number(left) == to_number(right))
    return strict_equals(left, right)


_ISO_DATE_PREFIX = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def _iso_instant(text: str) -> float | None:
    try:
        parsed = datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith(("Z", "z")) else text)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()


def _collation_key(text: str) -> tuple[str, str, str]:
    folded = text.casefold()
    base = "".join(c for c in unicodedata.normalize("NFD", folded) if not unicodedata.combining(c))
    return (base, folded, text.swapcase())


def _ref_compare(left: Any, right: Any) -> int | None:
    """-1/0/1, or None when the reference's comparison yields NaN (all comparisons false)."""
    if left is None and right is None:
        return 0
    if left is None:
        return -1
    if right is None:
        return 1
    if type(left) is str and type(right) is str and _ISO_DATE_PREFIX.match(left) and _ISO_DATE_PREFIX.match(right):
        lt = _iso_instant(left)
        rt = _iso_instant(right)
        if lt is None or rt is None:
            return None
        return (lt > rt) - (lt < rt)
    ln = to_number(left)
    rn = to_number(right)
    if ln == ln and rn == rn:
        return (ln > rn) - (ln < rn)
    lk = _collation_key(to_js_string(left))
    rk = _collation_key(to_js_string(right))
    return (lk > rk) - (lk < rk)


def _ref_in_list(left: Any, right: Any) -> bool:
    return isinstance(right, list) and any(_ref_equals(left, item) for item in right)


def _ref_contains(left: Any, right: Any) -> bool:
    if isinstance(left, list):
        return any(_ref_equals(item, right) for item in left)
    if type(left) is str:
        return to_js_string(right) in left
    return False


def _ref_starts_with(left: Any, right: Any) -> bool:
    if left is None or right is None:
        return False
    return to_js_string(left).startswith(to_js_string(right))


def _ref_ends_with(left: Any, right: Any) -> bool:
    if left is None or right is None:
        return False
    return to_js_string(left).endswith(to_js_string(right))


def _ref_is_empty(value: Any) -> bool:
    if value is None:
        return True
    if type(value) is str:
        return value.strip(_JS_WS) == ""
    if isinstance(value, list | Mapping):
        return len(value) == 0
    return False


# --------------------------------------------------------------------------------------------
# Linear-time regular expressions for ``matches``
# --------------------------------------------------------------------------------------------

REGEX_MAX_PATTERN: Final = 200
REGEX_MAX_INPUT: Final = 10_000
_RX_MAX_REPEAT: Final = 100
_RX_MAX_STATES: Final = 2_000
_RX_MAX_GROUP_NESTING: Final = 32
_RX_WORK_BUDGET: Final = 400_000

_Ranges = tuple[tuple[int, int], ...]
_RX_DIGIT: Final[_Ranges] = ((0x30, 0x39),)
_RX_WORD: Final[_Ranges] = ((0x30, 0x39), (0x41, 0x5A), (0x5F, 0x5F), (0x61, 0x7A))
_RX_SPACE: Final[_Ranges] = tuple(sorted((ord(c), ord(c)) for c in _JS_WS))
_RX_LINE_TERMINATORS: Final[_Ranges] = ((0x0A, 0x0A), (0x0D, 0x0D), (0x2028, 0x2029))
_RX_CLASS_ESCAPES: Final[dict[str, tuple[bool, _Ranges]]] = {
    "d": (False, _RX_DIGIT),
    "D": (True, _RX_DIGIT),
    "w": (False, _RX_WORD),
    "W": (True, _RX_WORD),
    "s": (False, _RX_SPACE),
    "S": (True, _RX_SPACE),
}
_RX_CONTROL_ESCAPES: Final = {"t": "\t", "n": "\n", "r": "\r", "f": "\f", "v": "\v", "0": "\0"}
_RX_WORD_CHARS: Final = frozenset("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz")


class _CharPred:
    """A character test: the union of ``items`` (each possibly negated), optionally negated."""

    __slots__ = ("items", "negated")

    def __init__(self, negated: bool, items: tuple[tuple[bool, _Ranges], ...]) -> None:
        self.negated = negated
        self.items = items

    def matches(self, ch: str) -> bool:
        code = ord(ch)
        for item_negated, ranges in self.items:
            inside = False
            for lo, hi in ranges:
                if lo <= code <= hi:
                    inside = True
                    break
            if inside != item_negated:
                return not self.negated
        return self.negated


def _literal_pred(ch: str) -> _CharPred:
    return _CharPred(False, ((False, ((ord(ch), ord(ch)),)),))


# AST: ("char", _CharPred) ("cat", [nodes]) ("alt", [nodes]) ("rep", node, min, max|None)
#      ("assert", "bol"|"eol"|"wordb"|"nwordb") ("empty",)
_RxNode = tuple[Any, ...]


class _RegexRefused(Exception):
    pass


class _RxParser:
    def __init__(self, pattern: str) -> None:
        self.p = pattern
        self.i = 0

    def fail(self, why: str) -> _RegexRefused:
        return _RegexRefused(f"{why} at position {self.i}")

    def parse(self) -> _RxNode:
        node, _ = self.alternation(0)
        if self.i != len(self.p):
            raise self.fail("unbalanced ')'")
        return node

    def peek(self) -> str | None:
        return self.p[self.i] if self.i < len(self.p) else None

    # Each parse method also returns the strongest quantifier inside: 0 none, 1 bounded, 2 unbounded.
    def alternation(self, nesting: int) -> tuple[_RxNode, int]:
        branches = []
        level = 0
        while True:
            node, inner = self.concatenation(nesting)
            branches.append(node)
            level = max(level, inner)
            if self.peek() == "|":
                self.i += 1
                continue
            break
        return (branches[0] if len(branches) == 1 else ("alt", branches)), level

    def concatenation(self, nesting: int) -> tuple[_RxNode, int]:
        items: list[_RxNode] = []
        level = 0
        while self.i < len(self.p) and self.p[self.i] not in "|)":
            atom, inner = self.atom(nesting)
            atom, inner = self.quantifier(atom, inner)
            items.append(atom)
            level = max(level, inner)
        if not items:
            return ("empty",), 0
        return (items[0] if len(items) == 1 else ("cat", items)), level

    def read_braces(self) -> tuple[int, int | None] | None:
        """Parse ``{n}``, ``{n,}``, ``{n,m}`` at the cursor; None (cursor kept) if not one."""
        m = re.compile(r"\{([0-9]+)(,([0-9]*))?\}").match(self.p, self.i)
        if m is None:
            return None
        self.i = m.end()
        low = int(m.group(1))
        if m.group(2) is None:
            return low, low
        return low, (int(m.group(3)) if m.group(3) else None)

    def quantifier(self, atom: _RxNode, inner: int) -> tuple[_RxNode, int]:
        c = self.peek()
        bounds: tuple[int, int | None] | None
        if c == "*":
            self.i += 1
            bounds = (0, None)
        elif c == "+":
            self.i += 1
            bounds = (1, None)
        elif c == "?":
            self.i += 1
            bounds = (0, 1)
        elif c == "{":
            bounds = self.read_braces()
            if bounds is None:
                return atom, inner
        else:
            return atom, inner
        if self.peek() == "?":
            self.i += 1  # lazy: same set of matches
        low, high = bounds
        if atom[0] == "assert":
            raise self.fail("nothing to repeat")
        if high is not None and high < low:
            raise self.fail("numbers out of order in {} quantifier")
        if low > _RX_MAX_REPEAT or (high is not None and high > _RX_MAX_REPEAT):
            raise self.fail(f"more than {_RX_MAX_REPEAT} repetitions")
        # The engine is linear anyway; these are the reference's "(..+)+" refusals, kept so a
        # pattern accepted here is also accepted by the reference and by backtracking engines.
        if (high is None and inner > 0) or (high is not None and high > 1 and inner > 1):
            raise self.fail("nested quantifier")
        if self.peek() in ("*", "+", "?") or (self.peek() == "{" and self._brace_ahead()):
            raise self.fail("nested quantifier")
        return ("rep", atom, low, high), max(inner, 2 if high is None else 1)

    def _brace_ahead(self) -> bool:
        saved = self.i
        found = self.read_braces() is not None
        self.i = saved
        return found

    def atom(self, nesting: int) -> tuple[_RxNode, int]:
        c = self.p[self.i]
        if c == "(":
            if nesting + 1 > _RX_MAX_GROUP_NESTING:
                raise self.fail("groups nested too deeply")
            self.i += 1
            if self.p.startswith("?:", self.i):
                self.i += 2
            elif self.p.startswith("?<", self.i) and not self.p.startswith(("?<=", "?<!"), self.i):
                m = re.compile(r"\?<[A-Za-z_$][A-Za-z0-9_$]*>").match(self.p, self.i)
                if m is None:
                    raise self.fail("invalid group name")
                self.i = m.end()
            elif self.peek() == "?":
                raise self.fail("lookaround and inline flags are not supported")
            node, inner = self.alternation(nesting + 1)
            if self.peek() != ")":
                raise self.fail("missing ')'")
            self.i += 1
            return node, inner
        if c == "[":
            return ("char", self.char_class()), 0
        self.i += 1
        if c == ".":
            return ("char", _CharPred(True, ((False, _RX_LINE_TERMINATORS),))), 0
        if c == "^":
            return ("assert", "bol"), 0
        if c == "$":
            return ("assert", "eol"), 0
        if c in "*+?":
            self.i -= 1
            raise self.fail("nothing to repeat")
        if c == "{":
            self.i -= 1
            if self._brace_ahead():
                raise self.fail("nothing to repeat")
            self.i += 1
            return ("char", _literal_pred(c)), 0
        if c == "\\":
            return self.escape(), 0
        return ("char", _literal_pred(c)), 0

    def escape_char(self, in_class: bool) -> tuple[str, tuple[bool, _Ranges] | None]:
        """After a backslash: (literal char, None) or ("", class item)."""
        if self.i >= len(self.p):
            raise self.fail("\\ at end of pattern")
        c = self.p[self.i]
        self.i += 1
        if c in _RX_CLASS_ESCAPES:
            return "", _RX_CLASS_ESCAPES[c]
        nxt = self.peek()
        if c in _RX_CONTROL_ESCAPES and not (c == "0" and nxt is not None and "0" <= nxt <= "9"):
            return _RX_CONTROL_ESCAPES[c], None
        if c == "b" and in_class:
            return "\b", None
        if c in "0123456789k":  # \1 backreference, \k<name>, legacy octal \01
            raise self.fail("backreferences are not supported")
        if c == "x":
            m = re.compile(r"[0-9a-fA-F]{2}").match(self.p, self.i)
            if m:
                self.i = m.end()
                return chr(int(m.group(), 16)), None
            return "x", None
        if c == "u":
            m = re.compile(r"[0-9a-fA-F]{4}").match(self.p, self.i)
            if m:
                self.i = m.end()
                return chr(int(m.group(), 16)), None
            return "u", None
        if c == "c":
            if nxt is not None and nxt.isascii() and nxt.isalpha():
                self.i += 1
                return chr(ord(nxt) % 32), None
            self.i -= 1
            return "\\", None
        if c in "pP":
            raise self.fail("unicode property escapes are not supported")
        return c, None

    def escape(self) -> _RxNode:
        c = self.peek()
        if c == "b":
            self.i += 1
            return ("assert", "wordb")
        if c == "B":
            self.i += 1
            return ("assert", "nwordb")
        ch, item = self.escape_char(in_class=False)
        if item is not None:
            return ("char", _CharPred(False, (item,)))
        return ("char", _literal_pred(ch))

    def class_atom(self) -> tuple[str, tuple[bool, _Ranges] | None]:
        c = self.p[self.i]
        self.i += 1
        if c == "\\":
            return self.escape_char(in_class=True)
        return c, None

    def char_class(self) -> _CharPred:
        self.i += 1  # "["
        negated = False
        if self.peek() == "^":
            negated = True
            self.i += 1
        items: list[tuple[bool, _Ranges]] = []
        while True:
            if self.i >= len(self.p):
                raise self.fail("missing ']'")
            if self.p[self.i] == "]":
                self.i += 1
                break
            ch, item = self.class_atom()
            if item is not None:
                items.append(item)
                continue
            if self.peek() == "-" and self.i + 1 < len(self.p) and self.p[self.i + 1] != "]":
                saved = self.i
                self.i += 1
                hi_ch, hi_item = self.class_atom()
                if hi_item is not None:  # [a-\d]: "-" is a literal (Annex B)
                    self.i = saved
                    items.append((False, ((ord(ch), ord(ch)),)))
                    continue
                if ord(hi_ch) < ord(ch):
                    raise self.fail("range out of order in character class")
                items.append((False, ((ord(ch), ord(hi_ch)),)))
                continue
            items.append((False, ((ord(ch), ord(ch)),)))
        return _CharPred(negated, tuple(items))


_K_CHAR: Final = 0  # consumes one character; its successor is always the next state (a _K_JUMP)
_K_JUMP: Final = 1
_K_SPLIT: Final = 2
_K_ASSERT: Final = 3
_K_MATCH: Final = 4

_CTX_START: Final = 1
_CTX_END: Final = 2
_CTX_PREV_WORD: Final = 4
_CTX_NEXT_WORD: Final = 8


class _Regex:
    """Thompson NFA, searched with a lazily built DFA whose cache lives for one call only.

    State sets are int bitmasks. Every character state ``k`` is followed by a jump state
    ``k + 1``, so consuming a character is ``(states & accepts[ch]) << 1``. All work, including
    filling the per-call caches, is charged to a budget, so the outcome depends only on the
    pattern and the input -- never on what was matched before (replay-safe).
    """

    def __init__(self, pattern: str) -> None:
        self.pattern = pattern
        self.kind: list[int] = []
        self.out1: list[int] = []
        self.out2: list[int] = []
        self.pred: list[_CharPred | None] = []
        self.assertion: list[str] = []
        self.uses_word = False
        self.match = self._state(_K_MATCH)
        ast = _RxParser(pattern).parse()
        self.start = self._build(ast, self.match)
        self.anchored = self._anchored(ast)
        self.char_states = tuple((i, p) for i, p in enumerate(self.pred) if p is not None)

    def _state(self, kind: int, out1: int = -1, out2: int = -1, assertion: str = "") -> int:
        if len(self.kind) >= _RX_MAX_STATES:
            raise _RegexRefused("pattern too complex")
        self.kind.append(kind)
        self.out1.append(out1)
        self.out2.append(out2)
        self.pred.append(None)
        self.assertion.append(assertion)
        return len(self.kind) - 1

    def _build(self, node: _RxNode, nxt: int) -> int:
        tag = node[0]
        if tag == "char":
            state = self._state(_K_CHAR)
            self.pred[state] = node[1]
            self._state(_K_JUMP, nxt)
            return state
        if tag == "empty":
            return nxt
        if tag == "cat":
            for item in reversed(node[1]):
                nxt = self._build(item, nxt)
            return nxt
        if tag == "alt":
            entries = [self._build(branch, nxt) for branch in node[1]]
            entry = entries[-1]
            for other in reversed(entries[:-1]):
                entry = self._state(_K_SPLIT, other, entry)
            return entry
        if tag == "assert":
            if node[1] in ("wordb", "nwordb"):
                self.uses_word = True
            return self._state(_K_ASSERT, nxt, assertion=node[1])
        # "rep"
        _, atom, low, high = node
        if high is None:
            loop = self._state(_K_SPLIT, -1, nxt)
            self.out1[loop] = self._build(atom, loop)
            entry = loop
        else:
            entry = nxt
            for _ in range(high - low):
                entry = self._state(_K_SPLIT, self._build(atom, entry), nxt)
        for _ in range(low):
            entry = self._build(atom, entry)
        return entry

    @staticmethod
    def _anchored(node: _RxNode) -> bool:
        if node[0] == "assert":
            return bool(node[1] == "bol")
        if node[0] == "cat":
            return _Regex._anchored(node[1][0])
        if node[0] == "alt":
            return all(_Regex._anchored(branch) for branch in node[1])
        return False

    def _assert_ok(self, state: int, ctx: int) -> bool:
        kind = self.assertion[state]
        if kind == "bol":
            return bool(ctx & _CTX_START)
        if kind == "eol":
            return bool(ctx & _CTX_END)
        boundary = bool(ctx & _CTX_PREV_WORD) != bool(ctx & _CTX_NEXT_WORD)
        return boundary if kind == "wordb" else not boundary

    def _state_closure(self, state: int, ctx: int) -> tuple[int, int]:
        """Character/match states reachable from ``state`` without input; (mask, work)."""
        closed = 0
        seen = 0
        stack = [state]
        work = 0
        while stack:
            s = stack.pop()
            if (seen >> s) & 1:
                continue
            seen |= 1 << s
            work += 1
            k = self.kind[s]
            if k in (_K_CHAR, _K_MATCH):
                closed |= 1 << s
            elif k == _K_JUMP:
                stack.append(self.out1[s])
            elif k == _K_SPLIT:
                stack.append(self.out1[s])
                stack.append(self.out2[s])
            elif self._assert_ok(s, ctx):
                stack.append(self.out1[s])
        return closed, work

    def search(self, text: str) -> bool:
        """True/False; False as well when the work budget runs out (deterministic per input)."""
        n = len(text)
        work = _RX_WORK_BUDGET
        closures: dict[tuple[int, int], int] = {}
        state_closures: dict[int, int] = {}
        accepts: dict[str, int] = {}
        start_bit = 1 << self.start
        match_bit = 1 << self.match
        uses_word = self.uses_word
        raw = 0
        prev_word = False
        for i in range(n + 1):
            ctx = (_CTX_START if i == 0 else 0) | (_CTX_END if i == n else 0)
            if uses_word:
                if prev_word:
                    ctx |= _CTX_PREV_WORD
                if i < n and text[i] in _RX_WORD_CHARS:
                    ctx |= _CTX_NEXT_WORD
            if i == 0 or not self.anchored:
                raw |= start_bit
            elif raw == 0:
                return False
            key = (raw, ctx)
            closed = closures.get(key)
            if closed is None:
                closed = 0
                m = raw
                while m:
                    low = m & -m
                    m ^= low
                    skey = (low.bit_length() - 1) << 4 | ctx
                    part = state_closures.get(skey)
                    if part is None:
                        part, cost = self._state_closure(skey >> 4, ctx)
                        work -= cost
                        state_closures[skey] = part
                    closed |= part
                    work -= 1
                if work < 0:
                    return False
                closures[key] = closed
            if closed & match_bit:
                return True
            if i == n:
                return False
            ch = text[i]
            accept = accepts.get(ch)
            if accept is None:
                accept = 0
                for state, pred in self.char_states:
                    if pred.matches(ch):
                        accept |= 1 << state
                work -= len(self.char_states)
                if work < 0:
                    return False
                accepts[ch] = accept
            raw = (closed & accept) << 1
            if uses_word:
                prev_word = ch in _RX_WORD_CHARS
        return False


def _compile_regex(pattern: str) -> _Regex:
    """Raise _RegexRefused for patterns ``matches`` does not accept."""
    if len(pattern) > REGEX_MAX_PATTERN:
        raise _RegexRefused(f"pattern longer than {REGEX_MAX_PATTERN} characters")
    return _Regex(pattern)


@lru_cache(maxsize=256)
def _cached_regex(pattern: str) -> _Regex | None:
    try:
        return _compile_regex(pattern)
    except _RegexRefused:
        return None


def _regex_input(value: Any) -> str | None:
    if type(value) is str:
        text: str = value
    elif _is_number(value) or isinstance(value, bool):
        text = to_js_string(value)
    else:
        return None
    return text if len(text) <= REGEX_MAX_INPUT else None


# --------------------------------------------------------------------------------------------
# Compiler
# --------------------------------------------------------------------------------------------


class _Node:
    """A compiled sub-rule: ``fn(data)`` plus facts the parent can specialise on."""

    __slots__ = ("boolean", "const", "fn", "is_const", "safe")

    def __init__(
        self,
        fn: Fn,
        *,
        boolean: bool = False,
        safe: bool = True,
        is_const: bool = False,
        const: Any = None,
    ) -> None:
        self.fn = fn
        self.boolean = boolean  # always returns a bool
        self.safe = safe  # never introduces NaN/Infinity into its result
        self.is_const = is_const
        self.const = const


def _finite(value: Any) -> bool:
    t = type(value)
    if t is float:
        return math.isfinite(value)
    if t is list:
        return all(_finite(v) for v in value)
    if t is dict:
        return all(_finite(v) for v in value.values())
    return True


def _const_node(value: Any) -> _Node:
    t = type(value)
    if t is list or t is dict:
        flat = t is list and all(type(v) in _SCALARS for v in value)

        def fresh(_data: Any) -> Any:
            return list(value) if flat else copy.deepcopy(value)

        return _Node(fresh, is_const=True, const=value, safe=_finite(value))

    def constant(_data: Any) -> Any:
        return value

    return _Node(constant, is_const=True, const=value, boolean=t is bool, safe=_finite(value))


def _identity(data: Any) -> Any:
    return data


_LOOKUP_ERRORS: Final = (LookupError, TypeError)


def _make_getter(keys: tuple[str, ...], default: Fn | None) -> Fn:
    """Constant-path ``var``: plain subscripts on the hot path, the full walk on any miss."""
    fast = tuple(idx if (idx := _array_index(k)) is not None else k for k in keys)

    if default is None:

        def slow(data: Any) -> Any:
            value = _walk(data, keys)
            return None if value is _MISSING else value

    else:
        default_fn = default

        def slow(data: Any) -> Any:
            value = _walk(data, keys)
            return default_fn(data) if value is _MISSING else value

    if len(fast) == 1:
        (k0,) = fast

        def get1(data: Any) -> Any:
            try:
                return data[k0]
            except _LOOKUP_ERRORS:
                return slow(data)

        return get1
    if len(fast) == 2:
        k0, k1 = fast

        def get2(data: Any) -> Any:
            try:
                return data[k0][k1]
            except _LOOKUP_ERRORS:
                return slow(data)

        return get2
    if len(fast) == 3:
        k0, k1, k2 = fast

        def get3(data: Any) -> Any:
            try:
                return data[k0][k1][k2]
            except _LOOKUP_ERRORS:
                return slow(data)

        return get3

    def getn(data: Any) -> Any:
        value = data
        try:
            for k in fast:
                value = value[k]
            return value
        except _LOOKUP_ERRORS:
            return slow(data)

    return getn


_COMPARATORS: Final[dict[str, tuple[Callable[[Any, Any], bool], Callable[[Any, Any], Any]]]] = {
    "<": (_js_lt, operator.lt),
    "<=": (_js_le, operator.le),
    ">": (_js_gt, operator.gt),
    ">=": (_js_ge, operator.ge),
}

_Handler = Callable[["_Compiler", str, Any, int], _Node]
_HANDLERS: dict[str, _Handler] = {}


def _op(*names: str) -> Callable[[_Handler], _Handler]:
    def register(handler: _Handler) -> _Handler:
        for name in names:
            _HANDLERS[name] = handler
        return handler

    return register


def _check_arity(op: str, args: list[Any], low: int, high: int | None) -> None:
    n = len(args)
    if n < low or (high is not None and n > high):
        if high is None:
            want = f"at least {low}"
        elif low == high:
            want = str(low)
        else:
            want = f"{low} to {high}"
        raise JsonLogicError(f"operator {op!r} takes {want} argument(s), got {n}")


class _Compiler:
    def __init__(self, max_depth: int, max_nodes: int) -> None:
        self.max_depth = max_depth
        self.max_nodes = max_nodes
        self.nodes = 0

    def enter(self, depth: int, value: Any) -> None:
        """Count one JSON value; objects and arrays are also one nesting level each."""
        self.nodes += 1
        if self.nodes > self.max_nodes:
            raise JsonLogicError(f"rule has more than {self.max_nodes} nodes")
        if depth > self.max_depth and isinstance(value, list | dict):
            raise JsonLogicError(f"rule is nested deeper than {self.max_depth} levels")

    def compile(self, rule: Any, depth: int) -> _Node:
        self.enter(depth, rule)
        t = type(rule)
        if t not in _SCALARS and t is not list and t is not dict:
            rule = self.plain(rule)
            t = type(rule)
        if t in _SCALARS:
            return _const_node(rule)
        if t is list:
            return self.array(rule, depth)
        if t is dict:
            if len(rule) != 1:
                return _const_node(self.literal(rule, depth))
            ((op, raw),) = rule.items()
            handler = _HANDLERS.get(op) if type(op) is str else None
            if handler is None:
                raise JsonLogicError(f"unknown operator {op!r}")
            return handler(self, op, raw, depth)
        raise AssertionError("unreachable")  # pragma: no cover

    @staticmethod
    def plain(value: Any) -> Any:
        """Subclasses of JSON types (str enums, IntEnum, ...) as the base type; else an error."""
        if isinstance(value, bool):
            return bool(value)
        if isinstance(value, str):
            return str(value)
        if isinstance(value, int):
            return int(value)
        if isinstance(value, float):
            return float(value)
        if isinstance(value, list):
            return list(value)
        if isinstance(value, dict):
            return dict(value)
        raise JsonLogicError(f"rule contains a non-JSON value of type {type(value).__name__}")

    def literal(self, value: Any, depth: int) -> Any:
        """Validate and deep-copy a value used as data (object literal, ``preserve``)."""
        t = type(value)
        if t in _SCALARS:
            return value
        if t is dict or isinstance(value, dict):
            out = {}
            for k, v in value.items():
                if not isinstance(k, str):
                    raise JsonLogicError("object keys in a rule must be strings")
                self.enter(depth + 1, v)
                out[str(k)] = self.literal(v, depth + 1)
            return out
        if t is list or isinstance(value, list):
            items = []
            for v in value:
                self.enter(depth + 1, v)
                items.append(self.literal(v, depth + 1))
            return items
        return self.literal(self.plain(value), depth)

    def args(self, raw: Any, depth: int) -> tuple[list[Any], int]:
        if type(raw) is list:
            self.enter(depth + 1, raw)
            return raw, depth + 2
        return [raw], depth + 1

    def compile_args(self, op: str, raw: Any, depth: int, low: int, high: int | None) -> list[_Node]:
        args, d = self.args(raw, depth)
        _check_arity(op, args, low, high)
        return [self.compile(a, d) for a in args]

    def array(self, items: list[Any], depth: int) -> _Node:
        nodes = [self.compile(item, depth + 1) for item in items]
        if all(n.is_const for n in nodes):
            return _const_node([n.const for n in nodes])
        fns = tuple(n.fn for n in nodes)

        def build(data: Any) -> list[Any]:
            return [f(data) for f in fns]

        return _Node(build, safe=all(n.safe for n in nodes))


# --- data access --------------------------------------------------------------------------


@_op("var")
def _c_var(c: _Compiler, op: str, raw: Any, depth: int) -> _Node:
    nodes = c.compile_args(op, raw, depth, 0, 2)
    if not nodes:
        return _Node(_identity)
    path_node = nodes[0]
    default_node = nodes[1] if len(nodes) == 2 else None
    default_fn = default_node.fn if default_node is not None else None
    safe = default_node is None or default_node.safe
    if path_node.is_const:
        keys = _split_path(path_node.const)
        if keys is None:
            return _Node(_identity, safe=safe)
        getter = _make_getter(keys, default_fn)
        return _Node(getter, safe=safe)
    path_fn = path_node.fn

    def dynamic_var(data: Any) -> Any:
        keys = _split_path(path_fn(data))
        if keys is None:
            return data
        value = _walk(data, keys)
        if value is _MISSING:
            return default_fn(data) if default_fn is not None else None
        return value

    return _Node(dynamic_var, safe=safe)


@_op("missing")
def _c_missing(c: _Compiler, op: str, raw: Any, depth: int) -> _Node:
    nodes = c.compile_args(op, raw, depth, 0, None)
    safe = all(n.safe for n in nodes)
    if all(n.is_const for n in nodes) and not any(isinstance(n.const, list) for n in nodes[1:]):
        values = [n.const for n in nodes]
        keys = values[0] if values and isinstance(values[0], list) else values
        if not any(isinstance(key, list) for key in keys):
            lookups = tuple((key, _split_path(key)) for key in keys)

            def missing_const(data: Any) -> list[Any]:
                out = []
                for key, path in lookups:
                    value = data if path is None else _walk(data, path)
                    if value is _MISSING or value is None or (type(value) is str and value == ""):
                        out.append(key)
                return out

            return _Node(missing_const, safe=safe)
    fns = tuple(n.fn for n in nodes)

    def missing(data: Any) -> list[Any]:
        values = [f(data) for f in fns]
        keys = values[0] if values and isinstance(values[0], list) else values
        return _missing_keys(data, keys)

    return _Node(missing, safe=safe)


@_op("missing_some")
def _c_missing_some(c: _Compiler, op: str, raw: Any, depth: int) -> _Node:
    need_node, options_node = c.compile_args(op, raw, depth, 2, 2)
    need_fn = need_node.fn
    options_fn = options_node.fn

    def missing_some(data: Any) -> list[Any]:
        need = need_fn(data)
        options = options_fn(data)
        if not isinstance(options, list):
            options = [options]
        absent = _missing_keys(data, options)
        return [] if _js_ge(len(options) - len(absent), need) else absent

    return _Node(missing_some, safe=need_node.safe and options_node.safe)


@_op("preserve")
def _c_preserve(c: _Compiler, op: str, raw: Any, depth: int) -> _Node:
    c.enter(depth + 1, raw)
    return _const_node(c.literal(raw, depth + 1))


# --- control flow -------------------------------------------------------------------------


@_op("if", "?:")
def _c_if(c: _Compiler, op: str, raw: Any, depth: int) -> _Node:
    pairs: list[tuple[_Node, _Node]] = []
    otherwise: _Node | None = None
    args, d = c.args(raw, depth)
    while True:
        i = 0
        while i + 1 < len(args):
            pairs.append((c.compile(args[i], d), c.compile(args[i + 1], d)))
            i += 2
        if i < len(args):
            last = args[i]
            # else-if chains ({"if": [c1, a, {"if": [c2, b, e]}]}) become one flat loop.
            if type(last) is dict and len(last) == 1 and next(iter(last)) in ("if", "?:"):
                c.enter(d, last)
                args, d = c.args(next(iter(last.values())), d)
                continue
            otherwise = c.compile(last, d)
        break
    branches = [then for _, then in pairs] + ([otherwise] if otherwise is not None else [])
    boolean = otherwise is not None and all(b.boolean for b in branches)
    safe = all(b.safe for b in branches)
    else_fn = otherwise.fn if otherwise is not None else None
    if not pairs:
        return otherwise if otherwise is not None else _const_node(None)
    if len(pairs) == 1 and else_fn is not None:
        cond_fn = pairs[0][0].fn
        then_fn = pairs[0][1].fn
        if pairs[0][0].boolean:

            def if_bool(data: Any) -> Any:
                return then_fn(data) if cond_fn(data) else else_fn(data)

            return _Node(if_bool, boolean=boolean, safe=safe)

        def if_one(data: Any) -> Any:
            return then_fn(data) if truthy(cond_fn(data)) else else_fn(data)

        return _Node(if_one, boolean=boolean, safe=safe)
    table = tuple((cond.fn, then.fn) for cond, then in pairs)
    if all(cond.boolean for cond, _ in pairs):

        def if_chain_bool(data: Any) -> Any:
            for cond, then in table:
                if cond(data):
                    return then(data)
            return else_fn(data) if else_fn is not None else None

        return _Node(if_chain_bool, boolean=boolean, safe=safe)

    def if_chain(data: Any) -> Any:
        for cond, then in table:
            if truthy(cond(data)):
                return then(data)
        return else_fn(data) if else_fn is not None else None

    return _Node(if_chain, boolean=boolean, safe=safe)


@_op("and")
def _c_and(c: _Compiler, op: str, raw: Any, depth: int) -> _Node:
    nodes = c.compile_args(op, raw, depth, 0, None)
    boolean = bool(nodes) and all(n.boolean for n in nodes)
    safe = all(n.safe for n in nodes)
    if not nodes:
        return _const_node(None)
    if len(nodes) == 1:
        return nodes[0]
    fns = tuple(n.fn for n in nodes)
    if boolean and len(fns) == 2:
        f0, f1 = fns

        def and2_bool(data: Any) -> Any:
            return f0(data) and f1(data)

        return _Node(and2_bool, boolean=True, safe=safe)
    if boolean:

        def and_bool(data: Any) -> Any:
            for f in fns:  # noqa: SIM110 -- a plain loop beats all(<generator>) on the hot path
                if not f(data):
                    return False
            return True

        return _Node(and_bool, boolean=True, safe=safe)

    def and_(data: Any) -> Any:
        value = None
        for f in fns:
            value = f(data)
            if not truthy(value):
                return value
        return value

    return _Node(and_, safe=safe)


@_op("or")
def _c_or(c: _Compiler, op: str, raw: Any, depth: int) -> _Node:
    nodes = c.compile_args(op, raw, depth, 0, None)
    boolean = bool(nodes) and all(n.boolean for n in nodes)
    safe = all(n.safe for n in nodes)
    if not nodes:
        return _const_node(None)
    if len(nodes) == 1:
        return nodes[0]
    fns = tuple(n.fn for n in nodes)
    if boolean:

        def or_bool(data: Any) -> Any:
            for f in fns:  # noqa: SIM110 -- a plain loop beats any(<generator>) on the hot path
                if f(data):
                    return True
            return False

        return _Node(or_bool, boolean=True, safe=safe)

    def or_(data: Any) -> Any:
        value = None
        for f in fns:
            value = f(data)
            if truthy(value):
                return value
        return value

    return _Node(or_, safe=safe)


@_op("!")
def _c_not(c: _Compiler, op: str, raw: Any, depth: int) -> _Node:
    (node,) = c.compile_args(op, raw, depth, 1, 1)
    fn = node.fn
    if node.boolean:

        def not_bool(data: Any) -> bool:
            return not fn(data)

        return _Node(not_bool, boolean=True)

    def not_(data: Any) -> bool:
        return not truthy(fn(data))

    return _Node(not_, boolean=True)


@_op("!!")
def _c_truthy(c: _Compiler, op: str, raw: Any, depth: int) -> _Node:
    (node,) = c.compile_args(op, raw, depth, 1, 1)
    if node.boolean:
        return node
    fn = node.fn

    def to_bool(data: Any) -> bool:
        return truthy(fn(data))

    return _Node(to_bool, boolean=True)


# --- comparison ---------------------------------------------------------------------------


def _binary(nodes: list[_Node], impl: Callable[[Any, Any], Any], boolean: bool = True) -> _Node:
    a, b = nodes
    fa = a.fn
    fb = b.fn
    if b.is_const and type(b.const) in _SCALARS:
        cb = b.const

        def left(data: Any) -> Any:
            return impl(fa(data), cb)

        return _Node(left, boolean=boolean)
    if a.is_const and type(a.const) in _SCALARS:
        ca = a.const

        def right(data: Any) -> Any:
            return impl(ca, fb(data))

        return _Node(right, boolean=boolean)

    def both(data: Any) -> Any:
        return impl(fa(data), fb(data))

    return _Node(both, boolean=boolean)


@_op("==")
def _c_loose_eq(c: _Compiler, op: str, raw: Any, depth: int) -> _Node:
    return _binary(c.compile_args(op, raw, depth, 2, 2), loose_equals)


@_op("!=")
def _c_loose_ne(c: _Compiler, op: str, raw: Any, depth: int) -> _Node:
    def ne(a: Any, b: Any) -> bool:
        return not loose_equals(a, b)

    return _binary(c.compile_args(op, raw, depth, 2, 2), ne)


@_op("===")
def _c_strict_eq(c: _Compiler, op: str, raw: Any, depth: int) -> _Node:
    return _binary(c.compile_args(op, raw, depth, 2, 2), strict_equals)


@_op("!==")
def _c_strict_ne(c: _Compiler, op: str, raw: Any, depth: int) -> _Node:
    def ne(a: Any, b: Any) -> bool:
        return not strict_equals(a, b)

    return _binary(c.compile_args(op, raw, depth, 2, 2), ne)


@_op("<", "<=", ">", ">=")
def _c_compare(c: _Compiler, op: str, raw: Any, depth: int) -> _Node:
    nodes = c.compile_args(op, raw, depth, 2, 3 if op in ("<", "<=") else 2)
    slow, fast = _COMPARATORS[op]
    if len(nodes) == 3:
        fa, fb, fc = (n.fn for n in nodes)

        def between(data: Any) -> bool:
            a = fa(data)
            b = fb(data)
            x = fc(data)
            return slow(a, b) and slow(b, x)

        return _Node(between, boolean=True)
    a, b = nodes
    fa = a.fn
    fb = b.fn
    if b.is_const and type(b.const) in _NUM:
        cb = b.const

        def cmp_const(data: Any) -> bool:
            x = fa(data)
            if type(x) in _NUM:
                return fast(x, cb)  # type: ignore[no-any-return]
            return slow(x, cb)

        return _Node(cmp_const, boolean=True)
    if a.is_const and type(a.const) in _NUM:
        ca = a.const

        def const_cmp(data: Any) -> bool:
            y = fb(data)
            if type(y) in _NUM:
                return fast(ca, y)  # type: ignore[no-any-return]
            return slow(ca, y)

        return _Node(const_cmp, boolean=True)

    def cmp(data: Any) -> bool:
        return slow(fa(data), fb(data))

    return _Node(cmp, boolean=True)


# --- arithmetic ---------------------------------------------------------------------------


@_op("+")
def _c_add(c: _Compiler, op: str, raw: Any, depth: int) -> _Node:
    nodes = c.compile_args(op, raw, depth, 0, None)
    fns = tuple(n.fn for n in nodes)
    if len(fns) == 2:
        f0, f1 = fns

        def add2(data: Any) -> Any:
            a = f0(data)
            b = f1(data)
            if type(a) in _NUM and type(b) in _NUM:
                return _norm(a + b)
            return _norm(_parse_float(a) + _parse_float(b))

        return _Node(add2, safe=False)

    def add(data: Any) -> Any:
        total: int | float = 0
        for f in fns:
            total = _norm(total + _parse_float(f(data)))
        return total

    return _Node(add, safe=False)


@_op("*")
def _c_mul(c: _Compiler, op: str, raw: Any, depth: int) -> _Node:
    nodes = c.compile_args(op, raw, depth, 1, None)
    if len(nodes) == 1:
        return nodes[0]  # json-logic-js: reduce() of one value returns it untouched
    fns = tuple(n.fn for n in nodes)

    def mul(data: Any) -> Any:
        it = iter(fns)
        product = _parse_float(next(it)(data))
        for f in it:
            product = _norm(product * _parse_float(f(data)))
        return _norm(product)

    return _Node(mul, safe=False)


@_op("-")
def _c_sub(c: _Compiler, op: str, raw: Any, depth: int) -> _Node:
    nodes = c.compile_args(op, raw, depth, 1, 2)
    if len(nodes) == 1:
        f = nodes[0].fn

        def neg(data: Any) -> Any:
            return _norm(-to_number(f(data)))

        return _Node(neg, safe=False)
    fa, fb = nodes[0].fn, nodes[1].fn

    def sub(data: Any) -> Any:
        return _norm(to_number(fa(data)) - to_number(fb(data)))

    return _Node(sub, safe=False)


@_op("/")
def _c_div(c: _Compiler, op: str, raw: Any, depth: int) -> _Node:
    fa, fb = (n.fn for n in c.compile_args(op, raw, depth, 2, 2))

    def div(data: Any) -> Any:
        return _js_div(to_number(fa(data)), to_number(fb(data)))

    return _Node(div, safe=False)


@_op("%")
def _c_mod(c: _Compiler, op: str, raw: Any, depth: int) -> _Node:
    fa, fb = (n.fn for n in c.compile_args(op, raw, depth, 2, 2))

    def mod(data: Any) -> Any:
        return _js_mod(to_number(fa(data)), to_number(fb(data)))

    return _Node(mod, safe=False)


@_op("min", "max")
def _c_min_max(c: _Compiler, op: str, raw: Any, depth: int) -> _Node:
    fns = tuple(n.fn for n in c.compile_args(op, raw, depth, 0, None))
    pick = min if op == "min" else max
    empty = _INF if op == "min" else -_INF

    def min_max(data: Any) -> Any:
        values = [to_number(f(data)) for f in fns]
        if not values:
            return empty
        for v in values:
            if v != v:
                return _NAN
        return _norm(pick(values))

    return _Node(min_max, safe=False)


# --- strings and arrays -------------------------------------------------------------------


@_op("in")
def _c_in(c: _Compiler, op: str, raw: Any, depth: int) -> _Node:
    needle, haystack = c.compile_args(op, raw, depth, 2, 2)
    fn = needle.fn
    if haystack.is_const and isinstance(haystack.const, list):
        items = haystack.const
        strings = frozenset(x for x in items if type(x) is str)

        def in_const(data: Any) -> bool:
            value = fn(data)
            if type(value) is str:
                return value in strings
            return _js_in(value, items)

        return _Node(in_const, boolean=True)
    return _binary([needle, haystack], _js_in)


@_op("cat")
def _c_cat(c: _Compiler, op: str, raw: Any, depth: int) -> _Node:
    fns = tuple(n.fn for n in c.compile_args(op, raw, depth, 0, None))

    def cat(data: Any) -> str:
        text = "".join("" if (v := f(data)) is None else to_js_string(v) for f in fns)
        if len(text) > MAX_RESULT_LENGTH:
            raise JsonLogicError(f"cat result longer than {MAX_RESULT_LENGTH} characters")
        return text

    return _Node(cat)


@_op("substr")
def _c_substr(c: _Compiler, op: str, raw: Any, depth: int) -> _Node:
    fns = tuple(n.fn for n in c.compile_args(op, raw, depth, 2, 3))

    def substr(data: Any) -> str:
        return _js_substr(*(f(data) for f in fns))

    return _Node(substr)


@_op("merge")
def _c_merge(c: _Compiler, op: str, raw: Any, depth: int) -> _Node:
    nodes = c.compile_args(op, raw, depth, 0, None)
    fns = tuple(n.fn for n in nodes)

    def merge(data: Any) -> list[Any]:
        out: list[Any] = []
        for f in fns:
            value = f(data)
            if isinstance(value, list):
                out.extend(value)
            else:
                out.append(value)
            if len(out) > MAX_RESULT_LENGTH:
                raise JsonLogicError(f"merge result longer than {MAX_RESULT_LENGTH} items")
        return out

    return _Node(merge, safe=all(n.safe for n in nodes))


@_op("log")
def _c_log(c: _Compiler, op: str, raw: Any, depth: int) -> _Node:
    (node,) = c.compile_args(op, raw, depth, 1, 1)
    return node


# --- scoped array operators ---------------------------------------------------------------


def _scoped(c: _Compiler, op: str, raw: Any, depth: int, high: int = 2) -> list[_Node]:
    return c.compile_args(op, raw, depth, 2, high)


def _items(value: Any) -> list[Any] | str | None:
    """The sequence ``all``/``some``/``none`` iterate (json-logic-js uses ``.length``)."""
    if isinstance(value, list | str):
        return value
    return None


@_op("map")
def _c_map(c: _Compiler, op: str, raw: Any, depth: int) -> _Node:
    source, logic = _scoped(c, op, raw, depth)
    src = source.fn
    fn = logic.fn

    def map_(data: Any) -> list[Any]:
        items = src(data)
        if not isinstance(items, list):
            return []
        return list(map(fn, items))

    return _Node(map_, safe=source.safe and logic.safe)


@_op("filter")
def _c_filter(c: _Compiler, op: str, raw: Any, depth: int) -> _Node:
    source, logic = _scoped(c, op, raw, depth)
    src = source.fn
    fn = logic.fn
    keep: Fn = fn if logic.boolean else (lambda item: truthy(fn(item)))

    def filter_(data: Any) -> list[Any]:
        items = src(data)
        if not isinstance(items, list):
            return []
        return list(filter(keep, items))

    return _Node(filter_, safe=source.safe)


@_op("reduce")
def _c_reduce(c: _Compiler, op: str, raw: Any, depth: int) -> _Node:
    nodes = _scoped(c, op, raw, depth, 3)
    src = nodes[0].fn
    fn = nodes[1].fn
    initial = nodes[2].fn if len(nodes) == 3 else None

    def reduce_(data: Any) -> Any:
        items = src(data)
        accumulator = initial(data) if initial is not None else None
        if not isinstance(items, list):
            return accumulator
        for item in items:
            accumulator = fn({"current": item, "accumulator": accumulator})
        return accumulator

    return _Node(reduce_, safe=all(n.safe for n in nodes))


@_op("all", "some", "none")
def _c_quantifier(c: _Compiler, op: str, raw: Any, depth: int) -> _Node:
    source, logic = _scoped(c, op, raw, depth)
    src = source.fn
    fn = logic.fn
    test: Fn = fn if logic.boolean else (lambda item: truthy(fn(item)))
    if op == "all":

        def all_(data: Any) -> bool:
            items = _items(src(data))
            if not items:
                return False
            return all(map(test, items))

        return _Node(all_, boolean=True)
    if op == "some":

        def some(data: Any) -> bool:
            items = _items(src(data))
            if not items:
                return False
            return any(map(test, items))

        return _Node(some, boolean=True)

    def none(data: Any) -> bool:
        items = _items(src(data))
        if not items:
            return True
        return not any(map(test, items))

    return _Node(none, boolean=True)


# --- extra operators (reference condition semantics) ---------------------------------------


def _ref_binary(impl: Callable[[Any, Any], bool]) -> _Handler:
    def handler(c: _Compiler, op: str, raw: Any, depth: int) -> _Node:
        return _binary(c.compile_args(op, raw, depth, 2, 2), impl)

    return handler


def _ref_order(test: Callable[[int], bool]) -> Callable[[Any, Any], bool]:
    def order(left: Any, right: Any) -> bool:
        result = _ref_compare(left, right)
        return result is not None and test(result)

    return order


for _name, _impl in (
    ("equals", _ref_equals),
    ("order_gt", _ref_order(lambda r: r > 0)),
    ("order_gte", _ref_order(lambda r: r >= 0)),
    ("order_lt", _ref_order(lambda r: r < 0)),
    ("order_lte", _ref_order(lambda r: r <= 0)),
    ("in_list", _ref_in_list),
    ("contains", _ref_contains),
    ("starts_with", _ref_starts_with),
    ("ends_with", _ref_ends_with),
):
    _HANDLERS[_name] = _ref_binary(_impl)


@_op("is_empty")
def _c_is_empty(c: _Compiler, op: str, raw: Any, depth: int) -> _Node:
    (node,) = c.compile_args(op, raw, depth, 1, 1)
    fn = node.fn

    def is_empty(data: Any) -> bool:
        return _ref_is_empty(fn(data))

    return _Node(is_empty, boolean=True)


@_op("matches")
def _c_matches(c: _Compiler, op: str, raw: Any, depth: int) -> _Node:
    subject, pattern = c.compile_args(op, raw, depth, 2, 2)
    fn = subject.fn
    if pattern.is_const:
        if type(pattern.const) is not str:
            raise JsonLogicError("matches: the pattern must be a string")
        try:
            regex = _compile_regex(pattern.const)
        except _RegexRefused as exc:
            raise JsonLogicError(f"matches: pattern {pattern.const!r} refused: {exc}") from None

        def matches_const(data: Any) -> bool:
            text = _regex_input(fn(data))
            return text is not None and regex.search(text)

        return _Node(matches_const, boolean=True)
    pattern_fn = pattern.fn

    def matches(data: Any) -> bool:
        source = pattern_fn(data)
        text = _regex_input(fn(data))
        if text is None or type(source) is not str:
            return False
        rx = _cached_regex(source)
        return rx is not None and rx.search(text)

    return _Node(matches, boolean=True)


OPERATORS: Final = frozenset(_HANDLERS)
"""Every operator ``compile_logic`` accepts."""


# --------------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------------


def compile_logic(rule: Any, *, max_depth: int = MAX_DEPTH, max_nodes: int = MAX_NODES) -> CompiledLogic:
    """Validate ``rule`` and turn it into a function ``data -> result``.

    Raises JsonLogicError for an invalid or over-budget rule. The returned function is pure and
    thread-safe; it never mutates ``data`` and returns fresh lists/objects for literals.
    """
    node = _Compiler(max_depth, max_nodes).compile(rule, 1)
    fn = node.fn
    if node.safe:
        return fn

    def json_safe_result(data: Any) -> Any:
        return _json_safe(fn(data))

    return json_safe_result


def apply(rule: Any, data: Any = None) -> Any:
    """Compile and evaluate once (prefer ``compile_logic`` for rules evaluated repeatedly)."""
    return compile_logic(rule)(data)


# --------------------------------------------------------------------------------------------
# Reference condition trees -> JsonLogic
# --------------------------------------------------------------------------------------------

CONDITION_MAX_DEPTH: Final = 10
CONDITION_MAX_RULES_PER_GROUP: Final = 50
CONDITION_MAX_PATH_LENGTH: Final = 200
CONTEXT_KEY: Final = "$context"

_FIELD_PATH = re.compile(r"[a-zA-Z_][a-zA-Z0-9_.\[\]]*")
_SPECIAL_VALUE = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_.]*)\s*\}\}")
_FORBIDDEN_SEGMENTS: Final = frozenset({"__proto__", "constructor", "prototype"})

_LEAF_OPERATORS: Final[dict[str, tuple[str, bool]]] = {
    # reference operator -> (JsonLogic operator, negate)
    "=": ("equals", False),
    "==": ("equals", False),
    "!=": ("equals", True),
    ">": ("order_gt", False),
    ">=": ("order_gte", False),
    "<": ("order_lt", False),
    "<=": ("order_lte", False),
    "IN": ("in_list", False),
    "NOT_IN": ("in_list", True),
    "CONTAINS": ("contains", False),
    "NOT_CONTAINS": ("contains", True),
    "STARTS_WITH": ("starts_with", False),
    "ENDS_WITH": ("ends_with", False),
    "MATCHES": ("matches", False),
    "IS_EMPTY": ("is_empty", False),
    "IS_NOT_EMPTY": ("is_empty", True),
}
CONDITION_OPERATORS: Final = frozenset(_LEAF_OPERATORS)


def _path_rule(path: Any, what: str) -> Any:
    if not isinstance(path, str) or not _FIELD_PATH.fullmatch(path):
        raise JsonLogicError(f"condition {what} must be a path like 'a.b' or 'items[0].qty', got {path!r}")
    if len(path) > CONDITION_MAX_PATH_LENGTH:
        raise JsonLogicError(f"condition {what} is longer than {CONDITION_MAX_PATH_LENGTH} characters")
    dotted = re.sub(r"\[([^\]]*)\]", r".\1", path).strip(".")
    segments = dotted.split(".")
    if any(seg in _FORBIDDEN_SEGMENTS for seg in segments):
        return None  # the reference resolves prototype keys to undefined
    return {"var": ".".join(segments)}


def _value_rule(value: Any, context_key: str) -> Any:
    if isinstance(value, str):
        m = _SPECIAL_VALUE.fullmatch(value)
        if m is not None:
            return {"var": f"{context_key}.{m.group(1)}"}
        return value
    if isinstance(value, list | dict):
        return {"preserve": copy.deepcopy(value)}
    return value


def translate_condition_tree(tree: Any, *, context_key: str = CONTEXT_KEY) -> Any:
    """Translate a reference condition expression (section 3.3) into a JsonLogic rule.

    ``None`` (no condition) becomes ``True``. Leaves ``{field, operator, value|valueField}`` use
    the extra operators above; ``{operator: AND|OR|NOT, rules}`` groups become ``and``/``or``/
    ``!``, with an empty group true. A ``value`` of the form ``{{x}}`` reads
    ``data[context_key].x`` -- put ``{"today": "YYYY-MM-DD", "now": iso, "user": {...},
    "tenant": {...}, ...}`` there when evaluating. Raises JsonLogicError on anything else.
    """
    if tree is None:
        return True
    return _translate(tree, 1, context_key)


def _translate(node: Any, depth: int, context_key: str) -> Any:
    if depth > CONDITION_MAX_DEPTH:
        raise JsonLogicError(f"condition expression is nested deeper than {CONDITION_MAX_DEPTH} levels")
    if not isinstance(node, dict):
        raise JsonLogicError(f"condition must be an object, got {type(node).__name__}")
    operator_name = node.get("operator")
    rules = node.get("rules")
    if isinstance(rules, list):
        if len(rules) > CONDITION_MAX_RULES_PER_GROUP:
            raise JsonLogicError(f"condition group has more than {CONDITION_MAX_RULES_PER_GROUP} rules")
        if operator_name not in ("AND", "OR", "NOT"):
            raise JsonLogicError(f"unknown logical operator {operator_name!r} (expected AND, OR or NOT)")
        children = [_translate(child, depth + 1, context_key) for child in rules]
        if not children:
            return True
        if operator_name == "AND":
            return {"and": children}
        if operator_name == "OR":
            return {"or": children}
        return {"!": [children[0] if len(children) == 1 else {"and": children}]}
    if not isinstance(operator_name, str) or operator_name not in _LEAF_OPERATORS:
        known = ", ".join(sorted(_LEAF_OPERATORS))
        raise JsonLogicError(f"unknown condition operator {operator_name!r} (expected one of {known})")
    json_op, negate = _LEAF_OPERATORS[operator_name]
    left = _path_rule(node.get("field"), "field")
    rule: Any
    if json_op == "is_empty":
        rule = {json_op: [left]}
    else:
        if isinstance(node.get("valueField"), str):
            right = _path_rule(node["valueField"], "valueField")
        elif "value" in node:
            right = _value_rule(node["value"], context_key)
        else:
            raise JsonLogicError(f"condition on {node.get('field')!r} needs a 'value' or a 'valueField'")
        rule = {json_op: [left, right]}
    return {"!": [rule]} if negate else rule
