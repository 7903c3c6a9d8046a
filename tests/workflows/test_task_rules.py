"""The pure task rules: the permission matrix and form validation (no Temporal, no HTTP)."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from engine.workflows import tasks
from engine.workflows.tasks import Actor


@dataclass
class Task:
    status: str = "PENDING"
    assigned_to: str | None = None
    assigned_to_roles: list[str] | None = None
    claimed_by: str | None = None


MANAGER = Actor.of("m", [], True)
MEMBER = Actor.of("u1", ["reviewer"], False)
OTHER = Actor.of("u2", ["employee"], False)
QUEUE = Task(assigned_to_roles=["reviewer"])
MINE = Task(assigned_to="u2")


def kind(refusal: tasks.Refusal | None) -> str:
    return refusal.kind if refusal else "OK"


@pytest.mark.parametrize(
    ("task", "actor", "claim", "complete"),
    [
        (QUEUE, MEMBER, "OK", "FORBIDDEN"),  # claim first
        (QUEUE, OTHER, "FORBIDDEN", "FORBIDDEN"),
        (QUEUE, MANAGER, "OK", "OK"),
        (MINE, OTHER, "OK", "OK"),
        (MINE, MEMBER, "FORBIDDEN", "FORBIDDEN"),
        (Task(assigned_to_roles=["reviewer"], claimed_by="u1", status="IN_PROGRESS"), MEMBER, "CONFLICT", "OK"),
        (Task(assigned_to_roles=["reviewer"], claimed_by="u9", status="IN_PROGRESS"), MEMBER, "CONFLICT", "FORBIDDEN"),
        (Task(assigned_to_roles=["reviewer"], status="COMPLETED"), MANAGER, "CONFLICT", "CONFLICT"),
    ],
)
def test_permission_matrix(task: Task, actor: Actor, claim: str, complete: str) -> None:
    assert kind(tasks.claim_refusal(task, actor)) == claim
    assert kind(tasks.complete_refusal(task, actor)) == complete


def test_only_managers_change_and_claimers_release() -> None:
    claimed = Task(assigned_to_roles=["reviewer"], claimed_by="u1", status="IN_PROGRESS")
    assert kind(tasks.change_refusal(claimed, MEMBER)) == "FORBIDDEN"
    assert kind(tasks.change_refusal(claimed, MANAGER)) == "OK"
    assert kind(tasks.release_refusal(claimed, MEMBER)) == "OK"
    assert kind(tasks.release_refusal(claimed, OTHER)) == "FORBIDDEN"
    assert kind(tasks.reassign_refusal(claimed, MEMBER, "u2", None)) == "OK"
    assert kind(tasks.reassign_refusal(claimed, MEMBER, None, [])) == "BAD_REQUEST"


def test_fields_shape_becomes_json_schema() -> None:
    schema = tasks.fields_to_json_schema(
        {"fields": [
            {"name": "email", "type": "email", "required": True, "label": "E-mail"},
            {"name": "n", "type": "number", "min": 1, "validation": {"max": 5}},
            {"name": "tags", "type": "multiselect", "options": ["a", "b"]},
        ]}
    )  # fmt: skip
    assert schema == {
        "type": "object",
        "properties": {
            "email": {"type": "string", "format": "email", "title": "E-mail"},
            "n": {"type": "number", "minimum": 1, "maximum": 5},
            "tags": {"type": "array", "items": {"enum": ["a", "b"]}},
        },
        "required": ["email"],
    }


def test_form_errors_one_per_field_with_paths() -> None:
    schema = {
        "type": "object",
        "properties": {
            "items": {"type": "array", "items": {"type": "integer"}},
            "when": {"type": "string", "format": "date"},
            "a": {"type": "string", "minLength": 2, "maxLength": 3, "pattern": "^x"},
        },
        "required": ["a"],
    }
    errors = tasks.form_errors(schema, {"items": [1, "two"], "when": "2024-13-45", "a": None})
    assert [e["path"] for e in errors] == ["a", "items[1]", "when"]
    assert errors[0]["message"] == "Required field missing"
    assert tasks.form_errors(schema, {"a": "xy"}) == []
    assert tasks.form_errors(None, {"anything": 1}) == []


def test_schema_problems_name_a_bad_schema() -> None:
    assert tasks.schema_problems({"type": "object", "properties": {"a": {"type": "strin"}}})
    assert tasks.schema_problems({"fields": [{"name": "a", "type": "text"}]}) == []
