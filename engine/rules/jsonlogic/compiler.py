"""The compiler: rule validation, every operator, `compile_logic` and `apply`."""

from __future__ import annotations

import copy
import math
import operator
from collections.abc import Callable
from typing import Any, Final

from engine.rules.jsonlogic._base import (
    _INF,
    _MISSING,
    _NAN,
    _NUM,
    _SCALARS,
    MAX_DEPTH,
    MAX_NODES,
    MAX_RESULT_LENGTH,
    CompiledLogic,
    Fn,
    JsonLogicError,
)
from engine.rules.jsonlogic.reference import (
    _ref_compare,
    _ref_contains,
    _ref_ends_with,
    _ref_equals,
    _ref_in_list,
    _ref_is_empty,
    _ref_starts_with,
)
from engine.rules.jsonlogic.regex import _cached_regex, _compile_regex, _regex_input, _RegexRefused
from engine.rules.jsonlogic.values import (
    _array_index,
    _js_div,
    _js_ge,
    _js_gt,
    _js_in,
    _js_le,
    _js_lt,
    _js_mod,
    _js_substr,
    _json_safe,
    _missing_keys,
    _norm,
    _parse_float,
    _split_path,
    _walk,
    loose_equals,
    strict_equals,
    to_js_string,
    to_number,
    truthy,
)

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
