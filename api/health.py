from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy import text

from api.deps import Res

router = APIRouter(tags=["Health"])


@router.get("/health/live", summary="Liveness")
async def live() -> dict[str, Any]:
    """The process is up and serving requests."""
    return {"status": "ok"}


@router.get(
    "/health/ready",
    summary="Readiness",
    responses={
        503: {
            "description": "A dependency is down",
            "content": {
                "application/json": {
                    "example": {"error": "Not ready: temporal", "checks": {"postgres": "ok", "temporal": "down"}}
                }
            },
        }
    },
)
async def ready(res: Res) -> JSONResponse:
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
        return JSONResponse(
            {"status": "unavailable", "error": f"Not ready: {', '.join(down)}", "checks": checks}, status_code=503
        )
    return JSONResponse({"status": "ok", "checks": checks})


def _system_info_request() -> Any:
    from temporalio.api.workflowservice.v1 import GetSystemInfoRequest

    return GetSystemInfoRequest()
