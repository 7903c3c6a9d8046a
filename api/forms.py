from __future__ import annotations

import json
from typing import Any

from fastapi import Request

from engine.errors import BadRequest


async def read_fields(request: Request) -> dict[str, Any]:
    """Fields of a form-encoded body (the contract's auth forms), or of a JSON object body."""
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("application/json"):
        try:
            body = json.loads(await request.body() or b"{}")
        except ValueError:
            raise BadRequest("Body must be valid JSON")
        if not isinstance(body, dict):
            raise BadRequest("Body must be a JSON object")
        return body
    form = await request.form()
    return {k: v for k, v in form.items() if isinstance(v, str)}


async def json_object(request: Request) -> dict[str, Any]:
    try:
        body = json.loads(await request.body() or b"{}")
    except ValueError:
        raise BadRequest("Body must be valid JSON")
    if not isinstance(body, dict):
        raise BadRequest("Body must be a JSON object")
    return body
