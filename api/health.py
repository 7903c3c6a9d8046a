from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy import text

from api.deps import Res
from api.schemas.health import Checks, Live, NotReady, Ready

router = APIRouter(tags=["Health"])


@router.get("/health/live", summary="Liveness", response_model=Live)
async def live() -> Live:
    """The process is up and serving requests."""
    return Live(status="ok")


@router.get(
    "/health/ready",
    summary="Readiness",
    response_model=Ready,
    responses={
        503: {
            "description": "A dependency is down",
            "model": NotReady,
            "content": {
                "application/json": {
                    "example": {
                        "status": "unavailable",
                        "error": "Not ready: temporal",
                        "checks": {"postgres": "ok", "temporal": "down"},
                    }
                }
            },
        }
    },
)
async def ready(res: Res) -> Ready | JSONResponse:
    """Postgres and Temporal are reachable. Answers 503 naming what is down."""
    checks: dict[str, str] = {}
    try:
        async with res.sessionmaker() as session:
            await asyncio.wait_for(session.execute(text("SELECT 1")), 5)
        checks["postgres"] = "ok"
    except Exception:
        checks["postgres"] = "down"
    try:
        client = await res.temporal_client()
        await asyncio.wait_for(client.workflow_service.get_system_info(_system_info_request()), 5)
        checks["temporal"] = "ok"
    except Exception:
        checks["temporal"] = "down"
    down = [name for name, state in checks.items() if state != "ok"]
    if down:
        # A returned response skips response_model validation: the model checks this body instead.
        body = NotReady(
            status="unavailable", error=f"Not ready: {', '.join(down)}", checks=Checks.model_validate(checks)
        )
        return JSONResponse(body.model_dump(), status_code=503)
    return Ready(status="ok", checks=Checks.model_validate(checks))


def _system_info_request() -> Any:
    from temporalio.api.workflowservice.v1 import GetSystemInfoRequest

    return GetSystemInfoRequest()
