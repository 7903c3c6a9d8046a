"""The shared contract's endpoint table, checked against what the app actually serves. Endpoints
of modules that are not served yet are left out, so each module is covered as soon as it lands."""

from __future__ import annotations

import re
import uuid
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from api.app import create_app
from api.openapi import CONTRACT
from engine.settings import Settings
from tests.helpers import anonymous

ENDPOINTS: list[dict[str, Any]] = CONTRACT  # api/contract/endpoints.json, the one copy in the repository
IN_SCOPE = [e for e in ENDPOINTS if e["scope"] in ("core", "supporting")]
# The sections this service owns; "Authentication" (better_auth) is a separate service's.
OWN_SECTIONS = {"Authentication & Accounts", "Directory", "Directory (Tenants & Organizations)", "API Keys", "Health"}


def _shape(path: str) -> str:
    """Path parameters compare by position, not by name."""
    return re.sub(r"\{[^}]*\}", "{}", path)


def _route_contexts(app: FastAPI) -> list[Any]:
    try:  # FastAPI >= 0.16x nests included routers; this flattens them with their prefixes.
        from fastapi.routing import iter_route_contexts
    except ImportError:  # pragma: no cover - older FastAPI lists routes flat
        return list(app.routes)
    return list(iter_route_contexts(app.routes))


def served_routes(app: FastAPI) -> dict[tuple[str, str], Any]:
    return {
        (method, _shape(route.path)): route
        for route in _route_contexts(app)
        if getattr(route, "dependant", None) is not None
        for method in route.methods or ()
    }


# The route table is code, so an app that is never started is enough to know what is served.
SERVED = served_routes(create_app(Settings(COVO_ENV="test")))


def route_of(endpoint: dict[str, Any]) -> Any | None:
    return SERVED.get((endpoint["method"], _shape("/api" + endpoint["path"])))


def required_features(route: Any) -> list[str]:
    """Features demanded by the route's `require(...)` dependencies, however deeply nested."""
    found: set[str] = set()
    stack = [route.dependant]
    while stack:
        dependant = stack.pop()
        found.update(getattr(dependant.call, "required_features", ()) if dependant.call else ())
        stack.extend(dependant.dependencies)
    return sorted(found)


def _label(endpoint: dict[str, Any]) -> str:
    return f"{endpoint['method']} {endpoint['path']}"


PROTECTED = [e for e in IN_SCOPE if e["auth"] and route_of(e) is not None]


def _request_kwargs(endpoint: dict[str, Any]) -> dict[str, Any]:
    example = endpoint.get("requestExample")
    if example is None:
        return {}
    if endpoint.get("requestContentType") == "application/x-www-form-urlencoded" and isinstance(example, str):
        return {"content": example, "headers": {"content-type": "application/x-www-form-urlencoded"}}
    return {"json": example}


@pytest.mark.parametrize("endpoint", PROTECTED, ids=_label)
async def test_protected_endpoint_without_credentials_is_401(
    client: httpx.AsyncClient, endpoint: dict[str, Any]
) -> None:
    path = "/api" + re.sub(r"\{[^}]*\}", str(uuid.uuid4()), endpoint["path"])
    response = await anonymous(client).request(endpoint["method"], path, **_request_kwargs(endpoint))
    assert response.status_code == 401, response.text
    assert response.json() == {"error": "Unauthorized"}


def test_every_endpoint_of_our_sections_is_served() -> None:
    ours = [e for e in ENDPOINTS if e["section"] in OWN_SECTIONS]
    assert len(ours) == 43
    assert [_label(e) for e in ours if route_of(e) is None] == []


def test_contract_protected_endpoints_are_served_and_covered() -> None:
    """The 401 table is not silently empty: every protected endpoint of our sections is in it."""
    labels = {_label(e) for e in PROTECTED}
    ours = {_label(e) for e in ENDPOINTS if e["section"] in OWN_SECTIONS and e["auth"]}
    assert ours <= labels


async def test_openapi_documents_required_features_as_the_contract_lists_them(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/openapi.json")
    assert response.status_code == 200
    paths = response.json()["paths"]
    contract = {(e["method"], _shape("/api" + e["path"])): e for e in ENDPOINTS}
    problems: list[str] = []
    checked = 0
    for (method, shape), route in SERVED.items():
        required = required_features(route)
        operation = paths.get(route.path, {}).get(method.lower())
        documented = sorted(operation.get("x-required-features", [])) if operation else []
        if documented != required:
            problems.append(f"{method} {route.path}: requires {required}, documents {documented}")
        # Only an endpoint the contract marks `auth: true` has a meaningful feature list; several
        # modules' tables (e.g. Workflows) are unannotated, `auth: false` with no features.
        expected = contract.get((method, shape))
        if expected is not None and expected["auth"] and sorted(expected["features"]) != required:
            problems.append(f"{method} {route.path}: requires {required}, contract says {expected['features']}")
        checked += bool(required)
    assert problems == []
    assert checked >= 20  # our own sections alone have twenty feature-guarded routes
