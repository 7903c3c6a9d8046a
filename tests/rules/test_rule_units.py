"""Pure pieces of the rule engine: save-time checks, dialect detection, templating, sanitisation."""

from __future__ import annotations

from typing import Any

import pytest

from engine.rules.actions import interpolate, render, set_path
from engine.rules.execution import is_sensitive_key, sanitize
from engine.rules.schemas import (
    CONDITION_TREE,
    JSONLOGIC,
    RuleValidationError,
    check_actions,
    check_condition,
    detect_dialect,
)


@pytest.mark.parametrize(
    ("expression", "dialect"),
    [
        ({"field": "a", "operator": "=", "value": 1}, CONDITION_TREE),
        ({"operator": "OR", "rules": [{"field": "a", "operator": "IS_EMPTY"}]}, CONDITION_TREE),
        ({"==": [{"var": "a"}, 1]}, JSONLOGIC),
        ({"var": "operator"}, JSONLOGIC),
        (True, JSONLOGIC),
    ],
)
def test_dialect_detection(expression: Any, dialect: str) -> None:
    assert detect_dialect(expression) == dialect
    assert check_condition(expression, None)[0] == dialect


def test_check_condition_translates_trees_and_keeps_jsonlogic() -> None:
    assert check_condition(None, None) == (None, None)
    assert check_condition({"in": ["a", {"var": "tags"}]}, None) == (JSONLOGIC, {"in": ["a", {"var": "tags"}]})
    dialect, logic = check_condition({"field": "qty", "operator": "NOT_IN", "value": [1, 2]}, None)
    assert dialect == CONDITION_TREE and logic == {"!": [{"in_list": [{"var": "qty"}, {"preserve": [1, 2]}]}]}
    # An explicit dialect wins over detection.
    with pytest.raises(RuleValidationError):
        check_condition({"==": [1, 1]}, CONDITION_TREE)


@pytest.mark.parametrize(
    ("tree", "fragment"),
    [
        ({"operator": "XOR", "rules": [{"field": "a", "operator": "=", "value": 1}]}, "AND, OR or NOT"),
        ({"field": "1bad", "operator": "=", "value": 1}, "field must be a path"),
        ({"field": "a", "operator": "="}, "needs value or valueField"),
        ({"field": "a", "operator": "=", "valueField": "not a path"}, "valueField must be a path"),
        ({"field": "a" * 201, "operator": "=", "value": 1}, "safety limits"),
    ],
)
def test_condition_tree_structure_errors(tree: dict[str, Any], fragment: str) -> None:
    with pytest.raises(RuleValidationError) as caught:
        check_condition(tree, None)
    assert fragment in caught.value.message
    assert caught.value.message.startswith("Validation failed: conditionExpression")


VALID_ACTIONS = [
    {"type": "ALLOW_TRANSITION"},
    {"type": "BLOCK_TRANSITION", "config": {"message": "no"}},
    {"type": "LOG", "config": {"message": "m", "level": "error"}},
    {"type": "SHOW_ERROR", "config": {"message": "m"}},
    {"type": "SHOW_WARNING", "config": {"message": "m"}},
    {"type": "SHOW_INFO", "config": {"message": "m"}},
    {"type": "NOTIFY", "config": {"message": "m", "recipients": ["a"], "template": "t", "subject": "s"}},
    {"type": "SET_FIELD", "config": {"field": "a.b", "value": None}},
    {"type": "SET_FIELD", "config": {"field": "a", "valueExpression": {"+": [1, 2]}}},
    {"type": "CALL_WEBHOOK", "config": {"url": "https://example.com/x", "method": "patch", "headers": {"a": "b"}}},
    {"type": "EMIT_EVENT", "config": {"eventName": "a.b.c", "payload": {"x": 1}}},
    {"type": "EMIT_EVENT", "config": {"event": "a.b.c"}},
]


def test_every_action_type_validates() -> None:
    assert check_actions(VALID_ACTIONS, "successActions") == VALID_ACTIONS
    assert check_actions(None, "successActions") is None


@pytest.mark.parametrize(
    ("bad", "path"),
    [
        ({"type": "TELEPORT"}, "x.0.type"),
        ({"config": {}}, "x.0.type"),
        ("LOG", "x.0"),
        ({"type": "LOG", "config": {}}, "x.0.config.message"),
        ({"type": "LOG", "config": {"message": "m", "level": "loud"}}, "x.0.config.level"),
        ({"type": "NOTIFY", "config": {"message": "m", "recipients": []}}, "x.0.config.recipients"),
        ({"type": "SET_FIELD", "config": {"value": 1}}, "x.0.config.field"),
        ({"type": "SET_FIELD", "config": {"field": "a"}}, "x.0.config.value"),
        (
            {"type": "SET_FIELD", "config": {"field": "a", "valueExpression": {"bogus": 1}}},
            "x.0.config.valueExpression",
        ),
        ({"type": "CALL_WEBHOOK", "config": {"url": "ftp://x"}}, "x.0.config.url"),
        ({"type": "CALL_WEBHOOK", "config": {"url": "https://x", "method": "TRACE"}}, "x.0.config.method"),
        ({"type": "EMIT_EVENT", "config": {}}, "x.0.config.eventName"),
        ({"type": "EMIT_EVENT", "config": {"eventName": "a", "payload": [1]}}, "x.0.config.payload"),
        ({"type": "LOG", "config": "message"}, "x.0.config"),
    ],
)
def test_invalid_actions_name_their_path(bad: Any, path: str) -> None:
    with pytest.raises(RuleValidationError) as caught:
        check_actions([bad], "x")
    assert caught.value.extra["details"][0]["path"] == path


def test_templating() -> None:
    context = {"data": {"id": 7, "items": [{"sku": "A"}], "flag": True, "obj": {"a": 1}}, "user": {"id": "u"}}
    assert interpolate("{{data.id}}/{{ data.items[0].sku }}/{{data.items.0.sku}}", context) == "7/A/A"
    assert interpolate("{{data.flag}} {{data.obj}} {{data.none}}", context) == 'true {"a":1} {{data.none}}'
    assert interpolate("{{data.__proto__}} {{constructor}}", context) == "{{data.__proto__}} {{constructor}}"
    assert render({"n": "{{data.id}}", "s": ["x{{user.id}}", 3]}, context) == {"n": 7, "s": ["xu", 3]}
    target: dict[str, Any] = {"a": 1}
    set_path(target, "a.b.c", 2)
    assert target == {"a": {"b": {"c": 2}}}


@pytest.mark.parametrize(
    "name",
    ["password", "Passwd", "pwd", "client_secret", "accessToken", "x-auth-token", "api_key", "apiKey", "auth",
     "Authorization", "creditCard", "card_number", "cvv", "ssn", "socialSecurityNumber", "tax_id", "taxId",
     "driver_license", "passportNo", "PIN"],
)  # fmt: skip
def test_sensitive_keys(name: str) -> None:
    assert is_sensitive_key(name)


@pytest.mark.parametrize("name", ["className", "author", "authorId", "amount", "description", "lessons", "pinned"])
def test_ordinary_keys(name: str) -> None:
    assert not is_sensitive_key(name)


def test_sanitize_depth_and_lists() -> None:
    assert sanitize({"a": [{"token": 1}, 2]}) == {"a": [{"token": "[REDACTED]"}, 2]}
    assert sanitize([[[[[["deep"]]]]]]) == [[[[["[Max depth exceeded]"]]]]]
    assert sanitize("plain") == "plain"
