from __future__ import annotations

from typing import Any

import httpx


async def spec(client: httpx.AsyncClient) -> dict[str, Any]:
    response = await client.get("/api/openapi.json")
    assert response.status_code == 200
    return dict(response.json())


async def test_every_operation_documents_its_error_responses(client: httpx.AsyncClient) -> None:
    document = await spec(client)
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            responses = operation["responses"]
            label = f"{method.upper()} {path}"
            # FastAPI's own 422 is gone (input errors are 400 here); a route may declare its own (a refusal).
            assert responses.get("422", {}).get("description") != "Validation Error", f"{label}: input errors are 400"
            features = operation.get("x-required-features")
            if features:
                assert "401" in responses and "403" in responses, label
                assert all(f in responses["403"]["description"] for f in features), label
            if "{" in path:
                assert "404" in responses, label


async def test_the_contracts_response_examples_are_in_the_document(client: httpx.AsyncClient) -> None:
    document = await spec(client)
    roles = document["paths"]["/api/auth/roles"]["get"]["responses"]["200"]["content"]["application/json"]
    assert set(roles["example"]) == {"items", "total", "totalPages"}
    conflict = document["paths"]["/api/workflows/definitions"]["post"]["responses"]["409"]
    assert "already exists" in conflict["content"]["application/json"]["example"]["error"]


async def test_every_error_response_has_a_body_schema_of_the_one_error_family(client: httpx.AsyncClient) -> None:
    document = await spec(client)
    schemas = document["components"]["schemas"]
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            for code, response in operation["responses"].items():
                if int(code) < 400:
                    continue
                ref = response["content"]["application/json"]["schema"]["$ref"]
                # Error, or a route's own member of the family (Failure, NotReady) carrying `error`
                assert "error" in schemas[ref.rsplit("/", 1)[1]]["required"], f"{method.upper()} {path} {code}"
            assert {"400", "500", "503"} <= set(operation["responses"]), f"{method.upper()} {path}"


async def test_a_malformed_refresh_body_answers_the_documented_failure(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/auth/session/refresh", json=[None, None])
    assert response.status_code == 400
    assert response.json()["ok"] is False and response.json()["error"]
