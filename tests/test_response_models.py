"""Every route declares the model of its answer (FastAPI checks each answer against it, and
`extra="forbid"` makes an undeclared key fail the tests that exercise the route), and the
contract's success examples fit those models, so documentation and contract cannot drift apart."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.routing import APIRoute, iter_route_contexts
from pydantic import BaseModel, TypeAdapter, ValidationError

from api.app import create_app
from api.openapi import EXAMPLES
from engine.settings import Settings

ROUTES = {
    f"{method} {context.path.removeprefix('/api')}": context.original_route
    for context in iter_route_contexts(create_app(Settings(COVO_ENV="test")).routes)
    if isinstance(context.original_route, APIRoute) and context.path
    for method in context.original_route.methods
}

# Answers that are not one JSON model: a free-form document, redirects.
WITHOUT_MODEL = {
    "GET /workflows/definitions/schema": "a JSON Schema document",
    "GET /auth/logout": "a redirect",
    "GET /events/stream": "a server-sent event stream",
}

_DEFINITION_EXTRAS = ("metadata", "effectiveFrom", "effectiveTo", "createdBy", "updatedBy")
_TASK_EXTRAS = ("branchKey", "comments")

# Where our real answer differs from the contract's example, the model follows the answer: the
# example's places (dotted locations) that fail the model, and why. In every case we send more.
KNOWN_DEVIATIONS: dict[str, tuple[set[str], str]] = {
    "POST /auth/login": ({"refreshToken", "expiresIn"}, "we also return the refresh token and its lifetime"),
    "GET /auth/profile": ({"id", "name", "tenantId", "organizationId"}, "we also return who and where the user is"),
    "GET /auth/roles": ({"items.0.tenantId", "items.0.tenantName"}, "a role always belongs to a tenant"),
    "GET /auth/users": (
        {"items.0.name", "items.0.isActive", "items.0.tenantId", "items.0.tenantName"},
        "we also return name and isActive; a user always belongs to a tenant",
    ),
    "POST /api_keys/keys": (
        {"tenantId", "expiresAt", "secret"},
        "we return the one-time secret and the expiry; a key always belongs to a tenant",
    ),
    "GET /directory/tenants": ({"items.0.createdAt", "items.0.updatedAt"}, "a tenant always has both timestamps"),
    "GET /directory/organizations": (
        {"items.0.tenantId", "items.0.tenantName", "items.0.depth", "items.0.isActive"},
        "we also return depth and isActive; an organization always belongs to a tenant",
    ),
    "GET /directory/organization-switcher": ({"tenantId"}, "the caller always has a tenant"),
    "GET /workflows/definitions": ({f"data.0.{k}" for k in _DEFINITION_EXTRAS}, "metadata, effective dates, authors"),
    "GET /workflows/definitions/{id}": (
        {f"data.{k}" for k in _DEFINITION_EXTRAS},
        "metadata, effective dates, authors",
    ),
    "POST /workflows/definitions": ({f"data.{k}" for k in _DEFINITION_EXTRAS}, "metadata, effective dates, authors"),
    "PUT /workflows/definitions/{id}": (
        {f"data.{k}" for k in _DEFINITION_EXTRAS},
        "metadata, effective dates, authors",
    ),
    "POST /workflows/instances": ({"data.instance", "data.execution"}, "the example's data is an empty placeholder"),
    "POST /workflows/instances/{id}/retry": ({"data.instance", "data.execution"}, "the example's data is empty"),
    "POST /workflows/instances/{id}/cancel": ({"data"}, "we also send the cancelled instance"),
    "POST /workflows/instances/{id}/advance": ({"data.instance.context"}, "we also send the instance's context"),
    "GET /workflows/events/{id}": (
        {"branchKey", "eventData", "tenantId", "organizationId", "workflowInstance"},
        "we always send the instance and the event's branch, data and tenancy",
    ),
    "GET /workflows/tasks": ({f"data.0.{k}" for k in _TASK_EXTRAS}, "we also send branchKey and comments"),
    "GET /workflows/tasks/{id}": ({f"data.{k}" for k in _TASK_EXTRAS}, "we also send branchKey and comments"),
    "POST /workflows/tasks/{id}/claim": (
        {f"data.{k}" for k in _TASK_EXTRAS},
        "we also send branchKey and comments",
    ),
    "POST /workflows/tasks/{id}/complete": (
        {f"data.{k}" for k in _TASK_EXTRAS},
        "we also send branchKey and comments",
    ),
    "GET /business_rules/rules/{id}": (
        {"conditionDialect", "conditionExpression", "conditionLogic"},
        "the condition as given, its dialect and the JsonLogic evaluated",
    ),
    "POST /business_rules/execute": (
        {"executedRules.0.actionsExecuted", "executedRules.0.ruleType", "messages", "output"},
        "each rule's type and action results, the SET_FIELD output and SHOW_* messages",
    ),
    "GET /business_rules/sets/{id}": ({"members.0.ruleKey"}, "a member's ruleId is the rule's UUID; ruleKey its key"),
    "GET /scheduler/jobs": (
        {f"items.0.{k}" for k in ("overlapPolicy", "catchupWindowSeconds", "jitterSeconds", "maxAttempts")},
        "we also send each job's run policies",
    ),
    "POST /scheduler/jobs": ({"id"}, "the example's id is null; a created job always has one"),
    "GET /scheduler/jobs/{id}/executions": (
        {"items.0.scheduledAt", "items.0.workflowId"},
        "we also send the firing's scheduled time and the run's Temporal workflow id",
    ),
    "GET /scheduler/queue-jobs/{jobId}": ({"scheduleId", "workflowId"}, "we also send the job's and workflow's ids"),
    "POST /scheduler/trigger": ({"runId"}, "we also send the id of the run just queued"),
}

SUCCESS_EXAMPLES = [
    (label, code, example)
    for label in sorted(ROUTES)
    for code, example in EXAMPLES.get(label, {}).items()
    if code.startswith("2")
]


@pytest.mark.parametrize("label", sorted(ROUTES.keys() - WITHOUT_MODEL.keys()))
def test_every_route_declares_the_model_of_its_answer(label: str) -> None:
    model = ROUTES[label].response_model
    assert model is not None and issubclass(model, BaseModel), f"{label} declares no response model"


@pytest.mark.parametrize(
    ("label", "code", "example"), SUCCESS_EXAMPLES, ids=[f"{label} {code}" for label, code, _ in SUCCESS_EXAMPLES]
)
def test_contract_success_examples_fit_the_response_models(label: str, code: str, example: Any) -> None:
    route = ROUTES[label]
    assert str(route.status_code or 200) == code, f"the contract answers {code}, the route {route.status_code}"
    try:
        TypeAdapter(route.response_model).validate_python(example)
        mismatched: set[str] = set()
    except ValidationError as exc:
        mismatched = {".".join(str(part) for part in error["loc"]) for error in exc.errors()}
    expected, reason = KNOWN_DEVIATIONS.get(label, (set(), "the example should fit"))
    assert mismatched == expected, reason


def test_every_exemption_still_names_a_served_route() -> None:
    assert set(KNOWN_DEVIATIONS) <= {label for label, _, _ in SUCCESS_EXAMPLES}
    assert set(WITHOUT_MODEL) <= set(ROUTES)
