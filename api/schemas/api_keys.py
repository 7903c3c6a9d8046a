"""Request and response bodies of API Keys. Services return rows or typed results; the answers are
built here (`.of(...)`)."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import Field

from api.schemas.common import Body, Input
from engine.auth.api_keys import KeyEntry
from engine.clock import iso, iso_or_none


class RoleRef(Body):
    id: str
    name: str | None

    @classmethod
    def of(cls, ref: tuple[uuid.UUID, str | None]) -> RoleRef:
        return cls(id=str(ref[0]), name=ref[1])


class ApiKey(Body):
    id: str
    name: str
    description: str | None
    keyPrefix: str
    organizationId: str | None
    organizationName: str | None
    createdAt: str
    lastUsedAt: str | None
    expiresAt: str | None
    roles: list[RoleRef]

    @classmethod
    def of(cls, entry: KeyEntry) -> ApiKey:
        key = entry.key
        return cls(
            id=str(key.id),
            name=key.name,
            description=key.description,
            keyPrefix=key.key_prefix,
            organizationId=str(key.organization_id) if key.organization_id else None,
            organizationName=entry.organization_name,
            createdAt=iso(key.created_at),
            lastUsedAt=iso_or_none(key.last_used_at),
            expiresAt=iso_or_none(key.expires_at),
            roles=[RoleRef.of(r) for r in entry.roles],
        )


class CreatedApiKey(Body):
    """`secret` is shown this one time only; only its hash is stored."""

    id: str
    name: str
    keyPrefix: str
    tenantId: str
    organizationId: str | None
    roles: list[RoleRef]
    expiresAt: str | None
    secret: str


class KeyCreate(Input):
    name: str
    description: str | None = None
    tenant_id: uuid.UUID | None = Field(default=None, alias="tenantId")
    organization_id: uuid.UUID | None = Field(default=None, alias="organizationId")
    roles: list[str] = Field(default_factory=list)
    expires_at: datetime | None = Field(default=None, alias="expiresAt")
