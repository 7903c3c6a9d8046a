"""The one translation point from errors to the contract's bodies."""

from __future__ import annotations

import logging
import uuid
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from temporalio.service import RPCError, RPCStatusCode

from engine.errors import DomainError

log = logging.getLogger("covo.api")


def _validation_details(exc: RequestValidationError) -> list[dict[str, Any]]:
    details = []
    for err in exc.errors():
        loc = [str(p) for p in err.get("loc", ()) if p not in ("body", "query", "path", "header")]
        details.append({"code": err.get("type", "invalid"), "message": err.get("msg", ""), "path": ".".join(loc)})
    return details


def install(app: FastAPI) -> None:
    @app.exception_handler(DomainError)
    async def domain_error(_: Request, exc: DomainError) -> JSONResponse:
        retry_after = exc.extra.get("retryAfter") if exc.status_code == 429 else None
        headers = {"Retry-After": str(retry_after)} if retry_after is not None else None
        return JSONResponse(exc.body(), status_code=exc.status_code, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse({"error": "Invalid request", "details": _validation_details(exc)}, status_code=400)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        message = exc.detail if isinstance(exc.detail, str) else "Request failed"
        if exc.status_code == 404 and message == "Not Found":
            message = "Not found"
        return JSONResponse({"error": message}, status_code=exc.status_code, headers=getattr(exc, "headers", None))

    @app.exception_handler(RPCError)
    async def temporal_error(request: Request, exc: RPCError) -> JSONResponse:
        if exc.status == RPCStatusCode.NOT_FOUND:
            return JSONResponse({"error": "Not found"}, status_code=404)
        if exc.status == RPCStatusCode.ALREADY_EXISTS:
            return JSONResponse({"error": "Already exists"}, status_code=409)
        if exc.status in (RPCStatusCode.UNAVAILABLE, RPCStatusCode.DEADLINE_EXCEEDED):
            return JSONResponse({"error": "Workflow service unavailable"}, status_code=503)
        return await unexpected_error(request, exc)

    @app.exception_handler(Exception)
    async def unexpected_error(request: Request, exc: Exception) -> JSONResponse:
        request_id = getattr(request.state, "request_id", None) or str(uuid.uuid4())
        log.exception("unhandled error (request %s)", request_id, exc_info=exc)
        # This runs outside the request-id middleware, so the header is set here too.
        return JSONResponse(
            {"error": "Internal server error", "requestId": request_id},
            status_code=500,
            headers={"x-request-id": request_id},
        )
