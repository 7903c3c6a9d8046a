"""Error responses and contract examples for every route's OpenAPI entry, derived once from what
each route depends on (so no route can forget them): 401 where a credential is required, 403 with
the required features, 400 where the caller sends input, 404 where a path names an object, and the
Covo contract's response examples (`api/contract/endpoints.json`, the one copy of the contract)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

from api.deps import current_principal

CONTRACT_PATH = Path(__file__).parent / "contract" / "endpoints.json"
CONTRACT: list[dict[str, Any]] = json.loads(CONTRACT_PATH.read_text())


def _examples(contract: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """`"METHOD /path" -> {status: example}` for the endpoints we serve (scope core/supporting);
    an empty example `{}` says nothing and is left out."""
    examples: dict[str, dict[str, Any]] = {}
    for endpoint in contract:
        if endpoint["scope"] not in ("core", "supporting"):
            continue
        found = {
            code: response["example"]
            for code, response in endpoint["responses"].items()
            if response.get("example") not in (None, {})
        }
        if found:
            examples[f"{endpoint['method']} {endpoint['path']}"] = found
    return examples


EXAMPLES = _examples(CONTRACT)
ERROR_SCHEMA = {"type": "object", "properties": {"error": {"type": "string"}}, "required": ["error"]}
FORBIDDEN_SCHEMA = {
    "type": "object",
    "properties": {"error": {"type": "string"}, "requiredFeatures": {"type": "array", "items": {"type": "string"}}},
    "required": ["error"],
}


def _calls(dependant: Dependant) -> Iterator[Any]:
    for dependency in dependant.dependencies:
        yield dependency.call
        yield from _calls(dependency)


def _error(description: str, schema: dict[str, Any] = ERROR_SCHEMA) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def document_errors(router: APIRouter) -> None:
    """Call before the router is included (paths here are the contract's, without `/api`)."""
    for route in router.routes:
        if not isinstance(route, APIRoute):
            continue
        calls = list(_calls(route.dependant))
        features = [f for call in calls for f in getattr(call, "required_features", [])]
        responses: dict[int | str, Any] = dict(route.responses)
        if current_principal in calls:
            responses.setdefault(401, _error("Missing or invalid credential"))
        if features:
            responses.setdefault(403, _error(f"Requires features: {', '.join(features)}", FORBIDDEN_SCHEMA))
        if (
            route.body_field is not None
            or route.dependant.query_params
            or "json_object" in {getattr(c, "__name__", "") for c in calls}
        ):
            responses.setdefault(400, _error("Invalid input"))
        if "{" in route.path:
            responses.setdefault(404, _error("Not found (or another tenant's)"))
        for method in route.methods or ():
            for code, example in EXAMPLES.get(f"{method} {route.path}", {}).items():
                default = "Successful response" if code.startswith("2") else "See example"
                entry = dict(responses.get(int(code), {"description": default}))
                content = dict(entry.get("content", {}))
                content["application/json"] = {**content.get("application/json", {}), "example": example}
                responses[int(code)] = {**entry, "content": content}
        route.responses = responses


def without_validation_422(app: FastAPI) -> None:
    """Our request-validation errors are 400 `{"error", "details"}` (api/errors.py), so the 422
    FastAPI adds to every route with input would be a lie in the document."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = build()
            for operations in schema.get("paths", {}).values():
                for operation in operations.values():
                    operation.get("responses", {}).pop("422", None)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
