"""Invite codes: consumers generate a few, admins any number; `apply` activates the caller's
consumer account. Applying is one conditional UPDATE (`uses < max_uses`), so racing redeemers of
a single-use code cannot both succeed."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from engine.consumers import service as consumers
from engine.db.base import utcnow
from engine.db.models import ConsumerRow, InviteCodeRow, InviteCodeUseRow
from engine.errors import BadRequest, NotFound, Unprocessable
from engine.invite_codes import repository as repo
from engine.invite_codes.codes import new_code, normalize
from engine.invite_codes.errors import InviteCodeLimit, InviteCodeUnusable
from engine.pagination import PageParams, page_of, sort_order

CONSUMER_ACTIVE_LIMIT = 3
STATUSES = ("available", "used", "expired", "revoked")


@dataclass(frozen=True)
class ListedCode:
    row: InviteCodeRow
    status: str
    creator_email: str | None = None
    creator_name: str | None = None
    redeemer_email: str | None = None
    redeemer_name: str | None = None


async def _insert(session: AsyncSession, **values: Any) -> InviteCodeRow:
    # 49 bits of entropy make a clash all but impossible; the unique constraint would still catch one.
    row = InviteCodeRow(id=uuid.uuid4(), code=new_code(), created_at=utcnow(), **values)
    session.add(row)
    await session.flush()
    return row


async def generate_for_consumer(session: AsyncSession, tenant_id: uuid.UUID, user_id: uuid.UUID) -> InviteCodeRow:
    """A code of an active consumer; at most 3 usable ones at once (InviteCodeLimit, 422)."""
    profile = await consumers.active_consumer(session, tenant_id, user_id)
    # The profile's row lock serialises this consumer's concurrent requests, so the limit holds.
    await session.execute(select(ConsumerRow.id).where(ConsumerRow.id == profile.id).with_for_update())
    active = await session.scalar(
        select(func.count()).where(
            InviteCodeRow.tenant_id == tenant_id,
            InviteCodeRow.created_by_user_id == user_id,
            repo.usable(utcnow()),
        )
    )
    if (active or 0) >= CONSUMER_ACTIVE_LIMIT:
        raise InviteCodeLimit(f"At most {CONSUMER_ACTIVE_LIMIT} active invite codes")
    return await _insert(session, tenant_id=tenant_id, created_by_user_id=user_id, for_consumer_id=profile.id)


async def generate_by_admin(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    admin_id: uuid.UUID | None,
    *,
    expires_at: datetime | None = None,
    max_uses: int = 1,
    consumer_id: uuid.UUID | None = None,
) -> InviteCodeRow:
    """Without the consumer limit; optionally handed to a consumer, with an expiry and max uses."""
    if max_uses < 1:
        raise BadRequest("maxUses must be at least 1")
    if expires_at is not None and expires_at <= utcnow():
        raise BadRequest("expiresAt must be in the future")
    if consumer_id is not None:
        await consumers.consumer_by_id(session, tenant_id, consumer_id)
    return await _insert(
        session,
        tenant_id=tenant_id,
        created_by_user_id=admin_id,
        for_consumer_id=consumer_id,
        by_admin=True,
        max_uses=max_uses,
        expires_at=expires_at,
    )


async def own_codes(session: AsyncSession, tenant_id: uuid.UUID, user_id: uuid.UUID) -> list[ListedCode]:
    """Only the codes the caller created: nobody else's appear, whatever the filters."""
    rows = await session.execute(
        select(InviteCodeRow, repo.status_of(utcnow()))
        .where(InviteCodeRow.tenant_id == tenant_id, InviteCodeRow.created_by_user_id == user_id)
        .order_by(InviteCodeRow.created_at.desc(), InviteCodeRow.id)
    )
    return [ListedCode(row, status) for row, status in rows.all()]


async def list_codes(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    params: PageParams,
    *,
    status: str | None = None,
    created_by: uuid.UUID | None = None,
    search: str | None = None,
    sort_field: str | None = None,
    sort_dir: str | None = None,
) -> tuple[int, list[ListedCode]]:
    now = utcnow()
    query = repo.admin_listing(tenant_id, now)
    if status:
        if status not in STATUSES:
            raise BadRequest(f"status must be one of {', '.join(STATUSES)}")
        query = query.where(repo.status_of(now) == status)
    if created_by is not None:
        query = query.where(InviteCodeRow.created_by_user_id == created_by)
    if search:
        pattern = f"%{search.strip()}%"
        query = query.where(
            InviteCodeRow.code.ilike(f"%{normalize(search)}%")
            | repo.Creator.email.ilike(pattern)
            | repo.RedeemerUser.email.ilike(pattern)
        )
    order = sort_order(repo.SORT_COLUMNS, sort_field, sort_dir, default="createdAt", default_dir="desc")
    total, rows = await page_of(session, query, params, order, InviteCodeRow.id)
    return total, [ListedCode(*row) for row in rows.all()]


async def revoke(session: AsyncSession, tenant_id: uuid.UUID, code_id: uuid.UUID) -> None:
    row = await session.scalar(
        select(InviteCodeRow).where(InviteCodeRow.id == code_id, InviteCodeRow.tenant_id == tenant_id).with_for_update()
    )
    if row is None:
        raise NotFound("Invite code not found")
    if row.uses > 0:
        raise Unprocessable("A used invite code cannot be revoked")
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        await session.flush()


async def _unusable_reason(session: AsyncSession, tenant_id: uuid.UUID, code: str) -> InviteCodeUnusable:
    row = await session.scalar(
        select(InviteCodeRow).where(InviteCodeRow.tenant_id == tenant_id, InviteCodeRow.code == code)
    )
    now = utcnow()
    if row is None:
        return InviteCodeUnusable("Invalid invite code")
    if row.revoked_at is not None:
        return InviteCodeUnusable("Invite code has been revoked")
    if row.uses >= row.max_uses:
        return InviteCodeUnusable("Invite code has already been used")
    if row.expires_at is not None and row.expires_at <= now:
        return InviteCodeUnusable("Invite code has expired")
    return InviteCodeUnusable("Invalid invite code")


async def verify(session: AsyncSession, tenant_id: uuid.UUID, code: str) -> str:
    """Whether the code is usable, without using it: its kind (`admin` or `consumer`), else
    InviteCodeUnusable (422) saying why."""
    text = normalize(code)
    row = await session.scalar(
        select(InviteCodeRow).where(
            InviteCodeRow.tenant_id == tenant_id, InviteCodeRow.code == text, repo.usable(utcnow())
        )
    )
    if row is None:
        raise await _unusable_reason(session, tenant_id, text)
    return "admin" if row.by_admin else "consumer"


async def apply(session: AsyncSession, tenant_id: uuid.UUID, user_id: uuid.UUID, code: str) -> None:
    """Uses the code for the caller's consumer account and activates it. 422 when the account is
    already active or the code is invalid, expired, revoked or used up."""
    profile = await consumers.consumer_of_user(session, tenant_id, user_id)
    # Locked, so one consumer's concurrent requests cannot use two codes.
    await session.refresh(profile, with_for_update=True)
    if profile.active:
        raise Unprocessable("Account is already active")
    text = normalize(code)
    now = utcnow()
    code_id = await session.scalar(
        update(InviteCodeRow)
        .where(InviteCodeRow.tenant_id == tenant_id, InviteCodeRow.code == text, repo.usable(now))
        .values(uses=InviteCodeRow.uses + 1, used_by_consumer_id=profile.id, used_at=now)
        .returning(InviteCodeRow.id)
    )
    if code_id is None:
        raise await _unusable_reason(session, tenant_id, text)
    session.add(InviteCodeUseRow(id=uuid.uuid4(), code_id=code_id, consumer_id=profile.id, used_at=now))
    await consumers.activate(session, profile)
