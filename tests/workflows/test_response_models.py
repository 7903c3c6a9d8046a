"""The contract's success examples for the workflow routes validate against the response models
those routes declare, so the documented schema and the contract can't drift apart unnoticed."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.routing import iter_route_contexts
from pydantic import TypeAdapter, ValidationError

from api.app import create_app
from api.openapi import EXAMPLES
from engine.settings import Settings

APP = create_app(Settings(COVO_ENV="test"))
ROUTES = {
    (method, str(route.path).removeprefix("/api")): route
    for route in iter_route_contexts(APP.routes)
    if getattr(route, "endpoint", None) is not None and route.endpoint.__module__ == "api.workflows"
    for method in route.methods or ()
}
CASES = [
    (f"{method} {path}", code, example)
    for (method, path) in sorted(ROUTES)
    for code, example in EXAMPLES.get(f"{method} {path}", {}).items()
    if code.startswith("2")
]

_DEFINITION_EXTRAS = ("metadata", "effectiveFrom", "effectiveTo", "createdBy", "updatedBy")
_TASK_EXTRAS = ("branchKey", "comments")

# Where our real answer differs from the contract's example, the model follows the answer. Each
# entry is the exact set of places (dotted error locations) where the example fails the model.
KNOWN_DEVIATIONS: dict[str, tuple[str, set[str]]] = {
    "GET /workflows/definitions": (
        "we also send metadata, effective dates and authors",
        {f"data.0.{key}" for key in _DEFINITION_EXTRAS},
    ),
    "GET /workflows/definitions/{id}": (
        "we also send metadata, effective dates and authors",
        {f"data.{key}" for key in _DEFINITION_EXTRAS},
    ),
    "POST /workflows/definitions": (
        "we also send metadata, effective dates and authors",
        {f"data.{key}" for key in _DEFINITION_EXTRAS},
    ),
    "PUT /workflows/definitions/{id}": (
        "we also send metadata, effective dates and authors",
        {f"data.{key}" for key in _DEFINITION_EXTRAS},
    ),
    "POST /workflows/instances": (
        "the example's data is an empty placeholder; we send the instance and its execution",
        {"data.instance", "data.execution"},
    ),
    "POST /workflows/instances/{id}/retry": (
        "the example's data is an empty placeholder; we send the instance and its execution",
        {"data.instance", "data.execution"},
    ),
    "POST /workflows/instances/{id}/cancel": ("we also send the cancelled instance", {"data"}),
    "POST /workflows/instances/{id}/advance": ("we also send the instance's context", {"data.instance.context"}),
    "GET /workflows/events/{id}": (
        "we always send the instance and the event's branch, data and tenancy",
        {"branchKey", "eventData", "tenantId", "organizationId", "workflowInstance"},
    ),
    "GET /workflows/tasks": ("we also send branchKey and comments", {f"data.0.{key}" for key in _TASK_EXTRAS}),
    "GET /workflows/tasks/{id}": ("we also send branchKey and comments", {f"data.{key}" for key in _TASK_EXTRAS}),
    "POST /workflows/tasks/{id}/claim": (
        "we also send branchKey and comments",
        {f"data.{key}" for key in _TASK_EXTRAS},
    ),
    "POST /workflows/tasks/{id}/complete": (
        "we also send branchKey and comments",
        {f"data.{key}" for key in _TASK_EXTRAS},
    ),
}


@pytest.mark.parametrize(("operation", "code", "example"), CASES, ids=[f"{op} {code}" for op, code, _ in CASES])
def test_contract_success_examples_match_the_documented_response_models(
    operation: str, code: str, example: Any
) -> None:
    method, path = operation.split(" ", 1)
    route = ROUTES[(method, path)]
    assert str(route.status_code or 200) == code, f"{operation}: example for {code}, route answers {route.status_code}"
    assert route.response_model is not None, f"{operation} documents no response model"
    try:
        TypeAdapter(route.response_model).validate_python(example)
    except ValidationError as exc:
        failures = {".".join(str(part) for part in error["loc"]) for error in exc.errors()}
    else:
        failures = set()
    _, expected = KNOWN_DEVIATIONS.get(operation, ("", set()))
    assert failures == expected
