"""Response bodies of API Keys. Timestamps are ISO 8601 strings as the service formats them."""

from __future__ import annotations

from api.schemas.common import Body


class RoleRef(Body):
    id: str
    name: str | None


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
