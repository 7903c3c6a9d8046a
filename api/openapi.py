"""Error responses and contract examples for every route's OpenAPI entry, derived once from what
each route depends on (so no route can forget them): 401 where a credential is required, 403 with
the required features, 400, 500 and 503 everywhere, 404 where the input names an object, 409 on
writes, the one error schema (`Error`) for every error response that declares none, and the Covo
contract's response examples (`api/contract/endpoints.json`, the one copy of the contract)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any, get_args

from fastapi import APIRouter, FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

from api.deps import current_principal
from api.schemas.common import Error

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


def _calls(dependant: Dependant) -> Iterator[Any]:
    for dependency in dependant.dependencies:
        yield dependency.call
        yield from _calls(dependency)


def _query_params(dependant: Dependant) -> Iterator[Any]:
    """The route's query parameters, its dependencies' included."""
    yield from dependant.query_params
    for dependency in dependant.dependencies:
        yield from _query_params(dependency)


def _error(description: str) -> dict[str, Any]:
    return {"description": description, "model": Error}


def _with_error_schema(code: int | str, entry: dict[str, Any]) -> dict[str, Any]:
    """Error responses declared without a body schema get the one error family (`Error`)."""
    if int(str(code)) < 400 or "model" in entry or "schema" in entry.get("content", {}).get("application/json", {}):
        return entry
    return {**entry, "model": Error}


def _is_id(name: str) -> bool:
    return bool(re.search(r"(^|_|[a-z])(id|Id|ids|Ids)$", name))


def _names_an_object(route: APIRoute, calls: list[Any]) -> bool:
    """Whether the input names an object that may not exist (a path parameter, an id in the query
    or the body, or a free-form JSON body, which the services resolve)."""
    if "{" in route.path or any(_is_id(p.alias) for p in _query_params(route.dependant)):
        return True
    if "json_object" in {getattr(c, "__name__", "") for c in calls}:
        return True
    if route.body_field is None:
        return False
    annotation = route.body_field.field_info.annotation
    for model in (annotation, *get_args(annotation)):
        fields = getattr(model, "model_fields", {})
        if any(_is_id(field.alias or name) for name, field in fields.items()):
            return True
    return False


def document_errors(router: APIRouter) -> None:
    """Call before the router is included (paths here are the contract's, without `/api`)."""
    for route in router.routes:
        if not isinstance(route, APIRoute):
            continue
        calls = list(_calls(route.dependant))
        features = [f for call in calls for f in getattr(call, "required_features", [])]
        responses: dict[int | str, Any] = dict(route.responses)
        authenticated = any(call is current_principal or getattr(call, "authenticates", False) for call in calls)
        if authenticated:
            responses.setdefault(401, _error("Missing or invalid credential"))
        if features:
            responses.setdefault(403, _error(f"Requires features: {', '.join(features)}"))
        # Any route can answer 400: the input guard (api/guard.py) refuses NUL characters in the
        # path, query and headers of every request, and bodies fail validation.
        responses.setdefault(400, _error("Invalid input (the error names the field)"))
        responses.setdefault(500, _error("Internal error (never a stack trace; `requestId` to quote)"))
        responses.setdefault(503, _error("Postgres or Temporal is unavailable; retry later"))
        if _names_an_object(route, calls):
            responses.setdefault(404, _error("Not found (or another tenant's)"))
        if authenticated and set(route.methods or ()) & {"POST", "PUT", "PATCH", "DELETE"}:
            responses.setdefault(409, _error("Conflicts with the current state (duplicate, stale, or a guard)"))
        for method in route.methods or ():
            for code, example in EXAMPLES.get(f"{method} {route.path}", {}).items():
                default = "Successful response" if code.startswith("2") else "See example"
                entry = dict(responses.get(int(code), {"description": default}))
                content = dict(entry.get("content", {}))
                content["application/json"] = {**content.get("application/json", {}), "example": example}
                responses[int(code)] = {**entry, "content": content}
        route.responses = {code: _with_error_schema(code, entry) for code, entry in responses.items()}


def without_validation_422(app: FastAPI) -> None:
    """Our request-validation errors are 400 `{"error", "details"}` (api/errors.py), so the 422
    FastAPI adds to every route with input would be a lie in the document."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = build()
            for operations in schema.get("paths", {}).values():
                for operation in operations.values():
                    responses = operation.get("responses", {})
                    # Only FastAPI's own entry: a route's declared 422 (a business refusal) stays.
                    if responses.get("422", {}).get("description") == "Validation Error":
                        del responses["422"]
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
