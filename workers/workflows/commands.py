"""UPDATE_ENTITY commands: the allow-list of changes a workflow may make to our own entities.

Each command names the features its initiating user must hold and a handler
`(session, tenant_id, organization_id, input, principal) -> result`. The handler runs in the
activity's transaction (which also records the idempotency key, so it applies exactly once),
must stay inside `tenant_id`, and reports bad input by raising a `DomainError`.

Only commands registered here can run: a definition cannot reach arbitrary code or tables."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from engine.auth import accounts, directory
from engine.auth.schemas import Principal
from engine.db.models import Organization, User
from engine.errors import BadRequest, NotFound

CommandHandler = Callable[[AsyncSession, uuid.UUID, uuid.UUID | None, dict[str, Any], Principal], Awaitable[Any]]


@dataclass(frozen=True)
class Command:
    command_id: str
    required_features: tuple[str, ...]
    handler: CommandHandler
    description: str = ""


COMMANDS: dict[str, Command] = {}


def register(command_id: str, *features: str, description: str = "") -> Callable[[CommandHandler], CommandHandler]:
    def decorator(handler: CommandHandler) -> CommandHandler:
        COMMANDS[command_id] = Command(command_id, tuple(features), handler, description)
        return handler

    return decorator


def _uuid(input: dict[str, Any], key: str) -> uuid.UUID:
    try:
        return uuid.UUID(str(input.get(key)))
    except ValueError:
        raise BadRequest(f'Input "{key}" must be a UUID')


def _name(input: dict[str, Any], max_length: int = 200) -> str:
    name = input.get("name")
    if not isinstance(name, str) or not name.strip():
        raise BadRequest('Input "name" must be a non-empty string')
    if len(name.strip()) > max_length:
        raise BadRequest(f'Input "name" must be at most {max_length} characters')
    return name.strip()


@register(
    "directory.organizations.rename",
    "directory.organizations.manage",
    description="Rename an organization of the instance's tenant. Input {organizationId, name}.",
)
async def rename_organization(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    organization_id: uuid.UUID | None,
    input: dict[str, Any],
    principal: Principal,
) -> Any:
    org_id, name = _uuid(input, "organizationId"), _name(input)
    org = await session.get(Organization, org_id)
    if org is None or org.deleted_at is not None or org.tenant_id != tenant_id:
        raise NotFound("Organization not found")
    if not directory.org_allowed(principal, org):
        raise NotFound("Organization not found")
    previous = org.name
    await directory.update_organization(
        session, principal, org_id, name=name, parent_id=None, parent_given=False, is_active=None
    )
    return {"organizationId": str(org_id), "name": org.name, "previousName": previous}


@register(
    "auth.users.set_name",
    "auth.users.edit",
    description="Set the display name of a user of the instance's tenant. Input {userId, name}.",
)
async def set_user_name(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    organization_id: uuid.UUID | None,
    input: dict[str, Any],
    principal: Principal,
) -> Any:
    user_id, name = _uuid(input, "userId"), _name(input)
    user = await session.get(User, user_id)
    if user is None or user.deleted_at is not None or user.tenant_id != tenant_id:
        raise NotFound("User not found")
    previous = user.name
    await accounts.update_user(
        session, principal, user_id, email=None, password=None, organization_id=None, organization_given=False,
        roles=None, name=name, is_active=None,
    )  # fmt: skip
    return {"userId": str(user_id), "name": user.name, "previousName": previous}
