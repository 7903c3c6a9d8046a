"""eSIMs: ordering through 1Global (answered once the order is placed), lists, detail, usage,
home zone, rename, and the 1Global webhook."""

from __future__ import annotations

import asyncio
import base64
import binascii
import functools
import hmac
import json
import logging
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse
from pydantic import Field, StrictBool

from api.common import Camel, page_params
from api.deps import Res, Resources, Session, features_doc, require
from api.schemas.common import Ok, Page
from api.schemas.esims import (
    AdminEsim,
    EsimCreated,
    EsimDetail,
    EsimUsage,
    EsimUsageSummary,
    HomeZone,
    MyEsim,
    MyEsims,
    TimelineDay,
    WebhookAck,
)
from engine import metrics
from engine.auth.schemas import Principal
from engine.auth.scope import parse_uuid
from engine.db.session import after_commit
from engine.errors import ProcessingFailed
from engine.esims import service
from engine.settings import Settings

log = logging.getLogger("covo.esims")
router = APIRouter(tags=["eSIMs"])

Create = Annotated[Principal, Depends(require("esims.create"))]
View = Annotated[Principal, Depends(require("esims.view"))]
ListMine = Annotated[Principal, Depends(require("esims.list"))]
Usage = Annotated[Principal, Depends(require("esims.usage"))]
HomeZoneFeature = Annotated[Principal, Depends(require("esims.home-zone"))]
AdminList = Annotated[Principal, Depends(require("esims.admin.list"))]
AdminGenerate = Annotated[Principal, Depends(require("esims.admin.generate"))]
AdminUpdate = Annotated[Principal, Depends(require("esims.admin.update"))]

ORDER_ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"description": "Consumer profile not found or not active"},
    422: {"description": "Insufficient funds for the tenant's eSIM price (nothing was ordered)"},
    502: {"description": "1Global refused the order; `error` carries its message"},
}


def _esim_id(value: str) -> uuid.UUID:
    parsed = parse_uuid(value, "id")
    assert parsed is not None  # a path parameter is never empty
    return parsed


class OrderBody(Camel):
    name: str | None = Field(default=None, max_length=255)


class GenerateBody(Camel):
    consumer_id: uuid.UUID = Field(alias="consumerId")
    name: str | None = Field(default=None, max_length=255)


class RenameBody(Camel):
    id: uuid.UUID
    name: str = Field(min_length=1, max_length=255)


class HomeZoneBody(Camel):
    disabled: StrictBool


@router.post(
    "/esims",
    status_code=201,
    summary="Order an eSIM for the signed-in consumer",
    response_model=EsimCreated,
    responses=ORDER_ERRORS,
    openapi_extra=features_doc("esims.create"),
)
async def order_esim(principal: Create, session: Session, res: Res, body: OrderBody | None = None) -> EsimCreated:
    """Places a 1Global `activate_subscription` order and answers `pending` as soon as it is placed;
    the eSIM becomes `ready` (ICCID, activation code, QR code) when 1Global completes it."""
    consumer = await service.consumer_for_caller(session, principal)
    name = body.name if body else None
    esim_id = await service.order(session, await res.temporal_client(), res.settings, principal, consumer, name)
    return EsimCreated(id=str(esim_id), status="pending")


@router.post(
    "/esims/admin/generate",
    status_code=201,
    summary="Generate an eSIM for a consumer",
    response_model=EsimCreated,
    responses=ORDER_ERRORS,
    openapi_extra=features_doc("esims.admin.generate"),
)
async def generate_esim(principal: AdminGenerate, session: Session, res: Res, body: GenerateBody) -> EsimCreated:
    """Ensures the consumer's 1Global subscriber, places the order, and answers `pending` once it is
    placed; provisioning then continues asynchronously (webhooks, with polling as a fallback)."""
    consumer = await service.consumer_by_id(session, principal, body.consumer_id)
    esim_id = await service.order(session, await res.temporal_client(), res.settings, principal, consumer, body.name)
    return EsimCreated(id=str(esim_id), status="pending")


@router.get(
    "/esims/admin",
    summary="List eSIMs of the tenant",
    response_model=Page[AdminEsim],
    openapi_extra=features_doc("esims.admin.list"),
)
async def admin_list(
    principal: AdminList,
    session: Session,
    page: int = 1,
    page_size: Annotated[int, Query(alias="pageSize")] = 50,
    sort_field: Annotated[str | None, Query(alias="sortField")] = None,
    sort_dir: Annotated[str | None, Query(alias="sortDir")] = None,
    search: str | None = None,
    id: str | None = None,
    consumer_id: Annotated[str | None, Query(alias="consumerId")] = None,
) -> Page[AdminEsim]:
    """Search covers name, ICCID, consumer e-mail, 1Global order/subscription ids and status;
    `sortField` is one of createdAt, updatedAt, name, status, iccid, consumerEmail. `id` returns
    that one eSIM (404 when it is not in the tenant)."""
    params = page_params(page, page_size)
    total, rows = await service.admin_list(
        session,
        principal,
        params,
        search=search,
        sort_field=sort_field,
        sort_dir=sort_dir,
        esim_id=parse_uuid(id, "id"),
        consumer_id=parse_uuid(consumer_id, "consumerId"),
    )
    return Page[AdminEsim](
        items=[AdminEsim.of(r) for r in rows], total=total, totalPages=service.total_pages(total, params)
    )


@router.put(
    "/esims/admin",
    summary="Rename an eSIM",
    response_model=Ok,
    responses={404: {"description": "eSIM not found"}},
    openapi_extra=features_doc("esims.admin.update"),
)
async def rename(principal: AdminUpdate, session: Session, body: RenameBody) -> Ok:
    await service.rename(session, principal, body.id, body.name)
    return Ok(ok=True)


@router.get(
    "/esims/list",
    summary="The signed-in user's eSIMs",
    response_model=MyEsims,
    openapi_extra=features_doc("esims.list"),
)
async def my_esims(
    principal: ListMine,
    session: Session,
    status: str | None = None,
    page: int = 1,
    page_size: Annotated[int, Query(alias="pageSize")] = 50,
) -> MyEsims:
    """`status` filters by one status or a comma-separated list."""
    params = page_params(page, page_size)
    total, rows = await service.mine(session, principal, params, status)
    return MyEsims(esims=[MyEsim.of(r) for r in rows], total=total, totalPages=service.total_pages(total, params))


@router.get(
    "/esims/usage-summary",
    summary="Usage over the signed-in user's active eSIMs",
    response_model=EsimUsageSummary,
    openapi_extra=features_doc("esims.usage"),
)
async def usage_summary(principal: Usage, session: Session) -> EsimUsageSummary:
    return EsimUsageSummary.of(await service.usage_summary(session, principal))


@router.get(
    "/esims/{id}",
    summary="eSIM detail with activation info",
    response_model=EsimDetail,
    openapi_extra=features_doc("esims.view"),
)
async def detail(principal: View, session: Session, id: str) -> EsimDetail:
    """The owner's eSIM (or any of the tenant's for those who may list them all)."""
    return EsimDetail.of(await service.visible(session, principal, _esim_id(id)))


@router.get(
    "/esims/{id}/usage",
    summary="eSIM usage with a 7-day timeline",
    response_model=EsimUsage,
    openapi_extra=features_doc("esims.usage"),
)
async def usage(principal: Usage, session: Session, id: str) -> EsimUsage:
    """The timeline lists the last 7 days, oldest first: `usageBytes` used that day, `totalBytes`
    used in all by its end. It is filled from 1Global's usage webhooks and the usage sync."""
    row = await service.visible(session, principal, _esim_id(id))
    days = await service.timeline(session, row)
    return EsimUsage(
        usedBytes=row.used_bytes,
        totalBytes=row.total_bytes,
        dataLimitBytes=row.data_limit_bytes,
        usagePercent=service.usage_percent(row.used_bytes, row.total_bytes),
        timeline=[TimelineDay.of(d) for d in days],
    )


@router.put(
    "/esims/{id}/home-zone",
    summary="Enable or disable the eSIM's home zone",
    response_model=HomeZone,
    responses={409: {"description": "The eSIM has no subscription yet (or any more)"}, 502: {"description": "1Global"}},
    openapi_extra=features_doc("esims.home-zone"),
)
async def home_zone(principal: HomeZoneFeature, session: Session, res: Res, id: str, body: HomeZoneBody) -> HomeZone:
    """Only the eSIM's owner; the change is made through 1Global before it is answered."""
    row = await service.owned(session, principal, _esim_id(id))
    await service.set_home_zone(await res.temporal_client(), res.settings, row, body.disabled)
    return HomeZone(id=str(row.id), homeZoneDisabled=body.disabled)


# ---------------------------------------------------------------- the 1Global webhook


def basic_auth_ok(header: str | None, settings: Settings) -> bool:
    """Both halves compared in constant time, always both (no early exit on the user name)."""
    expected_user = (settings.oneglobal_webhook_user or "").encode()
    expected_password = (settings.oneglobal_webhook_password or "").encode()
    scheme, _, value = (header or "").partition(" ")
    if scheme.lower() != "basic" or not expected_user or not expected_password:
        return False
    try:
        user, sep, password = base64.b64decode(value.strip(), validate=True).partition(b":")
    except (binascii.Error, ValueError):
        return False
    user_ok = hmac.compare_digest(user, expected_user)
    password_ok = hmac.compare_digest(password, expected_password)
    return bool(sep) and user_ok and password_ok


async def _read_limited(request: Request, limit: int) -> bytes | None:
    """The body, or None as soon as it passes `limit` (checked before anything is parsed)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        return None
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            return None
    return bytes(body)


# Webhooks being handed over by this process (kept referenced until done), a few at a time so a
# burst does not take the connections the intake itself needs.
_dispatching: set[asyncio.Task[None]] = set()
_dispatch_slots = asyncio.Semaphore(8)


async def _dispatch(res: Resources, stored: service.StoredWebhook) -> None:
    try:
        async with _dispatch_slots:
            await service.dispatch_webhook(res.sessionmaker, await res.temporal_client(), res.settings, stored)
    except Exception:
        log.exception("1Global webhook %s stored but not signalled (the sweep will)", stored.signal.event_id)


async def _hand_over(res: Resources, stored: service.StoredWebhook) -> None:
    """After-commit work of the webhook route: counts the stored event and starts its hand-over to
    the eSIM's workflow without awaiting it. Unlike other routes' after-commit work, the hand-over
    must not hold the answer: 1Global is to get its 2xx as soon as the event is stored (reference:
    "respond 2xx quickly"; the p99 of `bench/bench_esims.py`), and the hand-over waits for Temporal.
    Should this process die before it is done, the webhook sweep hands the event over."""
    metrics.WEBHOOKS_RECEIVED.inc(source="1global", outcome="signal" if stored.needs_signal else "recorded")
    task = asyncio.create_task(_dispatch(res, stored))
    _dispatching.add(task)
    task.add_done_callback(_dispatching.discard)


def _fail(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers)


@router.post(
    "/esims/webhooks/1global",
    summary="Receive 1Global event notifications",
    response_model=WebhookAck,
    responses={
        400: {"description": "Not JSON, or `id` / `type` missing or not strings"},
        401: {"description": "Basic authentication missing or wrong"},
        413: {"description": "Body over the limit (ESIMS_WEBHOOK_MAX_BYTES, 256 KiB by default)"},
        500: {"description": "The event could not be stored: 1Global should retry"},
    },
)
async def onglobal_webhook(request: Request, session: Session, res: Res) -> WebhookAck | JSONResponse:
    """Basic authentication. The raw event is stored first, once per event `id` (a redelivery
    answers 200 and changes nothing), then handed to the eSIM's workflow. Unknown types are stored
    and answered 200. Types match case-insensitively with `.` and `_` alike."""
    settings = res.settings
    if not basic_auth_ok(request.headers.get("authorization"), settings):
        return _fail(401, "Authentication failed", {"WWW-Authenticate": 'Basic realm="1global"'})
    raw = await _read_limited(request, settings.esims_webhook_max_bytes)
    if raw is None:
        return _fail(413, "Payload too large")
    try:
        payload = json.loads(raw)
    except ValueError:
        return _fail(400, "Invalid JSON")
    if not isinstance(payload, dict):
        return _fail(400, "The body must be a JSON object")
    for key in ("id", "type"):
        if not isinstance(payload.get(key), str) or not payload[key].strip():
            return _fail(400, f"`{key}` must be a non-empty string")
    try:
        stored = await service.store_webhook(session, payload)
    except Exception:
        log.exception("1Global webhook %s not stored", payload.get("id"))
        metrics.WEBHOOKS_RECEIVED.inc(source="1global", outcome="store_failed")
        # Raised, so the request's transaction rolls back; a 500 makes 1Global retry.
        raise ProcessingFailed("Processing failed")
    # The session dependency commits before the answer leaves (a failing commit is a 5xx too), then
    # runs `_hand_over`: nothing is handed over for an event that was not stored.
    after_commit(session, functools.partial(_hand_over, res, stored))
    return WebhookAck()
