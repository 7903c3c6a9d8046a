"""The contract's success examples of the business-rules routes validate against the response
models the app serves them with, so the documented model and the contract cannot drift apart."""

from __future__ import annotations

from typing import Any

from fastapi.routing import APIRoute, iter_route_contexts
from pydantic import TypeAdapter, ValidationError

from api.app import create_app
from api.openapi import EXAMPLES
from engine.settings import Settings

PREFIX = "/api"
OURS = "/business_rules/"

# Keys our answers always carry and the contract's examples lack (each "loc: error type").
KNOWN_DEVIATIONS = {
    # The condition as given, its dialect and the JsonLogic evaluated (condition trees are translated).
    "GET /business_rules/rules/{id} 200": [
        "conditionDialect: missing",
        "conditionExpression: missing",
        "conditionLogic: missing",
    ],
    # Each executed rule's type and action results, and the aggregated SET_FIELD output and SHOW_* messages.
    "POST /business_rules/execute 200": [
        "executedRules.0.actionsExecuted: missing",
        "executedRules.0.ruleType: missing",
        "messages: missing",
        "output: missing",
    ],
    # A member's `ruleId` is the rule's UUID, so its string key is given as `ruleKey`.
    "GET /business_rules/sets/{id} 200": ["members.0.ruleKey: missing"],
}


def _success_examples() -> list[tuple[str, Any, Any]]:
    """(label, response model, example) for every served business-rules route and 2xx example."""
    cases = []
    for context in iter_route_contexts(create_app(Settings(COVO_ENV="test")).routes):
        route, path = context.original_route, context.path
        if not isinstance(route, APIRoute) or not path or not path.startswith(PREFIX + OURS):
            continue
        for method in sorted(route.methods or ()):
            label = f"{method} {path.removeprefix(PREFIX)}"
            for code, example in EXAMPLES.get(label, {}).items():
                if code.startswith("2"):
                    cases.append((f"{label} {code}", route.response_model, example))
    return cases


def test_the_contracts_success_examples_fit_the_response_models() -> None:
    cases = _success_examples()
    contract = {
        f"{label} {code}"
        for label, responses in EXAMPLES.items()
        if label.partition(" ")[2].startswith(OURS)
        for code in responses
        if code.startswith("2")
    }
    assert {label for label, _, _ in cases} == contract  # no example is left unchecked
    assert all(model is not None for _, model, _ in cases)

    problems: dict[str, list[str]] = {}
    for label, model, example in cases:
        try:
            TypeAdapter(model).validate_python(example)
        except ValidationError as exc:
            problems[label] = sorted(f"{'.'.join(map(str, e['loc']))}: {e['type']}" for e in exc.errors())
    assert problems == KNOWN_DEVIATIONS
