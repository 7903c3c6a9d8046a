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

# The package: `_base` (limits, error type), `values` (JavaScript value semantics), `reference`
# (the reference's condition semantics), `regex` (linear-time `matches`), `compiler` (operators,
# `compile_logic`, `apply`), `condition_trees` (reference condition trees -> JsonLogic).
from engine.rules.jsonlogic._base import (
    MAX_DEPTH,
    MAX_NODES,
    MAX_RESULT_LENGTH,
    MAX_VALUE_DEPTH,
    CompiledLogic,
    JsonLogicError,
)
from engine.rules.jsonlogic.compiler import OPERATORS, apply, compile_logic
from engine.rules.jsonlogic.condition_trees import CONDITION_OPERATORS, CONTEXT_KEY, translate_condition_tree
from engine.rules.jsonlogic.values import loose_equals, strict_equals, to_js_string, to_number, truthy

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
