"""Consumers: sign-up, profiles, and the lookups other domains use.

For other domains (eSIMs, wallet):
    active_consumer(session, tenant_id, user_id)    the caller's profile, refusing inactive ones
    consumer_by_id(session, tenant_id, consumer_id)  any live profile of the tenant (admins)
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from engine.auth import service as auth
from engine.auth.security import hash_password
from engine.consumers import repository as repo
from engine.consumers.errors import ConsumerInactive, ConsumerNotFound, EmailTaken
from engine.consumers.schemas import ProfileChanges
from engine.consumers.social import SocialIdentity
from engine.db.base import utcnow
from engine.db.models import ConsumerRow, Role, Tenant, User, UserRole
from engine.db.session import flush_unique
from engine.errors import BadRequest, Unauthorized
from engine.pagination import PageParams, page_of, sort_order
from engine.settings import Settings
from engine.wallet import service as wallet

CONSUMER_ROLE = "consumer"


@dataclass(frozen=True)
class Consumer:
    """A profile with its login e-mail (what every consumer answer shows)."""

    row: ConsumerRow
    email: str


async def active_consumer(session: AsyncSession, tenant_id: uuid.UUID, user_id: uuid.UUID) -> ConsumerRow:
    """The live, active consumer profile of `user_id` in `tenant_id`. Raises ConsumerNotFound
    (404) when there is none (or it belongs to another tenant) and ConsumerInactive (422) when the
    account is not activated yet (invite code pending)."""
    row = await consumer_of_user(session, tenant_id, user_id)
    if not row.active:
        raise ConsumerInactive()
    return row


async def consumer_of_user(session: AsyncSession, tenant_id: uuid.UUID, user_id: uuid.UUID) -> ConsumerRow:
    """The live consumer profile of `user_id` in `tenant_id`, active or not (ConsumerNotFound)."""
    row = await session.scalar(
        select(ConsumerRow).where(
            ConsumerRow.tenant_id == tenant_id, ConsumerRow.user_id == user_id, ConsumerRow.deleted_at.is_(None)
        )
    )
    if row is None:
        raise ConsumerNotFound()
    return row


async def consumer_by_id(session: AsyncSession, tenant_id: uuid.UUID, consumer_id: uuid.UUID) -> ConsumerRow:
    """A live consumer profile of the tenant by its id, active or not (ConsumerNotFound)."""
    row = await session.get(ConsumerRow, consumer_id)
    if row is None or row.tenant_id != tenant_id or row.deleted_at is not None:
        raise ConsumerNotFound()
    return row


async def with_email(session: AsyncSession, row: ConsumerRow) -> Consumer:
    email = await session.scalar(select(User.email).where(User.id == row.user_id))
    return Consumer(row, email or "")


async def create_consumer(
    session: AsyncSession,
    *,
    tenant_id: uuid.UUID,
    email: str,
    password: str | None,
    profile: ProfileChanges,
    active: bool,
    social: tuple[str, str] | None = None,
) -> Consumer:
    """A user with the `consumer` role, its profile and both wallets, in the caller's transaction.
    A taken e-mail (any case, any tenant) is EmailTaken (409)."""
    email = (email or "").strip()
    if "@" not in email or len(email) > 320:
        raise BadRequest("A valid email is required")
    if password is not None:
        auth.check_password_strength(password)
    if await auth.find_user_by_email(session, email) is not None:
        raise EmailTaken()
    role = await session.scalar(select(Role).where(Role.tenant_id == tenant_id, Role.name == CONSUMER_ROLE))
    if role is None:
        raise BadRequest("Tenant has no consumer role")
    user = User(
        id=uuid.uuid4(),
        tenant_id=tenant_id,
        email=email,
        password_hash=hash_password(password) if password else None,
    )
    session.add(user)
    await flush_unique(session, EmailTaken().message)  # a concurrent sign-up with the same address
    row = ConsumerRow(
        id=uuid.uuid4(),
        tenant_id=tenant_id,
        user_id=user.id,
        active=active,
        social_provider=social[0] if social else None,
        social_subject=social[1] if social else None,
        **profile.changes(),
    )
    session.add_all([UserRole(user_id=user.id, role_id=role.id), row])
    await session.flush()
    await wallet.ensure_user_wallets(session, tenant_id, user.id)
    return Consumer(row, email)


async def signup_tenant(session: AsyncSession, requested: str | None, settings: Settings) -> uuid.UUID:
    """Where a self-service sign-up lands: SIGNUP_TENANT_ID, else the tenant the client names
    (`X-Tenant-Id`), else the oldest live tenant."""
    chosen = settings.signup_tenant_id or requested
    query = select(Tenant.id).where(Tenant.is_active.is_(True), Tenant.deleted_at.is_(None))
    if chosen:
        try:
            tenant_id = await session.scalar(query.where(Tenant.id == uuid.UUID(chosen)))
        except ValueError:
            tenant_id = None
    else:
        tenant_id = await session.scalar(query.order_by(Tenant.created_at).limit(1))
    if tenant_id is None:
        raise BadRequest("Unknown tenant")
    return tenant_id


async def signup(
    session: AsyncSession, *, tenant_id: uuid.UUID, email: str, password: str, settings: Settings
) -> tuple[auth.Tokens, Consumer]:
    """E-mail + password sign-up: the consumer (inactive while the deployment requires invite
    codes), its wallets, and a signed-in session."""
    if not password:
        raise BadRequest("Email and password are required")
    consumer = await create_consumer(
        session,
        tenant_id=tenant_id,
        email=email,
        password=password,
        profile=ProfileChanges(),
        active=not settings.invite_codes_required,
    )
    return await sign_in(session, consumer, settings), consumer


async def sign_in(session: AsyncSession, consumer: Consumer, settings: Settings) -> auth.Tokens:
    user = await session.get(User, consumer.row.user_id)
    assert user is not None
    user.last_login_at = utcnow()
    return await auth.open_session(session, user, settings)


async def list_consumers(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    params: PageParams,
    *,
    search: str | None = None,
    consumer_id: uuid.UUID | None = None,
    user_id: uuid.UUID | None = None,
    sort_field: str | None = None,
    sort_dir: str | None = None,
) -> tuple[int, list[Consumer]]:
    query = repo.consumers(tenant_id)
    if search:
        query = repo.search(query, search)
    if consumer_id is not None:
        query = query.where(ConsumerRow.id == consumer_id)
    if user_id is not None:
        query = query.where(ConsumerRow.user_id == user_id)
    order = sort_order(repo.SORT_COLUMNS, sort_field, sort_dir, default="createdAt", default_dir="desc")
    total, rows = await page_of(session, query, params, order, ConsumerRow.id)
    return total, [Consumer(row, email) for row, email in rows.all()]


async def update_profile(session: AsyncSession, row: ConsumerRow, changes: ProfileChanges) -> ConsumerRow:
    values: dict[str, Any] = changes.changes()
    for name, value in values.items():
        setattr(row, name, value)
    await session.flush()
    return row


async def delete_consumer(session: AsyncSession, tenant_id: uuid.UUID, consumer_id: uuid.UUID) -> None:
    """Soft delete: the profile and its login are deleted (the e-mail is free again, sessions end);
    wallets and ledger stay, as money history must."""
    row = await consumer_by_id(session, tenant_id, consumer_id)
    now = utcnow()
    row.deleted_at, row.active = now, False
    user = await session.get(User, row.user_id)
    if user is not None:
        user.deleted_at, user.is_active = now, False
        await auth.revoke_all_sessions(session, user.id)
    await session.flush()


async def activate(session: AsyncSession, row: ConsumerRow) -> None:
    row.active = True
    await session.flush()


async def social_sign_in(
    session: AsyncSession, *, tenant_id: uuid.UUID, identity: SocialIdentity, settings: Settings
) -> tuple[auth.Tokens, Consumer, bool]:
    """Signs in the consumer this provider account belongs to, or creates one (returns
    `is_new`). An existing consumer with the same, provider-verified e-mail is linked; any other
    account holding the e-mail is EmailTaken (409)."""
    row = await session.scalar(
        select(ConsumerRow).where(
            ConsumerRow.tenant_id == tenant_id,
            ConsumerRow.social_provider == identity.provider,
            ConsumerRow.social_subject == identity.subject,
            ConsumerRow.deleted_at.is_(None),
        )
    )
    is_new = False
    if row is None:
        if not identity.email:
            raise BadRequest("The provider did not share an e-mail address")
        user = await auth.find_user_by_email(session, identity.email)
        if user is not None:
            linked = await session.scalar(
                select(ConsumerRow).where(
                    ConsumerRow.user_id == user.id, ConsumerRow.tenant_id == tenant_id, ConsumerRow.deleted_at.is_(None)
                )
            )
            if linked is None or not identity.email_verified or linked.social_subject is not None:
                raise EmailTaken()
            linked.social_provider, linked.social_subject = identity.provider, identity.subject
            row = linked
        else:
            created = await create_consumer(
                session,
                tenant_id=tenant_id,
                email=identity.email,
                password=None,
                profile=ProfileChanges(first_name=identity.first_name, last_name=identity.last_name),
                active=not settings.invite_codes_required,
                social=(identity.provider, identity.subject),
            )
            row, is_new = created.row, True
    user = await session.get(User, row.user_id)
    if user is None or not user.is_active or user.deleted_at is not None:
        raise Unauthorized("Account is disabled")
    consumer = Consumer(row, user.email)
    return await sign_in(session, consumer, settings), consumer, is_new
