"""JavaScript value semantics: truthiness, `==`/`===`, `String()`, `Number()`, ordering, dates."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

from engine.rules.jsonlogic._base import (
    _INF,
    _JS_WS,
    _MAX_SAFE_INT,
    _MISSING,
    _NAN,
    _NUM,
    MAX_RESULT_LENGTH,
    MAX_VALUE_DEPTH,
    JsonLogicError,
)

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
