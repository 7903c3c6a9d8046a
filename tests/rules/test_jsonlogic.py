"""engine.rules.jsonlogic: the official JsonLogic suite, pinned semantics, hostile-rule guards,
the condition-tree translator, and a property test against a plain tree-walking interpreter."""

from __future__ import annotations

import copy
import json
import math
import re
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.rules.jsonlogic import (
    CONTEXT_KEY,
    MAX_DEPTH,
    MAX_NODES,
    OPERATORS,
    JsonLogicError,
    apply,
    compile_logic,
    loose_equals,
    strict_equals,
    to_js_string,
    to_number,
    translate_condition_tree,
    truthy,
)

# The official suite, kept in the repository (tests/data/README.md says where it comes from).
OFFICIAL_TESTS = Path(__file__).resolve().parents[1] / "data/jsonlogic/official-tests.json"


def same(a: Any, b: Any) -> bool:
    """JSON equality that tells bool from number and int from float."""
    if type(a) is not type(b):
        return False
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    return bool(a == b)


# --------------------------------------------------------------------------------------------
# Official suite
# --------------------------------------------------------------------------------------------


def _official_cases() -> list[Any]:
    cases: list[Any] = []
    section = "?"
    for entry in json.loads(OFFICIAL_TESTS.read_text()):
        if isinstance(entry, str):
            section = entry.strip("# ").split(" ")[0] or "?"
            continue
        rule, data, expected = entry
        cases.append(pytest.param(rule, data, expected, id=f"{len(cases):03d}-{section}"))
    return cases


OFFICIAL = _official_cases()


def test_official_suite_is_complete() -> None:
    assert len(OFFICIAL) == 277, f"expected 277 official cases in {OFFICIAL_TESTS}"


@pytest.mark.parametrize(("rule", "data", "expected"), OFFICIAL)
def test_official(rule: Any, data: Any, expected: Any) -> None:
    result = apply(rule, data)
    assert same(result, expected), f"{json.dumps(rule)} on {json.dumps(data)}: {result!r} != {expected!r}"


# --------------------------------------------------------------------------------------------
# Pinned semantics (the module docstring's table)
# --------------------------------------------------------------------------------------------

IF_TF = ["T", "F"]
PINNED: list[tuple[str, Any, Any, Any]] = [
    # truthiness
    ("empty array is falsy", {"if": [[], *IF_TF]}, {}, "F"),
    ("'0' is truthy", {"if": ["0", *IF_TF]}, {}, "T"),
    ("empty object from data is truthy", {"if": [{"var": "o"}, *IF_TF]}, {"o": {}}, "T"),
    ("empty object literal is truthy", {"!!": [{"preserve": {}}]}, {}, True),
    ("0.0 is falsy", {"if": [{"var": "z"}, *IF_TF]}, {"z": 0.0}, "F"),
    ("NaN is falsy", {"!!": [{"/": [0, 0]}]}, {}, False),
    ("empty string is falsy", {"!": [""]}, {}, True),
    ("and returns the deciding operand", {"and": [1, "x", [0]]}, {}, [0]),
    ("or returns the first truthy operand", {"or": [0, "", "x", 1]}, {}, "x"),
    ("or of falsy returns the last", {"or": [0, ""]}, {}, ""),
    # var
    ("var default when absent", {"var": ["a", "dflt"]}, {}, "dflt"),
    ("var default not applied to null", {"var": ["a", "dflt"]}, {"a": None}, None),
    ("var default not applied to 0", {"var": ["a", "dflt"]}, {"a": 0}, 0),
    ("var default through a null parent", {"var": ["a.b", "dflt"]}, {"a": None}, "dflt"),
    ("var indexes arrays", {"var": "a.1"}, {"a": [10, 20]}, 20),
    ("var index out of range", {"var": ["a.5", "d"]}, {"a": [10, 20]}, "d"),
    ("var non-canonical index", {"var": "a.01"}, {"a": [10, 20]}, None),
    ("var negative index", {"var": "a.-1"}, {"a": [10, 20]}, None),
    ("var array length", {"var": "items.length"}, {"items": [1, 2, 3]}, 3),
    ("var string length", {"var": "s.length"}, {"s": "abcd"}, 4),
    ("var string index", {"var": "s.1"}, {"s": "abcd"}, "b"),
    ("var through a scalar", {"var": "a.b"}, {"a": 5}, None),
    ("var empty path is the data", {"var": ""}, {"k": 1}, {"k": 1}),
    ("var null path is the data", {"var": None}, {"k": 1}, {"k": 1}),
    ("var numeric path", {"var": 1}, ["x", "y"], "y"),
    ("var path computed at run time", {"var": {"cat": ["a", ".", "b"]}}, {"a": {"b": 7}}, 7),
    ("var numeric key on an object", {"var": "m.0"}, {"m": {"0": "zero"}}, "zero"),
    ("var with data null", {"var": "a"}, None, None),
    # missing
    ("missing treats null and '' as missing", {"missing": ["a", "b", "c"]}, {"a": 0, "b": "", "c": None}, ["b", "c"]),
    ("missing treats false as present", {"missing": ["x.y"]}, {"x": {"y": False}}, []),
    ("missing_some satisfied", {"missing_some": [1, ["a", "b"]]}, {"b": 1}, []),
    ("missing_some short", {"missing_some": [2, ["a", "b", "c"]]}, {"a": 1}, ["b", "c"]),
    ("missing as a condition", {"if": [{"missing": ["a"]}, "incomplete", "ok"]}, {}, "incomplete"),
    # == coercion
    ("1 == '1'", {"==": [1, "1"]}, {}, True),
    ("0 == ''", {"==": [0, ""]}, {}, True),
    ("null == 0 is false", {"==": [None, 0]}, {}, False),
    ("null == null", {"==": [None, None]}, {}, True),
    ("false == '0'", {"==": [False, "0"]}, {}, True),
    ("1 == true", {"==": [1, True]}, {}, True),
    ("[1] == 1", {"==": [[1], 1]}, {}, True),
    ("[] == false", {"==": [[], False]}, {}, True),
    ("array literals are distinct objects", {"==": [[1], [1]]}, {}, False),
    ("same data array is identical", {"==": [{"var": "a"}, {"var": "a"}]}, {"a": [1]}, True),
    ("'abc' != 'ABC'", {"!=": ["abc", "ABC"]}, {}, True),
    ("'1.0' == 1", {"==": ["1.0", 1]}, {}, True),
    ("' 1 ' == 1 (JS trims)", {"==": [" 1 ", 1]}, {}, True),
    ("'0x10' == 16", {"==": ["0x10", 16]}, {}, True),
    ("'1_000' is not a number", {"==": ["1_000", 1000]}, {}, False),
    # === strictness (Python's 1 == True pitfall)
    ("1 === true is false", {"===": [1, True]}, {}, False),
    ("0 === false is false", {"===": [0, False]}, {}, False),
    ("1 === 1.0", {"===": [1, 1.0]}, {}, True),
    ("1 !== true", {"!==": [1, True]}, {}, True),
    ("'1' !== 1", {"!==": ["1", 1]}, {}, True),
    ("true in [1] is false", {"in": [True, [1, 2]]}, {}, False),
    ("1 in [true] is false", {"in": [1, [True]]}, {}, False),
    # < coercion
    ("'2' < 10 numerically", {"<": ["2", 10]}, {}, True),
    ("'2' < '10' lexically false", {"<": ["2", "10"]}, {}, False),
    ("1 < 'abc' is false", {"<": [1, "abc"]}, {}, False),
    ("1 >= 'abc' is false too", {">=": [1, "abc"]}, {}, False),
    ("null < 1", {"<": [None, 1]}, {}, True),
    ("null <= 0", {"<=": [None, 0]}, {}, True),
    ("missing > 0 is false", {">": [{"var": "nope"}, 0]}, {}, False),
    ("between", {"<": [1, 2, 3]}, {}, True),
    ("between excludes ends", {"<": [1, 1, 3]}, {}, False),
    ("between inclusive", {"<=": [1, 1, 3]}, {}, True),
    ("true > 0", {">": [True, 0]}, {}, True),
    ("[2] > 1", {">": [[2], 1]}, {}, True),
    ("strings compare by UTF-16 units", {"<": ["\uffff", "\U0001f600"]}, {}, False),
    # in
    ("substring", {"in": ["Spring", "Springfield"]}, {}, True),
    ("number needle in a string", {"in": [1, "a1b"]}, {}, True),
    ("null haystack", {"in": ["a", None]}, {}, False),
    ("empty haystack", {"in": ["", ""]}, {}, False),
    ("array membership is strict", {"in": [1, ["1", 2]]}, {}, False),
    ("array membership numeric", {"in": [2.0, ["1", 2]]}, {}, True),
    ("object haystack", {"in": ["a", {"preserve": {"a": 1}}]}, {}, False),
    ("null in array", {"in": [None, [1, None]]}, {}, True),
    # arithmetic, NaN, Infinity
    ("division by zero gives null", {"/": [1, 0]}, {}, None),
    ("0/0 gives null", {"/": [0, 0]}, {}, None),
    ("Infinity still compares", {">": [{"/": [1, 0]}, 5]}, {}, True),
    ("-1/0 compares below", {"<": [{"/": [-1, 0]}, -5]}, {}, True),
    ("mod by zero gives null", {"%": [1, 0]}, {}, None),
    ("mod takes the dividend's sign", {"%": [-1, 2]}, {}, -1),
    ("mod with a negative divisor", {"%": [1, -2]}, {}, 1),
    ("float mod", {"%": [5.5, 2]}, {}, 1.5),
    ("integral division is an int", {"/": [4, 2]}, {}, 2),
    ("integral float result is an int", {"+": [0.5, 0.5]}, {}, 1),
    ("0.1 + 0.2", {"+": [0.1, 0.2]}, {}, 0.30000000000000004),
    ("+ parses floats", {"+": ["1", 1]}, {}, 2),
    ("+ parses a numeric prefix", {"+": ["1.5abc", 1]}, {}, 2.5),
    ("+ of a non-number gives null", {"+": ["1.5", "abc"]}, {}, None),
    ("+ of null gives null", {"+": [None, 1]}, {}, None),
    ("+ of nothing", {"+": []}, {}, 0),
    ("unary + casts", {"+": "3.5"}, {}, 3.5),
    ("unary - casts", {"-": ["2"]}, {}, -2),
    ("- uses Number(): '' is 0", {"-": ["", 1]}, {}, -1),
    ("* with one argument returns it untouched", {"*": ["2"]}, {}, "2"),
    ("* parses floats", {"*": ["2", "3"]}, {}, 6),
    ("huge ints become floats", {"*": [2**40, 2**40]}, {}, float(2**80)),
    # min / max
    ("min of nothing gives null", {"min": []}, {}, None),
    ("max of nothing gives null", {"max": []}, {}, None),
    ("max coerces numeric strings", {"max": [1, "3", 2]}, {}, 3),
    ("max of a non-number gives null", {"max": [1, "x"]}, {}, None),
    ("max does not unwrap arrays", {"max": [{"var": "xs"}]}, {"xs": [1, 5]}, None),
    ("max of a one-element array", {"max": [{"var": "xs"}]}, {"xs": [5]}, 5),
    ("min of null is 0", {"min": [None, 3]}, {}, 0),
    # cat / strings
    ("cat JS conversions", {"cat": ["v", 1.0, None, True, False]}, {}, "v1truefalse"),
    ("cat of arrays joins with commas", {"cat": [[1, [2, None]], "x"]}, {}, "1,2,x"),
    ("cat of an object", {"cat": [{"preserve": {"a": 1}}]}, {}, "[object Object]"),
    (
        "cat of big and small numbers",
        {"cat": [1e21, " ", 1e-7, " ", 1.5e-6, " ", 123.0, " ", -0.0]},
        {},
        "1e+21 1e-7 0.0000015 123 0",
    ),
    ("cat of an int beyond 2**53", {"cat": [2**60]}, {}, "1152921504606847000"),
    ("cat of NaN and Infinity", {"cat": [{"/": [0, 0]}, {"/": [1, 0]}]}, {}, "NaNInfinity"),
    ("substr uses String(null)", {"substr": [None, 0]}, {}, "null"),
    ("substr of a number", {"substr": [12345, 1, 2]}, {}, "23"),
    ("substr negative start", {"substr": ["jsonlogic", -5]}, {}, "logic"),
    ("substr negative length", {"substr": ["jsonlogic", 1, -5]}, {}, "son"),
    ("substr length null is 0", {"substr": ["jsonlogic", 1, None]}, {}, ""),
    ("substr start beyond the end", {"substr": ["abc", 10]}, {}, ""),
    ("substr huge negative start", {"substr": ["abc", -10, 2]}, {}, "ab"),
    ("substr string length concatenates (JS quirk)", {"substr": ["jsonlogic", 1, "-5"]}, {}, ""),
    # arrays and scoped operators
    ("all of [] is false", {"all": [[], True]}, {}, False),
    ("some over a missing var", {"some": [{"var": "nope"}, {">": [{"var": ""}, 1]}]}, {}, False),
    ("none over null is true", {"none": [None, True]}, {}, True),
    ("all over an object is false", {"all": [{"preserve": {"a": 1}}, True]}, {}, False),
    ("some iterates a string's characters", {"some": ["abc", {"==": [{"var": ""}, "b"]}]}, {}, True),
    ("map over a non-array", {"map": [5, {"var": ""}]}, {}, []),
    ("filter keeps truthy results", {"filter": [[0, 1, "", "a", [], [0]], {"var": ""}]}, {}, [1, "a", [0]]),
    ("reduce over a non-array returns the initial value", {"reduce": [None, {"var": "current"}, 7]}, {}, 7),
    (
        "reduce without initial starts at null",
        {"reduce": [[1, 2], {"+": [{"var": "accumulator"}, {"var": "current"}]}]},
        {},
        None,
    ),
    ("scope is the item only", {"map": [[1], {"var": "outer"}]}, {"outer": 5}, [None]),
    ("merge flattens one level", {"merge": [1, [2, [3]]]}, {}, [1, 2, [3]]),
    (
        "multi-key objects are literals",
        {"if": [True, {"a": {"var": "x"}, "b": 1}, 0]},
        {"x": 1},
        {"a": {"var": "x"}, "b": 1},
    ),
    ("empty object is a literal", {}, {}, {}),
    ("arrays are evaluated element-wise", [1, {"var": "x"}], {"x": 2}, [1, 2]),
    ("and of nothing is null", {"and": []}, {}, None),
    ("if without else is null", {"if": [False, 1]}, {}, None),
    ("else-if chain", {"if": [False, 1, {"if": [False, 2, {"if": [True, 3, 4]}]}]}, {}, 3),
    ("?: alias", {"?:": [{"var": "x"}, "y", "n"]}, {"x": 1}, "y"),
    ("non-finite numbers inside results become null", {"map": [[0, 1], {"/": [1, {"var": ""}]}]}, {}, [None, 1]),
    (
        "non-finite accumulators become null",
        {"reduce": [[1], {"var": ""}, {"/": [0, 0]}]},
        {},
        {"current": 1, "accumulator": None},
    ),
    ("log returns its argument", {"log": ["apple"]}, {}, "apple"),
    ("preserve returns its argument unevaluated", {"preserve": {"var": "x"}}, {"x": 1}, {"var": "x"}),
]


@pytest.mark.parametrize(("rule", "data", "expected"), [pytest.param(*case[1:], id=case[0]) for case in PINNED])
def test_pinned_semantics(rule: Any, data: Any, expected: Any) -> None:
    assert same(apply(rule, data), expected)


def test_log_prints_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    assert apply({"log": [{"var": "a"}]}, {"a": [1]}) == [1]
    out, err = capsys.readouterr()
    assert out == err == ""


def test_results_are_fresh_and_data_is_untouched() -> None:
    data = {"xs": [3, 1, 2], "o": {"k": [1]}}
    snapshot = copy.deepcopy(data)
    literal = compile_logic({"merge": [[1, [2]], {"var": "xs"}]})
    first = literal(data)
    first[0] = "changed"
    first[1].append("changed")
    assert literal(data) == [1, [2], 3, 1, 2]
    obj = compile_logic({"preserve": {"a": [1]}})
    obj(None)["a"].append(2)
    assert obj(None) == {"a": [1]}
    compile_logic({"filter": [{"var": "xs"}, True]})(data).append(9)
    assert data == snapshot


def test_rule_mutation_after_compile_has_no_effect() -> None:
    rule: Any = {"in": [{"var": "x"}, ["a", "b"]]}
    fn = compile_logic(rule)
    rule["in"][1].append("c")
    assert fn({"x": "c"}) is False


def test_compiled_rule_is_reusable_across_data() -> None:
    fn = compile_logic({"if": [{">=": [{"var": "n"}, 10]}, "big", {"<": [{"var": "n"}, 0]}, "neg", "small"]})
    assert [fn({"n": n}) for n in (50, -1, 3, "12", None)] == ["big", "neg", "small", "big", "small"]


def test_value_helpers() -> None:
    assert truthy({}) and truthy("0") and not truthy([]) and not truthy(math.nan)
    assert loose_equals(False, "0") and not loose_equals(None, 0)
    assert not strict_equals(True, 1) and strict_equals(1, 1.0)
    assert to_number("  12e1 ") == 120 and math.isnan(to_number("12px")) and to_number(None) == 0
    assert to_js_string([1, None, True]) == "1,,true" and to_js_string(2.5) == "2.5"


# --------------------------------------------------------------------------------------------
# Hostile-rule guards
# --------------------------------------------------------------------------------------------


def _nested_not(levels: int) -> Any:
    rule: Any = True
    for _ in range(levels):
        rule = {"!": rule}
    return rule


def test_depth_limit_accepts_the_maximum() -> None:
    assert compile_logic(_nested_not(MAX_DEPTH))(None) is True


def test_too_deep_rule_is_rejected() -> None:
    with pytest.raises(JsonLogicError, match="deeper than 64"):
        compile_logic(_nested_not(MAX_DEPTH + 1))


def test_absurdly_deep_rule_fails_fast_without_recursion_error() -> None:
    with pytest.raises(JsonLogicError, match="deeper"):
        compile_logic(_nested_not(200_000))


def test_deep_literal_is_rejected() -> None:
    literal: Any = 1
    for _ in range(100):
        literal = [literal]
    with pytest.raises(JsonLogicError, match="deeper"):
        compile_logic({"preserve": literal})


def test_too_big_rule_is_rejected() -> None:
    with pytest.raises(JsonLogicError, match="more than 10000 nodes"):
        compile_logic({"and": [True] * MAX_NODES})
    with pytest.raises(JsonLogicError, match="nodes"):
        compile_logic({"a": list(range(MAX_NODES)), "b": 1})  # literals count as well


def test_limits_are_configurable() -> None:
    with pytest.raises(JsonLogicError):
        compile_logic({"+": [1, 2, 3]}, max_nodes=4)
    with pytest.raises(JsonLogicError):
        compile_logic(_nested_not(5), max_depth=4)


@pytest.mark.parametrize(
    "rule",
    [
        {"unknown_op": [1]},
        {"and": [True, {"Var": "x"}]},
        {"map": [[1], {"eval": "__import__('os')"}]},
        {"if": [True, {"exec": []}]},
        {"foo.bar": [1]},
    ],
)
def test_unknown_operator_is_rejected_at_compile_time(rule: Any) -> None:
    with pytest.raises(JsonLogicError, match="unknown operator"):
        compile_logic(rule)


@pytest.mark.parametrize(
    "rule",
    [{"==": [1]}, {"===": [1, 2, 3]}, {"!": [1, 2]}, {"*": []}, {"/": [1]}, {"-": []}, {"var": [1, 2, 3]},
     {"map": [[1]]}, {"reduce": [[1]]}, {"substr": ["a"]}, {">": [1, 2, 3]}, {"missing_some": [1]}],
)  # fmt: skip
def test_wrong_arity_is_rejected(rule: Any) -> None:
    with pytest.raises(JsonLogicError, match="argument"):
        compile_logic(rule)


@pytest.mark.parametrize("value", [(1, 2), {1, 2}, object(), b"bytes", {"preserve": {1: "x"}}])
def test_non_json_values_are_rejected(value: Any) -> None:
    with pytest.raises(JsonLogicError):
        compile_logic({"==": [value, 1]} if not isinstance(value, dict) else value)


def test_runaway_reduce_hits_the_result_budget() -> None:
    doubling = compile_logic(
        {"reduce": [{"var": "xs"}, {"merge": [{"var": "accumulator"}, {"var": "accumulator"}]}, [1]]}
    )
    assert len(doubling({"xs": list(range(10))})) == 1024
    with pytest.raises(JsonLogicError, match="merge result"):
        doubling({"xs": list(range(40))})
    cat_doubling = compile_logic({"reduce": [{"var": "xs"}, {"cat": [{"var": "accumulator"}] * 2}, "ab"]})
    with pytest.raises(JsonLogicError, match="longer than"):
        cat_doubling({"xs": list(range(40))})
    nesting = compile_logic({"reduce": [{"var": "xs"}, [{"var": "accumulator"}], 0]})
    deep = nesting({"xs": list(range(1000))})  # building is fine ...
    with pytest.raises(JsonLogicError, match="deeper"):
        compile_logic({"cat": [{"var": ""}]})(deep)  # ... stringifying it is bounded


def test_arithmetic_never_builds_huge_integers() -> None:
    squaring = compile_logic({"reduce": [{"var": "xs"}, {"*": [{"var": "accumulator"}, {"var": "accumulator"}]}, 3]})
    assert squaring({"xs": list(range(64))}) is None  # Infinity in the result -> null


# --------------------------------------------------------------------------------------------
# matches (linear-time regular expressions)
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "text", "expected"),
    [
        (r"^\d{3}-\d{4}$", "555-1234", True),
        (r"^\d{3}-\d{4}$", "555-12345", False),
        (r"colou?r", "The color", True),
        (r"^[A-Z]{2}\d{2}(?:[ ]?[A-Z0-9]{4}){4}$", "DE89 3704 0044 0532 0130", True),
        (r"\bcat\b", "a cat!", True),
        (r"\bcat\b", "concatenate", False),
        (r"^(?:foo|bar)+$", "foobarfoo", True),
        (r"[^\s@]+@[^\s@]+\.[a-z]{2,}", "mail me: ann@example.org", True),
        (r"a.c", "a\nc", False),
        (r"^$", "", True),
        (r"x{0}y", "y", True),
        (r"(?<year>\d{4})-\d\d", "on 2024-05-01", True),
        (r"\u00e9", "café", True),
        (r"[\d-z]", "-", True),
    ],
)
def test_matches(pattern: str, text: str, expected: bool) -> None:
    assert apply({"matches": [{"var": "t"}, pattern]}, {"t": text}) is expected
    assert apply({"matches": [{"var": "t"}, {"var": "p"}]}, {"t": text, "p": pattern}) is expected


@pytest.mark.parametrize(
    "pattern",
    [r"(a+)+", r"(a*)*", r"(\w+\.)+com", r"(a{2})*", r"(a+){2}", r"(a|b)(?=c)", r"(a)\1", r"(?i)a", "x" * 201,
     r"a{101}", r"*a", r"(a", r"[b-a]", r"\p{L}"],
)  # fmt: skip
def test_matches_refuses_unsafe_or_unsupported_constant_patterns(pattern: str) -> None:
    with pytest.raises(JsonLogicError, match="matches"):
        compile_logic({"matches": [{"var": "t"}, pattern]})
    # read from data, the same pattern is simply "no match" (the reference's "any problem -> false")
    assert apply({"matches": [{"var": "t"}, {"var": "p"}]}, {"t": "aaaa", "p": pattern}) is False


def test_matches_non_string_inputs() -> None:
    fn = compile_logic({"matches": [{"var": "t"}, r"^\d+$"]})
    assert fn({"t": 123}) is True
    assert fn({"t": None}) is False
    assert fn({"t": ["1"]}) is False
    assert fn({"t": "1" * 10_001}) is False  # over the input cap
    with pytest.raises(JsonLogicError):
        compile_logic({"matches": [{"var": "t"}, 5]})


def test_matches_is_linear_on_patterns_that_make_backtracking_explode() -> None:
    # Python's re needs minutes for the first one on this input; the automaton needs milliseconds.
    started = time.perf_counter()
    assert apply({"matches": [{"var": "t"}, r".*.*.*x"]}, {"t": "a" * 10_000}) is False
    assert apply({"matches": [{"var": "t"}, r"(?:a|b)*a(?:a|b){12}c"]}, {"t": "ab" * 5_000}) is False
    assert time.perf_counter() - started < 5


def test_matches_gives_the_same_answer_every_time() -> None:
    fn = compile_logic({"matches": [{"var": "t"}, r"(?:a|b)*a(?:a|b){14}c"]})
    data = {"t": "ab" * 5_000 + "c"}
    assert len({fn(data) for _ in range(3)}) == 1


_RX_ATOMS = st.sampled_from(["a", "b", ".", "[ab]", "[^a]", r"\d", r"\s", "(?:a|b)", "(?:ab|ba)", "(?:)", r"\b"])


@st.composite
def _patterns(draw: st.DrawFn) -> str:
    parts = []
    if draw(st.booleans()):
        parts.append("^")
    for _ in range(draw(st.integers(1, 5))):
        atom = draw(_RX_ATOMS)
        quant = draw(st.sampled_from(["", "", "*", "+", "?", "{2}", "{1,3}", "{0,}", "*?"]))
        if atom == r"\b":
            quant = ""
        parts.append(atom + quant)
        if draw(st.integers(0, 9)) == 0:
            parts.append("|")
    if draw(st.booleans()):
        parts.append("$")
    return "".join(parts)


@settings(max_examples=300, deadline=None, database=None)
@given(pattern=_patterns(), text=st.text(alphabet="ab1 .", max_size=12))
def test_matches_agrees_with_python_re_on_simple_patterns(pattern: str, text: str) -> None:
    expected = re.search(pattern, text) is not None
    assert apply({"matches": [text, pattern]}) is expected


# --------------------------------------------------------------------------------------------
# Condition-tree translator (open-mercato-behaviour.md section 3.3)
# --------------------------------------------------------------------------------------------


def cond(field: str, op: str, value: Any = None, **extra: Any) -> dict[str, Any]:
    node: dict[str, Any] = {"field": field, "operator": op, **extra}
    if "valueField" not in extra:
        node["value"] = value
    return node


def evaluate(tree: Any, data: Any) -> Any:
    return compile_logic(translate_condition_tree(tree))(data)


TRANSLATOR_CASES: list[tuple[str, dict[str, Any], Any, bool]] = [
    # = / ==
    ("= numbers", cond("a", "=", 5), {"a": 5}, True),
    ("= numeric string vs number", cond("a", "=", 5), {"a": "5"}, True),
    ("== alias", cond("a", "==", "x"), {"a": "x"}, True),
    ("= is case-sensitive", cond("a", "=", "X"), {"a": "x"}, False),
    ("= both null", cond("a", "=", None), {}, True),
    ("= one null", cond("a", "=", 0), {"a": None}, False),
    ("= bool vs number coerces", cond("a", "=", 1), {"a": True}, True),
    ("= bool vs string is strict", cond("a", "=", "true"), {"a": True}, False),
    ("= NaN never equals", cond("a", "=", 1), {"a": "abc"}, False),
    ("!=", cond("a", "!=", 5), {"a": 6}, True),
    ("!= both null", cond("a", "!=", None), {"a": None}, False),
    # ordering
    (">", cond("a", ">", 10), {"a": 11}, True),
    ("> numeric strings compare numerically", cond("a", ">", "10"), {"a": "9"}, False),
    (">=", cond("a", ">=", 10), {"a": 10}, True),
    ("<", cond("a", "<", 10), {"a": 9.5}, True),
    ("<=", cond("a", "<=", 10), {"a": 10.5}, False),
    ("null is below everything", cond("a", "<", -1000), {}, True),
    ("> null", cond("a", ">", None), {"a": -5}, True),
    ("two nulls are equal", cond("a", ">=", None), {}, True),
    ("ISO dates compare as instants", cond("d", "<", "2024-01-02"), {"d": "2024-01-01T23:59:59Z"}, True),
    ("ISO offsets are honoured", cond("d", ">", "2024-01-01T10:00:00Z"), {"d": "2024-01-01T12:00:00+01:00"}, True),
    ("invalid ISO date is never ordered", cond("d", "<", "2024-01-02"), {"d": "2024-13-45"}, False),
    ("strings use a locale-like order", cond("s", "<", "B"), {"s": "a"}, True),
    ("accents sort with their base letter", cond("s", "<", "f"), {"s": "é"}, True),
    # IN / NOT_IN
    ("IN", cond("a", "IN", ["x", "y"]), {"a": "y"}, True),
    ("IN coerces numbers", cond("a", "IN", [1, 2]), {"a": "2"}, True),
    ("IN non-array is false", cond("a", "IN", "xy"), {"a": "x"}, False),
    ("NOT_IN", cond("a", "NOT_IN", ["x"]), {"a": "z"}, True),
    ("NOT_IN non-array is true", cond("a", "NOT_IN", "x"), {"a": "x"}, True),
    # CONTAINS / NOT_CONTAINS
    ("CONTAINS array element", cond("tags", "CONTAINS", "vip"), {"tags": ["new", "vip"]}, True),
    ("CONTAINS array coerces numbers", cond("ids", "CONTAINS", 3), {"ids": ["3"]}, True),
    ("CONTAINS substring", cond("s", "CONTAINS", "ell"), {"s": "hello"}, True),
    ("CONTAINS on a number is false", cond("n", "CONTAINS", 1), {"n": 123}, False),
    ("NOT_CONTAINS", cond("s", "NOT_CONTAINS", "xyz"), {"s": "hello"}, True),
    # STARTS_WITH / ENDS_WITH
    ("STARTS_WITH", cond("s", "STARTS_WITH", "he"), {"s": "hello"}, True),
    ("STARTS_WITH on a number", cond("n", "STARTS_WITH", 12), {"n": 123}, True),
    ("STARTS_WITH null is false", cond("s", "STARTS_WITH", "x"), {}, False),
    ("ENDS_WITH", cond("s", "ENDS_WITH", "lo"), {"s": "hello"}, True),
    ("ENDS_WITH null value is false", cond("s", "ENDS_WITH", None), {"s": "null"}, False),
    # MATCHES
    ("MATCHES", cond("sku", "MATCHES", r"^[A-Z]{3}-\d+$"), {"sku": "ABC-123"}, True),
    ("MATCHES no match", cond("sku", "MATCHES", r"^[A-Z]{3}-\d+$"), {"sku": "abc-123"}, False),
    ("MATCHES null is false", cond("sku", "MATCHES", r".*"), {}, False),
    # IS_EMPTY / IS_NOT_EMPTY
    ("IS_EMPTY null", cond("a", "IS_EMPTY"), {}, True),
    ("IS_EMPTY whitespace", cond("a", "IS_EMPTY"), {"a": " \t\n"}, True),
    ("IS_EMPTY []", cond("a", "IS_EMPTY"), {"a": []}, True),
    ("IS_EMPTY {}", cond("a", "IS_EMPTY"), {"a": {}}, True),
    ("IS_EMPTY 0 is not empty", cond("a", "IS_EMPTY"), {"a": 0}, False),
    ("IS_NOT_EMPTY", cond("a", "IS_NOT_EMPTY"), {"a": "x"}, True),
    # paths and value sources
    ("dot path", cond("order.total", ">", 100), {"order": {"total": 150}}, True),
    ("bracket path", cond("items[1].qty", "=", 2), {"items": [{"qty": 1}, {"qty": 2}]}, True),
    ("valueField", cond("a", "<", valueField="b"), {"a": 1, "b": 2}, True),
    ("valueField wins over value", cond("a", "=", 99, valueField="b"), {"a": 1, "b": 1}, True),
    ("prototype keys are undefined", cond("constructor", "IS_EMPTY"), {"constructor": "x"}, True),
    ("__proto__ segment is undefined", cond("a.__proto__", "=", None), {"a": {"__proto__": 1}}, True),
    (
        "special {{today}}",
        cond("due", "<", "{{today}}"),
        {"due": "2024-01-01", CONTEXT_KEY: {"today": "2024-06-01"}},
        True,
    ),
    (
        "special {{user.id}}",
        cond("owner", "=", "{{user.id}}"),
        {"owner": "u1", CONTEXT_KEY: {"user": {"id": "u1"}}},
        True,
    ),
    ("object values are data, not logic", cond("a", "=", {"var": "b"}), {"a": 1, "b": 1}, False),
    ("array values are data, not logic", cond("a", "IN", [{"var": "b"}]), {"a": 1, "b": 1}, False),
]


@pytest.mark.parametrize(("tree", "data", "expected"), [pytest.param(*c[1:], id=c[0]) for c in TRANSLATOR_CASES])
def test_translator_operator(tree: dict[str, Any], data: Any, expected: bool) -> None:
    assert evaluate(tree, data) is expected


def test_translator_covers_every_reference_operator() -> None:
    ops = {"=", "==", "!=", ">", ">=", "<", "<=", "IN", "NOT_IN", "CONTAINS", "NOT_CONTAINS", "STARTS_WITH",
           "ENDS_WITH", "MATCHES", "IS_EMPTY", "IS_NOT_EMPTY"}  # fmt: skip
    covered = {case[1]["operator"] for case in TRANSLATOR_CASES}
    assert ops <= covered
    for op in ops:
        rule = translate_condition_tree(cond("a", op, "^x$" if op == "MATCHES" else 1))
        compile_logic(rule)  # every translation compiles


def test_translator_groups() -> None:
    yes, no = cond("a", "=", 1), cond("a", "=", 2)
    data = {"a": 1}
    assert evaluate({"operator": "AND", "rules": [yes, yes]}, data) is True
    assert evaluate({"operator": "AND", "rules": [yes, no]}, data) is False
    assert evaluate({"operator": "OR", "rules": [no, yes]}, data) is True
    assert evaluate({"operator": "OR", "rules": [no, no]}, data) is False
    assert evaluate({"operator": "NOT", "rules": [no]}, data) is True
    assert evaluate({"operator": "NOT", "rules": [yes, no]}, data) is True  # NOT(AND(...))
    assert evaluate({"operator": "NOT", "rules": [yes, yes]}, data) is False
    for op in ("AND", "OR", "NOT"):
        assert evaluate({"operator": op, "rules": []}, data) is True  # empty group -> true
    nested = {"operator": "AND", "rules": [yes, {"operator": "OR", "rules": [no, {"operator": "NOT", "rules": [no]}]}]}
    assert evaluate(nested, data) is True
    assert translate_condition_tree(None) is True


def test_translator_output_is_plain_jsonlogic() -> None:
    tree = {"operator": "AND", "rules": [cond("items[0].qty", ">=", 2), cond("tier", "IN", ["gold"])]}
    assert translate_condition_tree(tree) == {
        "and": [
            {"order_gte": [{"var": "items.0.qty"}, 2]},
            {"in_list": [{"var": "tier"}, {"preserve": ["gold"]}]},
        ]
    }
    json.dumps(translate_condition_tree(tree))  # serialisable, so it can be stored
    assert {"equals", "order_gt", "in_list", "contains", "matches", "is_empty", "preserve"} <= OPERATORS


@pytest.mark.parametrize(
    ("tree", "message"),
    [
        (cond("a", "LIKE", "x"), "unknown condition operator 'LIKE'"),
        (cond("a", "in", ["x"]), "unknown condition operator 'in'"),
        ({"field": "a", "value": 1}, "unknown condition operator None"),
        ({"operator": "XOR", "rules": []}, "unknown logical operator 'XOR'"),
        ({"operator": "and", "rules": [cond("a", "=", 1)]}, "unknown logical operator 'and'"),
        ({"field": "a", "operator": "="}, "needs a 'value' or a 'valueField'"),
        (cond("1a", "=", 1), "must be a path"),
        (cond("a b", "=", 1), "must be a path"),
        (cond("a", "=", valueField="b c"), "valueField must be a path"),
        (cond("a" * 201, "=", 1), "longer than 200"),
        ("a = 1", "must be an object"),
        ({"operator": "AND", "rules": [cond("a", "=", 1)] * 51}, "more than 50 rules"),
        (cond("a", "MATCHES", "(a+)+"), "refused"),
    ],
)
def test_translator_rejects_invalid_conditions(tree: Any, message: str) -> None:
    with pytest.raises(JsonLogicError, match=re.escape(message)):
        compile_logic(translate_condition_tree(tree))


def test_translator_depth_limit() -> None:
    tree: Any = cond("a", "=", 1)
    for _ in range(9):
        tree = {"operator": "NOT", "rules": [tree]}
    assert evaluate(tree, {"a": 1}) is False  # 10 levels
    with pytest.raises(JsonLogicError, match="deeper than 10"):
        translate_condition_tree({"operator": "NOT", "rules": [tree]})


# --------------------------------------------------------------------------------------------
# Property test: compiled closures vs a plain recursive interpreter
# --------------------------------------------------------------------------------------------
# The reference below walks the rule tree on every call, the obvious way. It shares only the
# value-level primitives (truthy, ==, ===, Number(), String()) with the module, so what the
# property checks is the compiler: dispatch, short-circuiting, scoping, the var fast paths,
# constant specialisations, if-chain flattening, literal copying and result clean-up.

_FLOAT_PREFIX = re.compile(r"\s*([+-]?(?:Infinity|(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?))")


def _ref_norm(x: float) -> Any:
    if isinstance(x, float):
        return int(x) if x.is_integer() and abs(x) <= 2**53 else x
    return x if abs(x) <= 2**53 else float(x)


def _ref_parse_float(v: Any) -> Any:
    if type(v) in (int, float):
        return v
    if v is None or isinstance(v, bool):
        return math.nan
    m = _FLOAT_PREFIX.match(to_js_string(v))
    if not m:
        return math.nan
    text = m.group(1)
    if text.endswith("Infinity"):
        return -math.inf if text.startswith("-") else math.inf
    return _ref_norm(float(text))


def _ref_lt(a: Any, b: Any, or_equal: bool) -> bool:
    prim = [to_js_string(v) if isinstance(v, list | dict) else v for v in (a, b)]
    if all(type(v) is str for v in prim):
        x, y = (v.encode("utf-16-be") for v in prim)
        return x <= y if or_equal else x < y
    x, y = (to_number(v) for v in prim)
    return x <= y if or_equal else x < y


def _ref_var(data: Any, path: Any, default: Any = None) -> Any:
    if path is None or path == "":
        return data
    for key in to_js_string(path).split("."):
        if isinstance(data, dict):
            if key not in data:
                return default
            data = data[key]
        elif isinstance(data, list | str):
            if key == "length":
                data = len(data)
            elif key.isdigit() and (key == "0" or not key.startswith("0")) and int(key) < len(data):
                data = data[int(key)]
            else:
                return default
        else:
            return default
    return data


def _ref_substr(source: Any, start: Any, length: Any = "absent") -> str:
    s = to_js_string(source)

    def integer(v: Any) -> float:
        n = to_number(v)
        return 0 if n != n else (n if math.isinf(n) else math.trunc(n))

    def js_substr(text: str, begin: float, count: Any) -> str:
        b = max(len(text) + begin, 0) if begin < 0 else min(begin, len(text))
        c = len(text) if count == "absent" and type(count) is str else min(max(integer(count), 0), len(text))
        return text[int(b) : int(min(b + c, len(text)))]

    if not (length == "absent" and type(length) is str) and _ref_lt(length, 0, False):
        tail = js_substr(s, integer(start), "absent")
        count = (
            str(len(tail)) + to_js_string(length) if isinstance(length, str | list) else len(tail) + to_number(length)
        )
        return js_substr(tail, 0, count)
    return js_substr(s, integer(start), length)


def ref_apply(rule: Any, data: Any) -> Any:
    if isinstance(rule, list):
        return [ref_apply(r, data) for r in rule]
    if not isinstance(rule, dict) or len(rule) != 1:
        return copy.deepcopy(rule)
    op, args = next(iter(rule.items()))
    if op == "preserve":
        return copy.deepcopy(args)
    if not isinstance(args, list):
        args = [args]
    if op in ("if", "?:"):
        i = 0
        while i + 1 < len(args):
            if truthy(ref_apply(args[i], data)):
                return ref_apply(args[i + 1], data)
            i += 2
        return ref_apply(args[i], data) if i < len(args) else None
    if op in ("and", "or"):
        value = None
        for a in args:
            value = ref_apply(a, data)
            if truthy(value) == (op == "or"):
                return value
        return value
    if op in ("map", "filter", "all", "some", "none", "reduce"):
        items = ref_apply(args[0], data)
        if op == "reduce":
            acc = ref_apply(args[2], data) if len(args) > 2 else None
            if not isinstance(items, list):
                return acc
            for item in items:
                acc = ref_apply(args[1], {"current": item, "accumulator": acc})
            return acc
        if op in ("map", "filter"):
            if not isinstance(items, list):
                return []
            if op == "map":
                return [ref_apply(args[1], item) for item in items]
            return [item for item in items if truthy(ref_apply(args[1], item))]
        seq = items if isinstance(items, list | str) else []
        results = [truthy(ref_apply(args[1], item)) for item in seq]
        if op == "all":
            return bool(seq) and all(results)
        if op == "some":
            return any(results)
        return not any(results)
    if op == "var" and not args:
        return data
    v = [ref_apply(a, data) for a in args]
    if op == "var":
        return _ref_var(data, v[0], v[1] if len(v) > 1 else None)
    if op == "missing":
        keys = v[0] if v and isinstance(v[0], list) else v
        return [k for k in keys if _ref_var(data, k) is None or _ref_var(data, k) == ""]
    if op == "missing_some":
        absent = ref_apply({"missing": [v[1]]}, data)
        return [] if len(v[1]) - len(absent) >= to_number(v[0]) else absent
    if op in ("==", "!="):
        return loose_equals(v[0], v[1]) == (op == "==")
    if op in ("===", "!=="):
        return strict_equals(v[0], v[1]) == (op == "===")
    if op in ("<", "<="):
        ok = _ref_lt(v[0], v[1], op == "<=")
        return ok and (len(v) < 3 or _ref_lt(v[1], v[2], op == "<="))
    if op in (">", ">="):
        return _ref_lt(v[1], v[0], op == ">=")
    if op == "!":
        return not truthy(v[0])
    if op == "!!":
        return truthy(v[0])
    if op == "+":
        total: Any = 0
        for x in v:
            total = _ref_norm(total + _ref_parse_float(x))
        return total
    if op == "*":
        if len(v) == 1:
            return v[0]
        product = _ref_parse_float(v[0])
        for x in v[1:]:
            product = _ref_norm(product * _ref_parse_float(x))
        return product
    if op == "-":
        nums = [to_number(x) for x in v]
        return _ref_norm(-nums[0] if len(nums) == 1 else nums[0] - nums[1])
    if op in ("/", "%"):
        a, b = to_number(v[0]), to_number(v[1])
        if op == "/":
            if b == 0:
                return math.nan if a == 0 or a != a else math.copysign(math.inf, a) * math.copysign(1, b)
            return _ref_norm(a / b)
        if b == 0 or a != a or b != b or math.isinf(a):
            return math.nan
        return _ref_norm(a if math.isinf(b) else math.fmod(a, b))
    if op in ("min", "max"):
        nums = [to_number(x) for x in v]
        if not nums:
            return math.inf if op == "min" else -math.inf
        if any(n != n for n in nums):
            return math.nan
        return _ref_norm(min(nums) if op == "min" else max(nums))
    if op == "in":
        needle, hay = v
        if isinstance(hay, str):
            return hay != "" and to_js_string(needle) in hay
        return isinstance(hay, list) and any(strict_equals(needle, x) for x in hay)
    if op == "cat":
        return "".join("" if x is None else to_js_string(x) for x in v)
    if op == "substr":
        return _ref_substr(*v)
    if op == "merge":
        out: list[Any] = []
        for x in v:
            out.extend(x) if isinstance(x, list) else out.append(x)
        return out
    if op == "log":
        return v[0]
    raise AssertionError(f"reference interpreter lacks {op}")


def json_clean(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, list):
        return [json_clean(x) for x in value]
    if isinstance(value, dict):
        return {k: json_clean(x) for k, x in value.items()}
    return value


_SCALAR = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 5),
    st.sampled_from([0.0, 0.5, -1.5, 2.0, 1e21, 0.1]),
    st.sampled_from(["", "0", "1", "2.5", "abc", "a", "b", " 3 ", "10", "-1", "x.y"]),
)
_JSON = st.recursive(
    _SCALAR,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(["k", "a", "0"]), inner, max_size=2),
    max_leaves=6,
)
_DATA = st.fixed_dictionaries(
    {"a": _JSON, "b": _JSON, "n": st.integers(-3, 3), "s": _SCALAR, "xs": st.lists(_JSON, max_size=4)},
    optional={"o": st.dictionaries(st.sampled_from(["k", "a"]), _JSON, max_size=2)},
)
_PATHS = st.sampled_from(["a", "b", "n", "s", "xs", "xs.0", "xs.1.k", "o.k", "o", "", "nope", "xs.length", "a.0"])
_SCOPED_PATHS = st.sampled_from(["", "k", "a", "0", "current", "accumulator", "current.k"])


def _var(paths: st.SearchStrategy[str]) -> st.SearchStrategy[Any]:
    return st.one_of(
        paths.map(lambda p: {"var": p}),
        st.tuples(paths, _SCALAR).map(lambda t: {"var": [t[0], t[1]]}),
    )


def _rules(paths: st.SearchStrategy[str]) -> st.SearchStrategy[Any]:
    leaves = st.one_of(_SCALAR, _var(paths), _var(paths))

    def extend(inner: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
        def op(name: str, n: int) -> st.SearchStrategy[Any]:
            return st.lists(inner, min_size=n, max_size=n).map(lambda a: {name: a})

        def variadic(name: str, low: int = 0) -> st.SearchStrategy[Any]:
            return st.lists(inner, min_size=low, max_size=4).map(lambda a: {name: a})

        scoped_logic = _rules_flat(_SCOPED_PATHS)
        return st.one_of(
            *(op(name, 2) for name in ("==", "===", "!=", "!==", "<", "<=", ">", ">=", "-", "/", "%", "in")),
            *(op(name, 1) for name in ("!", "!!", "-", "log")),
            op("<", 3),
            op("<=", 3),
            op("substr", 2),
            op("substr", 3),
            *(variadic(name) for name in ("and", "or", "+", "min", "max", "cat", "merge", "if")),
            st.lists(paths, max_size=3).map(lambda keys: {"missing": keys}),
            st.tuples(inner, st.lists(paths, max_size=2)).map(lambda t: {"missing": {"if": [t[0], t[1], ["nope"]]}}),
            variadic("*", 1),
            variadic("?:", 3),
            st.lists(inner, max_size=3),
            st.tuples(inner, inner).map(lambda t: {"missing_some": [t[0], ["a", "s", "nope"]]}),
            st.tuples(st.sampled_from(["map", "filter", "all", "some", "none"]), _var(paths), scoped_logic).map(
                lambda t: {t[0]: [t[1], t[2]]}
            ),
            st.tuples(_var(paths), scoped_logic, inner).map(lambda t: {"reduce": [t[0], t[1], t[2]]}),
            inner.map(lambda r: {"if": [True, 1, False, 2, r]}),  # exercised by if-chain flattening
            inner.map(lambda r: {"if": [{"var": "n"}, r, {"if": [{"var": "s"}, 1, {"?:": [r, 2, 3]}]}]}),
        )

    return st.recursive(leaves, extend, max_leaves=12)


def _rules_flat(paths: st.SearchStrategy[str]) -> st.SearchStrategy[Any]:
    """Scoped logic: simple operators over item-relative paths."""
    leaf = st.one_of(_SCALAR, _var(paths))
    return st.one_of(
        leaf,
        st.tuples(st.sampled_from(["==", "<", ">", "+", "*", "cat", "in", "and", "or", "-", "%"]), leaf, leaf).map(
            lambda t: {t[0]: [t[1], t[2]]}
        ),
        leaf.map(lambda r: {"!": [r]}),
    )


@settings(max_examples=600, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(rule=_rules(_PATHS), data=_DATA)
def test_compiled_matches_reference_interpreter(rule: Any, data: dict[str, Any]) -> None:
    snapshot = copy.deepcopy(data)
    expected = json_clean(ref_apply(rule, data))
    compiled = compile_logic(rule)
    result = compiled(data)
    assert same(result, expected), f"{json.dumps(rule)} on {json.dumps(data)}: {result!r} != {expected!r}"
    assert same(compiled(data), expected)  # no state carried between calls
    assert data == snapshot  # data is never mutated
