"""Tenant scoping: every read and write runs in the caller's tenant. A super admin may name another
tenant; anyone else naming a foreign tenant gets 404, exactly as if it did not exist."""

from __future__ import annotations

import uuid

from engine.auth.schemas import Principal
from engine.db.models import Organization
from engine.errors import NotFound


def tenant_for(principal: Principal, requested: uuid.UUID | None) -> uuid.UUID:
    if requested is None or requested == principal.tenant_id:
        return principal.tenant_id
    if principal.is_super_admin:
        return requested
    raise NotFound("Tenant not found")


def visible_tenant(principal: Principal, tenant_id: uuid.UUID) -> bool:
    return principal.is_super_admin or tenant_id == principal.tenant_id


def org_allowed(principal: Principal, org: Organization) -> bool:
    """Whether the caller's organization restriction (if any) covers this node or an ancestor."""
    if principal.is_super_admin or principal.organizations is None:
        return True
    path = (org.tree_path or str(org.id)).split("/")
    return any(o in path for o in principal.organizations)


def parse_uuid(value: str | None, field: str) -> uuid.UUID | None:
    from engine.errors import BadRequest

    if value in (None, ""):
        return None
    try:
        return uuid.UUID(str(value))
    except ValueError:
        raise BadRequest(f"{field} must be a UUID")
