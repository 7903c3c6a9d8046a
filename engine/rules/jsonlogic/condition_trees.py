"""Reference condition trees translated to plain JsonLogic."""

from __future__ import annotations

import copy
import re
from typing import Any, Final

from engine.rules.jsonlogic._base import JsonLogicError

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
