"""One gate for bad input, in front of every route (plain ASGI, so routes added later are covered
without doing anything): a NUL character in a query parameter, the path, a header or anywhere in a
JSON or form body, and JSON nested deeper than `MAX_DEPTH`, are refused with 400 naming the field,
before anything reaches a router or the database (Postgres refuses `\\u0000` in text and JSON).

Strings longer than their column are refused at flush time (`engine.db.guards`), and strict
booleans/integers are the request models' base (`api.schemas.common.Input`)."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qsl

from starlette.datastructures import Headers
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

MAX_DEPTH = 32
# Bodies larger than this are not inspected here (nor accepted: the routes' own limits apply).
MAX_INSPECTED_BODY = 8 * 1024 * 1024
NUL = "\x00"


class BadInput(Exception):
    def __init__(self, path: str, code: str, message: str) -> None:
        super().__init__(message)
        self.path, self.code, self.message = path, code, message


def refusal(exc: BadInput) -> JSONResponse:
    return JSONResponse(
        {
            "error": f"Invalid request: {exc.message}",
            "details": [{"code": exc.code, "message": exc.message, "path": exc.path}],
        },
        status_code=400,
    )


def _nul(field: str) -> BadInput:
    return BadInput(field, "nul_character", f"{field or 'body'}: NUL characters are not allowed")


def check_value(value: Any, path: str = "", depth: int = 0) -> None:
    """Walks decoded JSON: NUL characters (in keys or strings) and nesting deeper than MAX_DEPTH."""
    if depth > MAX_DEPTH:
        raise BadInput(path, "too_deep", f"{path or 'body'}: nested deeper than {MAX_DEPTH} levels")
    if isinstance(value, str):
        if NUL in value:
            raise _nul(path)
    elif isinstance(value, dict):
        for key, item in value.items():
            child = f"{path}.{key}" if path else str(key)
            if NUL in str(key):
                raise _nul(child)
            check_value(item, child, depth + 1)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            check_value(item, f"{path}[{index}]" if path else f"[{index}]", depth + 1)


def check_pairs(pairs: list[tuple[str, str]]) -> None:
    for name, value in pairs:
        if NUL in name or NUL in value:
            raise _nul(name.replace(NUL, "\\0"))


def _check_envelope(scope: Scope) -> None:
    if NUL in scope.get("path", ""):
        raise _nul("path")
    query = scope.get("query_string", b"").decode("latin-1")
    check_pairs(parse_qsl(query, keep_blank_values=True, encoding="utf-8", errors="replace"))
    for name, value in scope.get("headers", ()):
        if b"\x00" in value:
            raise _nul(name.decode("latin-1"))


def _check_body(content_type: str, body: bytes) -> None:
    if not body or len(body) > MAX_INSPECTED_BODY:
        return
    if content_type.startswith("application/json") or content_type.endswith("+json"):
        try:
            decoded = json.loads(body)
        except RecursionError:
            raise BadInput("", "too_deep", f"body: nested deeper than {MAX_DEPTH} levels")
        except ValueError:
            return  # the route answers its own 400 for malformed JSON
        check_value(decoded)
    elif content_type.startswith("application/x-www-form-urlencoded"):
        check_pairs(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))


class InputGuard:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        try:
            _check_envelope(scope)
        except BadInput as exc:
            await refusal(exc)(scope, receive, send)
            return
        content_type = Headers(scope=scope).get("content-type", "")
        if scope.get("method") in ("GET", "HEAD", "OPTIONS", "DELETE") and not content_type:
            await self.app(scope, receive, send)
            return
        messages: list[Message] = []
        chunks: list[bytes] = []
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                break
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        try:
            _check_body(content_type, b"".join(chunks))
        except BadInput as exc:
            await refusal(exc)(scope, receive, send)
            return

        async def replay() -> Message:
            if messages:
                return messages.pop(0)
            return await receive()

        await self.app(scope, replay, send)
