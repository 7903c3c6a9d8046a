"""Trigger matching, filters and the started instance's context/metadata (reference §2.15),
without a database or Temporal."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from engine.workflows.definition import WorkflowTrigger
from engine.workflows.triggers import (
    MISSING,
    filters_pass,
    initial_context,
    instance_metadata,
    is_ignored_event,
    lookup,
    parse_triggers,
    pattern_matches,
    regex_matches,
    trigger_matches,
    unsafe_regex,
)

NOW = datetime(2025, 12, 8, 10, 0, 0, 123000, tzinfo=UTC)


def make_trigger(**overrides: Any) -> WorkflowTrigger:
    raw: dict[str, Any] = {
        "triggerId": "on-order",
        "name": "On order",
        "eventPattern": "orders.*.created",
        "config": {},
        **overrides,
    }
    return WorkflowTrigger.model_validate(raw)


@pytest.mark.parametrize(
    ("pattern", "name", "expected"),
    [
        ("*", "anything.at.all", True),
        ("*", "x", True),
        ("orders.order.created", "orders.order.created", True),
        ("orders.order.created", "ORDERS.Order.Created", True),
        ("ORDERS.ORDER.CREATED", "orders.order.created", True),
        ("orders.order.created", "orders.order.created.v2", False),
        ("orders.order.created", "orders.order", False),
        ("orders.*.created", "orders.order.created", True),
        ("orders.*.created", "orders.invoice.created", True),
        ("orders.*.created", "orders.created", False),
        ("orders.*.created", "orders.a.b.created", False),
        ("orders.*.created", "orders..created", False),
        ("orders.*", "orders.created", True),
        ("orders.*", "orders.order.created", False),
        ("orders.*.*", "orders.order.created", True),
        ("orders.*", "ORDERS.Created", True),
        ("orders.ord*", "orders.order", True),
        ("orders.ord*", "orders.ord", False),
        ("orders.*", "ordersXcreated", False),  # the dot is literal, not "any character"
        ("", "orders.created", False),
    ],
)
def test_pattern_matches(pattern: str, name: str, expected: bool) -> None:
    assert pattern_matches(pattern, name) is expected


PAYLOAD: dict[str, Any] = {
    "id": "o-1",
    "total": 150,
    "price": 9.5,
    "status": "paid",
    "flag": True,
    "nothing": None,
    "tags": ["vip", "eu", 3],
    "customer": {"email": "ann@example.com", "address": {"city": "Berlin"}},
    "items": [{"sku": "A-1"}, {"sku": "B-2"}],
    "count": "5",
}


def test_lookup_paths() -> None:
    assert lookup(PAYLOAD, "customer.address.city") == "Berlin"
    assert lookup(PAYLOAD, "items.1.sku") == "B-2"
    assert lookup(PAYLOAD, "items.5.sku") is MISSING
    assert lookup(PAYLOAD, "customer.phone") is MISSING
    assert lookup(PAYLOAD, "nothing") is None
    assert lookup(PAYLOAD, "status.length") is MISSING


@pytest.mark.parametrize(
    ("field", "operator", "value", "expected"),
    [
        ("status", "eq", "paid", True),
        ("status", "eq", "PAID", False),
        ("total", "eq", 150, True),
        ("total", "eq", 150.0, True),
        ("total", "eq", "150", False),  # strict: no type coercion
        ("flag", "eq", True, True),
        ("flag", "eq", 1, False),  # True is not 1
        ("total", "eq", True, False),
        ("nothing", "eq", None, True),
        ("missing", "eq", None, False),  # undefined !== null
        ("tags", "eq", ["vip", "eu", 3], True),
        ("customer.address", "eq", {"city": "Berlin"}, True),
        ("status", "neq", "open", True),
        ("status", "neq", "paid", False),
        ("missing", "neq", "x", True),
        ("total", "gt", 100, True),
        ("total", "gt", 150, False),
        ("total", "gte", 150, True),
        ("price", "lt", 10, True),
        ("price", "lte", 9.5, True),
        ("price", "lte", 9.4, False),
        ("count", "gt", 1, False),  # numbers only: "5" is a string
        ("total", "gt", "100", False),
        ("flag", "gt", 0, False),
        ("missing", "lt", 10, False),
        ("customer.email", "contains", "@example", True),
        ("customer.email", "contains", "@other", False),
        ("tags", "contains", "vip", True),
        ("tags", "contains", 3, True),
        ("tags", "contains", "3", False),
        ("total", "contains", 1, False),
        ("customer.email", "startsWith", "ann@", True),
        ("customer.email", "startsWith", "bob@", False),
        ("customer.email", "endsWith", ".com", True),
        ("total", "startsWith", "1", False),
        ("status", "in", ["paid", "shipped"], True),
        ("status", "in", ["open"], False),
        ("status", "in", "paid", False),  # the expected value must be an array
        ("missing", "in", [None], False),
        ("status", "notIn", ["open", "cancelled"], True),
        ("status", "notIn", ["paid"], False),
        ("missing", "notIn", ["paid"], True),
        ("status", "exists", None, True),
        ("nothing", "exists", None, False),
        ("missing", "exists", None, False),
        ("missing", "notExists", None, True),
        ("nothing", "notExists", None, True),
        ("status", "notExists", None, False),
        ("customer.email", "regex", r"^[a-z]+@example\.com$", True),
        ("customer.email", "regex", r"example", True),  # a search, not a full match
        ("customer.email", "regex", r"^bob", False),
        ("total", "regex", r"\d+", False),  # strings only
        ("status", "unknownOp", "paid", False),
    ],
)
def test_filter_operators(field: str, operator: str, value: Any, expected: bool) -> None:
    assert filters_pass([{"field": field, "operator": operator, "value": value}], PAYLOAD) is expected


def test_filters_are_anded_and_empty_passes() -> None:
    assert filters_pass([], PAYLOAD)
    both: list[dict[str, Any]] = [
        {"field": "status", "operator": "eq", "value": "paid"},
        {"field": "total", "operator": "gte", "value": 100},
    ]
    assert filters_pass(both, PAYLOAD)
    assert not filters_pass([*both, {"field": "total", "operator": "lt", "value": 100}], PAYLOAD)


@pytest.mark.parametrize(
    "pattern",
    [
        r"(a+)+$",
        r"(a*)*b",
        r"(\w+\s?)*$",
        r"(a|b+){2,}",
        r"((ab)+)*",
        r"(?:a+)+",
        r"(a)\1",
        r"(?P<x>a)(?P=x)",
        r"(?<n>a)\k<n>",
        r"foo(?=bar)",
        r"foo(?!bar)",
        r"(?<=a)b",
        r"(?<!a)b",
        r"(a)?(?(1)b|c)",
        "a" * 201,
    ],
)
def test_unsafe_regexes_are_refused(pattern: str) -> None:
    assert unsafe_regex(pattern) is not None
    assert regex_matches(pattern, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaab") is False


@pytest.mark.parametrize(
    "pattern",
    [r"^[a-z]+$", r"(ab)+", r"(?:abc){2}", r"[(+)]+", r"a+b*c?", r"(?i)^ORD-\d{3,5}$", r"\(a+\)+", r"x{2}"],
)
def test_safe_regexes_are_allowed(pattern: str) -> None:
    assert unsafe_regex(pattern) is None


def test_regex_limits_and_invalid_patterns() -> None:
    assert regex_matches(r"^ord-\d+$", "ord-123")
    assert regex_matches(r"(?i)^ORD-\d{3,5}$", "ord-1234")
    assert not regex_matches(r"x", "x" * 10_001)  # input too long
    assert regex_matches(r"x", "x" * 10_000)
    assert not regex_matches(r"([a-z", "abc")  # invalid → false, never raises
    assert not regex_matches(None, "abc")


def test_trigger_matches_needs_enabled_pattern_and_filters() -> None:
    trigger = make_trigger(config={"filterConditions": [{"field": "total", "operator": "gt", "value": 100}]})
    assert trigger_matches(trigger, "orders.order.created", PAYLOAD)
    assert not trigger_matches(trigger, "orders.order.updated", PAYLOAD)
    assert not trigger_matches(trigger, "orders.order.created", {**PAYLOAD, "total": 5})
    assert not trigger_matches(make_trigger(enabled=False), "orders.order.created", PAYLOAD)


def test_initial_context_merges_payload_mapping_and_trigger_info() -> None:
    trigger = make_trigger(
        config={
            "contextMapping": [
                {"targetKey": "orderId", "sourceExpression": "id"},
                {"targetKey": "city", "sourceExpression": "customer.address.city"},
                {"targetKey": "priority", "sourceExpression": "priority", "defaultValue": "normal"},
                {"targetKey": "absent", "sourceExpression": "nope"},
                {"targetKey": "status", "sourceExpression": "nothing", "defaultValue": "unknown"},
            ]
        }
    )
    payload = {"id": "o-1", "customer": {"address": {"city": "Berlin"}}, "status": "paid", "nothing": None}
    context = initial_context(trigger, "orders.order.created", payload, NOW)
    assert context["orderId"] == "o-1"
    assert context["city"] == "Berlin"
    assert context["priority"] == "normal"
    assert "absent" not in context
    assert context["status"] == "unknown"  # mapped values win over the payload's keys
    assert context["customer"] == {"address": {"city": "Berlin"}}  # the payload itself is spread in
    assert context["__trigger"] == {
        "triggerId": "on-order",
        "triggerName": "On order",
        "eventName": "orders.order.created",
        "eventPayload": payload,
        "triggeredAt": "2025-12-08T10:00:00.123Z",
        "source": "definition",
    }


def test_instance_metadata() -> None:
    trigger = make_trigger(config={"entityType": "order"})
    metadata = instance_metadata(trigger, {"id": 42, "userId": "u-1"}, "orders.order.created")
    assert metadata == {
        "initiatedBy": "u-1",
        "entityId": "42",
        "entityType": "order",
        "labels": {
            "trigger_id": "on-order",
            "trigger_name": "On order",
            "event_name": "orders.order.created",
            "trigger_source": "definition",
        },
    }
    assert instance_metadata(trigger, {"entityType": "invoice", "actorUserId": "u-2"})["entityType"] == "invoice"
    assert instance_metadata(trigger, {"actorUserId": "u-2"})["initiatedBy"] == "u-2"
    bare = instance_metadata(make_trigger(), {})
    assert bare["initiatedBy"] == "trigger:on-order"
    assert "entityId" not in bare and "entityType" not in bare


def test_workflow_emitted_events_act_for_the_emitting_instances_initiator() -> None:
    trigger = make_trigger()
    # An author-written userId in a workflow-emitted event is not trusted.
    payload = {"userId": "someone-else", "_workflow": {"workflowId": "w", "initiatedBy": "u-1"}}
    assert instance_metadata(trigger, payload)["initiatedBy"] == "u-1"
    assert instance_metadata(trigger, {"userId": "x", "_workflow": {"workflowId": "w"}})["initiatedBy"] == (
        "trigger:on-order"
    )
    chained = {"_workflow": {"initiatedBy": "trigger:other"}}
    assert instance_metadata(trigger, chained)["initiatedBy"] == "trigger:on-order"


def test_ignored_event_families() -> None:
    assert is_ignored_event("workflows.instance.completed")
    assert is_ignored_event("Workflows.x")
    assert is_ignored_event("queue.job.done")
    assert not is_ignored_event("orders.order.created")
    assert not is_ignored_event("workflowsx.y")


def test_parse_triggers_skips_invalid_and_sorts_by_priority() -> None:
    definition = {
        "triggers": [
            {"triggerId": "low", "name": "Low", "eventPattern": "a.b", "priority": 1},
            {"triggerId": "BAD ID", "name": "Bad", "eventPattern": "a.b"},
            {"triggerId": "high", "name": "High", "eventPattern": "a.*", "priority": 50},
        ]
    }
    assert [t.trigger_id for t in parse_triggers(definition)] == ["high", "low"]
    assert parse_triggers({}) == []
