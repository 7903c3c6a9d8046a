"""Starting instances from domain events (reference §2.15): which triggers an event fires, and the
context and metadata the started instance gets. Pure and deterministic: no I/O, no clock (the
caller passes `now`), so every rule here is unit-tested without a database or Temporal."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from engine.clock import iso
from engine.workflows.definition import FilterCondition, WorkflowTrigger
from engine.workflows.interpreter.decisions import MISSING, lookup

# Events of these families never start instances: they are the engine's own bookkeeping, and
# reacting to them invites loops (a workflow started by "workflows.*" events emits more of them).
IGNORED_EVENT_PREFIXES = ("workflows.", "query_index.", "search.", "cache.", "queue.")
TRIGGER_SOURCE = "definition"
REGEX_MAX_PATTERN = 200
REGEX_MAX_INPUT = 10_000


def is_ignored_event(event_name: str) -> bool:
    name = event_name.lower()
    return any(name.startswith(prefix) for prefix in IGNORED_EVENT_PREFIXES)


# --------------------------------------------------------------------------------------------
# Event patterns
# --------------------------------------------------------------------------------------------


def _pattern_regex(pattern: str) -> re.Pattern[str]:
    # `*` stands for one dot segment (or the rest of one: `ord*` matches `order`), never a dot.
    parts = [re.escape(part) for part in pattern.split("*")]
    return re.compile("[^.]+".join(parts), re.IGNORECASE)


def pattern_matches(pattern: str, event_name: str) -> bool:
    """`*` matches every event; otherwise the whole name must match, case-insensitively, with each
    `*` matching exactly one dot segment (`orders.*.created` matches `orders.order.created`, not
    `orders.created` nor `orders.a.b.created`)."""
    if not pattern or not event_name:
        return False
    if pattern == "*":
        return True
    if "*" not in pattern:
        return pattern.lower() == event_name.lower()
    return _pattern_regex(pattern).fullmatch(event_name) is not None


# --------------------------------------------------------------------------------------------
# Filter conditions
# --------------------------------------------------------------------------------------------


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def strict_equal(a: Any, b: Any) -> bool:
    """JavaScript `===` for JSON values, except that objects and arrays compare by content (the
    reference compares them by reference, so they never match: useless in a filter)."""
    if a is MISSING or b is MISSING:
        return a is b
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if _is_number(a) and _is_number(b):
        return bool(a == b)
    if type(a) is not type(b) and not (isinstance(a, Mapping) and isinstance(b, Mapping)):
        return False
    if isinstance(a, list):
        return len(a) == len(b) and all(strict_equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, Mapping):
        return a.keys() == b.keys() and all(strict_equal(a[k], b[k]) for k in a)
    return bool(a == b)


# A quantifier right after a group: `*`, `+`, or `{n,m}`.
_QUANTIFIER_AFTER = re.compile(r"[*+]|\{\d+(?:,\d*)?\}|\{,\d+\}")


def unsafe_regex(pattern: str) -> str | None:
    """Why a filter regex is refused (catastrophic backtracking or unbounded features), or None.

    Refused: backreferences (`\\1`, `\\k<n>`, `(?P=n)`, conditionals `(?(1)..)`), lookarounds
    (`(?=`, `(?!`, `(?<=`, `(?<!`), and nested quantifiers: a quantified group that itself
    contains a quantifier (`(a+)+`, `(\\w*)*`, `(a|b+){2,}`)."""
    if len(pattern) > REGEX_MAX_PATTERN:
        return "pattern too long"
    # Stack of "this open group contains a quantifier" flags.
    groups: list[bool] = []
    i, n = 0, len(pattern)
    while i < n:
        char = pattern[i]
        if char == "\\":
            following = pattern[i + 1 : i + 2]
            if following.isdigit() and following != "0":
                return "backreference"
            if following == "k":
                return "backreference"
            i += 2
            continue
        if char == "[":
            # Skip a character class; `]` first (or after `^`) is a literal.
            i += 1
            if i < n and pattern[i] == "^":
                i += 1
            if i < n and pattern[i] == "]":
                i += 1
            while i < n and pattern[i] != "]":
                i += 2 if pattern[i] == "\\" else 1
            i += 1
            continue
        if char == "(":
            head = pattern[i + 1 : i + 5]
            if head.startswith(("?=", "?!", "?<=", "?<!")):
                return "lookaround"
            if head.startswith(("?P=", "?(")):
                return "backreference"
            groups.append(False)
            i += 1
            if pattern[i : i + 1] == "?":
                # Group syntax, not a quantifier: `(?:`, `(?i)`, `(?P<n>`, `(?<n>`, `(?>`.
                i += 1
                if pattern[i : i + 2] == "P<" or pattern[i : i + 1] == "<":
                    end = pattern.find(">", i)
                    i = n if end < 0 else end + 1
                else:
                    while i < n and pattern[i] in "aiLmsux-:>":
                        i += 1
            continue
        if char == ")":
            inner_quantified = groups.pop() if groups else False
            quantifier = _QUANTIFIER_AFTER.match(pattern, i + 1)
            if quantifier and inner_quantified:
                return "nested quantifier"
            if groups and (inner_quantified or quantifier):
                groups[-1] = True
            i += 1
            continue
        quantifier_here = char in "*+?" or (char == "{" and _QUANTIFIER_AFTER.match(pattern, i))
        if quantifier_here and groups:
            groups[-1] = True
        i += 1
    return None


def regex_matches(pattern: Any, value: Any) -> bool:
    """`regex` operator: a bounded, backtracking-safe search; anything invalid is a non-match."""
    if not isinstance(pattern, str) or not isinstance(value, str):
        return False
    if len(value) > REGEX_MAX_INPUT or unsafe_regex(pattern) is not None:
        return False
    try:
        compiled = re.compile(pattern)
    except re.error:
        return False
    return compiled.search(value) is not None


def _contains(actual: Any, expected: Any) -> bool:
    if isinstance(actual, str):
        return isinstance(expected, str) and expected in actual
    if isinstance(actual, list):
        return any(strict_equal(item, expected) for item in actual)
    return False


def _member(actual: Any, expected: Any) -> bool:
    return isinstance(expected, list) and any(strict_equal(actual, item) for item in expected)


def condition_passes(operator: str, actual: Any, expected: Any) -> bool:
    """One filter condition on the value found in the payload (`MISSING` when absent)."""
    if operator == "eq":
        return strict_equal(actual, expected)
    if operator == "neq":
        return not strict_equal(actual, expected)
    if operator in ("gt", "gte", "lt", "lte"):
        if not (_is_number(actual) and _is_number(expected)):
            return False
        comparisons = {
            "gt": actual > expected,
            "gte": actual >= expected,
            "lt": actual < expected,
            "lte": actual <= expected,
        }
        return bool(comparisons[operator])
    if operator == "contains":
        return _contains(actual, expected)
    if operator == "startsWith":
        return isinstance(actual, str) and isinstance(expected, str) and actual.startswith(expected)
    if operator == "endsWith":
        return isinstance(actual, str) and isinstance(expected, str) and actual.endswith(expected)
    if operator == "in":
        return actual is not MISSING and _member(actual, expected)
    if operator == "notIn":
        return isinstance(expected, list) and not _member(actual, expected)
    if operator == "exists":
        return actual is not MISSING and actual is not None
    if operator == "notExists":
        return actual is MISSING or actual is None
    if operator == "regex":
        return regex_matches(expected, actual)
    return False  # an unknown operator never passes


def _condition_parts(condition: FilterCondition | Mapping[str, Any]) -> tuple[str, str, Any]:
    if isinstance(condition, FilterCondition):
        return condition.field, condition.operator, condition.value
    return str(condition.get("field", "")), str(condition.get("operator", "")), condition.get("value")


def filters_pass(conditions: Iterable[FilterCondition | Mapping[str, Any]], payload: Mapping[str, Any]) -> bool:
    """All conditions hold (AND); no conditions means the event passes."""
    for condition in conditions:
        field, operator, expected = _condition_parts(condition)
        if not field or not condition_passes(operator, lookup(payload, field), expected):
            return False
    return True


def trigger_matches(trigger: WorkflowTrigger, event_name: str, payload: Mapping[str, Any]) -> bool:
    """An enabled trigger whose pattern matches the event and whose filters pass."""
    return (
        trigger.enabled
        and pattern_matches(trigger.event_pattern, event_name)
        and filters_pass(trigger.config.filter_conditions, payload)
    )


# --------------------------------------------------------------------------------------------
# What the started instance gets
# --------------------------------------------------------------------------------------------


def mapped_context(trigger: WorkflowTrigger, payload: Mapping[str, Any]) -> dict[str, Any]:
    """`context[targetKey] = payload[sourceExpression] ?? defaultValue`; a key that resolves to
    nothing (no value, no default) is left out, as JSON drops `undefined`."""
    mapped: dict[str, Any] = {}
    for mapping in trigger.config.context_mapping:
        value = lookup(payload, mapping.source_expression)
        if value is MISSING or value is None:
            value = mapping.default_value
        if value is not None:
            mapped[mapping.target_key] = value
    return mapped


def initial_context(
    trigger: WorkflowTrigger, event_name: str, payload: Mapping[str, Any], now: datetime
) -> dict[str, Any]:
    """`{...payload, ...mapped, __trigger: {...}}` (reference §2.15)."""
    return {
        **payload,
        **mapped_context(trigger, payload),
        "__trigger": {
            "triggerId": trigger.trigger_id,
            "triggerName": trigger.name,
            "eventName": event_name,
            "eventPayload": dict(payload),
            "triggeredAt": iso(now),
            "source": TRIGGER_SOURCE,
        },
    }


def _text_or_none(value: Any) -> str | None:
    if value is None or value is MISSING or isinstance(value, (dict, list, bool)):
        return None
    text = str(value)
    return text or None


def initiator(trigger: WorkflowTrigger, payload: Mapping[str, Any]) -> str:
    """Who the started instance acts for (UPDATE_ENTITY and CALL_API use this user's rights).

    An event emitted by a workflow (EMIT_EVENT; the engine sets `_workflow`, overwriting anything
    the definition put there) carries the emitting instance's initiator, which is the only actor
    trusted for it: `userId` in such a payload is whatever the definition's author wrote, and
    honouring it would let any author act as any user. Other events (emitted by our own code)
    follow the reference: `userId`, then `actorUserId`. Without one: `trigger:<triggerId>`."""
    origin = payload.get("_workflow")
    if isinstance(origin, Mapping):
        user = _text_or_none(origin.get("initiatedBy"))
    else:
        user = _text_or_none(payload.get("userId")) or _text_or_none(payload.get("actorUserId"))
    if user is None or user.startswith("trigger:"):
        return f"trigger:{trigger.trigger_id}"
    return user


def instance_metadata(
    trigger: WorkflowTrigger, payload: Mapping[str, Any], event_name: str | None = None
) -> dict[str, Any]:
    """`{initiatedBy, entityId?, entityType?, labels}` (reference §2.15)."""
    metadata: dict[str, Any] = {"initiatedBy": initiator(trigger, payload)}
    entity_id = _text_or_none(payload.get("id"))
    if entity_id is not None:
        metadata["entityId"] = entity_id
    entity_type = _text_or_none(payload.get("entityType")) or trigger.config.entity_type
    if entity_type:
        metadata["entityType"] = entity_type
    labels = {"trigger_id": trigger.trigger_id, "trigger_name": trigger.name, "trigger_source": TRIGGER_SOURCE}
    if event_name is not None:
        labels["event_name"] = event_name
    metadata["labels"] = labels
    return metadata


def parse_triggers(definition: Mapping[str, Any]) -> list[WorkflowTrigger]:
    """The definition's valid triggers, highest priority first (invalid entries are skipped: a
    definition saved before validation tightened must not break dispatch for everyone)."""
    triggers: list[WorkflowTrigger] = []
    for raw in definition.get("triggers") or []:
        try:
            triggers.append(WorkflowTrigger.model_validate(raw))
        except ValueError:
            continue
    return sorted(triggers, key=lambda t: -t.priority)
